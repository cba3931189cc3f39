//! A typed collection of a model over the official driver: the model's encrypted fields
//! are encrypted before a document reaches the driver and decrypted after.

pub mod action;
mod cursor;
mod decoder;
mod keys;

use std::borrow::Borrow;
use std::collections::HashSet;
use std::marker::PhantomData;

use bson::{Document, RawDocument, RawDocumentBuf};
use mongodb::Collection;

pub use cursor::{EncryptedCursor, EncryptedSessionCursor, EncryptedSessionCursorStream};

use crate::model::{self, Encrypted, Filter, Path, RootModel, Update};
use crate::{ClientEncryption, Error, Result};

/// The collection of model `T`, encrypting and decrypting its marked fields.
///
/// Built over any `mongodb::Collection` and a [`ClientEncryption`] (the key vault and the
/// KMS providers). A handle made with [`EncryptedCollection::without_keys`] has no key
/// access (the MedcoMD receptionist): it reads [views](Encrypted::View) whose encrypted
/// fields stay sealed, and cannot write them.
///
/// ```no_run
/// # use encrypted_derive::Encrypted;
/// # use serde::{Deserialize, Serialize};
/// use encrypted_core::kms::{KmsProviders, LocalKms};
/// use encrypted_core::model::{Encrypted as _, Filter};
/// use encrypted_core::{ClientEncryption, EncryptedCollection, LocalMasterKey};
/// use futures_util::TryStreamExt;
///
/// #[derive(Serialize, Deserialize, Encrypted, Debug)]
/// # #[encrypted(crate = "encrypted_core")]
/// #[encrypted(key_alt_name = "medco-key")]
/// struct Patient {
///     name: String,
///     #[encrypt(deterministic)]
///     ssn: i32,
/// }
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let client = mongodb::Client::with_uri_str("mongodb://127.0.0.1:27017").await?;
/// let master_key = LocalMasterKey::from_file("master-key.txt")?;
/// let encryption = ClientEncryption::builder(client.clone(), KmsProviders::new().with(LocalKms::new(master_key))).build();
/// let patients = EncryptedCollection::<Patient>::new(
///     &client.database("medicalRecords").collection::<bson::Document>("patients"),
///     &encryption,
/// );
/// patients.insert_one(&Patient { name: "Jon Doe".into(), ssn: 241014209 }).await?;
/// let jon = patients.find_one(Patient::fields().ssn().eq(241014209)).await?;
/// let everyone: Vec<Patient> = patients.find(Filter::all()).await?.try_collect().await?;
/// # let _ = (jon, everyone); Ok(()) }
/// ```
pub struct EncryptedCollection<T> {
    collection: Collection<RawDocumentBuf>,
    encryption: Option<ClientEncryption>,
    _model: PhantomData<fn() -> T>,
}

impl<T> Clone for EncryptedCollection<T> {
    fn clone(&self) -> Self {
        Self {
            collection: self.collection.clone(),
            encryption: self.encryption.clone(),
            _model: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for EncryptedCollection<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedCollection")
            .field("namespace", &self.collection.namespace().to_string())
            .field("keys", &self.encryption.is_some())
            .finish()
    }
}

impl<T: Encrypted> EncryptedCollection<T> {
    /// The typed collection over `collection`, with key access through `encryption`.
    ///
    /// A model declared `#[encrypted(inherit_key)]` is not a [`RootModel`] and cannot
    /// have a collection of its own: that does not compile.
    pub fn new<D: Send + Sync>(collection: &Collection<D>, encryption: &ClientEncryption) -> Self
    where
        T: RootModel,
    {
        Self {
            collection: collection.clone_with_type(),
            encryption: Some(encryption.clone()),
            _model: PhantomData,
        }
    }

    /// A handle without key access: it reads views whose encrypted fields are sealed
    /// and queries plaintext fields; anything that needs a key fails with
    /// [`Error::NoKeyAccess`].
    pub fn without_keys<D: Send + Sync>(collection: &Collection<D>) -> Self
    where
        T: RootModel,
    {
        Self {
            collection: collection.clone_with_type(),
            encryption: None,
            _model: PhantomData,
        }
    }

    /// The same collection, untyped and without encryption: what any driver sees.
    pub fn plain(&self) -> Collection<Document> {
        self.collection.clone_with_type()
    }

    fn namespace(&self) -> String {
        self.collection.namespace().to_string()
    }

    /// Maps the driver's error of `operation` to [`Error::Collection`], which keeps it as
    /// its `source`.
    fn driver_error(
        &self,
        operation: &'static str,
    ) -> impl Fn(mongodb::error::Error) -> Error + Send + Sync + '_ {
        move |source| Error::Collection {
            operation,
            namespace: self.namespace(),
            source: Box::new(source),
        }
    }

    /// [`driver_error`](Self::driver_error), owning what it needs (for cursors).
    fn owned_driver_error(&self, operation: &'static str) -> cursor::DriverError {
        let namespace = self.namespace();
        Box::new(move |source| Error::Collection {
            operation,
            namespace: namespace.clone(),
            source: Box::new(source),
        })
    }

    /// Serializes and encrypts one model.
    ///
    /// # Errors
    ///
    /// As [`model::encode`], and key vault or KMS errors while loading its keys.
    pub async fn encode(&self, value: &T) -> Result<RawDocumentBuf> {
        let mut encoded = self.encode_all(std::slice::from_ref(value)).await?;
        encoded.pop().ok_or(Error::Serde {
            model: T::SPEC.name,
            direction: "serialize",
        })
    }

    /// Decrypts and deserializes one stored document: one read from this collection, or
    /// from anywhere else (a change stream's `fullDocument`, an aggregation's output, a
    /// driver call made with [`plain`](Self::plain)). Fields the model does not know are
    /// ignored, as deserializing ignores them.
    ///
    /// ```no_run
    /// # use encrypted_core::{EncryptedCollection, model::Encrypted};
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
    /// # async fn run(patients: EncryptedCollection<Patient>) -> Result<(), Box<dyn std::error::Error>> {
    /// let raw = patients.plain().clone_with_type::<bson::RawDocumentBuf>();
    /// if let Some(stored) = raw.find_one(bson::doc! { "name": "Jon Doe" }).await? {
    ///     let jon: Patient = patients.decode(&stored).await?;
    ///     # let _ = jon;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`model::decode`], and key vault or KMS errors while loading its keys.
    pub async fn decode(&self, stored: impl AsRef<RawDocument>) -> Result<T> {
        self.decoder(decoder::as_model::<T>())
            .decode_one(stored.as_ref())
            .await
    }

    /// Decrypts what it can of one stored document (from anywhere, as for
    /// [`decode`](Self::decode)) and deserializes its view.
    ///
    /// An encrypted field whose ciphertext cannot be opened (no key, a ciphertext of
    /// another type or algorithm, one that is not authentic) stays sealed; plaintext or
    /// a malformed ciphertext in an encrypted field is still an error.
    ///
    /// ```no_run
    /// # use encrypted_core::{EncryptedCollection, model::Encrypted};
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
    /// # async fn run(receptionist: EncryptedCollection<Patient>, stored: bson::RawDocumentBuf) -> encrypted_core::Result<()> {
    /// let view: PatientView = receptionist.decode_view(&stored).await?;
    /// # let _ = view; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`EncryptedCollection::decode`], except that a field that cannot be opened is
    /// not an error.
    pub async fn decode_view(&self, stored: impl AsRef<RawDocument>) -> Result<T::View> {
        self.decoder(decoder::as_view::<T>())
            .decode_one(stored.as_ref())
            .await
    }

    /// A key missing on a handle that has no key vault is not missing from the vault.
    fn no_key_access(&self, error: Error) -> Error {
        match error {
            Error::Field { path, source }
                if self.encryption.is_none() && matches!(*source, Error::KeyNotFound { .. }) =>
            {
                Error::Field {
                    path,
                    source: Box::new(Error::NoKeyAccess),
                }
            }
            other => other,
        }
    }

    /// The filter document the server gets for `filter`: its operands on deterministic
    /// fields encrypted with the keys the model names, loaded from the key vault. The
    /// escape hatch for any driver call that takes a filter (`watch`'s `$match`, a bulk
    /// write, an index's partial filter) on this collection's documents.
    ///
    /// ```no_run
    /// # use encrypted_core::{EncryptedCollection, model::Encrypted};
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
    /// # async fn run(patients: EncryptedCollection<Patient>) -> Result<(), Box<dyn std::error::Error>> {
    /// let filter = patients.encrypt_filter(Patient::fields().ssn().eq(241014209)).await?;
    /// // `{ "ssn": Binary(subtype 6, ..) }`: usable with the plain driver.
    /// let stored = patients.plain().count_documents(filter).await?;
    /// # let _ = stored; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Field`] naming the field whose key cannot be had (or
    /// [`Error::NoKeyAccess`]), the checks of [`Filter::raw`] for hand-written parts.
    pub async fn encrypt_filter(&self, filter: Filter<T>) -> Result<Document> {
        let keys = self.keys_for_paths(filter.key_refs()?).await?;
        filter.to_document(&keys)
    }

    async fn update_document(&self, update: Update<T>) -> Result<Document> {
        let prepared = update.prepare()?;
        let keys = self.keys_for_paths(prepared.key_refs().to_vec()).await?;
        prepared.into_document(&keys)
    }

    /// Encrypts models, loading the keys they need once.
    async fn encode_all(&self, values: &[impl Borrow<T>]) -> Result<Vec<RawDocumentBuf>> {
        let mut plain = Vec::with_capacity(values.len());
        let mut needed = HashSet::new();
        for value in values {
            // Allocated once at its final size and zeroized when dropped.
            let bytes = model::serialize_zeroizing(value.borrow()).map_err(|_| Error::Serde {
                model: T::SPEC.name,
                direction: "serialize",
            })?;
            model::keys_to_encrypt(T::SPEC, &bytes, None, &Path::ROOT, &mut needed)?;
            plain.push(bytes);
        }
        let keys = self.keys_for_refs(needed).await?;
        plain
            .iter()
            .map(|bytes| {
                let encrypted = model::encrypt_document(T::SPEC, bytes, None, &keys, &Path::ROOT)?;
                RawDocumentBuf::from_bytes(encrypted).map_err(|_| Error::Serde {
                    model: T::SPEC.name,
                    direction: "serialize",
                })
            })
            .collect()
    }

    /// The model's CSFLE JSON Schema with its keys' UUIDs filled in from the key vault:
    /// what a libmongocrypt-based driver takes in its `schemaMap`.
    ///
    /// # Errors
    ///
    /// [`Error::KeyNotFound`] when a key alternate name is not in the key vault.
    pub async fn json_schema(&self) -> Result<Document> {
        let ids = self.schema_key_ids().await?;
        model::json_schema(T::SPEC, |name| ids.get(name).copied())
    }

    /// The server-side validator `{ $jsonSchema: ... }` built from the schema.
    ///
    /// # Errors
    ///
    /// As [`EncryptedCollection::json_schema`].
    pub async fn validator(&self) -> Result<Document> {
        let ids = self.schema_key_ids().await?;
        model::validator(T::SPEC, |name| ids.get(name).copied())
    }

    /// Creates the collection with the server-side [validator](Self::validator), or
    /// sets it on the collection if it exists, so that the server itself refuses a
    /// document whose encrypted fields are not binary subtype 6 (MongoDB 4.2+).
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedByServer`] when the server does not implement validators
    /// (FerretDB 1.x): the codecs still never write plaintext, but a client without
    /// this crate could. [`Error::Collection`] for any other refusal.
    pub async fn create_with_validator(&self) -> Result<()> {
        const NAMESPACE_EXISTS: i32 = 48;
        let validator = self.validator().await?;
        let namespace = self.collection.namespace();
        let database = self.collection.client().database(&namespace.db);
        let unsupported = |error: mongodb::error::Error, operation| {
            match super::client_encryption::not_implemented(&error) {
                Some(message) => Error::UnsupportedByServer { operation, message },
                None => Error::Collection {
                    operation,
                    namespace: namespace.to_string(),
                    source: Box::new(error),
                },
            }
        };
        let created = database
            .create_collection(&namespace.coll)
            .validator(validator.clone())
            .await;
        match created {
            Ok(()) => Ok(()),
            Err(error) if matches!(error.kind.as_ref(), mongodb::error::ErrorKind::Command(command) if command.code == NAMESPACE_EXISTS) => {
                database
                    .run_command(bson::doc! { "collMod": &namespace.coll, "validator": validator })
                    .await
                    .map(drop)
                    .map_err(|error| unsupported(error, "collMod"))
            }
            Err(error) => Err(unsupported(error, "create")),
        }
    }
}

fn no_keys() -> Error {
    Error::NoKeyAccess
}
