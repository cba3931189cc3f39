//! `ClientEncryption`: the key vault, data keys and explicit encryption over a live
//! MongoDB (or MongoDB-compatible) server — the drivers' Client Side Encryption spec's
//! `ClientEncryption`, done natively.

mod create_data_key;
mod key_ref;
mod key_vault;
mod rewrap;

use std::sync::Arc;
use std::time::Duration;

use bson::{Binary, Bson, Document, Uuid, doc};
use futures_util::{Stream, TryStreamExt};
use mongodb::options::ReturnDocument;
use mongodb::{Client, Collection};

pub use create_data_key::CreateDataKey;
pub use key_ref::KeyRef;
pub use key_vault::Namespace;
pub(crate) use key_vault::not_implemented;
pub use rewrap::RewrapManyDataKeyResult;

use crate::kms::KmsProviders;
use crate::{Algorithm, Ciphertext, DataKey, Error, KeyCache, KeyDocument, MasterKey, Result};

/// The handle for data keys and explicit encryption: a key vault collection, the KMS
/// providers that wrap its keys, and a cache of decrypted keys.
///
/// Cheap to clone: clones share the cache.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use encrypted_core::kms::{KmsProviders, LocalKms};
/// use encrypted_core::{Algorithm, ClientEncryption, KeyRef, LocalMasterKey, MasterKey};
///
/// let client = mongodb::Client::with_uri_str("mongodb://127.0.0.1:27017").await?;
/// let kms = KmsProviders::new().with(LocalKms::new(LocalMasterKey::from_file("master-key.txt")?));
/// let encryption = ClientEncryption::builder(client, kms).build();
/// encryption.create_key_alt_names_index().await?;
///
/// let id = encryption.create_data_key(MasterKey::local()).key_alt_names(["medco-key"]).await?;
/// let ssn = encryption
///     .encrypt(bson::Bson::Int32(123_456_789), KeyRef::AltName("medco-key".into()), Algorithm::Deterministic)
///     .await?;
/// assert_eq!(encryption.decrypt(&ssn).await?, bson::Bson::Int32(123_456_789));
/// # let _ = id;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ClientEncryption {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    key_vault: Collection<Document>,
    namespace: Namespace,
    kms: KmsProviders,
    cache: KeyCache,
}

/// Builds a [`ClientEncryption`].
#[derive(Debug)]
#[must_use]
pub struct ClientEncryptionBuilder {
    client: Client,
    kms: KmsProviders,
    namespace: Namespace,
    key_cache_ttl: Option<Duration>,
}

impl ClientEncryptionBuilder {
    /// The key vault collection; `encryption.__keyVault` by default.
    pub fn key_vault_namespace(mut self, namespace: Namespace) -> Self {
        self.namespace = namespace;
        self
    }

    /// How long decrypted data keys stay cached (default 60 s; zero: until dropped).
    pub fn key_cache_ttl(mut self, ttl: Duration) -> Self {
        self.key_cache_ttl = Some(ttl);
        self
    }

    /// Builds the handle. Nothing is sent to the server until it is used.
    pub fn build(self) -> ClientEncryption {
        let key_vault = self
            .client
            .database(&self.namespace.db)
            .collection::<Document>(&self.namespace.coll);
        let cache = match self.key_cache_ttl {
            Some(ttl) => KeyCache::new(Some(ttl)),
            None => KeyCache::default(),
        };
        ClientEncryption {
            inner: Arc::new(Inner {
                key_vault,
                namespace: self.namespace,
                kms: self.kms,
                cache,
            }),
        }
    }
}

impl ClientEncryption {
    /// Starts building a handle over the key vault reached through `key_vault_client`.
    pub fn builder(
        key_vault_client: Client,
        kms_providers: KmsProviders,
    ) -> ClientEncryptionBuilder {
        ClientEncryptionBuilder {
            client: key_vault_client,
            kms: kms_providers,
            namespace: Namespace::default(),
            key_cache_ttl: None,
        }
    }

    /// The key vault namespace.
    pub fn key_vault_namespace(&self) -> &Namespace {
        &self.inner.namespace
    }

    /// Creates a data key wrapped by `master_key`; await the returned action for its id.
    pub fn create_data_key(&self, master_key: MasterKey) -> CreateDataKey<'_> {
        CreateDataKey::new(self, master_key)
    }

    /// The key document with this id.
    ///
    /// # Errors
    ///
    /// [`Error::KeyVault`] when the server fails; [`Error::MalformedKeyDocument`] when the
    /// stored document is not a key document.
    pub async fn get_key(&self, id: Uuid) -> Result<Option<KeyDocument>> {
        self.find_one(doc! { "_id": id }, "getKey").await
    }

    /// The key document with this alternate name.
    ///
    /// # Errors
    ///
    /// As [`ClientEncryption::get_key`].
    pub async fn get_key_by_alt_name(&self, name: &str) -> Result<Option<KeyDocument>> {
        self.find_one(doc! { "keyAltNames": name }, "getKeyByAltName")
            .await
    }

    /// Every key document, as a stream.
    ///
    /// # Errors
    ///
    /// [`Error::KeyVault`] when the query fails; each item fails as
    /// [`ClientEncryption::get_key`] does.
    pub async fn get_keys(
        &self,
    ) -> Result<impl Stream<Item = Result<KeyDocument>> + Send + 'static> {
        let cursor = self
            .inner
            .key_vault
            .find(doc! {})
            .await
            .map_err(key_vault_error("getKeys"))?;
        Ok(cursor
            .map_err(key_vault_error("getKeys"))
            .and_then(|document| async move { KeyDocument::from_document(&document) }))
    }

    /// Adds an alternate name to a key, returning the key document as it was before, or
    /// `None` when there is no key with this id.
    ///
    /// # Errors
    ///
    /// [`Error::DuplicateKeyAltName`] when another key already has the name;
    /// [`Error::KeyVault`] when the server fails.
    pub async fn add_key_alt_name(&self, id: Uuid, name: &str) -> Result<Option<KeyDocument>> {
        let taken = self
            .find_one(
                doc! { "keyAltNames": name, "_id": { "$ne": id } },
                "addKeyAltName",
            )
            .await?;
        if taken.is_some() {
            return Err(Error::DuplicateKeyAltName {
                name: name.to_owned(),
            });
        }
        let before = self
            .inner
            .key_vault
            .find_one_and_update(
                doc! { "_id": id },
                doc! { "$addToSet": { "keyAltNames": name }, "$currentDate": { "updateDate": true } },
            )
            .return_document(ReturnDocument::Before)
            .await
            .map_err(|error| duplicate_or(error, name, "addKeyAltName"))?;
        before.as_ref().map(KeyDocument::from_document).transpose()
    }

    /// Removes an alternate name from a key (and the `keyAltNames` field when it was the
    /// last), returning the key document as it was before, or `None` when there is no
    /// key with this id.
    ///
    /// # Errors
    ///
    /// [`Error::KeyVault`] when the server fails.
    pub async fn remove_key_alt_name(&self, id: Uuid, name: &str) -> Result<Option<KeyDocument>> {
        let vault = &self.inner.key_vault;
        // `$pull` then drop an emptied array: two single-document updates that any
        // server version (and FerretDB) supports, where the spec's one-step form needs
        // an update pipeline. Between them the document holds `keyAltNames: []`, which
        // matches no name.
        let before = vault
            .find_one_and_update(
                doc! { "_id": id },
                doc! { "$pull": { "keyAltNames": name }, "$currentDate": { "updateDate": true } },
            )
            .return_document(ReturnDocument::Before)
            .await
            .map_err(key_vault_error("removeKeyAltName"))?;
        vault
            .update_one(
                doc! { "_id": id, "keyAltNames": { "$size": 0 } },
                doc! { "$unset": { "keyAltNames": "" } },
            )
            .await
            .map_err(key_vault_error("removeKeyAltName"))?;
        self.inner.cache.remove_alt_name(name);
        before.as_ref().map(KeyDocument::from_document).transpose()
    }

    /// Deletes a key. Every value encrypted with it becomes unreadable once cached copies
    /// expire (crypto-shredding); returns whether a key was deleted.
    ///
    /// # Errors
    ///
    /// [`Error::KeyVault`] when the server fails.
    pub async fn delete_key(&self, id: Uuid) -> Result<bool> {
        let result = self
            .inner
            .key_vault
            .delete_one(doc! { "_id": id })
            .await
            .map_err(key_vault_error("deleteKey"))?;
        self.inner.cache.remove(id);
        Ok(result.deleted_count == 1)
    }

    /// Encrypts a value explicitly with the key `key`.
    ///
    /// # Errors
    ///
    /// [`Error::KeyNotFound`] for an unknown key; the prohibitions of
    /// [`DataKey::encrypt`]; KMS and key vault errors when the key must be loaded.
    pub async fn encrypt(&self, value: Bson, key: KeyRef, algorithm: Algorithm) -> Result<Binary> {
        // The plaintext was handed over: its bytes are wiped however this ends.
        let value = crate::plaintext::WipeOnDrop(value);
        let data_key = self.data_key(&key).await?;
        Ok(data_key.encrypt(&value.0, algorithm)?.into_binary())
    }

    /// Decrypts a value explicitly, loading its data key as needed.
    ///
    /// # Errors
    ///
    /// [`Error::MalformedCiphertext`], [`Error::KeyNotFound`] when its key is not in the
    /// key vault (deleted: shredded), [`Error::Decryption`] when it is not authentic.
    pub async fn decrypt(&self, value: &Binary) -> Result<Bson> {
        let ciphertext = Ciphertext::from_binary(value)?;
        let data_key = self.data_key(&KeyRef::Id(ciphertext.key_id())).await?;
        data_key.decrypt(&ciphertext)
    }

    /// The decrypted data key, from the cache or from the key vault and its KMS provider.
    ///
    /// # Errors
    ///
    /// [`Error::KeyNotFound`], key vault and KMS errors.
    pub async fn data_key(&self, key: &KeyRef) -> Result<Arc<DataKey>> {
        match key {
            KeyRef::Id(id) => {
                let id = *id;
                self.inner
                    .cache
                    .get_or_load(id, || async move {
                        let document =
                            self.get_key(id).await?.ok_or_else(|| Error::KeyNotFound {
                                key: id.to_string(),
                            })?;
                        self.unwrap_key(&document).await
                    })
                    .await
            }
            KeyRef::AltName(name) => {
                if let Some(key) = self.inner.cache.get_by_alt_name(name) {
                    return Ok(key);
                }
                let document =
                    self.get_key_by_alt_name(name)
                        .await?
                        .ok_or_else(|| Error::KeyNotFound {
                            key: format!("alt name `{name}`"),
                        })?;
                let key = self
                    .inner
                    .cache
                    .get_or_load(document.id, || self.unwrap_key(&document))
                    .await?;
                self.inner.cache.remember_alt_name(name, document.id);
                Ok(key)
            }
        }
    }

    async fn unwrap_key(&self, document: &KeyDocument) -> Result<DataKey> {
        let provider = self.inner.kms.get(&document.master_key.provider())?;
        provider
            .unwrap(&document.master_key, document.id, &document.key_material)
            .await
    }

    async fn find_one(
        &self,
        filter: Document,
        operation: &'static str,
    ) -> Result<Option<KeyDocument>> {
        let found = self
            .inner
            .key_vault
            .find_one(filter)
            .await
            .map_err(key_vault_error(operation))?;
        found.as_ref().map(KeyDocument::from_document).transpose()
    }
}

fn key_vault_error(operation: &'static str) -> impl Fn(mongodb::error::Error) -> Error {
    move |source| Error::KeyVault {
        operation,
        source: Box::new(source),
    }
}

/// A duplicate-key error (code 11000) on `keyAltNames` becomes
/// [`Error::DuplicateKeyAltName`]; anything else [`Error::KeyVault`].
fn duplicate_or(error: mongodb::error::Error, name: &str, operation: &'static str) -> Error {
    if key_vault::is_duplicate_key(&error) {
        Error::DuplicateKeyAltName {
            name: name.to_owned(),
        }
    } else {
        key_vault_error(operation)(error)
    }
}
