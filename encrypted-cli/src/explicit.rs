//! `encrypt` and `decrypt`: one value at a time, as mongosh's `ClientEncryption` does.

use encrypted::KeyRef;
use encrypted::bson::Bson;

use crate::args::{Connection, DecryptArgs, EncryptArgs};
use crate::extended_json;
use crate::failure::{Context, Failure};
use crate::key_vault::KeyVault;
use crate::kms_config::KmsConfig;

/// Encrypts the value with the key; returns the ciphertext as canonical Extended JSON.
///
/// # Errors
///
/// When the value is not Extended JSON, the key is unknown or cannot be unwrapped, or
/// the algorithm refuses the value's type. The value is never quoted.
pub async fn encrypt(connection: &Connection, args: EncryptArgs) -> Result<String, Failure> {
    let value = extended_json::parse_plaintext(&extended_json::argument_or_stdin(args.value)?)?;
    let vault = open(connection).await?;
    let key = vault.find(&args.key).await?;
    let ciphertext = vault
        .encryption
        .encrypt(value, KeyRef::Id(key.id), args.algorithm.into())
        .await
        .with_context(|| format!("cannot encrypt with data key {}", key.id))?;
    Ok(format!(
        "{}\n",
        extended_json::canonical(Bson::Binary(ciphertext))
    ))
}

/// Decrypts the ciphertext; returns the value as relaxed (or canonical) Extended JSON.
///
/// # Errors
///
/// When the input is not a ciphertext, its key is gone or cannot be unwrapped, or it is
/// not authentic.
pub async fn decrypt(connection: &Connection, args: DecryptArgs) -> Result<String, Failure> {
    let ciphertext =
        extended_json::parse_ciphertext(extended_json::argument_or_stdin(args.value)?.trim())?;
    let vault = open(connection).await?;
    let value = vault
        .encryption
        .decrypt(&ciphertext)
        .await
        .context("cannot decrypt")?;
    Ok(format!(
        "{}\n",
        if args.canonical {
            extended_json::canonical(value)
        } else {
            extended_json::relaxed(value)
        }
    ))
}

async fn open(connection: &Connection) -> Result<KeyVault, Failure> {
    let kms = KmsConfig::from_connection(connection);
    KeyVault::open(connection, kms.providers(None)?).await
}
