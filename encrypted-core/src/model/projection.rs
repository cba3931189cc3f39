//! Projections of a model's documents: which fields a `find` returns.

use std::marker::PhantomData;

use bson::Document;

use super::Encrypted;
use super::path::AnyPath;
use super::pipeline::shape::{ProjectionKind, Shape, check_projection};
use crate::Result;

/// The fields a `find` returns from the collection of model `R`.
///
/// Keeping or dropping a field is fine whatever it holds: a kept encrypted field keeps
/// its ciphertext at its path, where the result is decrypted. What would compute on a
/// ciphertext or move it is refused by name with
/// [`Error::EncryptedPathRefused`](crate::Error::EncryptedPathRefused) when the
/// projection is turned into a document: `$slice`, `$elemMatch` or `$meta` on an
/// encrypted field, an expression that reads one (`{ x: "$ssn" }`,
/// `{ ssn: { $toUpper: "$ssn" } }`, `"$$ROOT"`), a computed value written over one, and
/// a path inside one (`bloodType.x`).
///
/// A projection that drops fields no longer decodes into the model itself: decode it into
/// a type whose fields are the ones kept (or `Option`s).
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
/// use encrypted_core::model::Projection;
///
/// // The SSN stays encrypted in the result, at its path, and is decrypted there.
/// let projection = Projection::new()
///     .include(Patient::fields().name())
///     .include(Patient::fields().ssn());
/// assert_eq!(projection.to_document()?, doc! { "name": 1, "ssn": 1 });
///
/// // Computing on the SSN is refused by name.
/// let upper = Projection::<Patient>::from(doc! { "code": { "$toString": "$ssn" } });
/// assert!(matches!(
///     upper.to_document(),
///     Err(encrypted_core::Error::EncryptedPathRefused { path, .. }) if path == "ssn"
/// ));
/// # Ok::<(), encrypted_core::Error>(())
/// ```
pub struct Projection<R> {
    document: Document,
    _model: PhantomData<fn() -> R>,
}

impl<R> Projection<R> {
    /// An empty projection (`{}`): every field.
    pub fn new() -> Self {
        Self {
            document: Document::new(),
            _model: PhantomData,
        }
    }

    /// Also returns `path` (`{ path: 1 }`), encrypted or not.
    #[must_use]
    pub fn include(mut self, path: impl AnyPath<R>) -> Self {
        self.document.insert(path.path(), 1);
        self
    }

    /// Leaves `path` out (`{ path: 0 }`), encrypted or not.
    #[must_use]
    pub fn exclude(mut self, path: impl AnyPath<R>) -> Self {
        self.document.insert(path.path(), 0);
        self
    }

    /// The projection as written, unchecked (a `$project` stage checks it against what
    /// it sees).
    pub(crate) fn as_document(&self) -> &Document {
        &self.document
    }
}

impl<R: Encrypted> Projection<R> {
    /// The projection document the server gets.
    ///
    /// ```
    /// # use encrypted_core::model::Encrypted;
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, tags: Vec<String>, #[encrypt(random)] notes: String }
    /// use encrypted_core::bson::doc;
    /// use encrypted_core::model::Projection;
    ///
    /// let raw = doc! { "name": 1, "tags": { "$slice": 3 }, "notes": 1 };
    /// assert_eq!(Projection::<Patient>::from(raw.clone()).to_document()?, raw);
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::EncryptedPathRefused`](crate::Error::EncryptedPathRefused) naming the
    /// encrypted path when the projection would compute on, overwrite or move a
    /// ciphertext, or names a path inside one;
    /// [`Error::TooDeeplyNested`](crate::Error::TooDeeplyNested) beyond 100 levels.
    pub fn to_document(&self) -> Result<Document> {
        check_projection(
            &Shape::Model(R::SPEC),
            &self.document,
            ProjectionKind::Find,
            "projection",
        )?;
        Ok(self.document.clone())
    }
}

impl<R> Default for Projection<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R> Clone for Projection<R> {
    fn clone(&self) -> Self {
        Self {
            document: self.document.clone(),
            _model: PhantomData,
        }
    }
}

impl<R> std::fmt::Debug for Projection<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A computed field may hold a literal: print the paths only.
        f.debug_tuple("Projection")
            .field(&self.document.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A hand-written projection (`doc! { "name": 1 }`), checked when it is sent.
impl<R> From<Document> for Projection<R> {
    fn from(document: Document) -> Self {
        Self {
            document,
            _model: PhantomData,
        }
    }
}

#[cfg(test)]
mod tests {
    use bson::{Bson, doc};

    use super::*;
    use crate::Error;
    use crate::model::Encrypted;
    use crate::model::pipeline::tests::Patient;

    fn refused(projection: Document) -> (String, String, &'static str) {
        match Projection::<Patient>::from(projection.clone()).to_document() {
            Err(Error::EncryptedPathRefused {
                path,
                operation,
                reason,
            }) => (path, operation, reason),
            other => panic!("{projection} was not refused: {other:?}"),
        }
    }

    #[test]
    fn typed_projections_keep_or_drop_any_field() {
        let fields = Patient::fields();
        let projection = Projection::<Patient>::new()
            .include(fields.name())
            .include(fields.ssn())
            .include(fields.blood_type())
            .include(fields.insurance())
            .exclude(fields.records());
        assert_eq!(
            projection.to_document().unwrap(),
            doc! { "name": 1, "ssn": 1, "bloodType": 1, "insurance": 1, "records": 0 }
        );
        let nested =
            Projection::<Patient>::new().include(fields.insurance().fields().policy_number());
        assert_eq!(
            nested.to_document().unwrap(),
            doc! { "insurance.policyNumber": 1 }
        );
    }

    #[test]
    fn plaintext_projections_pass_through() {
        let raw = doc! {
            "name": true, "ssn": 1, "_id": 0, "insurance": { "provider": 1, "policyNumber": 1 },
            "tags": { "$slice": [1, 2] }, "visitsList": { "$elemMatch": { "year": 2024 } },
            "score": { "$meta": "textScore" }, "upper": { "$toUpper": "$name" },
            "label": { "$literal": "$ssn" }, "root": "$$ROOT.name", "each": { "$map": { "input": "$tags", "in": "$$this" } },
        };
        assert_eq!(
            Projection::<Patient>::from(raw.clone())
                .to_document()
                .unwrap(),
            raw
        );
    }

    #[test]
    fn slice_elem_match_and_meta_on_an_encrypted_field_are_refused() {
        for (path, operator) in [
            ("records", "$slice"),
            ("records", "$elemMatch"),
            ("ssn", "$meta"),
            ("insurance", "$slice"),
        ] {
            let argument = match operator {
                "$slice" => Bson::Int32(1),
                "$meta" => Bson::String("textScore".into()),
                _ => Bson::Document(doc! { "a": 1 }),
            };
            let (refused_path, operation, _) = refused(doc! { path: { operator: argument } });
            assert_eq!(refused_path, path);
            assert_eq!(operation, format!("{operator} in projection"));
        }
    }

    #[test]
    fn expressions_reading_a_ciphertext_are_refused_by_its_path() {
        for (projection, path) in [
            (doc! { "x": "$ssn" }, "ssn"),
            (doc! { "x": "$bloodType" }, "bloodType"),
            (doc! { "x": "$insurance" }, "insurance"),
            (
                doc! { "x": "$insurance.policyNumber" },
                "insurance.policyNumber",
            ),
            (doc! { "x": { "$toUpper": "$records" } }, "records"),
            (doc! { "x": { "$arrayElemAt": ["$records", 0] } }, "records"),
            (doc! { "x": "$$CURRENT.ssn" }, "ssn"),
            (doc! { "x": "$$ROOT" }, "$$ROOT"),
            (
                doc! { "x": { "$concat": ["a", { "$toString": "$ssn" }] } },
                "ssn",
            ),
        ] {
            let (refused_path, operation, reason) = refused(projection);
            assert_eq!(
                (refused_path.as_str(), operation.as_str()),
                (path, "projection")
            );
            assert!(reason.contains("computes on random bytes"), "{reason}");
        }
    }

    #[test]
    fn computed_values_over_an_encrypted_field_or_inner_paths_are_refused() {
        for (projection, path) in [
            (doc! { "ssn": { "$toUpper": "$ssn" } }, "ssn"),
            (doc! { "ssn": "literal" }, "ssn"),
            (
                doc! { "insurance": { "policyNumber": "$name" } },
                "insurance.policyNumber",
            ),
            (doc! { "bloodType": { "$literal": 1 } }, "bloodType"),
        ] {
            let (refused_path, _, reason) = refused(projection);
            assert_eq!(refused_path, path);
            assert!(reason.contains("computed value"), "{reason}");
        }
        let (path, _, reason) = refused(doc! { "bloodType.x": 1 });
        assert_eq!(path, "bloodType.x");
        assert!(reason.contains("opaque"), "{reason}");
        refused(doc! { "records.$": 1 });
    }

    #[test]
    fn operators_that_read_fields_named_at_run_time_are_refused() {
        let error = Projection::<Patient>::from(doc! { "x": { "$getField": "ssn" } })
            .to_document()
            .unwrap_err();
        assert!(
            matches!(&error, Error::EncryptedPathRefused { path, operation, .. } if path.is_empty() && operation == "$getField in projection"),
            "{error}"
        );
    }

    #[test]
    fn deeply_nested_projections_are_errors_not_stack_overflows() {
        let mut expression = Bson::String("$name".into());
        for _ in 0..500 {
            expression = Bson::Document(doc! { "$toUpper": expression });
        }
        let error = Projection::<Patient>::from(doc! { "x": expression })
            .to_document()
            .unwrap_err();
        assert!(matches!(error, Error::TooDeeplyNested { .. }), "{error}");
    }
}
