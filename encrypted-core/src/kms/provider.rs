//! The KMS provider trait.

use std::future::Future;
use std::pin::Pin;

use bson::Uuid;

use crate::{DataKey, MasterKey, Result};

/// A boxed future, so that [`KmsProvider`] can be used as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A key management service that wraps data keys with a master key it holds.
///
/// Implementations must return errors that name the key and the provider, and must
/// never put key bytes into an error or a log.
///
/// ```
/// use encrypted_core::kms::{KmsProvider, LocalKms};
/// use encrypted_core::{DataKey, LocalMasterKey, MasterKey};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> encrypted_core::Result<()> {
/// let kms = LocalKms::new(LocalMasterKey::generate()?);
/// let key = DataKey::generate(bson::Uuid::new())?;
/// let wrapped = kms.wrap(&MasterKey::local(), &key).await?;
/// let unwrapped = kms.unwrap(&MasterKey::local(), key.id(), &wrapped).await?;
/// assert_eq!(unwrapped.id(), key.id());
/// # Ok(())
/// # }
/// ```
pub trait KmsProvider: Send + Sync + std::fmt::Debug {
    /// The provider name as key documents write it: `local`, `local:name`, `aws:name`, …
    fn name(&self) -> &str;

    /// Wraps `key` with the master key `master_key` describes: the `keyMaterial`.
    fn wrap<'a>(
        &'a self,
        master_key: &'a MasterKey,
        key: &'a DataKey,
    ) -> BoxFuture<'a, Result<Vec<u8>>>;

    /// The master key the data key `key_id` is wrapped with and recorded under,
    /// completed from the one asked for: a KMIP provider registers a key on its server
    /// when `master_key` names none, and returns `master_key` with that key's id. Called
    /// once per data key created or rewrapped, before [`wrap`](Self::wrap). By default,
    /// `master_key` unchanged.
    ///
    /// ```
    /// use encrypted_core::kms::{KmsProvider, LocalKms};
    /// use encrypted_core::{LocalMasterKey, MasterKey};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> encrypted_core::Result<()> {
    /// let kms = LocalKms::new(LocalMasterKey::generate()?);
    /// let completed = kms.complete_master_key(&MasterKey::local(), bson::Uuid::new()).await?;
    /// assert_eq!(completed, MasterKey::local());
    /// # Ok(())
    /// # }
    /// ```
    fn complete_master_key<'a>(
        &'a self,
        master_key: &'a MasterKey,
        key_id: Uuid,
    ) -> BoxFuture<'a, Result<MasterKey>> {
        let _ = key_id;
        Box::pin(async move { Ok(master_key.clone()) })
    }

    /// Unwraps the `keyMaterial` of data key `key_id`.
    fn unwrap<'a>(
        &'a self,
        master_key: &'a MasterKey,
        key_id: Uuid,
        key_material: &'a [u8],
    ) -> BoxFuture<'a, Result<DataKey>>;
}
