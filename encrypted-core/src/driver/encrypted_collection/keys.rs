//! Loading the data keys an operation needs before its synchronous encoding pass.

use std::collections::{HashMap, HashSet};

use bson::Uuid;

use super::{EncryptedCollection, no_keys};
use crate::model::{Encrypted, Keys};
use crate::{Error, KeyRef, Result};

impl<T: Encrypted> EncryptedCollection<T> {
    pub(super) async fn keys_for_refs(&self, refs: HashSet<KeyRef>) -> Result<Keys> {
        let mut ring = Keys::default();
        if refs.is_empty() {
            return Ok(ring);
        }
        let encryption = self.encryption.as_ref().ok_or_else(no_keys)?;
        for key_ref in refs {
            let key = encryption.data_key(&key_ref).await?;
            ring.insert(key_ref, key);
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
        for id in ids {
            let key_ref = KeyRef::Id(id);
            match encryption.data_key(&key_ref).await {
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
        for (path, key_ref) in needed {
            let encryption = self.encryption.as_ref().ok_or_else(no_keys)?;
            let key = encryption
                .data_key(&key_ref)
                .await
                .map_err(|error| Error::Field {
                    path: path.clone(),
                    source: Box::new(error),
                })?;
            ring.insert(key_ref, key);
        }
        Ok(ring)
    }

    pub(super) async fn schema_key_ids(&self) -> Result<HashMap<&'static str, Uuid>> {
        let mut ids = HashMap::new();
        let names = crate::model::schema_key_alt_names(T::SPEC);
        if names.is_empty() {
            return Ok(ids);
        }
        let encryption = self.encryption.as_ref().ok_or_else(no_keys)?;
        for name in names {
            let key = encryption
                .data_key(&KeyRef::AltName(name.to_owned()))
                .await?;
            ids.insert(name, key.id());
        }
        Ok(ids)
    }
}
