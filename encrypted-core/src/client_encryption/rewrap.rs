//! `rewrap_many_data_key`: re-encrypting data keys under another master key.

use bson::{Binary, Document, Uuid, doc};
use futures_util::TryStreamExt;

use super::{ClientEncryption, key_vault_error};
use crate::{KeyDocument, MasterKey, Result};

/// What [`ClientEncryption::rewrap_many_data_key`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RewrapManyDataKeyResult {
    /// The keys that now have new `keyMaterial`.
    pub rewrapped: Vec<Uuid>,
    /// Keys that matched but changed under us (another rewrap won); rerun to cover them.
    pub skipped: Vec<Uuid>,
}

impl ClientEncryption {
    /// Unwraps every key matching `filter` and wraps it again, with `new_master_key`
    /// (and its provider) or, when `None`, with the master key it already has. The data
    /// keys themselves do not change, so every ciphertext stays readable.
    ///
    /// Each key is updated on its own, conditioned on its old `keyMaterial`: if the run
    /// stops half-way (KMS or server down), every key is intact under either its old or
    /// its new master key, and running it again completes the job.
    ///
    /// ```no_run
    /// # async fn run(encryption: encrypted_core::ClientEncryption) -> encrypted_core::Result<()> {
    /// use encrypted_core::MasterKey;
    ///
    /// let aws = MasterKey::aws("us-east-1", "arn:aws:kms:us-east-1:000000000000:key/medco");
    /// let result = encryption.rewrap_many_data_key(bson::doc! {}, Some(aws)).await?;
    /// println!("rewrapped {} keys", result.rewrapped.len());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// Key vault, KMS and key document errors; keys handled before the error keep their
    /// new material.
    pub async fn rewrap_many_data_key(
        &self,
        filter: Document,
        new_master_key: Option<MasterKey>,
    ) -> Result<RewrapManyDataKeyResult> {
        let inner = &self.inner;
        let documents: Vec<Document> = inner
            .key_vault
            .find(filter)
            .await
            .map_err(key_vault_error("rewrapManyDataKey"))?
            .try_collect()
            .await
            .map_err(key_vault_error("rewrapManyDataKey"))?;
        let mut result = RewrapManyDataKeyResult::default();
        for document in documents {
            let old = KeyDocument::from_document(&document)?;
            let key = self.unwrap_key(&old).await?;
            let master_key = new_master_key
                .clone()
                .unwrap_or_else(|| old.master_key.clone());
            let provider = inner.kms.get(&master_key.provider())?;
            let key_material = provider.wrap(&master_key, &key).await?;
            let update = inner
                .key_vault
                .update_one(
                    doc! { "_id": old.id, "keyMaterial": Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: old.key_material.clone() } },
                    doc! {
                        "$set": {
                            "keyMaterial": Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: key_material },
                            "masterKey": master_key.to_document(),
                        },
                        "$currentDate": { "updateDate": true },
                    },
                )
                .await
                .map_err(key_vault_error("rewrapManyDataKey"))?;
            if update.modified_count == 1 {
                result.rewrapped.push(old.id);
            } else {
                result.skipped.push(old.id);
            }
        }
        Ok(result)
    }
}
