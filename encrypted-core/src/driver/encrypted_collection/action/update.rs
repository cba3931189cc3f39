//! The `updateOne` and `updateMany` actions, typed or with a checked raw update, and the
//! encrypted update document for any other driver call.

use std::future::IntoFuture;

use bson::{Bson, Document};
use futures_util::future::BoxFuture;
use mongodb::ClientSession;
use mongodb::action::Action as _;
use mongodb::options::{Collation, Hint, UpdateOptions, WriteConcern};
use mongodb::results::UpdateResult;

use super::{check_hint, check_sort, option_setters, private};
use crate::Result;
use crate::driver::encrypted_collection::EncryptedCollection;
use crate::model::{self, Encrypted, Filter, Sort};

/// An update as the user gave it: typed, or a raw document checked before it is sent.
pub(super) enum Modification<T> {
    Typed(model::Update<T>),
    Raw(Document),
}

impl<T: Encrypted> EncryptedCollection<T> {
    /// The update document the server gets for `update`: `$set` values of encrypted
    /// fields (and of nested models) encrypted with the keys the model names, loaded from
    /// the key vault. The escape hatch for any driver call that takes an update on this
    /// collection's documents (a bulk write, say), as
    /// [`encrypt_filter`](Self::encrypt_filter) is for filters.
    ///
    /// ```no_run
    /// # use encrypted_core::{EncryptedCollection, model::{Encrypted, Update}};
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # #[serde(rename_all = "camelCase")]
    /// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32, #[encrypt(random)] blood_type: String }
    /// # async fn run(patients: EncryptedCollection<Patient>) -> Result<(), Box<dyn std::error::Error>> {
    /// let filter = patients.encrypt_filter(Patient::fields().ssn().eq(241014209)).await?;
    /// let update = patients
    ///     .encrypt_update(Update::new().set(Patient::fields().blood_type(), "O-"))
    ///     .await?;
    /// // `{ "$set": { "bloodType": Binary(subtype 6, ..) } }`: usable with the plain driver.
    /// patients.plain().update_one(filter, update).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Field`](crate::Error::Field) naming the field whose value cannot be
    /// serialized or encrypted, or whose key cannot be had (or
    /// [`Error::NoKeyAccess`](crate::Error::NoKeyAccess)).
    pub async fn encrypt_update(&self, update: model::Update<T>) -> Result<Document> {
        self.update_document(update).await
    }

    /// Applies `update` to the first model matching `filter`; with `upsert(true)`, when
    /// nothing matches, inserts the document the filter's equalities and the update make
    /// (an equality on a deterministic field is a ciphertext there too).
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
    /// patients
    ///     .update_one(
    ///         Patient::fields().ssn().eq(241014209),
    ///         Update::new()
    ///             .set(Patient::fields().name(), "Jon Doe")
    ///             .set(Patient::fields().blood_type(), "O-"),
    ///     )
    ///     .upsert(true)
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// Key and encryption errors naming the field;
    /// [`Error::UnsupportedOperator`](crate::Error::UnsupportedOperator) for `arrayFilters`
    /// reaching an encrypted field, a sort on one, or a hint that uses one as other than
    /// an ordinary index key; [`Error::Collection`](crate::Error::Collection).
    pub fn update_one(&self, filter: Filter<T>, update: model::Update<T>) -> Update<'_, T> {
        Update::new(self, filter, Modification::Typed(update), false)
    }

    /// Applies `update` to every model matching `filter` (see
    /// [`update_one`](Self::update_one)).
    ///
    /// ```no_run
    /// # use encrypted_core::{EncryptedCollection, model::{Encrypted, Filter, Update}};
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, visits: i32, #[encrypt(deterministic)] ssn: i32 }
    /// # async fn run(patients: EncryptedCollection<Patient>) -> encrypted_core::Result<()> {
    /// let result = patients
    ///     .update_many(Filter::all(), Update::new().inc(Patient::fields().visits(), 1))
    ///     .await?;
    /// # let _ = result; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`update_one`](Self::update_one).
    pub fn update_many(&self, filter: Filter<T>, update: model::Update<T>) -> Update<'_, T> {
        Update::new(self, filter, Modification::Typed(update), true)
    }

    /// Applies a hand-written update document to the first model matching `filter`,
    /// after checking every operator of it, as
    /// [`update_many_raw`](Self::update_many_raw) does.
    ///
    /// ```no_run
    /// # use encrypted_core::{EncryptedCollection, model::Encrypted};
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, scores: Vec<i32>, #[encrypt(deterministic)] ssn: i32 }
    /// # async fn run(patients: EncryptedCollection<Patient>) -> encrypted_core::Result<()> {
    /// // Raise every score under 50 to 50: arrayFilters on a plaintext array.
    /// patients
    ///     .update_one_raw(
    ///         Patient::fields().ssn().eq(241014209),
    ///         bson::doc! { "$set": { "scores.$[low]": 50 } },
    ///     )
    ///     .array_filters([bson::doc! { "low": { "$lt": 50 } }])
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`update_many_raw`](Self::update_many_raw).
    pub fn update_one_raw(&self, filter: Filter<T>, update: Document) -> Update<'_, T> {
        Update::new(self, filter, Modification::Raw(update), false)
    }

    /// Applies a hand-written update document to the models matching `filter`, after
    /// checking every operator of it (fail closed): an encrypted field may only be `$set`
    /// (or `$setOnInsert`) to a ciphertext of its BSON type and algorithm, or `$unset`; a
    /// nested model's field only to a document whose encrypted fields are such
    /// ciphertexts; `$rename` from or onto anything encrypted, the other operators
    /// (`$inc`, `$push`, `$min`, `$currentDate`, ...) on anything encrypted, and unknown
    /// operators are refused. (Pipeline updates cannot be expressed with a `Document`.)
    ///
    /// ```no_run
    /// # use encrypted_core::{EncryptedCollection, model::{Encrypted, Filter}};
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
    /// # async fn run(patients: EncryptedCollection<Patient>) -> encrypted_core::Result<()> {
    /// patients
    ///     .update_many_raw(Filter::all(), bson::doc! { "$currentDate": { "seen": true } })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::UnencryptedField`](crate::Error::UnencryptedField),
    /// [`Error::UnsupportedOperator`](crate::Error::UnsupportedOperator),
    /// [`Error::Field`](crate::Error::Field) with
    /// [`Error::CiphertextMismatch`](crate::Error::CiphertextMismatch) (each naming the
    /// full path), [`Error::Collection`](crate::Error::Collection).
    pub fn update_many_raw(&self, filter: Filter<T>, update: Document) -> Update<'_, T> {
        Update::new(self, filter, Modification::Raw(update), true)
    }
}

/// Updates models: returned by [`EncryptedCollection::update_one`],
/// [`update_many`](EncryptedCollection::update_many) and their `_raw` forms, configured
/// with its methods (the driver's [`UpdateOptions`]), run by awaiting it.
#[must_use = "an action does nothing until awaited"]
pub struct Update<'a, T: Encrypted> {
    collection: &'a EncryptedCollection<T>,
    filter: Filter<T>,
    update: Modification<T>,
    many: bool,
    options: Option<UpdateOptions>,
    sort: Option<Sort<T>>,
    session: Option<&'a mut ClientSession>,
}

impl<T: Encrypted> std::fmt::Debug for Update<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Update")
            .field("collection", self.collection)
            .field("many", &self.many)
            .finish_non_exhaustive()
    }
}

impl<'a, T: Encrypted> Update<'a, T> {
    fn new(
        collection: &'a EncryptedCollection<T>,
        filter: Filter<T>,
        update: Modification<T>,
        many: bool,
    ) -> Self {
        Self {
            collection,
            filter,
            update,
            many,
            options: None,
            sort: None,
            session: None,
        }
    }

    option_setters!(UpdateOptions;
        /// Lets the write skip the collection's validator.
        bypass_document_validation: bool,
        /// Inserts a document when no model matches: the filter's equalities (an
        /// encrypted field's ciphertext included) with the update applied.
        upsert: bool,
        /// The collation for string comparisons of plaintext fields.
        collation: Collation,
        /// The write concern of the operation.
        write_concern: WriteConcern,
        /// Variables usable in the filter's aggregation expressions.
        let_vars: Document,
        /// A comment to help trace the operation in the server's logs and profiler.
        comment: impl Into<Bson>,
    );

    /// Conditions on the elements of the arrays the update names with `$[identifier]`.
    /// Only plaintext arrays: a filter reaching an encrypted field (or an identifier the
    /// update does not use) is refused by name when the action runs.
    pub fn array_filters(mut self, filters: impl IntoIterator<Item = Document>) -> Self {
        self.options().array_filters = Some(filters.into_iter().collect());
        self
    }

    /// The index to use, by name or by keys (an encrypted field may be an ordinary or
    /// hashed key of it, not a text or geospatial one).
    pub fn hint(mut self, hint: Hint) -> Self {
        self.options().hint = Some(hint);
        self
    }

    /// Which matching model `update_one` updates when several match (MongoDB 8.0+). Only
    /// plaintext fields can be sorted on: a key on an encrypted path is refused by name.
    ///
    /// A typed [`Sort`] (plaintext paths only: sorting on an encrypted field does not
    /// compile) or a raw `Document`.
    pub fn sort(mut self, sort: impl Into<Sort<T>>) -> Self {
        self.sort = Some(sort.into());
        self
    }

    /// Runs the operation in `session` (the key vault reads stay outside it).
    pub fn session(mut self, session: impl Into<&'a mut ClientSession>) -> Self {
        self.session = Some(session.into());
        self
    }
}

impl<T: Encrypted> private::Sealed for Update<'_, T> {}

impl<T: Encrypted> EncryptedCollection<T> {
    /// The update document to send: a typed update encrypted, a raw one checked.
    pub(super) async fn modification_document(&self, update: Modification<T>) -> Result<Document> {
        match update {
            Modification::Typed(update) => self.update_document(update).await,
            Modification::Raw(update) => {
                model::check_raw_update(T::SPEC, &update)?;
                Ok(update)
            }
        }
    }
}

/// Checks the options of an update that name fields of `T`, given the update document.
pub(super) fn check_update_options<T: Encrypted>(
    update: &Document,
    array_filters: Option<&Vec<Document>>,
    hint: Option<&Hint>,
    sort: (Option<Sort<T>>, Option<Document>),
) -> Result<Option<Document>> {
    if let Some(filters) = array_filters {
        model::check_array_filters(T::SPEC, update, filters)?;
    }
    check_hint(T::SPEC, hint)?;
    match sort {
        (Some(typed), _) => typed.to_document().map(Some),
        (None, raw) => raw.map(|sort| check_sort(T::SPEC, sort)).transpose(),
    }
}

impl<'a, T: Encrypted> IntoFuture for Update<'a, T> {
    type Output = Result<UpdateResult>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let collection = self.collection;
            let update = collection.modification_document(self.update).await?;
            let mut options = self.options;
            if self.sort.is_some() {
                options.get_or_insert_with(Default::default);
            }
            if let Some(options) = options.as_mut() {
                options.sort = check_update_options::<T>(
                    &update,
                    options.array_filters.as_ref(),
                    options.hint.as_ref(),
                    (self.sort, options.sort.take()),
                )?;
            }
            let filter = collection.encrypt_filter(self.filter).await?;
            let (action, operation) = if self.many {
                (
                    collection.collection.update_many(filter, update),
                    "updateMany",
                )
            } else {
                (
                    collection.collection.update_one(filter, update),
                    "updateOne",
                )
            };
            action
                .with_options(options)
                .optional(self.session, |update, session| update.session(session))
                .await
                .map_err(collection.driver_error(operation))
        })
    }
}
