//! The set of configured KMS providers.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::KmsProvider;
use crate::{Error, Result};

/// The KMS providers a client may use, by name.
///
/// ```
/// use encrypted_core::kms::{KmsProviders, LocalKms};
/// use encrypted_core::LocalMasterKey;
///
/// let providers = KmsProviders::new().with(LocalKms::new(LocalMasterKey::generate()?));
/// assert!(providers.get("local").is_ok());
/// assert!(providers.get("aws").is_err());
/// # Ok::<(), encrypted_core::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct KmsProviders {
    providers: BTreeMap<String, Arc<dyn KmsProvider>>,
}

impl KmsProviders {
    /// No providers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a provider under its own name.
    #[must_use]
    pub fn with(mut self, provider: impl KmsProvider + 'static) -> Self {
        self.providers
            .insert(provider.name().to_owned(), Arc::new(provider));
        self
    }

    /// The provider with this name.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownKmsProvider`] when none is configured under that name.
    pub fn get(&self, name: &str) -> Result<&Arc<dyn KmsProvider>> {
        self.providers
            .get(name)
            .ok_or_else(|| Error::UnknownKmsProvider {
                name: name.to_owned(),
                configured: self.providers.keys().cloned().collect(),
            })
    }
}
