//! `ClientEncryption`: the key vault, data keys and explicit encryption over a live
//! MongoDB (or MongoDB-compatible) server — the drivers' Client Side Encryption spec's
//! `ClientEncryption`, done natively.

mod create_data_key;
mod key_vault;
mod rewrap;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bson::{Binary, Bson, Document, Uuid, doc};
use futures_util::{Stream, TryStreamExt};
use mongodb::options::{CollectionOptions, ReadConcern, ReturnDocument, WriteConcern};
use mongodb::{Client, Collection};

pub use create_data_key::CreateDataKey;
pub use key_vault::Namespace;
pub(crate) use key_vault::not_implemented;
pub use rewrap::{MalformedKey, RewrapManyDataKey, RewrapManyDataKeyResult, RewrapProgress};

use super::key_cache::Found;
use super::trace::{Filter, Operation, trace_event};
use crate::kms::KmsProviders;
use crate::model::Keys;
use crate::{
    Algorithm, Ciphertext, DataKey, Error, KeyCache, KeyDocument, KeyRef, MasterKey, Result,
};

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
    /// Serialises this handle's writes of alternate names (create, add), so that its
    /// own tasks never race each other to a duplicate (the checks after each write
    /// cover other processes).
    alt_name_writes: tokio::sync::Mutex<()>,
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
        // The spec: every key vault read with read concern majority, every write with
        // write concern majority. A key written without it can be rolled back after a
        // failover, taking with it every value encrypted under it; a key read without
        // it can be one that is about to be rolled back.
        let options = CollectionOptions::builder()
            .read_concern(ReadConcern::majority())
            .write_concern(WriteConcern::majority())
            .build();
        let key_vault = self
            .client
            .database(&self.namespace.db)
            .collection_with_options::<Document>(&self.namespace.coll, options);
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
                alt_name_writes: tokio::sync::Mutex::new(()),
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
        let read = Operation::key_vault_read("getKey", &self.inner.namespace, Filter::Id(id));
        let found = read.run(self.find_one(doc! { "_id": id }, "getKey")).await;
        read.read_done(&found, |key| key.id);
        found
    }

    /// The key document with this alternate name.
    ///
    /// # Errors
    ///
    /// As [`ClientEncryption::get_key`], and [`Error::AmbiguousKeyAltName`] when more
    /// than one key has the name.
    pub async fn get_key_by_alt_name(&self, name: &str) -> Result<Option<KeyDocument>> {
        self.find_by_alt_name(name, "getKeyByAltName").await
    }

    /// Every key document, as a stream.
    ///
    /// A document that is not a valid key document is an `Err` item
    /// ([`Error::MalformedKeyDocument`], naming its id and the bad field) and the stream
    /// goes on with the next one: one bad document does not hide the others.
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
    /// Names stay unique even where the server has no unique index on `keyAltNames`:
    /// see [`ClientEncryption::create_key_alt_names_index`].
    ///
    /// # Errors
    ///
    /// [`Error::DuplicateKeyAltName`] when another key already has the name (the name
    /// is then not added); [`Error::KeyVault`] when the server fails.
    pub async fn add_key_alt_name(&self, id: Uuid, name: &str) -> Result<Option<KeyDocument>> {
        let _serialised = self.inner.alt_name_writes.lock().await;
        let taken = self
            .inner
            .key_vault
            .find_one(doc! { "keyAltNames": name, "_id": { "$ne": id } })
            .projection(doc! { "_id": 1 })
            .await
            .map_err(key_vault_error("addKeyAltName"))?;
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
        let Some(before) = before else {
            return Ok(None);
        };
        let had_it = before
            .get_array("keyAltNames")
            .is_ok_and(|names| names.iter().any(|n| n.as_str() == Some(name)));
        if !had_it && self.count_alt_name(name, "addKeyAltName").await? > 1 {
            // Another writer added the name at the same moment: take ours back.
            self.pull_alt_name(id, name, "addKeyAltName").await?;
            return Err(Error::DuplicateKeyAltName {
                name: name.to_owned(),
            });
        }
        trace_event!(INFO, KEY_VAULT, key.id = %id, added = !had_it, "key alternate name added");
        KeyDocument::from_document(&before).map(Some)
    }

    /// Removes an alternate name from a key (and the `keyAltNames` field when it was the
    /// last), returning the key document as it was before, or `None` when there is no
    /// key with this id.
    ///
    /// # Errors
    ///
    /// [`Error::KeyVault`] when the server fails.
    pub async fn remove_key_alt_name(&self, id: Uuid, name: &str) -> Result<Option<KeyDocument>> {
        let before = self.pull_alt_name(id, name, "removeKeyAltName").await?;
        trace_event!(INFO, KEY_VAULT, key.id = %id, found = before.is_some(), "key alternate name removed");
        before.as_ref().map(KeyDocument::from_document).transpose()
    }

    /// Removes `name` from key `id` and from the cache; the raw document before.
    async fn pull_alt_name(
        &self,
        id: Uuid,
        name: &str,
        operation: &'static str,
    ) -> Result<Option<Document>> {
        let vault = &self.inner.key_vault;
        // The spec's one-step form needs an update pipeline, which FerretDB lacks. An
        // emptied array must never stay: under the unique index on `keyAltNames` two
        // keys holding `[]` collide. So a key whose only name this is loses the field in
        // one update; otherwise the name is pulled, and an array emptied meanwhile by
        // another writer is dropped at once.
        let only_name = vault
            .find_one_and_update(
                doc! { "_id": id, "keyAltNames": [name] },
                doc! { "$unset": { "keyAltNames": "" }, "$currentDate": { "updateDate": true } },
            )
            .return_document(ReturnDocument::Before)
            .await
            .map_err(key_vault_error(operation))?;
        let before = match only_name {
            Some(before) => Some(before),
            None => {
                let before = vault
                    .find_one_and_update(
                        doc! { "_id": id },
                        doc! { "$pull": { "keyAltNames": name }, "$currentDate": { "updateDate": true } },
                    )
                    .return_document(ReturnDocument::Before)
                    .await
                    .map_err(key_vault_error(operation))?;
                vault
                    .update_one(
                        doc! { "_id": id, "keyAltNames": { "$size": 0 } },
                        doc! { "$unset": { "keyAltNames": "" } },
                    )
                    .await
                    .map_err(key_vault_error(operation))?;
                before
            }
        };
        // After the server: a load by this name that read the document before the
        // update will not cache what it read.
        self.inner.cache.remove_alt_name(name);
        Ok(before)
    }

    /// Deletes a key. Every value encrypted with it becomes unreadable once cached copies
    /// expire (crypto-shredding); returns whether a key was deleted.
    ///
    /// The document is deleted by `_id` alone, without being read, so a malformed key
    /// document can be deleted too. This handle forgets the key at once, by id and by
    /// alternate name, and loads of it still running when this returns do not bring it
    /// back; other handles and processes keep their cached copy until it expires.
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
        let deleted = result.deleted_count == 1;
        trace_event!(INFO, KEY_VAULT, key.id = %id, deleted, "data key deleted");
        Ok(deleted)
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
                // Single flight from the key vault read on: however many tasks ask for
                // this name at once, one reads the key vault.
                self.inner
                    .cache
                    .get_or_load_by_alt_name(
                        name,
                        || async move {
                            let document = self
                                .find_by_alt_name(name, "getKeyByAltName")
                                .await?
                                .ok_or_else(|| Error::KeyNotFound {
                                    key: format!("alt name `{name}`"),
                                })?;
                            Ok((document.id, document))
                        },
                        |document| async move { self.unwrap_key(&document).await },
                    )
                    .await
            }
        }
    }

    /// The decrypted data keys `keys` names, as a [`Keys`] ring for
    /// [`model::encode`](crate::model::encode) and [`model::decode`](crate::model::decode).
    ///
    /// The keys not cached are loaded together: one key vault read for all of them
    /// (`_id` and `keyAltNames` `$in` the ones asked for), then their KMS unwraps
    /// concurrently, at most eight at a time. A key another task is loading is awaited,
    /// not loaded twice.
    ///
    /// ```no_run
    /// # async fn run(encryption: encrypted_core::ClientEncryption, id: bson::Uuid) -> encrypted_core::Result<()> {
    /// use encrypted_core::KeyRef;
    ///
    /// // One key vault read and two KMS calls at once, however many keys.
    /// let keys = encryption
    ///     .data_keys([KeyRef::Id(id), KeyRef::AltName("medco-key".into())])
    ///     .await?;
    /// # let _ = keys;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::KeyNotFound`] for a key that is not in the key vault,
    /// [`Error::AmbiguousKeyAltName`], [`Error::MalformedKeyDocument`], key vault and
    /// KMS errors: the first of them if several keys fail.
    pub async fn data_keys(&self, keys: impl IntoIterator<Item = KeyRef>) -> Result<Keys> {
        let mut ring = Keys::new();
        for (key_ref, key) in self.load_keys(keys).await? {
            ring.insert(key_ref, key?);
        }
        Ok(ring)
    }

    /// Each key of `keys`, or why it cannot be had; loaded as [`Self::data_keys`] says.
    /// The outer error is the key vault read's.
    pub(crate) async fn load_keys(
        &self,
        keys: impl IntoIterator<Item = KeyRef>,
    ) -> Result<HashMap<KeyRef, Result<Arc<DataKey>>>> {
        self.inner
            .cache
            .get_or_load_many(
                keys,
                UNWRAP_CONCURRENCY,
                |ids, names| self.find_many(ids, names),
                |document: KeyDocument| async move { self.unwrap_key(&document).await },
            )
            .await
    }

    /// One key vault read for the keys with these ids and alternate names.
    async fn find_many(&self, ids: Vec<Uuid>, names: Vec<String>) -> Result<Found<KeyDocument>> {
        const OPERATION: &str = "getKeys";
        // One key is looked up by equality: servers (FerretDB) push an equality on
        // `_id` down to their index where they may scan for `$in`.
        let mut clauses = Vec::with_capacity(2);
        match ids.as_slice() {
            [] => {}
            [id] => clauses.push(doc! { "_id": *id }),
            ids => {
                let ids: Vec<Bson> = ids.iter().map(|id| Bson::from(*id)).collect();
                clauses.push(doc! { "_id": { "$in": ids } });
            }
        }
        match names.as_slice() {
            [] => {}
            [name] => clauses.push(doc! { "keyAltNames": name }),
            names => clauses.push(doc! { "keyAltNames": { "$in": names } }),
        }
        let filter = match clauses.len() {
            1 => clauses.pop().unwrap_or_default(),
            _ => doc! { "$or": clauses },
        };
        // Without ambiguous names at most one document per id and per name matches: a
        // limit one above that lets the server stop scanning (an id is unique, so ids
        // alone need no margin). Reaching it means a name is on several keys: read
        // them all, to say how many.
        let margin = u64::from(!names.is_empty());
        let limit = (ids.len() + names.len()) as u64 + margin;
        let read = Operation::key_vault_read(OPERATION, &self.inner.namespace, Filter::Query);
        let found: Result<Vec<Document>> = read
            .run(async {
                let mut found = self
                    .find_all(filter.clone(), Some(limit), OPERATION)
                    .await?;
                if margin > 0 && found.len() as u64 >= limit {
                    found = self.find_all(filter, None, OPERATION).await?;
                }
                Ok(found)
            })
            .await;
        read.query_done(&found);
        let documents = found?;
        // Indexed once: a batch can be a thousand keys.
        let mut with_id: HashMap<Uuid, &Document> = HashMap::with_capacity(documents.len());
        let mut with_name: HashMap<&str, Vec<&Document>> = HashMap::new();
        for document in &documents {
            if let Some(Bson::Binary(binary)) = document.get("_id")
                && let Ok(id) = binary.to_uuid()
            {
                with_id.insert(id, document);
            }
            if let Ok(names) = document.get_array("keyAltNames") {
                for name in names.iter().filter_map(Bson::as_str) {
                    let named = with_name.entry(name).or_default();
                    // A name repeated within one document is still one key.
                    if !named
                        .last()
                        .is_some_and(|last| std::ptr::eq(*last, document))
                    {
                        named.push(document);
                    }
                }
            }
        }
        let by_id = ids
            .into_iter()
            .filter_map(|id| Some((id, KeyDocument::from_document(with_id.get(&id)?))))
            .collect();
        let mut by_alt_name = HashMap::with_capacity(names.len());
        for name in names {
            let entry = match with_name.get(name.as_str()).map(Vec::as_slice) {
                None | Some([]) => continue,
                Some([document]) => KeyDocument::from_document(document).map(|key| (key.id, key)),
                // Never one of them picked at random.
                Some(several) => Err(Error::AmbiguousKeyAltName {
                    name: name.clone(),
                    count: several.len() as u64,
                }),
            };
            by_alt_name.insert(name, entry);
        }
        Ok(Found { by_id, by_alt_name })
    }

    /// The raw documents `filter` matches, at most `limit`.
    async fn find_all(
        &self,
        filter: Document,
        limit: Option<u64>,
        operation: &'static str,
    ) -> Result<Vec<Document>> {
        let mut find = self.inner.key_vault.find(filter);
        if let Some(limit) = limit {
            find = find.limit(i64::try_from(limit).unwrap_or(i64::MAX));
        }
        find.await
            .map_err(key_vault_error(operation))?
            .try_collect()
            .await
            .map_err(key_vault_error(operation))
    }

    async fn unwrap_key(&self, document: &KeyDocument) -> Result<DataKey> {
        let provider = self.inner.kms.get(&document.master_key.provider())?;
        let call = Operation::kms(provider.name(), "unwrap", document.id);
        let key = call
            .run(provider.unwrap(&document.master_key, document.id, &document.key_material))
            .await;
        call.done(&key, None);
        key
    }

    /// `key` wrapped by `master_key` (its `keyMaterial`), through its provider, and the
    /// master key to record (completed by the provider: a KMIP key's id).
    async fn wrap_key(
        &self,
        master_key: &MasterKey,
        key: &DataKey,
    ) -> Result<(Vec<u8>, MasterKey)> {
        let provider = self.inner.kms.get(&master_key.provider())?;
        let call = Operation::kms(provider.name(), "wrap", key.id());
        let wrapped = call
            .run(async {
                let master_key = provider.complete_master_key(master_key, key.id()).await?;
                let material = provider.wrap(&master_key, key).await?;
                Ok((material, master_key))
            })
            .await;
        call.done(&wrapped, None);
        wrapped
    }

    /// The one key document with this alternate name, read in one `find`; more than one
    /// is [`Error::AmbiguousKeyAltName`] (never one of them picked at random).
    async fn find_by_alt_name(
        &self,
        name: &str,
        operation: &'static str,
    ) -> Result<Option<KeyDocument>> {
        let read = Operation::key_vault_read(operation, &self.inner.namespace, Filter::AltName);
        let found = read
            .run(self.find_by_alt_name_untraced(name, operation))
            .await;
        read.read_done(&found, |key| key.id);
        found
    }

    async fn find_by_alt_name_untraced(
        &self,
        name: &str,
        operation: &'static str,
    ) -> Result<Option<KeyDocument>> {
        let mut found: Vec<Document> = self
            .inner
            .key_vault
            .find(doc! { "keyAltNames": name })
            .limit(2)
            .batch_size(2)
            .await
            .map_err(key_vault_error(operation))?
            .try_collect()
            .await
            .map_err(key_vault_error(operation))?;
        if found.len() > 1 {
            // The error path only: say how many.
            let count = self.count_alt_name(name, operation).await?;
            return Err(Error::AmbiguousKeyAltName {
                name: name.to_owned(),
                count: count.max(2),
            });
        }
        found
            .pop()
            .as_ref()
            .map(KeyDocument::from_document)
            .transpose()
    }

    /// How many key documents have this alternate name.
    async fn count_alt_name(&self, name: &str, operation: &'static str) -> Result<u64> {
        self.inner
            .key_vault
            .count_documents(doc! { "keyAltNames": name })
            .await
            .map_err(key_vault_error(operation))
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

/// How many KMS unwraps one batch of key loads runs at once: enough to hide a KMS
/// round trip's latency, few enough not to be throttled by it.
const UNWRAP_CONCURRENCY: usize = 8;

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
