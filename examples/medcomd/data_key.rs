//! Step B: the data key `medco-key`, created once in the key vault and reused.

use encrypted::bson::Uuid;
use encrypted::{ClientEncryption, Error, KeyDocument, KeyRef, MasterKey};

use crate::failure::{Context, Failure};
use crate::output::{block, json, line};

/// The alternate name of the demo's data key, as `Patient` names it.
pub const KEY_ALT_NAME: &str = "medco-key";

/// Deletes an earlier run's `medco-key` (and nothing else in the key vault), so that a
/// rerun starts again from the master key of step A. Returns its id if there was one.
///
/// # Errors
///
/// When the key vault cannot be read or written.
pub async fn delete_earlier(encryption: &ClientEncryption) -> Result<Option<Uuid>, Failure> {
    let Some(key) = find(encryption).await? else {
        return Ok(None);
    };
    encryption
        .delete_key(key.id)
        .await
        .context(format!("cannot delete the data key {}", key.id))?;
    Ok(Some(key.id))
}

/// Makes sure the key vault has `medco-key`, wrapped by the local master key when it is
/// created here, and that `encryption` can unwrap it. Returns its id.
///
/// # Errors
///
/// When the key vault fails, or when the key exists but none of the configured master
/// keys unwraps it.
pub async fn create_or_reuse(encryption: &ClientEncryption) -> Result<Uuid, Failure> {
    match encryption.create_key_alt_names_index().await {
        Ok(()) => line("the key vault has its unique index on keyAltNames"),
        Err(Error::UnsupportedByServer { .. }) => line(
            "this server cannot build the key vault's partial unique index on keyAltNames; \
             going on (names are still checked before a key is created)",
        ),
        Err(error) => {
            return Err(Failure::caused_by(
                "cannot create the key vault's index",
                &error,
            ));
        }
    }
    let id = match find(encryption).await? {
        Some(key) => {
            line(format!(
                "reusing the data key `{KEY_ALT_NAME}` ({}), wrapped by the `{}` master key",
                key.id,
                key.master_key.provider()
            ));
            key.id
        }
        None => {
            let id = encryption
                .create_data_key(MasterKey::local())
                .key_alt_names([KEY_ALT_NAME])
                .await
                .context(format!("cannot create the data key `{KEY_ALT_NAME}`"))?;
            line(format!(
                "created the data key `{KEY_ALT_NAME}` ({id}), wrapped by the local master key"
            ));
            id
        }
    };
    encryption
        .data_key(&KeyRef::Id(id))
        .await
        .map_err(|error| match error {
            Error::KeyUnwrap { .. } => Failure::new(format!(
                "the key vault's `{KEY_ALT_NAME}` is not wrapped by this master key file \
                 (was it replaced?): run without --keep-key-vault to start over"
            )),
            other => Failure::caused_by(format!("cannot unwrap `{KEY_ALT_NAME}`"), &other),
        })?;
    let key = find(encryption)
        .await?
        .ok_or_else(|| Failure::new(format!("`{KEY_ALT_NAME}` vanished from the key vault")))?;
    line(format!(
        "its key vault document (keyMaterial is the data key wrapped by the master key, {} bytes, not shown):",
        key.key_material.len()
    ));
    block(describe(&key));
    Ok(id)
}

/// The key document without its `keyMaterial`.
pub fn describe(key: &KeyDocument) -> String {
    let mut document = key.to_document();
    document.remove("keyMaterial");
    json(&document)
}

async fn find(encryption: &ClientEncryption) -> Result<Option<KeyDocument>, Failure> {
    encryption
        .get_key_by_alt_name(KEY_ALT_NAME)
        .await
        .context(format!(
            "cannot look for `{KEY_ALT_NAME}` in the key vault {}",
            encryption.key_vault_namespace()
        ))
}
