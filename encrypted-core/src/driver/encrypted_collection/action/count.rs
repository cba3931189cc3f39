//! The `countDocuments` and `estimatedDocumentCount` actions.

use std::future::IntoFuture;
use std::time::Duration;

use bson::Bson;
use futures_util::future::BoxFuture;
use mongodb::ClientSession;
use mongodb::action::Action as _;
use mongodb::options::{
    Collation, CountOptions, EstimatedDocumentCountOptions, Hint, ReadConcern, SelectionCriteria,
};

use super::{check_hint, option_setters, private};
use crate::Result;
use crate::driver::encrypted_collection::EncryptedCollection;
use crate::model::{Encrypted, Filter};

impl<T: Encrypted> EncryptedCollection<T> {
    /// Counts the models matching `filter` (an equality on a deterministic field is
    /// encrypted for the server, which counts without seeing the value).
    ///
    /// ```no_run
    /// # use encrypted_core::{EncryptedCollection, model::Encrypted};
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
    /// # async fn run(patients: EncryptedCollection<Patient>) -> encrypted_core::Result<()> {
    /// let taken = patients.count_documents(Patient::fields().ssn().eq(241014209)).limit(1).await? > 0;
    /// # let _ = taken; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// Filter encryption errors; [`Error::UnsupportedOperator`](crate::Error::UnsupportedOperator)
    /// for a hint on an encrypted path that is not an ordinary index key;
    /// [`Error::Collection`](crate::Error::Collection) when the server fails.
    pub fn count_documents(&self, filter: Filter<T>) -> CountDocuments<'_, T> {
        CountDocuments {
            collection: self,
            filter,
            options: None,
            session: None,
        }
    }

    /// The number of documents in the collection, from its metadata (fast, no filter,
    /// and no key needed).
    ///
    /// ```no_run
    /// # use encrypted_core::{EncryptedCollection, model::Encrypted};
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
    /// # async fn run(patients: EncryptedCollection<Patient>) -> encrypted_core::Result<()> {
    /// let about = patients.estimated_document_count().await?;
    /// # let _ = about; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Collection`](crate::Error::Collection) when the server fails.
    pub fn estimated_document_count(&self) -> EstimatedDocumentCount<'_, T> {
        EstimatedDocumentCount {
            collection: self,
            options: None,
        }
    }
}

/// Counts the models matching a filter: returned by
/// [`EncryptedCollection::count_documents`], configured with its methods (the driver's
/// [`CountOptions`]), run by awaiting it.
#[must_use = "an action does nothing until awaited"]
pub struct CountDocuments<'a, T: Encrypted> {
    collection: &'a EncryptedCollection<T>,
    filter: Filter<T>,
    options: Option<CountOptions>,
    session: Option<&'a mut ClientSession>,
}

impl<T: Encrypted> std::fmt::Debug for CountDocuments<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountDocuments")
            .field("collection", self.collection)
            .finish_non_exhaustive()
    }
}

impl<'a, T: Encrypted> CountDocuments<'a, T> {
    option_setters!(CountOptions;
        /// The most documents to count.
        limit: u64,
        /// The most time the server may spend on the operation.
        max_time: Duration,
        /// How many matching documents to skip before counting.
        skip: u64,
        /// The collation for string comparisons of plaintext fields.
        collation: Collation,
        /// Which servers may answer (read preference).
        selection_criteria: SelectionCriteria,
        /// The read concern of the operation.
        read_concern: ReadConcern,
        /// A comment to help trace the operation in the server's logs and profiler.
        comment: impl Into<Bson>,
    );

    /// The index to use, by name or by keys (an encrypted field may be an ordinary or
    /// hashed key of it, not a text or geospatial one).
    pub fn hint(mut self, hint: Hint) -> Self {
        self.options().hint = Some(hint);
        self
    }

    /// Runs the operation in `session` (the key vault reads stay outside it).
    pub fn session(mut self, session: impl Into<&'a mut ClientSession>) -> Self {
        self.session = Some(session.into());
        self
    }
}

impl<T: Encrypted> private::Sealed for CountDocuments<'_, T> {}

impl<'a, T: Encrypted> IntoFuture for CountDocuments<'a, T> {
    type Output = Result<u64>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let collection = self.collection;
            check_hint(
                T::SPEC,
                self.options
                    .as_ref()
                    .and_then(|options| options.hint.as_ref()),
            )?;
            let filter = collection.encrypt_filter(self.filter).await?;
            collection
                .collection
                .count_documents(filter)
                .with_options(self.options)
                .optional(self.session, |count, session| count.session(session))
                .await
                .map_err(collection.driver_error("count"))
        })
    }
}

/// Estimates the number of documents in the collection from its metadata: returned by
/// [`EncryptedCollection::estimated_document_count`], configured with its methods (the
/// driver's [`EstimatedDocumentCountOptions`]), run by awaiting it. Like the driver's, it
/// takes no session (the `count` command it runs cannot be part of a transaction).
#[must_use = "an action does nothing until awaited"]
pub struct EstimatedDocumentCount<'a, T: Encrypted> {
    collection: &'a EncryptedCollection<T>,
    options: Option<EstimatedDocumentCountOptions>,
}

impl<T: Encrypted> std::fmt::Debug for EstimatedDocumentCount<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EstimatedDocumentCount")
            .field("collection", self.collection)
            .finish_non_exhaustive()
    }
}

impl<T: Encrypted> EstimatedDocumentCount<'_, T> {
    option_setters!(EstimatedDocumentCountOptions;
        /// The most time the server may spend on the operation.
        max_time: Duration,
        /// Which servers may answer (read preference).
        selection_criteria: SelectionCriteria,
        /// The read concern of the operation.
        read_concern: ReadConcern,
        /// A comment to help trace the operation in the server's logs and profiler.
        comment: impl Into<Bson>,
    );
}

impl<T: Encrypted> private::Sealed for EstimatedDocumentCount<'_, T> {}

impl<'a, T: Encrypted> IntoFuture for EstimatedDocumentCount<'a, T> {
    type Output = Result<u64>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let collection = self.collection;
            collection
                .collection
                .estimated_document_count()
                .with_options(self.options)
                .await
                .map_err(collection.driver_error("count"))
        })
    }
}
