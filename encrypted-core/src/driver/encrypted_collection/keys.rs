//! Loading the data keys an operation needs before its synchronous encoding pass: all
//! of them at once, in one key vault read with their KMS unwraps run concurrently
//! ([`ClientEncryption::load_keys`](crate::ClientEncryption)).

use std::collections::{HashMap, HashSet};

use bson::Uuid;

use super::{EncryptedCollection, no_keys};
use crate::model::{Encrypted, Keys};
use crate::{Error, KeyRef, Result};

impl<T: Encrypted> EncryptedCollection<T> {
    /// The keys these references name; the first failure is returned as is.
    pub(super) async fn keys_for_refs(&self, refs: HashSet<KeyRef>) -> Result<Keys> {
        let mut ring = Keys::default();
        if refs.is_empty() {
            return Ok(ring);
        }
        let encryption = self.encryption.as_ref().ok_or_else(no_keys)?;
        for (key_ref, key) in encryption.load_keys(refs).await? {
            ring.insert(key_ref, key?);
        }
        Ok(ring)
    }

    /// The keys of these ciphertext key ids that can be had; a key that is not in the
    /// key vault (deleted) is left out, for the decoder to report or seal.
    pub(super) async fn keys_for_ids(&self, ids: HashSet<Uuid>) -> Result<Keys> {
        let mut ring = Keys::default();
        let Some(encryption) = self.encryption.as_ref() else {
            return Ok(ring);
        };
        if ids.is_empty() {
            return Ok(ring);
        }
        for (key_ref, key) in encryption
            .load_keys(ids.into_iter().map(KeyRef::Id))
            .await?
        {
            match key {
                Ok(key) => ring.insert(key_ref, key),
                Err(Error::KeyNotFound { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(ring)
    }

    /// The keys a filter or an update needs; a failure names the field that needs it.
    pub(super) async fn keys_for_paths(&self, needed: Vec<(String, KeyRef)>) -> Result<Keys> {
        let mut ring = Keys::default();
        if needed.is_empty() {
            return Ok(ring);
        }
        let encryption = self.encryption.as_ref().ok_or_else(no_keys)?;
        let refs: HashSet<KeyRef> = needed.iter().map(|(_, key_ref)| key_ref.clone()).collect();
        let mut loaded = encryption.load_keys(refs).await?;
        // In the order of the fields, so that the error names the first that fails.
        for (path, key_ref) in needed {
            match loaded.remove(&key_ref) {
                Some(Ok(key)) => ring.insert(key_ref, key),
                Some(Err(error)) => {
                    return Err(Error::Field {
                        path,
                        source: Box::new(error),
                    });
                }
                // Already inserted for an earlier field.
                None => {}
            }
        }
        Ok(ring)
    }

    /// The ids of the keys the schema names by alternate name, in one load.
    pub(super) async fn schema_key_ids(&self) -> Result<HashMap<&'static str, Uuid>> {
        let mut ids = HashMap::new();
        let names = crate::model::schema_key_alt_names(T::SPEC);
        if names.is_empty() {
            return Ok(ids);
        }
        let encryption = self.encryption.as_ref().ok_or_else(no_keys)?;
        let mut loaded = encryption
            .load_keys(names.iter().map(|name| KeyRef::AltName((*name).to_owned())))
            .await?;
        for name in names {
            if let Some(key) = loaded.remove(&KeyRef::AltName(name.to_owned())) {
                ids.insert(name, key?.id());
            }
        }
        Ok(ids)
    }
}
