//! The `distinct` action.

use std::collections::HashSet;
use std::future::IntoFuture;
use std::time::Duration;

use bson::{Bson, Document, RawDocumentBuf};
use futures_util::future::BoxFuture;
use mongodb::ClientSession;
use mongodb::action::Action as _;
use mongodb::options::{Collation, DistinctOptions, Hint, ReadConcern, SelectionCriteria};

use super::{check_hint, option_setters, private};
use crate::driver::encrypted_collection::EncryptedCollection;
use crate::model::{self, DistinctPath, Encrypted, Filter};
use crate::{Error, Result};

impl<T: Encrypted> EncryptedCollection<T> {
    /// The distinct values of a plaintext or deterministic field among the models
    /// matching `filter`, decrypted (equal plaintexts have equal deterministic
    /// ciphertexts, so the server can tell them apart without seeing them). A randomly
    /// encrypted field has no path for `distinct`: that does not compile.
    ///
    /// ```no_run
    /// # use encrypted_core::{EncryptedCollection, model::{Encrypted, Filter}};
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
    /// # async fn run(patients: EncryptedCollection<Patient>) -> encrypted_core::Result<()> {
    /// let ssns: Vec<i32> = patients.distinct(Patient::fields().ssn(), Filter::all()).await?;
    /// # let _ = ssns; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`find`](Self::find).
    pub fn distinct<P: DistinctPath<T>>(&self, path: P, filter: Filter<T>) -> Distinct<'_, T, P> {
        Distinct {
            collection: self,
            path,
            filter,
            options: None,
            session: None,
        }
    }
}

/// The distinct values of a field: returned by [`EncryptedCollection::distinct`],
/// configured with its methods (the driver's [`DistinctOptions`]), run by awaiting it.
#[must_use = "an action does nothing until awaited"]
pub struct Distinct<'a, T: Encrypted, P> {
    collection: &'a EncryptedCollection<T>,
    path: P,
    filter: Filter<T>,
    options: Option<DistinctOptions>,
    session: Option<&'a mut ClientSession>,
}

impl<T: Encrypted, P> std::fmt::Debug for Distinct<'_, T, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Distinct")
            .field("collection", self.collection)
            .finish_non_exhaustive()
    }
}

impl<'a, T: Encrypted, P> Distinct<'a, T, P> {
    option_setters!(DistinctOptions;
        /// The most time the server may spend on the operation.
        max_time: Duration,
        /// Which servers may answer (read preference).
        selection_criteria: SelectionCriteria,
        /// The read concern of the operation.
        read_concern: ReadConcern,
        /// The collation for string comparisons of plaintext fields (ciphertexts are
        /// compared as bytes whatever the collation).
        collation: Collation,
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

impl<T: Encrypted, P> private::Sealed for Distinct<'_, T, P> {}

impl<'a, T, P> IntoFuture for Distinct<'a, T, P>
where
    T: Encrypted,
    P: DistinctPath<T> + Send + 'a,
    P::Value: Send,
{
    type Output = Result<Vec<P::Value>>;
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
            let path = self.path.path();
            let values = collection
                .collection
                .distinct(path, filter)
                .with_options(self.options)
                .optional(self.session, |distinct, session| distinct.session(session))
                .await
                .map_err(collection.driver_error("distinct"))?;
            collection.decrypt_distinct(path, values).await
        })
    }
}

impl<T: Encrypted> EncryptedCollection<T> {
    /// The values `distinct` returned for `path`, decrypted under the same rules as a
    /// stored document's field and deserialized.
    async fn decrypt_distinct<V: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        values: Vec<Bson>,
    ) -> Result<Vec<V>> {
        // The values as one document (`{ "0": .., "1": .. }`, an array's bytes).
        let mut document = Document::new();
        for (index, value) in values.into_iter().enumerate() {
            document.insert(index.to_string(), value);
        }
        let serialized = RawDocumentBuf::try_from(&document).map_err(|_| Error::Serde {
            model: T::SPEC.name,
            direction: "deserialize",
        })?;
        match T::SPEC.lookup(path) {
            model::Lookup::Encrypted(field, _) => {
                let mut ids = HashSet::new();
                model::keys_to_decrypt_values(&field, serialized.as_bytes(), path, &mut ids)?;
                let keys = self.keys_for_ids(ids).await?;
                let plain = model::decrypt_values(&field, serialized.as_bytes(), &keys, path)
                    .map_err(|error| self.no_key_access(error))?;
                model::deserialize_values(T::SPEC.name, &plain)
            }
            _ => model::deserialize_values(T::SPEC.name, serialized.as_bytes()),
        }
    }
}
