//! The `aggregate` action.

use std::future::IntoFuture;
use std::time::Duration;

use bson::{Bson, Document};
use futures_util::future::BoxFuture;
use mongodb::ClientSession;
use mongodb::options::{
    AggregateOptions, Collation, Hint, ReadConcern, SelectionCriteria, WriteConcern,
};
use serde::de::DeserializeOwned;

use super::{ExplicitSession, ImplicitSession, check_hint, option_setters, private};
use crate::driver::encrypted_collection::EncryptedCollection;
use crate::driver::encrypted_collection::decoder::{Decoding, as_model, as_user, as_view};
use crate::model::{Encrypted, Pipeline};
use crate::{EncryptedCursor, EncryptedSessionCursor, Result};

impl<T: Encrypted> EncryptedCollection<T> {
    /// Runs an aggregation `pipeline` on the collection: its typed `$match` stages
    /// ([`Pipeline::filter`]) are encrypted like filters, the other stages are checked
    /// against the encrypted paths (a stage that would sort by, compute on or move a
    /// ciphertext is refused by name before anything is sent), and the results are
    /// decrypted by the model's paths. Awaiting gives an [`EncryptedCursor`] of the model;
    /// [`with_type`](Aggregate::with_type) decodes a type of your own (the shape the last
    /// stages produce), [`views`](Aggregate::views) the model's views.
    ///
    /// ```no_run
    /// # use encrypted_core::{EncryptedCollection, model::Encrypted};
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[serde(rename_all = "camelCase")]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32, #[encrypt(random)] blood_type: String }
    /// # async fn run(patients: EncryptedCollection<Patient>) -> encrypted_core::Result<()> {
    /// use encrypted_core::model::Pipeline;
    /// use futures_util::TryStreamExt;
    ///
    /// #[derive(Deserialize)]
    /// #[serde(rename_all = "camelCase")]
    /// struct Chart {
    ///     name: String,
    ///     blood_type: String,
    /// }
    ///
    /// let charts: Vec<Chart> = patients
    ///     .aggregate(
    ///         Pipeline::new()
    ///             .filter(Patient::fields().ssn().eq(241014209))
    ///             .project(bson::doc! { "_id": 0, "name": 1, "bloodType": 1 }),
    ///     )
    ///     .with_type::<Chart>()
    ///     .await?
    ///     .try_collect()
    ///     .await?;
    /// # let _ = charts; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::EncryptedPathRefused`](crate::Error::EncryptedPathRefused) for a stage that
    /// would work on ciphertext; filter encryption errors;
    /// [`Error::Collection`](crate::Error::Collection) when the server fails. Each item of
    /// the cursor fails alone when it cannot be decrypted or deserialized.
    pub fn aggregate(&self, pipeline: impl Into<Pipeline<T>>) -> Aggregate<'_, T> {
        Aggregate {
            collection: self,
            pipeline: pipeline.into(),
            options: None,
            decoding: as_model::<T>(),
            session: ImplicitSession,
        }
    }
}

/// Runs an aggregation pipeline: returned by [`EncryptedCollection::aggregate`],
/// configured with its methods (the driver's [`AggregateOptions`]), run by awaiting it.
/// Resolves to an [`EncryptedCursor`] of `O`, or an [`EncryptedSessionCursor`] with
/// [`session`](Aggregate::session).
#[must_use = "an action does nothing until awaited"]
pub struct Aggregate<'a, T: Encrypted, O = T, S = ImplicitSession> {
    collection: &'a EncryptedCollection<T>,
    pipeline: Pipeline<T>,
    options: Option<AggregateOptions>,
    decoding: Decoding<O>,
    session: S,
}

impl<T: Encrypted, O, S> std::fmt::Debug for Aggregate<'_, T, O, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aggregate")
            .field("collection", self.collection)
            .field("stages", &self.pipeline.len())
            .finish_non_exhaustive()
    }
}

impl<'a, T: Encrypted, O, S> Aggregate<'a, T, O, S> {
    option_setters!(AggregateOptions;
        /// Lets the server write temporary files for large stages.
        allow_disk_use: bool,
        /// How many documents each batch from the server holds: also how many documents
        /// are decrypted together, with one key vault round trip for their keys.
        batch_size: u32,
        /// Lets an `$out` or `$merge` stage skip the collection's validator (which is what
        /// refuses plaintext in encrypted fields where the server supports it).
        bypass_document_validation: bool,
        /// The collation for string comparisons of plaintext fields.
        collation: Collation,
        /// A comment to help trace the operation in the server's logs and profiler.
        comment: impl Into<Bson>,
        /// How long a change stream aggregation's server waits for new documents.
        max_await_time: Duration,
        /// The most time the server may spend on the operation.
        max_time: Duration,
        /// The read concern of the operation.
        read_concern: ReadConcern,
        /// Which servers may answer (read preference).
        selection_criteria: SelectionCriteria,
        /// The write concern of an `$out` or `$merge` stage.
        write_concern: WriteConcern,
        /// Variables usable in the stages' expressions.
        let_vars: Document,
    );

    /// The index to use, by name or by keys (an encrypted field may be an ordinary or
    /// hashed key of it, not a text or geospatial one).
    pub fn hint(mut self, hint: Hint) -> Self {
        self.options().hint = Some(hint);
        self
    }

    /// Decodes the results as `U`, any deserializable type (what the pipeline's last
    /// stages produce); fields at the model's encrypted paths are decrypted.
    pub fn with_type<U: DeserializeOwned + Send + 'static>(self) -> Aggregate<'a, T, U, S> {
        self.decoded(as_user::<U>())
    }

    /// Decodes the results as the model's [views](Encrypted::View): an encrypted field
    /// this handle cannot open stays sealed.
    pub fn views(self) -> Aggregate<'a, T, T::View, S> {
        self.decoded(as_view::<T>())
    }

    fn decoded<U>(self, decoding: Decoding<U>) -> Aggregate<'a, T, U, S> {
        Aggregate {
            collection: self.collection,
            pipeline: self.pipeline,
            options: self.options,
            decoding,
            session: self.session,
        }
    }

    /// Runs the operation in `session`: awaiting then gives an
    /// [`EncryptedSessionCursor`], advanced with the same session (the key vault reads
    /// stay outside it).
    pub fn session<'s>(
        self,
        session: impl Into<&'s mut ClientSession>,
    ) -> Aggregate<'a, T, O, ExplicitSession<'s>> {
        Aggregate {
            collection: self.collection,
            pipeline: self.pipeline,
            options: self.options,
            decoding: self.decoding,
            session: ExplicitSession(session.into()),
        }
    }

    /// The stages checked and encrypted, and the options checked: what the driver gets.
    async fn prepare(self) -> Result<(Vec<Document>, Option<AggregateOptions>, Decoding<O>, S)> {
        check_hint(
            T::SPEC,
            self.options
                .as_ref()
                .and_then(|options| options.hint.as_ref()),
        )?;
        // Checks every stage before any key is read.
        let key_refs = self.pipeline.key_refs()?;
        let keys = self.collection.keys_for_paths(key_refs).await?;
        let stages = self.pipeline.to_documents(&keys)?;
        Ok((stages, self.options, self.decoding, self.session))
    }
}

impl<T: Encrypted, O, S> private::Sealed for Aggregate<'_, T, O, S> {}

impl<'a, T: Encrypted, O: Send + 'static> IntoFuture for Aggregate<'a, T, O, ImplicitSession> {
    type Output = Result<EncryptedCursor<O>>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        let collection = self.collection;
        Box::pin(async move {
            let (stages, options, decoding, ImplicitSession) = self.prepare().await?;
            let raw = collection
                .collection
                .aggregate(stages)
                .with_options(options)
                .batch()
                .await
                .map_err(collection.driver_error("aggregate"))?;
            Ok(EncryptedCursor::new(
                raw,
                collection.decoder(decoding),
                collection.owned_driver_error("aggregate"),
            ))
        })
    }
}

impl<'a, T: Encrypted, O: Send + 'static> IntoFuture for Aggregate<'a, T, O, ExplicitSession<'a>> {
    type Output = Result<EncryptedSessionCursor<O>>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        let collection = self.collection;
        Box::pin(async move {
            let (stages, options, decoding, ExplicitSession(session)) = self.prepare().await?;
            let raw = collection
                .collection
                .aggregate(stages)
                .with_options(options)
                .session(session)
                .batch()
                .await
                .map_err(collection.driver_error("aggregate"))?;
            Ok(EncryptedSessionCursor::new(
                raw,
                collection.decoder(decoding),
                collection.owned_driver_error("aggregate"),
            ))
        })
    }
}
