//! The `find` and `findOne` actions.

use std::future::IntoFuture;
use std::time::Duration;

use bson::{Bson, Document};
use futures_util::future::BoxFuture;
use mongodb::ClientSession;
use mongodb::action::Action as _;
use mongodb::options::{
    Collation, CursorType, FindOneOptions, FindOptions, Hint, ReadConcern, SelectionCriteria,
};
use serde::de::DeserializeOwned;

use super::{
    ExplicitSession, ImplicitSession, check_hint, check_index_bounds, check_projection, check_sort,
    option_setters, private,
};
use crate::driver::encrypted_collection::EncryptedCollection;
use crate::driver::encrypted_collection::decoder::{Decoding, as_model, as_user, as_view};
use crate::model::{Encrypted, Filter};
use crate::{EncryptedCursor, EncryptedSessionCursor, Result};

impl<T: Encrypted> EncryptedCollection<T> {
    /// The models matching `filter`, decrypted: awaiting the returned [`Find`] gives an
    /// [`EncryptedCursor`] (an [`EncryptedSessionCursor`] with `.session(..)`).
    ///
    /// ```no_run
    /// # use encrypted_core::{EncryptedCollection, model::{Encrypted, Filter}};
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
    /// # async fn run(patients: EncryptedCollection<Patient>) -> encrypted_core::Result<()> {
    /// use futures_util::TryStreamExt;
    ///
    /// // The third page of 20, by name (a plaintext field: ciphertext order means nothing).
    /// let page: Vec<Patient> = patients
    ///     .find(Filter::all())
    ///     .sort(bson::doc! { "name": 1 })
    ///     .skip(40)
    ///     .limit(20)
    ///     .await?
    ///     .try_collect()
    ///     .await?;
    /// # let _ = page; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// Filter encryption errors; [`Error::UnsupportedOperator`](crate::Error::UnsupportedOperator)
    /// for a sort, projection, hint or index bound on an encrypted path;
    /// [`Error::Collection`](crate::Error::Collection) when the server fails. Each item of
    /// the cursor fails alone (its field named) when it cannot be decrypted.
    pub fn find(&self, filter: Filter<T>) -> Find<'_, T> {
        Find::new(self, filter, as_model::<T>())
    }

    /// The [views](Encrypted::View) of the models matching `filter`: every encrypted field
    /// this handle can decrypt is revealed, the others (no key access, or a deleted
    /// per-document key) stay sealed. The options are [`find`](Self::find)'s.
    ///
    /// ```no_run
    /// # use encrypted_core::{EncryptedCollection, model::{Encrypted, Filter}};
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
    /// # async fn run(receptionist: EncryptedCollection<Patient>) -> encrypted_core::Result<()> {
    /// use futures_util::TryStreamExt;
    ///
    /// let views: Vec<PatientView> = receptionist.find_views(Filter::all()).limit(10).await?.try_collect().await?;
    /// # let _ = views; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`find`](Self::find), except that a missing key is not an error.
    pub fn find_views(&self, filter: Filter<T>) -> Find<'_, T, T::View> {
        Find::new(self, filter, as_view::<T>())
    }

    /// The models matching `filter` as a user type `U`: for a projection, whose documents
    /// lack the fields it drops. `U`'s fields are any subset of the model's (an `Option`
    /// where a document may lack one); encrypted fields are decrypted by the model's paths.
    ///
    /// ```no_run
    /// # use encrypted_core::{EncryptedCollection, model::{Encrypted, Filter}};
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32, #[encrypt(random)] blood_type: String }
    /// # async fn run(patients: EncryptedCollection<Patient>) -> encrypted_core::Result<()> {
    /// use futures_util::TryStreamExt;
    ///
    /// #[derive(Deserialize)]
    /// struct NameAndSsn {
    ///     name: String,
    ///     ssn: i32,
    /// }
    ///
    /// let rows: Vec<NameAndSsn> = patients
    ///     .find_as::<NameAndSsn>(Filter::all())
    ///     .projection(bson::doc! { "_id": 0, "name": 1, "ssn": 1 })
    ///     .await?
    ///     .try_collect()
    ///     .await?;
    /// # let _ = rows; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`find`](Self::find); an item fails with [`Error::Serde`](crate::Error::Serde)
    /// naming `U` when its document does not deserialize into `U`.
    pub fn find_as<U: DeserializeOwned + Send + 'static>(
        &self,
        filter: Filter<T>,
    ) -> Find<'_, T, U> {
        Find::new(self, filter, as_user::<U>())
    }

    /// The first model matching `filter` (by the `sort` option, if given), decrypted.
    ///
    /// ```no_run
    /// # use encrypted_core::{EncryptedCollection, model::Encrypted};
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
    /// # async fn run(patients: EncryptedCollection<Patient>) -> encrypted_core::Result<()> {
    /// let jon: Option<Patient> = patients.find_one(Patient::fields().ssn().eq(241014209)).await?;
    /// # let _ = jon; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`find`](Self::find); the one model's decryption errors.
    pub fn find_one(&self, filter: Filter<T>) -> FindOne<'_, T> {
        FindOne::new(self, filter, as_model::<T>())
    }

    /// The [view](Encrypted::View) of the first model matching `filter`.
    ///
    /// ```no_run
    /// # use encrypted_core::{EncryptedCollection, model::Encrypted};
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
    /// # async fn run(receptionist: EncryptedCollection<Patient>) -> encrypted_core::Result<()> {
    /// let jon: Option<PatientView> = receptionist.find_one_view(Patient::fields().name().eq("Jon Doe")).await?;
    /// # let _ = jon; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`find_views`](Self::find_views).
    pub fn find_one_view(&self, filter: Filter<T>) -> FindOne<'_, T, T::View> {
        FindOne::new(self, filter, as_view::<T>())
    }

    /// The first model matching `filter` as a user type `U`, as
    /// [`find_as`](Self::find_as) gives them.
    ///
    /// ```no_run
    /// # use encrypted_core::{EncryptedCollection, model::Encrypted};
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
    /// # async fn run(patients: EncryptedCollection<Patient>) -> encrypted_core::Result<()> {
    /// #[derive(Deserialize)]
    /// struct Ssn {
    ///     ssn: i32,
    /// }
    ///
    /// let jon = patients
    ///     .find_one_as::<Ssn>(Patient::fields().name().eq("Jon Doe"))
    ///     .projection(bson::doc! { "ssn": 1 })
    ///     .await?;
    /// # let _ = jon; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`find_as`](Self::find_as).
    pub fn find_one_as<U: DeserializeOwned + Send + 'static>(
        &self,
        filter: Filter<T>,
    ) -> FindOne<'_, T, U> {
        FindOne::new(self, filter, as_user::<U>())
    }
}

/// Finds the models matching a filter: returned by [`EncryptedCollection::find`] (and
/// [`find_views`](EncryptedCollection::find_views), [`find_as`](EncryptedCollection::find_as)),
/// configured with its methods (the driver's [`FindOptions`]), run by awaiting it.
/// Resolves to an [`EncryptedCursor`] of `O`, or an [`EncryptedSessionCursor`] with
/// [`session`](Find::session).
#[must_use = "an action does nothing until awaited"]
pub struct Find<'a, T: Encrypted, O = T, S = ImplicitSession> {
    collection: &'a EncryptedCollection<T>,
    filter: Filter<T>,
    options: Option<FindOptions>,
    decoding: Decoding<O>,
    session: S,
}

impl<T: Encrypted, O, S> std::fmt::Debug for Find<'_, T, O, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Find")
            .field("collection", self.collection)
            .finish_non_exhaustive()
    }
}

impl<'a, T: Encrypted, O> Find<'a, T, O> {
    fn new(
        collection: &'a EncryptedCollection<T>,
        filter: Filter<T>,
        decoding: Decoding<O>,
    ) -> Self {
        Self {
            collection,
            filter,
            options: None,
            decoding,
            session: ImplicitSession,
        }
    }
}

impl<'a, T: Encrypted, O, S> Find<'a, T, O, S> {
    option_setters!(FindOptions;
        /// Lets the server write temporary files for a large sort (MongoDB 4.4+).
        allow_disk_use: bool,
        /// Returns partial results when some shards are down, instead of an error.
        allow_partial_results: bool,
        /// How many documents each batch from the server holds: also how many documents
        /// are decrypted together, with one key vault round trip for their keys.
        batch_size: u32,
        /// A comment to help trace the operation in the server's logs and profiler.
        comment: impl Into<Bson>,
        /// The kind of cursor (tailable on capped collections).
        cursor_type: CursorType,
        /// The most documents to return; a negative value returns at most that many in
        /// one batch and closes the cursor.
        limit: i64,
        /// How long a tailable-await cursor's server waits for new documents.
        max_await_time: Duration,
        /// The most time the server may spend on the operation.
        max_time: Duration,
        /// Keeps the cursor from timing out on the server while idle.
        no_cursor_timeout: bool,
        /// The read concern of the operation.
        read_concern: ReadConcern,
        /// Returns only the index keys of the results.
        return_key: bool,
        /// Which servers may answer (read preference).
        selection_criteria: SelectionCriteria,
        /// Adds each document's record id to it (as `$recordId`).
        show_record_id: bool,
        /// How many matching documents to skip (with a [`sort`](Self::sort), for paging).
        skip: u64,
        /// The collation for string comparisons of plaintext fields (ciphertexts are
        /// compared as bytes whatever the collation).
        collation: Collation,
        /// Variables usable in the filter's aggregation expressions.
        let_vars: Document,
    );

    /// The order of the results. Only plaintext fields can be sorted on: ciphertext order
    /// means nothing, so a key on an encrypted path is refused by name.
    pub fn sort(mut self, sort: Document) -> Self {
        self.options().sort = Some(sort);
        self
    }

    /// Which fields the results keep. An encrypted field is kept or dropped whole (and a
    /// kept one stays decryptable); anything that would reach inside its ciphertext is
    /// refused. Decode a projection into a type of your own with
    /// [`find_as`](EncryptedCollection::find_as).
    pub fn projection(mut self, projection: Document) -> Self {
        self.options().projection = Some(projection);
        self
    }

    /// The index to use, by name or by keys (an encrypted field may be an ordinary or
    /// hashed key of it, not a text or geospatial one).
    pub fn hint(mut self, hint: Hint) -> Self {
        self.options().hint = Some(hint);
        self
    }

    /// The inclusive lower bound of an index (with [`hint`](Self::hint)); on plaintext
    /// fields only.
    pub fn min(mut self, min: Document) -> Self {
        self.options().min = Some(min);
        self
    }

    /// The exclusive upper bound of an index (with [`hint`](Self::hint)); on plaintext
    /// fields only.
    pub fn max(mut self, max: Document) -> Self {
        self.options().max = Some(max);
        self
    }

    /// Runs the operation in `session`: awaiting then gives an
    /// [`EncryptedSessionCursor`], advanced with the same session.
    pub fn session<'s>(
        self,
        session: impl Into<&'s mut ClientSession>,
    ) -> Find<'a, T, O, ExplicitSession<'s>> {
        Find {
            collection: self.collection,
            filter: self.filter,
            options: self.options,
            decoding: self.decoding,
            session: ExplicitSession(session.into()),
        }
    }

    /// The filter encrypted and the options checked: what the driver gets.
    async fn prepare(self) -> Result<(Document, Option<FindOptions>, Decoding<O>, S)> {
        let options = self.options.map(check_find_options::<T>).transpose()?;
        let filter = self.collection.encrypt_filter(self.filter).await?;
        Ok((filter, options, self.decoding, self.session))
    }
}

/// Checks the options of a `find` that name fields of `T`.
fn check_find_options<T: Encrypted>(mut options: FindOptions) -> Result<FindOptions> {
    options.sort = options
        .sort
        .map(|sort| check_sort(T::SPEC, sort))
        .transpose()?;
    options.projection = options
        .projection
        .map(|projection| check_projection(T::SPEC, projection))
        .transpose()?;
    check_hint(T::SPEC, options.hint.as_ref())?;
    check_index_bounds(T::SPEC, options.min.as_ref(), "min")?;
    check_index_bounds(T::SPEC, options.max.as_ref(), "max")?;
    Ok(options)
}

/// Checks the options of a `findOne` that name fields of `T`.
fn check_find_one_options<T: Encrypted>(mut options: FindOneOptions) -> Result<FindOneOptions> {
    options.sort = options
        .sort
        .map(|sort| check_sort(T::SPEC, sort))
        .transpose()?;
    options.projection = options
        .projection
        .map(|projection| check_projection(T::SPEC, projection))
        .transpose()?;
    check_hint(T::SPEC, options.hint.as_ref())?;
    check_index_bounds(T::SPEC, options.min.as_ref(), "min")?;
    check_index_bounds(T::SPEC, options.max.as_ref(), "max")?;
    Ok(options)
}

impl<T: Encrypted, O, S> private::Sealed for Find<'_, T, O, S> {}

impl<'a, T: Encrypted, O: Send + 'static> IntoFuture for Find<'a, T, O, ImplicitSession> {
    type Output = Result<EncryptedCursor<O>>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        let collection = self.collection;
        Box::pin(async move {
            let (filter, options, decoding, ImplicitSession) = self.prepare().await?;
            let raw = collection
                .collection
                .find(filter)
                .with_options(options)
                .batch()
                .await
                .map_err(collection.driver_error("find"))?;
            Ok(EncryptedCursor::new(
                raw,
                collection.decoder(decoding),
                collection.owned_driver_error("find"),
            ))
        })
    }
}

impl<'a, T: Encrypted, O: Send + 'static> IntoFuture for Find<'a, T, O, ExplicitSession<'a>> {
    type Output = Result<EncryptedSessionCursor<O>>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        let collection = self.collection;
        Box::pin(async move {
            let (filter, options, decoding, ExplicitSession(session)) = self.prepare().await?;
            let raw = collection
                .collection
                .find(filter)
                .with_options(options)
                .session(session)
                .batch()
                .await
                .map_err(collection.driver_error("find"))?;
            Ok(EncryptedSessionCursor::new(
                raw,
                collection.decoder(decoding),
                collection.owned_driver_error("find"),
            ))
        })
    }
}

/// Finds the first model matching a filter: returned by [`EncryptedCollection::find_one`]
/// (and [`find_one_view`](EncryptedCollection::find_one_view),
/// [`find_one_as`](EncryptedCollection::find_one_as)), configured with its methods (the
/// driver's [`FindOneOptions`]), run by awaiting it. Resolves to `Option<O>`.
#[must_use = "an action does nothing until awaited"]
pub struct FindOne<'a, T: Encrypted, O = T> {
    collection: &'a EncryptedCollection<T>,
    filter: Filter<T>,
    options: Option<FindOneOptions>,
    decoding: Decoding<O>,
    session: Option<&'a mut ClientSession>,
}

impl<T: Encrypted, O> std::fmt::Debug for FindOne<'_, T, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FindOne")
            .field("collection", self.collection)
            .finish_non_exhaustive()
    }
}

impl<'a, T: Encrypted, O> FindOne<'a, T, O> {
    fn new(
        collection: &'a EncryptedCollection<T>,
        filter: Filter<T>,
        decoding: Decoding<O>,
    ) -> Self {
        Self {
            collection,
            filter,
            options: None,
            decoding,
            session: None,
        }
    }

    option_setters!(FindOneOptions;
        /// Returns a partial result when some shards are down, instead of an error.
        allow_partial_results: bool,
        /// The collation for string comparisons of plaintext fields.
        collation: Collation,
        /// A comment to help trace the operation in the server's logs and profiler.
        comment: impl Into<Bson>,
        /// The most time the server may spend on the operation.
        max_time: Duration,
        /// The read concern of the operation.
        read_concern: ReadConcern,
        /// Returns only the index keys of the result.
        return_key: bool,
        /// Which servers may answer (read preference).
        selection_criteria: SelectionCriteria,
        /// Adds the document's record id to it (as `$recordId`).
        show_record_id: bool,
        /// How many matching documents to skip first.
        skip: u64,
        /// Variables usable in the filter's aggregation expressions.
        let_vars: Document,
    );

    /// Which matching model comes first. Only plaintext fields can be sorted on: a key on
    /// an encrypted path is refused by name.
    pub fn sort(mut self, sort: Document) -> Self {
        self.options().sort = Some(sort);
        self
    }

    /// Which fields the result keeps (see [`Find::projection`]).
    pub fn projection(mut self, projection: Document) -> Self {
        self.options().projection = Some(projection);
        self
    }

    /// The index to use (see [`Find::hint`]).
    pub fn hint(mut self, hint: Hint) -> Self {
        self.options().hint = Some(hint);
        self
    }

    /// The inclusive lower bound of an index; on plaintext fields only.
    pub fn min(mut self, min: Document) -> Self {
        self.options().min = Some(min);
        self
    }

    /// The exclusive upper bound of an index; on plaintext fields only.
    pub fn max(mut self, max: Document) -> Self {
        self.options().max = Some(max);
        self
    }

    /// Runs the operation in `session` (the key vault reads stay outside it).
    pub fn session(mut self, session: impl Into<&'a mut ClientSession>) -> Self {
        self.session = Some(session.into());
        self
    }
}

impl<T: Encrypted, O> private::Sealed for FindOne<'_, T, O> {}

impl<'a, T: Encrypted, O: Send + 'static> IntoFuture for FindOne<'a, T, O> {
    type Output = Result<Option<O>>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let collection = self.collection;
            let options = self.options.map(check_find_one_options::<T>).transpose()?;
            let filter = collection.encrypt_filter(self.filter).await?;
            let found = collection
                .collection
                .find_one(filter)
                .with_options(options)
                .optional(self.session, |find, session| find.session(session))
                .await
                .map_err(collection.driver_error("find"))?;
            match found {
                Some(stored) => collection
                    .decoder(self.decoding)
                    .decode_one(&stored)
                    .await
                    .map(Some),
                None => Ok(None),
            }
        })
    }
}
