//! The `deleteOne` and `deleteMany` actions.

use std::future::IntoFuture;

use bson::{Bson, Document};
use futures_util::future::BoxFuture;
use mongodb::ClientSession;
use mongodb::action::Action as _;
use mongodb::options::{Collation, DeleteOptions, Hint, WriteConcern};
use mongodb::results::DeleteResult;

use super::{check_hint, option_setters, private};
use crate::Result;
use crate::driver::encrypted_collection::EncryptedCollection;
use crate::model::{Encrypted, Filter};

impl<T: Encrypted> EncryptedCollection<T> {
    /// Deletes the first model matching `filter`.
    ///
    /// ```no_run
    /// # use encrypted_core::{EncryptedCollection, model::Encrypted};
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
    /// # async fn run(patients: EncryptedCollection<Patient>) -> encrypted_core::Result<()> {
    /// let gone = patients.delete_one(Patient::fields().ssn().eq(241014209)).await?.deleted_count;
    /// # let _ = gone; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// Filter encryption errors; [`Error::UnsupportedOperator`](crate::Error::UnsupportedOperator)
    /// for a hint that uses an encrypted path as other than an ordinary index key;
    /// [`Error::Collection`](crate::Error::Collection) when the server fails.
    pub fn delete_one(&self, filter: Filter<T>) -> Delete<'_, T> {
        Delete::new(self, filter, false)
    }

    /// Deletes every model matching `filter`.
    ///
    /// ```no_run
    /// # use encrypted_core::{EncryptedCollection, model::Encrypted};
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
    /// # async fn run(patients: EncryptedCollection<Patient>) -> encrypted_core::Result<()> {
    /// patients.delete_many(Patient::fields().name().eq("Jon Doe")).comment("dedupe").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`delete_one`](Self::delete_one).
    pub fn delete_many(&self, filter: Filter<T>) -> Delete<'_, T> {
        Delete::new(self, filter, true)
    }
}

/// Deletes models: returned by [`EncryptedCollection::delete_one`] and
/// [`delete_many`](EncryptedCollection::delete_many), configured with its methods (the
/// driver's [`DeleteOptions`]), run by awaiting it.
#[must_use = "an action does nothing until awaited"]
pub struct Delete<'a, T: Encrypted> {
    collection: &'a EncryptedCollection<T>,
    filter: Filter<T>,
    many: bool,
    options: Option<DeleteOptions>,
    session: Option<&'a mut ClientSession>,
}

impl<T: Encrypted> std::fmt::Debug for Delete<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delete")
            .field("collection", self.collection)
            .field("many", &self.many)
            .finish_non_exhaustive()
    }
}

impl<'a, T: Encrypted> Delete<'a, T> {
    fn new(collection: &'a EncryptedCollection<T>, filter: Filter<T>, many: bool) -> Self {
        Self {
            collection,
            filter,
            many,
            options: None,
            session: None,
        }
    }

    option_setters!(DeleteOptions;
        /// The collation for string comparisons of plaintext fields.
        collation: Collation,
        /// The write concern of the operation.
        write_concern: WriteConcern,
        /// Variables usable in the filter's aggregation expressions.
        let_vars: Document,
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

impl<T: Encrypted> private::Sealed for Delete<'_, T> {}

impl<'a, T: Encrypted> IntoFuture for Delete<'a, T> {
    type Output = Result<DeleteResult>;
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
            let (delete, operation) = if self.many {
                (collection.collection.delete_many(filter), "deleteMany")
            } else {
                (collection.collection.delete_one(filter), "deleteOne")
            };
            delete
                .with_options(self.options)
                .optional(self.session, |delete, session| delete.session(session))
                .await
                .map_err(collection.driver_error(operation))
        })
    }
}
