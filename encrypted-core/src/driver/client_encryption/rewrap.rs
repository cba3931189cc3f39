//! `rewrap_many_data_key`: re-encrypting data keys under another master key.

use bson::{Binary, Bson, Document, Uuid, doc};
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
    /// Documents that matched but are not valid key documents: left untouched, so that
    /// one bad document does not stop every rerun at the same place. Fix or delete them
    /// ([`ClientEncryption::delete_key`] works on them by id).
    pub malformed: Vec<MalformedKey>,
}

/// A key vault document [`ClientEncryption::rewrap_many_data_key`] skipped because it is
/// not a valid key document.
///
/// ```
/// # fn show(result: &encrypted_core::RewrapManyDataKeyResult) {
/// for bad in &result.malformed {
///     eprintln!("skipped key document {}: {}", bad.id, bad.problem);
/// }
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MalformedKey {
    /// The document's `_id`: the UUID, or the value as the server stored it when it is
    /// not a UUID.
    pub id: String,
    /// What is wrong with it (the [`crate::Error::MalformedKeyDocument`] message).
    pub problem: String,
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
    /// A matching document that is not a valid key document is skipped and listed in
    /// [`RewrapManyDataKeyResult::malformed`]; the others are rewrapped.
    ///
    /// # Errors
    ///
    /// Key vault and KMS errors; keys handled before the error keep their new
    /// material.
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
            let old = match KeyDocument::from_document(&document) {
                Ok(old) => old,
                Err(problem) => {
                    result.malformed.push(MalformedKey {
                        id: display_id(document.get("_id")),
                        problem: problem.to_string(),
                    });
                    continue;
                }
            };
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

/// A document's `_id` for a report: the UUID when it is one.
fn display_id(id: Option<&Bson>) -> String {
    match id {
        Some(Bson::Binary(binary)) => binary.to_uuid().map_or_else(
            |_| Bson::Binary(binary.clone()).to_string(),
            |id| id.to_string(),
        ),
        Some(other) => other.to_string(),
        None => "(no _id)".to_owned(),
    }
}
