//! The `findOneAndUpdate`, `findOneAndReplace` and `findOneAndDelete` actions: one
//! model changed atomically, returned as it was before (or after) and decrypted.

use std::borrow::Borrow;
use std::future::IntoFuture;
use std::time::Duration;

use bson::{Bson, Document, RawDocumentBuf};
use futures_util::future::BoxFuture;
use mongodb::ClientSession;
use mongodb::action::Action as _;
use mongodb::options::{
    Collation, FindOneAndDeleteOptions, FindOneAndReplaceOptions, FindOneAndUpdateOptions, Hint,
    ReturnDocument, WriteConcern,
};
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use super::insert_many::serialize_models;
use super::update::{Modification, check_update_options};
use super::{check_hint, check_projection, check_sort, option_setters, private};
use crate::driver::encrypted_collection::EncryptedCollection;
use crate::driver::encrypted_collection::decoder::{Decoding, as_model, as_user, as_view};
use crate::model::{self, Encrypted, Filter, Projection, Sort};
use crate::{Error, Result};

impl<T: Encrypted> EncryptedCollection<T> {
    /// Atomically applies `update` to the first model matching `filter` (by `sort`, if
    /// given) and returns it decrypted: as it was before the update, or after with
    /// `return_document(ReturnDocument::After)`. `None` when nothing matched (and nothing
    /// was upserted). [`into_view`](FindOneAndUpdate::into_view) and
    /// [`into_type`](FindOneAndUpdate::into_type) return its view or a type of yours.
    ///
    /// ```no_run
    /// # use encrypted_core::{EncryptedCollection, model::{Encrypted, Update}};
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # #[serde(rename_all = "camelCase")]
    /// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32, #[encrypt(random)] blood_type: String }
    /// # async fn run(patients: EncryptedCollection<Patient>) -> encrypted_core::Result<()> {
    /// use encrypted_core::mongodb::options::ReturnDocument;
    ///
    /// let after: Option<Patient> = patients
    ///     .find_one_and_update(
    ///         Patient::fields().ssn().eq(241014209),
    ///         Update::new().set(Patient::fields().blood_type(), "O-"),
    ///     )
    ///     .return_document(ReturnDocument::After)
    ///     .await?;
    /// # let _ = after; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`update_one`](Self::update_one); [`Error::UnsupportedOperator`] for a sort or
    /// projection that would work on ciphertext; the returned model's decryption errors.
    pub fn find_one_and_update(
        &self,
        filter: Filter<T>,
        update: model::Update<T>,
    ) -> FindOneAndUpdate<'_, T> {
        FindOneAndUpdate {
            collection: self,
            filter,
            update: Modification::Typed(update),
            options: None,
            sort: None,
            projection: None,
            decoding: as_model::<T>(),
            session: None,
        }
    }

    /// [`find_one_and_update`](Self::find_one_and_update) with a hand-written update
    /// document, checked as [`update_many_raw`](Self::update_many_raw) checks it.
    ///
    /// ```no_run
    /// # use encrypted_core::{EncryptedCollection, model::Encrypted};
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, visits: i32, #[encrypt(deterministic)] ssn: i32 }
    /// # async fn run(patients: EncryptedCollection<Patient>) -> encrypted_core::Result<()> {
    /// let before = patients
    ///     .find_one_and_update_raw(Patient::fields().ssn().eq(241014209), bson::doc! { "$inc": { "visits": 1 } })
    ///     .await?;
    /// # let _ = before; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`update_many_raw`](Self::update_many_raw) and
    /// [`find_one_and_update`](Self::find_one_and_update).
    pub fn find_one_and_update_raw(
        &self,
        filter: Filter<T>,
        update: Document,
    ) -> FindOneAndUpdate<'_, T> {
        FindOneAndUpdate {
            collection: self,
            filter,
            update: Modification::Raw(update),
            options: None,
            sort: None,
            projection: None,
            decoding: as_model::<T>(),
            session: None,
        }
    }

    /// Atomically replaces the first model matching `filter` (by `sort`, if given) with
    /// `replacement`, encrypted as an insert is, and returns the model as it was before
    /// (or after, with `return_document(ReturnDocument::After)`), decrypted.
    ///
    /// ```no_run
    /// # use encrypted_core::{EncryptedCollection, model::Encrypted};
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
    /// # async fn run(patients: EncryptedCollection<Patient>) -> encrypted_core::Result<()> {
    /// let jon = Patient { name: "Jon Doe".into(), ssn: 241014209 };
    /// let previous = patients
    ///     .find_one_and_replace(Patient::fields().ssn().eq(241014209), &jon)
    ///     .upsert(true)
    ///     .await?;
    /// # let _ = previous; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`replace_one`](Self::replace_one) and
    /// [`find_one_and_update`](Self::find_one_and_update).
    pub fn find_one_and_replace(
        &self,
        filter: Filter<T>,
        replacement: impl Borrow<T>,
    ) -> FindOneAndReplace<'_, T> {
        FindOneAndReplace {
            collection: self,
            filter,
            replacement: serialize_models::<T>([replacement]).and_then(|mut values| {
                values.pop().ok_or(Error::Serde {
                    model: T::SPEC.name,
                    direction: "serialize",
                })
            }),
            options: None,
            sort: None,
            projection: None,
            decoding: as_model::<T>(),
            session: None,
        }
    }

    /// Atomically deletes the first model matching `filter` (by `sort`, if given) and
    /// returns it, decrypted.
    ///
    /// ```no_run
    /// # use encrypted_core::{EncryptedCollection, model::Encrypted};
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
    /// # async fn run(patients: EncryptedCollection<Patient>) -> encrypted_core::Result<()> {
    /// // The next patient of the queue, by name.
    /// let next = patients
    ///     .find_one_and_delete(Patient::fields().name().ne("Jon Doe"))
    ///     .sort(bson::doc! { "name": 1 })
    ///     .await?;
    /// # let _ = next; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// Filter encryption errors; [`Error::UnsupportedOperator`] for a sort or projection
    /// that would work on ciphertext; [`Error::Collection`]; the returned model's
    /// decryption errors.
    pub fn find_one_and_delete(&self, filter: Filter<T>) -> FindOneAndDelete<'_, T> {
        FindOneAndDelete {
            collection: self,
            filter,
            options: None,
            sort: None,
            projection: None,
            decoding: as_model::<T>(),
            session: None,
        }
    }
}

/// The setters every find-and-modify builder has: what it returns (the model, its view or
/// a type of yours), the options that name fields, and the session.
macro_rules! find_and_modify_setters {
    ($builder:ident) => {
        /// Returns the [view](Encrypted::View) of the model instead: an encrypted field
        /// this handle cannot decrypt stays sealed.
        pub fn into_view(self) -> $builder<'a, T, T::View> {
            self.decode_with(as_view::<T>())
        }

        /// Returns a type `U` of yours instead (a projection's partial model, as
        /// [`find_as`](EncryptedCollection::find_as) gives them): the document's
        /// encrypted fields are decrypted by the model's paths first.
        pub fn into_type<U: DeserializeOwned + Send + 'static>(self) -> $builder<'a, T, U> {
            self.decode_with(as_user::<U>())
        }

        /// Which matching model is changed first: a typed [`Sort`] (plaintext paths
        /// only, so sorting on an encrypted field does not compile) or a raw `Document`,
        /// whose keys on encrypted paths are refused by name when the action runs. Wins
        /// over a sort given with `with_options`.
        pub fn sort(mut self, sort: impl Into<Sort<T>>) -> Self {
            self.sort = Some(sort.into());
            self
        }

        /// Which fields the returned document keeps: an encrypted field is kept or
        /// dropped whole (so it stays decryptable); anything else on it is refused by
        /// name. A projection that drops fields the model needs calls for
        /// [`into_type`](Self::into_type). Wins over a projection given with
        /// `with_options`.
        pub fn projection(mut self, projection: impl Into<Projection<T>>) -> Self {
            self.projection = Some(projection.into());
            self
        }

        /// The index to use, by name or by keys (an encrypted field may be an ordinary
        /// or hashed key of it, not a text or geospatial one).
        pub fn hint(mut self, hint: Hint) -> Self {
            self.options().hint = Some(hint);
            self
        }

        /// Runs the operation in `session` (the key vault reads stay outside it).
        pub fn session(mut self, session: impl Into<&'a mut ClientSession>) -> Self {
            self.session = Some(session.into());
            self
        }
    };
}

/// Decrypts what a find-and-modify returned.
async fn decode_found<T: Encrypted, O>(
    collection: &EncryptedCollection<T>,
    decoding: Decoding<O>,
    found: Option<RawDocumentBuf>,
) -> Result<Option<O>> {
    match found {
        Some(stored) => collection
            .decoder(decoding)
            .decode_one(&stored)
            .await
            .map(Some),
        None => Ok(None),
    }
}

/// Checks a find-and-modify's sort, projection and hint: a typed sort or projection is
/// checked as it becomes a document, a raw one as it is.
fn check_common<T: Encrypted>(
    typed: (Option<Sort<T>>, Option<Projection<T>>),
    sort: &mut Option<Document>,
    projection: &mut Option<Document>,
    hint: Option<&Hint>,
) -> Result<()> {
    *sort = match typed.0 {
        Some(typed) => Some(typed.to_document()?),
        None => sort
            .take()
            .map(|sort| check_sort(T::SPEC, sort))
            .transpose()?,
    };
    *projection = match typed.1 {
        Some(typed) => Some(typed.to_document()?),
        None => projection
            .take()
            .map(|projection| check_projection(T::SPEC, projection))
            .transpose()?,
    };
    check_hint(T::SPEC, hint)
}

/// Updates one model and returns it: made by
/// [`EncryptedCollection::find_one_and_update`] (and its `_raw` form), configured with
/// its methods (the driver's [`FindOneAndUpdateOptions`]), run by awaiting it. Resolves to
/// `Option<O>`.
#[must_use = "an action does nothing until awaited"]
pub struct FindOneAndUpdate<'a, T: Encrypted, O = T> {
    collection: &'a EncryptedCollection<T>,
    filter: Filter<T>,
    update: Modification<T>,
    options: Option<FindOneAndUpdateOptions>,
    sort: Option<Sort<T>>,
    projection: Option<Projection<T>>,
    decoding: Decoding<O>,
    session: Option<&'a mut ClientSession>,
}

impl<T: Encrypted, O> std::fmt::Debug for FindOneAndUpdate<'_, T, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FindOneAndUpdate")
            .field("collection", self.collection)
            .finish_non_exhaustive()
    }
}

impl<'a, T: Encrypted, O> FindOneAndUpdate<'a, T, O> {
    fn decode_with<P>(self, decoding: Decoding<P>) -> FindOneAndUpdate<'a, T, P> {
        FindOneAndUpdate {
            collection: self.collection,
            filter: self.filter,
            update: self.update,
            options: self.options,
            sort: self.sort,
            projection: self.projection,
            decoding,
            session: self.session,
        }
    }

    option_setters!(FindOneAndUpdateOptions;
        /// Lets the write skip the collection's validator.
        bypass_document_validation: bool,
        /// The most time the server may spend on the operation.
        max_time: Duration,
        /// Whether the model is returned as it was before the update (the default) or
        /// after.
        return_document: ReturnDocument,
        /// Inserts a document when no model matches: the filter's equalities (an
        /// encrypted field's ciphertext included) with the update applied.
        upsert: bool,
        /// The write concern of the operation.
        write_concern: WriteConcern,
        /// The collation for string comparisons of plaintext fields.
        collation: Collation,
        /// Variables usable in the filter's aggregation expressions.
        let_vars: Document,
        /// A comment to help trace the operation in the server's logs and profiler.
        comment: impl Into<Bson>,
    );

    /// Conditions on the elements of the arrays the update names with `$[identifier]`;
    /// only plaintext arrays (see [`Update::array_filters`](super::Update::array_filters)).
    pub fn array_filters(mut self, filters: impl IntoIterator<Item = Document>) -> Self {
        self.options().array_filters = Some(filters.into_iter().collect());
        self
    }

    find_and_modify_setters!(FindOneAndUpdate);
}

impl<T: Encrypted, O> private::Sealed for FindOneAndUpdate<'_, T, O> {}

impl<'a, T: Encrypted, O: Send + 'static> IntoFuture for FindOneAndUpdate<'a, T, O> {
    type Output = Result<Option<O>>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let collection = self.collection;
            let update = collection.modification_document(self.update).await?;
            let mut options = self.options;
            if self.sort.is_some() || self.projection.is_some() {
                options.get_or_insert_with(Default::default);
            }
            if let Some(options) = options.as_mut() {
                check_update_options::<T>(
                    &update,
                    options.array_filters.as_ref(),
                    None,
                    (None, None),
                )?;
                check_common::<T>(
                    (self.sort, self.projection),
                    &mut options.sort,
                    &mut options.projection,
                    options.hint.as_ref(),
                )?;
            }
            let filter = collection.encrypt_filter(self.filter).await?;
            let found = collection
                .collection
                .find_one_and_update(filter, update)
                .with_options(options)
                .optional(self.session, |action, session| action.session(session))
                .await
                .map_err(collection.driver_error("findOneAndUpdate"))?;
            decode_found(collection, self.decoding, found).await
        })
    }
}

/// Replaces one model and returns it: made by
/// [`EncryptedCollection::find_one_and_replace`], configured with its methods (the
/// driver's [`FindOneAndReplaceOptions`]), run by awaiting it. Resolves to `Option<O>`.
#[must_use = "an action does nothing until awaited"]
pub struct FindOneAndReplace<'a, T: Encrypted, O = T> {
    collection: &'a EncryptedCollection<T>,
    filter: Filter<T>,
    replacement: Result<Zeroizing<Vec<u8>>>,
    options: Option<FindOneAndReplaceOptions>,
    sort: Option<Sort<T>>,
    projection: Option<Projection<T>>,
    decoding: Decoding<O>,
    session: Option<&'a mut ClientSession>,
}

impl<T: Encrypted, O> std::fmt::Debug for FindOneAndReplace<'_, T, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FindOneAndReplace")
            .field("collection", self.collection)
            .finish_non_exhaustive()
    }
}

impl<'a, T: Encrypted, O> FindOneAndReplace<'a, T, O> {
    fn decode_with<P>(self, decoding: Decoding<P>) -> FindOneAndReplace<'a, T, P> {
        FindOneAndReplace {
            collection: self.collection,
            filter: self.filter,
            replacement: self.replacement,
            options: self.options,
            sort: self.sort,
            projection: self.projection,
            decoding,
            session: self.session,
        }
    }

    option_setters!(FindOneAndReplaceOptions;
        /// Lets the write skip the collection's validator.
        bypass_document_validation: bool,
        /// The most time the server may spend on the operation.
        max_time: Duration,
        /// Whether the model is returned as it was before the replacement (the default)
        /// or after.
        return_document: ReturnDocument,
        /// Inserts the replacement when no model matches.
        upsert: bool,
        /// The write concern of the operation.
        write_concern: WriteConcern,
        /// The collation for string comparisons of plaintext fields.
        collation: Collation,
        /// Variables usable in the filter's aggregation expressions.
        let_vars: Document,
        /// A comment to help trace the operation in the server's logs and profiler.
        comment: impl Into<Bson>,
    );

    find_and_modify_setters!(FindOneAndReplace);
}

impl<T: Encrypted, O> private::Sealed for FindOneAndReplace<'_, T, O> {}

impl<'a, T: Encrypted, O: Send + 'static> IntoFuture for FindOneAndReplace<'a, T, O> {
    type Output = Result<Option<O>>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let collection = self.collection;
            let mut options = self.options;
            if self.sort.is_some() || self.projection.is_some() {
                options.get_or_insert_with(Default::default);
            }
            if let Some(options) = options.as_mut() {
                check_common::<T>(
                    (self.sort, self.projection),
                    &mut options.sort,
                    &mut options.projection,
                    options.hint.as_ref(),
                )?;
            }
            let plain = self.replacement?;
            let replacement = collection
                .encrypt_models(std::slice::from_ref(&plain))
                .await?
                .pop()
                .ok_or(Error::Serde {
                    model: T::SPEC.name,
                    direction: "serialize",
                })?;
            drop(plain);
            let filter = collection.encrypt_filter(self.filter).await?;
            let found = collection
                .collection
                .find_one_and_replace(filter, replacement)
                .with_options(options)
                .optional(self.session, |action, session| action.session(session))
                .await
                .map_err(collection.driver_error("findOneAndReplace"))?;
            decode_found(collection, self.decoding, found).await
        })
    }
}

/// Deletes one model and returns it: made by [`EncryptedCollection::find_one_and_delete`],
/// configured with its methods (the driver's [`FindOneAndDeleteOptions`]), run by
/// awaiting it. Resolves to `Option<O>`.
#[must_use = "an action does nothing until awaited"]
pub struct FindOneAndDelete<'a, T: Encrypted, O = T> {
    collection: &'a EncryptedCollection<T>,
    filter: Filter<T>,
    options: Option<FindOneAndDeleteOptions>,
    sort: Option<Sort<T>>,
    projection: Option<Projection<T>>,
    decoding: Decoding<O>,
    session: Option<&'a mut ClientSession>,
}

impl<T: Encrypted, O> std::fmt::Debug for FindOneAndDelete<'_, T, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FindOneAndDelete")
            .field("collection", self.collection)
            .finish_non_exhaustive()
    }
}

impl<'a, T: Encrypted, O> FindOneAndDelete<'a, T, O> {
    fn decode_with<P>(self, decoding: Decoding<P>) -> FindOneAndDelete<'a, T, P> {
        FindOneAndDelete {
            collection: self.collection,
            filter: self.filter,
            options: self.options,
            sort: self.sort,
            projection: self.projection,
            decoding,
            session: self.session,
        }
    }

    option_setters!(FindOneAndDeleteOptions;
        /// The most time the server may spend on the operation.
        max_time: Duration,
        /// The write concern of the operation.
        write_concern: WriteConcern,
        /// The collation for string comparisons of plaintext fields.
        collation: Collation,
        /// Variables usable in the filter's aggregation expressions.
        let_vars: Document,
        /// A comment to help trace the operation in the server's logs and profiler.
        comment: impl Into<Bson>,
    );

    find_and_modify_setters!(FindOneAndDelete);
}

impl<T: Encrypted, O> private::Sealed for FindOneAndDelete<'_, T, O> {}

impl<'a, T: Encrypted, O: Send + 'static> IntoFuture for FindOneAndDelete<'a, T, O> {
    type Output = Result<Option<O>>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let collection = self.collection;
            let mut options = self.options;
            if self.sort.is_some() || self.projection.is_some() {
                options.get_or_insert_with(Default::default);
            }
            if let Some(options) = options.as_mut() {
                check_common::<T>(
                    (self.sort, self.projection),
                    &mut options.sort,
                    &mut options.projection,
                    options.hint.as_ref(),
                )?;
            }
            let filter = collection.encrypt_filter(self.filter).await?;
            let found = collection
                .collection
                .find_one_and_delete(filter)
                .with_options(options)
                .optional(self.session, |action, session| action.session(session))
                .await
                .map_err(collection.driver_error("findOneAndDelete"))?;
            decode_found(collection, self.decoding, found).await
        })
    }
}
