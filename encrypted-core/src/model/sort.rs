//! Sort orders over a model's collection: plaintext paths only.

use std::marker::PhantomData;

use bson::Document;

use super::Encrypted;
use super::path::{Deterministic, Nested, Plain, Random};
use super::pipeline::shape::{Shape, check_sort};
use crate::Result;

/// The order of a `find` (or of a `$sort` stage) on the collection of model `R`.
///
/// Encrypted fields support equality only: the order of ciphertexts is not the order of
/// their plaintexts, so sorting by a deterministic or random field, or by a nested model
/// that holds one, would sort by random bytes. Built from typed paths, such a sort does
/// not compile; a hand-written one (`Sort::from(doc! { .. })`, what the driver's
/// `sort(doc! { .. })` takes) is checked by name when it is turned into a document and
/// refused with [`Error::EncryptedPathRefused`](crate::Error::EncryptedPathRefused).
///
/// ```
/// # use encrypted_core::model::Encrypted;
/// # use encrypted_derive::Encrypted;
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
/// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
/// # #[serde(rename_all = "camelCase")]
/// # struct Patient {
/// #     name: String,
/// #     visits: i32,
/// #     #[encrypt(deterministic)] ssn: i32,
/// # }
/// use encrypted_core::bson::doc;
/// use encrypted_core::model::Sort;
///
/// let by_name = Sort::new()
///     .ascending(Patient::fields().name())
///     .descending(Patient::fields().visits());
/// assert_eq!(by_name.to_document()?, doc! { "name": 1, "visits": -1 });
///
/// // The same, from the paths.
/// let same = Patient::fields().name().ascending().then(Patient::fields().visits().descending());
/// assert_eq!(same.to_document()?, doc! { "name": 1, "visits": -1 });
///
/// // A hand-written sort by an encrypted field is refused by name.
/// let by_ssn = Sort::<Patient>::from(doc! { "ssn": 1 });
/// assert!(matches!(
///     by_ssn.to_document(),
///     Err(encrypted_core::Error::EncryptedPathRefused { path, .. }) if path == "ssn"
/// ));
/// # Ok::<(), encrypted_core::Error>(())
/// ```
pub struct Sort<R> {
    document: Document,
    _model: PhantomData<fn() -> R>,
}

impl<R> Sort<R> {
    /// No order (`{}`): the server's natural order.
    pub fn new() -> Self {
        Self {
            document: Document::new(),
            _model: PhantomData,
        }
    }

    /// Then by `path`, ascending (`{ path: 1 }`).
    #[must_use]
    pub fn ascending(self, path: impl SortPath<R>) -> Self {
        self.by(path.path(), 1)
    }

    /// Then by `path`, descending (`{ path: -1 }`).
    #[must_use]
    pub fn descending(self, path: impl SortPath<R>) -> Self {
        self.by(path.path(), -1)
    }

    /// Then by the keys of `other`, in their order (a key already sorted by keeps its
    /// first direction).
    #[must_use]
    pub fn then(mut self, other: Self) -> Self {
        for (key, value) in other.document {
            if !self.document.contains_key(&key) {
                self.document.insert(key, value);
            }
        }
        self
    }

    fn by(mut self, path: &str, direction: i32) -> Self {
        if !self.document.contains_key(path) {
            self.document.insert(path, direction);
        }
        self
    }

    /// The sort as written, unchecked (a `$sort` stage checks it against what it sees).
    pub(crate) fn as_document(&self) -> &Document {
        &self.document
    }
}

impl<R: Encrypted> Sort<R> {
    /// The sort document the server gets: `{ name: 1, visits: -1 }`.
    ///
    /// ```
    /// # use encrypted_core::model::Encrypted;
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, #[encrypt(random)] notes: String }
    /// use encrypted_core::bson::doc;
    /// use encrypted_core::model::Sort;
    ///
    /// let sort = Sort::<Patient>::from(doc! { "name": -1, "_id": 1 });
    /// assert_eq!(sort.to_document()?, doc! { "name": -1, "_id": 1 });
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::EncryptedPathRefused`](crate::Error::EncryptedPathRefused) naming the key
    /// when a key is an encrypted field (deterministic or random), a path inside one, or a
    /// nested model that holds encrypted fields.
    pub fn to_document(&self) -> Result<Document> {
        check_sort(&Shape::Model(R::SPEC), &self.document, "sort")?;
        Ok(self.document.clone())
    }
}

impl<R> Default for Sort<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R> Clone for Sort<R> {
    fn clone(&self) -> Self {
        Self {
            document: self.document.clone(),
            _model: PhantomData,
        }
    }
}

impl<R> std::fmt::Debug for Sort<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Paths and directions only: nothing secret.
        f.debug_tuple("Sort").field(&self.document).finish()
    }
}

/// A hand-written sort (`doc! { "name": 1 }`), checked by name when it is sent.
impl<R> From<Document> for Sort<R> {
    fn from(document: Document) -> Self {
        Self {
            document,
            _model: PhantomData,
        }
    }
}

/// Paths a sort accepts: plaintext fields. Deliberately not implemented for
/// [`Deterministic`], [`Random`] and [`Nested`] paths.
#[diagnostic::on_unimplemented(
    message = "an encrypted field cannot be sorted by: ciphertext order means nothing",
    label = "`{Self}` is encrypted (or holds encrypted fields)",
    note = "the order of ciphertexts is not the order of their plaintexts; sort by a plaintext field, or sort in the application after decryption"
)]
pub trait SortPath<R> {
    /// The dotted path.
    fn path(&self) -> &str;
}

impl<R, T> SortPath<R> for Plain<R, T> {
    fn path(&self) -> &str {
        Plain::path(self)
    }
}

impl<R, T> SortPath<R> for &Plain<R, T> {
    fn path(&self) -> &str {
        Plain::path(self)
    }
}

impl<R, T> Plain<R, T> {
    /// A sort by this field, ascending (`{ path: 1 }`).
    ///
    /// ```
    /// # use encrypted_core::model::Encrypted;
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
    /// let sort = Patient::fields().name().ascending();
    /// assert_eq!(sort.to_document()?, encrypted_core::bson::doc! { "name": 1 });
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    pub fn ascending(&self) -> Sort<R> {
        Sort::new().ascending(self)
    }

    /// A sort by this field, descending (`{ path: -1 }`).
    pub fn descending(&self) -> Sort<R> {
        Sort::new().descending(self)
    }
}

macro_rules! unsortable {
    ($name:ident) => {
        impl<R, T> $name<R, T> {
            /// Does not compile: ciphertexts do not keep the order of their plaintexts.
            /// Present only so that trying says why.
            pub fn ascending(&self) -> Sort<R>
            where
                Self: SortPath<R>,
            {
                Sort::new()
            }

            /// Does not compile: ciphertexts do not keep the order of their plaintexts.
            pub fn descending(&self) -> Sort<R>
            where
                Self: SortPath<R>,
            {
                Sort::new()
            }
        }
    };
}
unsortable!(Deterministic);
unsortable!(Random);
unsortable!(Nested);

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;
    use crate::Error;
    use crate::model::Encrypted;
    use crate::model::pipeline::tests::Patient;

    fn refused(sort: Document) -> (String, String) {
        match Sort::<Patient>::from(sort.clone()).to_document() {
            Err(Error::EncryptedPathRefused {
                path, operation, ..
            }) => (path, operation),
            other => panic!("{sort} was not refused: {other:?}"),
        }
    }

    #[test]
    fn typed_sorts_write_paths_in_order_with_their_direction() {
        let sort = Sort::<Patient>::new()
            .descending(Patient::fields().visits())
            .ascending(Patient::fields().insurance().fields().provider())
            .ascending(Patient::fields().visits());
        let document = sort.to_document().unwrap();
        assert_eq!(document, doc! { "visits": -1, "insurance.provider": 1 });
    }

    #[test]
    fn raw_sorts_on_plaintext_paths_pass_through() {
        let raw = doc! { "name": 1, "_id": -1, "insurance.provider": 1, "score": { "$meta": "textScore" } };
        assert_eq!(
            Sort::<Patient>::from(raw.clone()).to_document().unwrap(),
            raw
        );
    }

    #[test]
    fn raw_sorts_by_deterministic_random_nested_or_inner_paths_are_refused_by_name() {
        for path in [
            "ssn",
            "bloodType",
            "insurance",
            "insurance.policyNumber",
            "records",
            "records.0",
            "bloodType.x",
        ] {
            let (refused_path, operation) = refused(doc! { "name": 1, path: 1 });
            assert_eq!((refused_path.as_str(), operation.as_str()), (path, "sort"));
        }
    }

    #[test]
    fn the_refusal_says_ciphertext_order_means_nothing() {
        let error = Sort::<Patient>::from(doc! { "ssn": -1 })
            .to_document()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "sort on the encrypted path `ssn` is refused: ciphertext order means nothing (it is not the order of the plaintexts)"
        );
    }
}
