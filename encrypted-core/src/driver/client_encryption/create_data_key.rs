//! The `create_data_key` action.

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use bson::{Uuid, doc};
use zeroize::Zeroizing;

use super::{ClientEncryption, duplicate_or, key_vault_error};
use crate::driver::trace::trace_event;
use crate::{DataKey, Error, KeyDocument, MasterKey, Result};

/// Creates a data key: returned by [`ClientEncryption::create_data_key`], configured
/// with its methods, run by awaiting it. Resolves to the new key's id.
///
/// ```no_run
/// # async fn run(encryption: encrypted_core::ClientEncryption) -> encrypted_core::Result<()> {
/// use encrypted_core::MasterKey;
///
/// let id = encryption
///     .create_data_key(MasterKey::local())
///     .key_alt_names(["medco-key"])
///     .await?;
/// # let _ = id;
/// # Ok(())
/// # }
/// ```
#[must_use = "an action does nothing until awaited"]
pub struct CreateDataKey<'a> {
    encryption: &'a ClientEncryption,
    master_key: MasterKey,
    key_alt_names: Vec<String>,
    key_material: Option<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for CreateDataKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateDataKey")
            .field("master_key", &self.master_key)
            .field("key_alt_names", &self.key_alt_names)
            .finish_non_exhaustive()
    }
}

impl<'a> CreateDataKey<'a> {
    pub(super) fn new(encryption: &'a ClientEncryption, master_key: MasterKey) -> Self {
        Self {
            encryption,
            master_key,
            key_alt_names: Vec::new(),
            key_material: None,
        }
    }

    /// Alternate names by which the key can be found; each must be unused.
    pub fn key_alt_names<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.key_alt_names = names.into_iter().map(Into::into).collect();
        self
    }

    /// Uses these 96 bytes as the key instead of generating them (for example to
    /// migrate a key from another system).
    pub fn key_material(mut self, material: impl Into<Vec<u8>>) -> Self {
        self.key_material = Some(Zeroizing::new(material.into()));
        self
    }

    async fn run(self) -> Result<Uuid> {
        let id = Uuid::new();
        let key = match &self.key_material {
            Some(material) => DataKey::from_bytes(id, material)?,
            None => DataKey::generate(id)?,
        };
        let inner = &self.encryption.inner;
        // An unknown provider fails before anything is read or written.
        inner.kms.get(&self.master_key.provider())?;
        for (index, name) in self.key_alt_names.iter().enumerate() {
            if self
                .key_alt_names
                .get(..index)
                .is_some_and(|earlier| earlier.contains(name))
            {
                return Err(Error::DuplicateKeyAltName { name: name.clone() });
            }
        }
        // Names are checked, the key inserted and the names checked again under this
        // handle's lock: its own tasks never race each other. (A taken name costs no
        // KMS call.)
        let _serialised = if self.key_alt_names.is_empty() {
            None
        } else {
            Some(inner.alt_name_writes.lock().await)
        };
        for name in &self.key_alt_names {
            if self
                .encryption
                .count_alt_name(name, "createDataKey")
                .await?
                > 0
            {
                return Err(Error::DuplicateKeyAltName { name: name.clone() });
            }
        }
        let (key_material, master_key) = self.encryption.wrap_key(&self.master_key, &key).await?;
        let document = KeyDocument::new(id, key_material, master_key)
            .with_key_alt_names(self.key_alt_names.clone())
            .to_document();
        inner
            .key_vault
            .insert_one(document)
            .await
            .map_err(|error| {
                let name = self.key_alt_names.join(", ");
                duplicate_or(error, &name, "createDataKey")
            })?;
        // Without a unique index (FerretDB), another process may have inserted a key
        // with one of these names between the check and the insert. Of two racing
        // writers at most one sees itself alone; a writer that sees a duplicate deletes
        // its own key, so a name never ends up on two keys for longer than this.
        for name in &self.key_alt_names {
            if self
                .encryption
                .count_alt_name(name, "createDataKey")
                .await?
                > 1
            {
                inner
                    .key_vault
                    .delete_one(doc! { "_id": id })
                    .await
                    .map_err(key_vault_error("createDataKey"))?;
                return Err(Error::DuplicateKeyAltName { name: name.clone() });
            }
        }
        trace_event!(INFO, KEY_VAULT,
            key.id = %id,
            kms.provider = %self.master_key.provider(),
            key.alt_names = self.key_alt_names.len(),
            "data key created"
        );
        Ok(id)
    }
}

impl<'a> IntoFuture for CreateDataKey<'a> {
    type Output = Result<Uuid>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Uuid>> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}
