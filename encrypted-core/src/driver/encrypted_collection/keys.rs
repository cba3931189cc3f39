//! Loading the data keys an operation needs before its synchronous encoding pass.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bson::{Bson, Uuid};

use super::{EncryptedCollection, no_keys};
use crate::model::{Encrypted, KeySource, Keys, Lookup, ModelSpec};
use crate::{Algorithm, DataKey, Error, KeyRef, Result, plaintext};

/// The keys of the encrypted fields a filter or an update names, by path.
pub(super) struct PathKeys {
    by_path: HashMap<String, Arc<DataKey>>,
}

impl PathKeys {
    /// Encrypts `value` for the field at `path`, checking its BSON type.
    pub(super) fn encrypt(
        &self,
        path: &str,
        value: &Bson,
        algorithm: Algorithm,
        spec: &ModelSpec,
    ) -> Result<Bson> {
        let field_error = |source| Error::Field {
            path: path.to_owned(),
            source: Box::new(source),
        };
        if let Lookup::Encrypted(field, _) = spec.lookup(path)
            && value.element_type() != field.bson_type
        {
            return Err(Error::SchemaMismatch {
                path: path.to_owned(),
                expected: plaintext::type_name(field.bson_type),
                found: plaintext::type_name(value.element_type()),
            });
        }
        let key = self.by_path.get(path).ok_or_else(|| {
            field_error(Error::KeyNotFound {
                key: "for this field".to_owned(),
            })
        })?;
        key.encrypt(value, algorithm)
            .map(Bson::from)
            .map_err(field_error)
    }
}

fn static_key_ref(path: &str, source: Option<KeySource>) -> Result<KeyRef> {
    match source {
        Some(KeySource::Id(bytes)) => Ok(KeyRef::Id(Uuid::from_bytes(bytes))),
        Some(KeySource::AltName(name)) => Ok(KeyRef::AltName(name.to_owned())),
        // Which key encrypts a per-document field depends on the document, which a
        // filter or an update does not have.
        Some(KeySource::AltNameField(_)) => Err(Error::UnsupportedOperator {
            path: path.to_owned(),
            operator: "$set of a field with per-document keys (replace the document instead)"
                .to_owned(),
        }),
        None => Err(Error::Field {
            path: path.to_owned(),
            source: Box::new(Error::KeyNotFound {
                key: "configured for this field".to_owned(),
            }),
        }),
    }
}

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

    pub(super) async fn keys_for_paths(
        &self,
        needed: Vec<(String, Option<KeySource>)>,
    ) -> Result<PathKeys> {
        let mut by_path = HashMap::new();
        for (path, source) in needed {
            let key_ref = static_key_ref(&path, source)?;
            let encryption = self.encryption.as_ref().ok_or_else(no_keys)?;
            let key = encryption
                .data_key(&key_ref)
                .await
                .map_err(|error| Error::Field {
                    path: path.clone(),
                    source: Box::new(error),
                })?;
            by_path.insert(path, key);
        }
        Ok(PathKeys { by_path })
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
