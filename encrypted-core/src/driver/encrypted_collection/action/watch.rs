//! The `watch` action: a change stream on the collection.

use std::future::IntoFuture;
use std::time::Duration;

use bson::{Bson, Document, RawDocumentBuf, Timestamp};
use futures_util::future::BoxFuture;
use mongodb::ClientSession;
use mongodb::change_stream::event::ResumeToken;
use mongodb::options::{
    ChangeStreamOptions, Collation, FullDocumentBeforeChangeType, FullDocumentType, ReadConcern,
    SelectionCriteria,
};

use super::{ExplicitSession, ImplicitSession, option_setters, private};
use crate::Result;
use crate::driver::encrypted_collection::EncryptedCollection;
use crate::driver::encrypted_collection::cursor::{
    EncryptedChangeStream, EncryptedSessionChangeStream,
};
use crate::driver::encrypted_collection::decoder::as_model;
use crate::model::Encrypted;

impl<T: Encrypted> EncryptedCollection<T> {
    /// A change stream on the collection: awaiting the returned [`Watch`] gives an
    /// [`EncryptedChangeStream`] of the driver's `ChangeStreamEvent<T>`, whose
    /// `fullDocument` / `fullDocumentBeforeChange` are decrypted models and whose
    /// `updatedFields` are decrypted where an update set an encrypted field.
    ///
    /// Change streams need a replica set or a sharded cluster: FerretDB and standalone
    /// servers refuse them ([`Error::Collection`](crate::Error::Collection)).
    ///
    /// ```no_run
    /// # use encrypted_core::{EncryptedCollection, model::Encrypted};
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
    /// # async fn run(patients: EncryptedCollection<Patient>) -> encrypted_core::Result<()> {
    /// use encrypted_core::mongodb::options::FullDocumentType;
    /// use futures_util::TryStreamExt;
    ///
    /// // Inserts and updates of Jon Doe, found by his encrypted SSN.
    /// let jon = patients.encrypt_filter(Patient::fields().ssn().eq(241014209)).await?;
    /// let mut changes = patients
    ///     .watch()
    ///     .pipeline([bson::doc! { "$match": { "fullDocument.ssn": jon.get("ssn").cloned() } }])
    ///     .full_document(FullDocumentType::UpdateLookup)
    ///     .await?;
    /// while let Some(event) = changes.try_next().await? {
    ///     println!("{:?}: {:?}", event.operation_type, event.full_document.map(|p| p.name));
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Collection`](crate::Error::Collection) when the server refuses or fails;
    /// each event fails alone when its documents cannot be decrypted.
    pub fn watch(&self) -> Watch<'_, T> {
        Watch {
            collection: self,
            pipeline: Vec::new(),
            options: None,
            session: ImplicitSession,
        }
    }
}

/// Opens a change stream on the collection: returned by [`EncryptedCollection::watch`],
/// configured with its methods (the driver's [`ChangeStreamOptions`]), run by awaiting it.
#[must_use = "an action does nothing until awaited"]
pub struct Watch<'a, T: Encrypted, S = ImplicitSession> {
    collection: &'a EncryptedCollection<T>,
    pipeline: Vec<Document>,
    options: Option<ChangeStreamOptions>,
    session: S,
}

impl<T: Encrypted, S> std::fmt::Debug for Watch<'_, T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("collection", self.collection)
            .finish_non_exhaustive()
    }
}

impl<'a, T: Encrypted, S> Watch<'a, T, S> {
    option_setters!(ChangeStreamOptions;
        /// Whether and how events of updates carry the whole document after the change.
        full_document: FullDocumentType,
        /// Whether events carry the whole document before the change (MongoDB 6.0+ with
        /// pre-images enabled on the collection).
        full_document_before_change: FullDocumentBeforeChangeType,
        /// Starts after the event of this token, even across an invalidate event.
        start_after: ResumeToken,
        /// Starts at this cluster time.
        start_at_operation_time: Timestamp,
        /// How long the server waits for new events before answering an empty batch.
        max_await_time: Duration,
        /// How many events each batch from the server holds.
        batch_size: u32,
        /// The collation for string comparisons of plaintext fields in the pipeline.
        collation: Collation,
        /// The read concern of the operation.
        read_concern: ReadConcern,
        /// Which servers may answer (read preference).
        selection_criteria: SelectionCriteria,
        /// Includes the expanded DDL events (MongoDB 6.0+).
        show_expanded_events: bool,
        /// A comment to help trace the operation in the server's logs and profiler.
        comment: impl Into<Bson>,
    );

    /// Resumes after the event of this token (from
    /// [`EncryptedChangeStream::resume_token`]).
    pub fn resume_after(mut self, token: impl Into<Option<ResumeToken>>) -> Self {
        self.options().resume_after = token.into();
        self
    }

    /// Stages applied to the events (not to documents: paths start with `fullDocument.`).
    /// To match an encrypted field, put the ciphertext from
    /// [`encrypt_filter`](EncryptedCollection::encrypt_filter) in the `$match`. The
    /// documents of the events are decrypted by the model's paths whatever the stages do
    /// (a stage that moves a ciphertext elsewhere leaves it encrypted there); the events
    /// must keep the fields of the driver's `ChangeStreamEvent`.
    pub fn pipeline(mut self, stages: impl IntoIterator<Item = Document>) -> Self {
        self.pipeline = stages.into_iter().collect();
        self
    }
}

impl<'a, T: Encrypted> Watch<'a, T> {
    /// Opens the stream in `session`: awaiting then gives an
    /// [`EncryptedSessionChangeStream`], advanced with the same session.
    pub fn session<'s>(
        self,
        session: impl Into<&'s mut ClientSession>,
    ) -> Watch<'a, T, ExplicitSession<'s>> {
        Watch {
            collection: self.collection,
            pipeline: self.pipeline,
            options: self.options,
            session: ExplicitSession(session.into()),
        }
    }
}

impl<T: Encrypted, S> private::Sealed for Watch<'_, T, S> {}

impl<'a, T: Encrypted> IntoFuture for Watch<'a, T, ImplicitSession> {
    type Output = Result<EncryptedChangeStream<T>>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let collection = self.collection;
            let stream = collection
                .collection
                .watch()
                .pipeline(self.pipeline)
                .with_options(self.options)
                .await
                .map_err(collection.driver_error("watch"))?
                .with_type::<RawDocumentBuf>();
            Ok(EncryptedChangeStream::new(
                stream,
                collection.decoder(as_model::<T>()),
                collection.owned_driver_error("watch"),
            ))
        })
    }
}

impl<'a, T: Encrypted> IntoFuture for Watch<'a, T, ExplicitSession<'a>> {
    type Output = Result<EncryptedSessionChangeStream<T>>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let collection = self.collection;
            let ExplicitSession(session) = self.session;
            let stream = collection
                .collection
                .watch()
                .pipeline(self.pipeline)
                .with_options(self.options)
                .session(session)
                .await
                .map_err(collection.driver_error("watch"))?
                .with_type::<RawDocumentBuf>();
            Ok(EncryptedSessionChangeStream::new(
                stream,
                collection.decoder(as_model::<T>()),
                collection.owned_driver_error("watch"),
            ))
        })
    }
}
