//! The `local` provider: a 96-byte master key held by the application.

use bson::Uuid;

use super::{BoxFuture, KmsProvider};
use crate::{DataKey, Error, LocalMasterKey, MasterKey, Result};

/// The `local` KMS provider (or a named `local:<name>` one).
///
/// ```
/// use encrypted_core::kms::LocalKms;
/// use encrypted_core::LocalMasterKey;
///
/// let clinic = LocalKms::named("clinic", LocalMasterKey::generate()?)?;
/// assert_eq!(encrypted_core::kms::KmsProvider::name(&clinic), "local:clinic");
/// # Ok::<(), encrypted_core::Error>(())
/// ```
#[derive(Debug)]
pub struct LocalKms {
    name: String,
    key: LocalMasterKey,
}

impl LocalKms {
    /// The unnamed `local` provider.
    pub fn new(key: LocalMasterKey) -> Self {
        Self {
            name: "local".to_owned(),
            key,
        }
    }

    /// A named `local:<name>` provider.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidProviderName`] unless `name` is letters, digits and `_`.
    pub fn named(name: &str, key: LocalMasterKey) -> Result<Self> {
        Ok(Self {
            name: crate::master_key::named_provider("local", name)?,
            key,
        })
    }
}

impl KmsProvider for LocalKms {
    fn name(&self) -> &str {
        &self.name
    }

    fn wrap<'a>(
        &'a self,
        _master_key: &'a MasterKey,
        key: &'a DataKey,
    ) -> BoxFuture<'a, Result<Vec<u8>>> {
        Box::pin(async move { self.key.wrap(key) })
    }

    fn unwrap<'a>(
        &'a self,
        _master_key: &'a MasterKey,
        key_id: Uuid,
        key_material: &'a [u8],
    ) -> BoxFuture<'a, Result<DataKey>> {
        Box::pin(async move {
            self.key
                .unwrap(key_id, key_material)
                .map_err(|error| match error {
                    Error::KeyUnwrap { key_id, .. } => Error::KeyUnwrap {
                        key_id,
                        provider: self.name.clone(),
                    },
                    other => other,
                })
        })
    }
}
