//! The data keys of a vector file, unwrapped.

use std::collections::HashMap;

use bson::Uuid;
use encrypted_core::{DataKey, KeyDocument, LocalMasterKey};

use crate::file::{VectorFile, to_binary, to_document};

/// The unwrapped data keys of a vector file, by id and by alternate name.
#[derive(Debug, Default)]
pub struct KeyRing {
    keys: HashMap<Uuid, DataKey>,
    alt_names: HashMap<String, Uuid>,
}

impl KeyRing {
    /// Parses the file's key documents and unwraps them with its local master key.
    ///
    /// # Errors
    ///
    /// When a key document does not parse or unwrap.
    pub fn from_file(file: &VectorFile) -> Result<Self, String> {
        let master_key = local_master_key(file)?;
        let mut ring = Self::default();
        for document in &file.key_documents {
            let parsed = KeyDocument::from_document(&to_document(document)?)
                .map_err(|error| format!("key document: {error}"))?;
            let key = master_key
                .unwrap(parsed.id, &parsed.key_material)
                .map_err(|error| format!("key document: {error}"))?;
            ring.insert(key, &parsed.key_alt_names);
        }
        Ok(ring)
    }

    /// Adds a key and its alternate names.
    pub fn insert(&mut self, key: DataKey, alt_names: &[String]) {
        for name in alt_names {
            self.alt_names.insert(name.clone(), key.id());
        }
        self.keys.insert(key.id(), key);
    }

    /// The key with this id.
    pub fn by_id(&self, id: Uuid) -> Option<&DataKey> {
        self.keys.get(&id)
    }

    /// The key with this alternate name.
    pub fn by_alt_name(&self, name: &str) -> Option<&DataKey> {
        self.alt_names.get(name).and_then(|id| self.keys.get(id))
    }
}

/// The file's local master key.
///
/// # Errors
///
/// When it is not a 96-byte binary.
pub fn local_master_key(file: &VectorFile) -> Result<LocalMasterKey, String> {
    let binary = to_binary(&file.local_master_key)?;
    LocalMasterKey::from_bytes(&binary.bytes).map_err(|error| error.to_string())
}
