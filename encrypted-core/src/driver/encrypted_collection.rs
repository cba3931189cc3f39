//! A typed collection of a model over the official driver: the model's encrypted fields
//! are encrypted before a document reaches the driver and decrypted after.

mod keys;

use std::borrow::Borrow;
use std::collections::HashSet;
use std::marker::PhantomData;

use bson::{Bson, Document, RawDocumentBuf};
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use mongodb::Collection;
use mongodb::results::{DeleteResult, InsertManyResult, InsertOneResult, UpdateResult};

use crate::model::{self, DistinctPath, Encrypted, Filter, MissingKeys, Path, RootModel, Update};
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

    fn driver_error(
        &self,
        operation: &'static str,
    ) -> impl Fn(mongodb::error::Error) -> Error + '_ {
        move |source| Error::Collection {
            operation,
            namespace: self.namespace(),
            source: Box::new(source),
        }
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

    /// Decrypts and deserializes one stored document.
    ///
    /// # Errors
    ///
    /// As [`model::decode`], and key vault or KMS errors while loading its keys.
    pub async fn decode(&self, stored: RawDocumentBuf) -> Result<T> {
        let plain = self.decrypt(&stored, MissingKeys::Fail).await?;
        model::deserialize_decrypted(T::SPEC, &plain)
    }

    /// Decrypts what it can of one stored document and deserializes its view.
    ///
    /// An encrypted field whose ciphertext cannot be opened (no key, a ciphertext of
    /// another type or algorithm, one that is not authentic) stays sealed; plaintext or
    /// a malformed ciphertext in an encrypted field is still an error.
    ///
    /// # Errors
    ///
    /// As [`EncryptedCollection::decode`], except that a field that cannot be opened is
    /// not an error.
    pub async fn decode_view(&self, stored: RawDocumentBuf) -> Result<T::View> {
        let plain = self.decrypt(&stored, MissingKeys::Seal).await?;
        model::deserialize_decrypted(T::SPEC, &plain)
    }

    async fn decrypt(
        &self,
        stored: &RawDocumentBuf,
        missing: MissingKeys,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        let mut ids = HashSet::new();
        model::keys_to_decrypt(T::SPEC, stored.as_bytes(), &Path::ROOT, &mut ids)?;
        let keys = self.keys_for_ids(ids).await?;
        let decrypted =
            model::decrypt_document(T::SPEC, stored.as_bytes(), &keys, missing, &Path::ROOT);
        decrypted.map_err(|error| self.no_key_access(error))
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

    async fn filter_document(&self, filter: Filter<T>) -> Result<Document> {
        let keys = self.keys_for_paths(filter.key_refs()?).await?;
        filter.to_document(&keys)
    }

    async fn update_document(&self, update: Update<T>) -> Result<Document> {
        let prepared = update.prepare()?;
        let keys = self.keys_for_paths(prepared.key_refs().to_vec()).await?;
        prepared.into_document(&keys)
    }

    /// Inserts one model, its encrypted fields encrypted.
    ///
    /// # Errors
    ///
    /// Key, KMS and encryption errors naming the field; [`Error::Collection`] when the
    /// server refuses the write.
    pub async fn insert_one(&self, value: &T) -> Result<InsertOneResult> {
        let document = self.encode(value).await?;
        self.collection
            .insert_one(document)
            .await
            .map_err(self.driver_error("insertOne"))
    }

    /// Inserts many models, in order, as one `insertMany`.
    ///
    /// Every model is encrypted (the keys they need loaded once) before anything is sent:
    /// if one cannot be encrypted, nothing is inserted. A model without an `_id` is given
    /// an `ObjectId` here, so that a failure part-way can say how many were stored.
    ///
    /// # Errors
    ///
    /// As [`EncryptedCollection::insert_one`]; [`Error::PartialInsert`], saying how many
    /// documents are stored, when the server fails part-way.
    pub async fn insert_many(
        &self,
        values: impl IntoIterator<Item = impl Borrow<T>>,
    ) -> Result<InsertManyResult> {
        let values: Vec<_> = values.into_iter().collect();
        let mut documents = self.encode_all(&values).await?;
        // Every document gets its `_id` here (first, as the driver would put it), so that
        // after a failure the stored ones can be counted.
        let mut ids = Vec::with_capacity(documents.len());
        for document in &mut documents {
            match document.get("_id") {
                Ok(Some(id)) => ids.push(Bson::try_from(id).map_err(|_| Error::Serde {
                    model: T::SPEC.name,
                    direction: "serialize",
                })?),
                _ => {
                    let id = bson::oid::ObjectId::new();
                    let mut with_id = RawDocumentBuf::new();
                    with_id.append(bson::raw::cstr!("_id"), id);
                    for element in document.iter_elements() {
                        let element = element.map_err(|_| Error::Serde {
                            model: T::SPEC.name,
                            direction: "serialize",
                        })?;
                        let value = element.value().map_err(|_| Error::Serde {
                            model: T::SPEC.name,
                            direction: "serialize",
                        })?;
                        with_id.append(element.key(), value);
                    }
                    *document = with_id;
                    ids.push(Bson::ObjectId(id));
                }
            }
        }
        let total = documents.len();
        match self.collection.insert_many(documents).await {
            Ok(result) => Ok(result),
            Err(source) => {
                let inserted = self
                    .collection
                    .count_documents(bson::doc! { "_id": { "$in": ids } })
                    .await
                    .ok();
                Err(Error::PartialInsert {
                    namespace: self.namespace(),
                    inserted,
                    total,
                    source: Box::new(source),
                })
            }
        }
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

    /// The models matching `filter`, decrypted, as a stream.
    ///
    /// # Errors
    ///
    /// Filter encryption errors and [`Error::Collection`]; each item fails alone (its
    /// field named) when it cannot be decrypted.
    pub async fn find(&self, filter: Filter<T>) -> Result<BoxStream<'_, Result<T>>> {
        let filter = self.filter_document(filter).await?;
        let cursor = self
            .collection
            .find(filter)
            .await
            .map_err(self.driver_error("find"))?;
        Ok(cursor
            .map_err(self.driver_error("find"))
            .and_then(move |stored| self.decode(stored))
            .boxed())
    }

    /// The first model matching `filter`, decrypted.
    ///
    /// # Errors
    ///
    /// As [`EncryptedCollection::find`].
    pub async fn find_one(&self, filter: Filter<T>) -> Result<Option<T>> {
        let filter = self.filter_document(filter).await?;
        match self
            .collection
            .find_one(filter)
            .await
            .map_err(self.driver_error("find"))?
        {
            Some(stored) => self.decode(stored).await.map(Some),
            None => Ok(None),
        }
    }

    /// The views of the models matching `filter`: every encrypted field this handle can
    /// decrypt is revealed, the others (no key access, or a deleted per-document key)
    /// stay sealed.
    ///
    /// # Errors
    ///
    /// As [`EncryptedCollection::find`], except that a missing key is not an error.
    pub async fn find_views(&self, filter: Filter<T>) -> Result<BoxStream<'_, Result<T::View>>> {
        let filter = self.filter_document(filter).await?;
        let cursor = self
            .collection
            .find(filter)
            .await
            .map_err(self.driver_error("find"))?;
        Ok(cursor
            .map_err(self.driver_error("find"))
            .and_then(move |stored| self.decode_view(stored))
            .boxed())
    }

    /// The view of the first model matching `filter`.
    ///
    /// # Errors
    ///
    /// As [`EncryptedCollection::find_views`].
    pub async fn find_one_view(&self, filter: Filter<T>) -> Result<Option<T::View>> {
        let filter = self.filter_document(filter).await?;
        match self
            .collection
            .find_one(filter)
            .await
            .map_err(self.driver_error("find"))?
        {
            Some(stored) => self.decode_view(stored).await.map(Some),
            None => Ok(None),
        }
    }

    /// Replaces the first model matching `filter`.
    ///
    /// # Errors
    ///
    /// As [`EncryptedCollection::insert_one`].
    pub async fn replace_one(&self, filter: Filter<T>, replacement: &T) -> Result<UpdateResult> {
        let filter = self.filter_document(filter).await?;
        let replacement = self.encode(replacement).await?;
        self.collection
            .replace_one(filter, replacement)
            .await
            .map_err(self.driver_error("replaceOne"))
    }

    /// Applies `update` to the first model matching `filter`.
    ///
    /// # Errors
    ///
    /// Key and encryption errors naming the field; [`Error::Collection`].
    pub async fn update_one(&self, filter: Filter<T>, update: Update<T>) -> Result<UpdateResult> {
        let filter = self.filter_document(filter).await?;
        let update = self.update_document(update).await?;
        self.collection
            .update_one(filter, update)
            .await
            .map_err(self.driver_error("updateOne"))
    }

    /// Applies `update` to every model matching `filter`.
    ///
    /// # Errors
    ///
    /// As [`EncryptedCollection::update_one`].
    pub async fn update_many(&self, filter: Filter<T>, update: Update<T>) -> Result<UpdateResult> {
        let filter = self.filter_document(filter).await?;
        let update = self.update_document(update).await?;
        self.collection
            .update_many(filter, update)
            .await
            .map_err(self.driver_error("updateMany"))
    }

    /// Applies a hand-written update document to the models matching `filter`, after
    /// checking every operator of it (fail closed): an encrypted field may only be `$set`
    /// (or `$setOnInsert`) to a ciphertext of its BSON type and algorithm, or `$unset`; a
    /// nested model's field only to a document whose encrypted fields are such
    /// ciphertexts; `$rename` from or onto anything encrypted, the other operators
    /// (`$inc`, `$push`, `$min`, `$currentDate`, ...) on anything encrypted, and unknown
    /// operators are refused. (Pipeline updates cannot be expressed with a `Document`.)
    ///
    /// # Errors
    ///
    /// [`Error::UnencryptedField`], [`Error::UnsupportedOperator`], [`Error::Field`] with
    /// [`Error::CiphertextMismatch`] (each naming the full path), [`Error::Collection`].
    pub async fn update_many_raw(
        &self,
        filter: Filter<T>,
        update: Document,
    ) -> Result<UpdateResult> {
        model::check_raw_update(T::SPEC, &update)?;
        let filter = self.filter_document(filter).await?;
        self.collection
            .update_many(filter, update)
            .await
            .map_err(self.driver_error("updateMany"))
    }

    /// Deletes the first model matching `filter`.
    ///
    /// # Errors
    ///
    /// Filter encryption errors and [`Error::Collection`].
    pub async fn delete_one(&self, filter: Filter<T>) -> Result<DeleteResult> {
        let filter = self.filter_document(filter).await?;
        self.collection
            .delete_one(filter)
            .await
            .map_err(self.driver_error("deleteOne"))
    }

    /// Deletes every model matching `filter`.
    ///
    /// # Errors
    ///
    /// As [`EncryptedCollection::delete_one`].
    pub async fn delete_many(&self, filter: Filter<T>) -> Result<DeleteResult> {
        let filter = self.filter_document(filter).await?;
        self.collection
            .delete_many(filter)
            .await
            .map_err(self.driver_error("deleteMany"))
    }

    /// Counts the models matching `filter`.
    ///
    /// # Errors
    ///
    /// As [`EncryptedCollection::delete_one`].
    pub async fn count_documents(&self, filter: Filter<T>) -> Result<u64> {
        let filter = self.filter_document(filter).await?;
        self.collection
            .count_documents(filter)
            .await
            .map_err(self.driver_error("count"))
    }

    /// The distinct values of a plaintext or deterministic field among the models
    /// matching `filter`, decrypted (equal plaintexts have equal deterministic
    /// ciphertexts, so the server can tell them apart without seeing them).
    ///
    /// # Errors
    ///
    /// As [`EncryptedCollection::find`].
    pub async fn distinct<P: DistinctPath<T>>(
        &self,
        path: P,
        filter: Filter<T>,
    ) -> Result<Vec<P::Value>> {
        let filter = self.filter_document(filter).await?;
        let values = self
            .collection
            .distinct(path.path(), filter)
            .await
            .map_err(self.driver_error("distinct"))?;
        // The values as one document (`{ "0": .., "1": .. }`, an array's bytes), decrypted
        // under the same rules as a stored document's field.
        let mut document = Document::new();
        for (index, value) in values.into_iter().enumerate() {
            document.insert(index.to_string(), value);
        }
        let serialized = RawDocumentBuf::try_from(&document).map_err(|_| Error::Serde {
            model: T::SPEC.name,
            direction: "deserialize",
        })?;
        match T::SPEC.lookup(path.path()) {
            model::Lookup::Encrypted(field, _) => {
                let mut ids = HashSet::new();
                model::keys_to_decrypt_values(
                    &field,
                    serialized.as_bytes(),
                    path.path(),
                    &mut ids,
                )?;
                let keys = self.keys_for_ids(ids).await?;
                let plain =
                    model::decrypt_values(&field, serialized.as_bytes(), &keys, path.path())
                        .map_err(|error| self.no_key_access(error))?;
                model::deserialize_values(T::SPEC.name, &plain)
            }
            _ => model::deserialize_values(T::SPEC.name, serialized.as_bytes()),
        }
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
