//! The `local` provider while the local master key changes.

use encrypted::bson::Uuid;
use encrypted::kms::{BoxFuture, KmsProvider, LocalKms};
use encrypted::{DataKey, Error, MasterKey, Result};

/// The `local` provider during a local master key rotation: unwraps with the current
/// master key, or with the next one for keys a previous run already moved, and wraps
/// with the next one.
///
/// Both master keys are `local`, so a key document's `masterKey` does not say which one
/// wraps it: trying both is what makes an interrupted rotation safe to rerun.
#[derive(Debug)]
pub struct RotatingLocalKms {
    current: LocalKms,
    next: LocalKms,
}

impl RotatingLocalKms {
    /// Rotates from `current` to `next`.
    pub fn new(current: LocalKms, next: LocalKms) -> Self {
        Self { current, next }
    }
}

impl KmsProvider for RotatingLocalKms {
    fn name(&self) -> &str {
        "local"
    }

    fn wrap<'a>(
        &'a self,
        master_key: &'a MasterKey,
        key: &'a DataKey,
    ) -> BoxFuture<'a, Result<Vec<u8>>> {
        self.next.wrap(master_key, key)
    }

    fn unwrap<'a>(
        &'a self,
        master_key: &'a MasterKey,
        key_id: Uuid,
        key_material: &'a [u8],
    ) -> BoxFuture<'a, Result<DataKey>> {
        Box::pin(async move {
            match self.current.unwrap(master_key, key_id, key_material).await {
                Err(Error::KeyUnwrap { .. }) => {
                    self.next.unwrap(master_key, key_id, key_material).await
                }
                other => other,
            }
        })
    }
}
