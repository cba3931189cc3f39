//! `keys create|list|show|delete|add-alt-name|remove-alt-name`: data keys in the key
//! vault.
//!
//! A malformed document in the key vault (corruption, or someone writing to it behind
//! our back) never hides the others: `keys list` prints every valid key, then fails with
//! one line naming each malformed document and what is wrong with it (exit status 1,
//! as `ls` does for entries it cannot read); `keys delete <UUID>` deletes by `_id`
//! without reading the document, so a malformed one can be removed.

use std::io::Write;

use futures_util::StreamExt;

use encrypted::KeyDocument;
use encrypted::bson::Uuid;

use crate::args::{Connection, KeysCommand, Provider};
use crate::failure::{Context, Failure};
use crate::key_vault::KeyVault;
use crate::kms_config::{KmsConfig, MasterKeyArgs};
use crate::{output, rewrap};

/// Runs a `keys` subcommand; returns what to print on standard output.
///
/// # Errors
///
/// When the key vault, the KMS or the input fails; the message says which.
pub async fn run(connection: &Connection, command: KeysCommand) -> Result<String, Failure> {
    match command {
        KeysCommand::Create {
            provider,
            aws_key_arn,
            azure_key_name,
            azure_key_version,
            gcp_key,
            alt_names,
        } => {
            let key = MasterKeyArgs {
                aws_key_arn: aws_key_arn.as_deref(),
                azure_key: azure_key_name
                    .as_deref()
                    .map(|name| (name, azure_key_version.as_deref())),
                gcp_key: gcp_key.as_deref(),
            };
            create(connection, provider, key, alt_names).await
        }
        KeysCommand::List { json } => list(&open_without_kms(connection).await?, json).await,
        KeysCommand::Show { key, json } => {
            let key = open_without_kms(connection).await?.find(&key).await?;
            Ok(if json {
                format!("{}\n", output::json(&key))
            } else {
                output::details(&key)
            })
        }
        KeysCommand::Delete { key } => delete(&open_without_kms(connection).await?, &key).await,
        KeysCommand::AddAltName { key, name } => {
            let vault = open_without_kms(connection).await?;
            let key = vault.find(&key).await?;
            vault
                .encryption
                .add_key_alt_name(key.id, &name)
                .await
                .with_context(|| {
                    format!(
                        "cannot add the alternate name `{name}` to data key {}",
                        key.id
                    )
                })?
                .ok_or_else(|| gone(&key))?;
            Ok(format!(
                "data key {} now has the alternate name `{name}`\n",
                key.id
            ))
        }
        KeysCommand::RemoveAltName { key, name } => {
            let vault = open_without_kms(connection).await?;
            let key = vault.find(&key).await?;
            if !key.key_alt_names.contains(&name) {
                return Err(Failure::new(format!(
                    "data key {} has no alternate name `{name}`",
                    key.id
                )));
            }
            vault
                .encryption
                .remove_key_alt_name(key.id, &name)
                .await
                .with_context(|| {
                    format!(
                        "cannot remove the alternate name `{name}` from data key {}",
                        key.id
                    )
                })?
                .ok_or_else(|| gone(&key))?;
            Ok(format!(
                "data key {} no longer has the alternate name `{name}`\n",
                key.id
            ))
        }
        KeysCommand::Rewrap(args) => rewrap::run(connection, args).await,
    }
}

/// The key vault, for commands that never unwrap a key (no master key file is read).
async fn open_without_kms(connection: &Connection) -> Result<KeyVault, Failure> {
    KeyVault::open(connection, encrypted::kms::KmsProviders::new()).await
}

async fn create(
    connection: &Connection,
    provider: Provider,
    key: MasterKeyArgs<'_>,
    alt_names: Vec<String>,
) -> Result<String, Failure> {
    let kms = KmsConfig::from_connection(connection);
    let master_key = kms.master_key(provider, key, kms.has_local_master_key())?;
    let vault = KeyVault::open(connection, kms.providers(None)?).await?;
    let id = vault
        .encryption
        .create_data_key(master_key)
        .key_alt_names(alt_names)
        .await
        .context("cannot create the data key")?;
    Ok(format!("{id}\n"))
}

/// Lists every valid key; malformed documents are reported after them, as a failure.
async fn list(vault: &KeyVault, json: bool) -> Result<String, Failure> {
    let items: Vec<_> = vault
        .encryption
        .get_keys()
        .await
        .context("cannot list the data keys")?
        .collect()
        .await;
    let mut keys: Vec<KeyDocument> = Vec::new();
    let mut malformed: Vec<String> = Vec::new();
    for item in items {
        match item {
            Ok(key) => keys.push(key),
            Err(error @ encrypted::Error::MalformedKeyDocument { .. }) => {
                malformed.push(error.to_string());
            }
            Err(error) => return Err(Failure::caused_by("cannot list the data keys", error)),
        }
    }
    let listing = if json {
        keys.iter()
            .map(|key| format!("{}\n", output::json(key)))
            .collect()
    } else {
        output::table(&keys)
    };
    if malformed.is_empty() {
        return Ok(listing);
    }
    // The valid keys are printed all the same; the failure names the bad documents.
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(listing.as_bytes())
        .and_then(|()| stdout.flush())
        .context("cannot write to standard output")?;
    Err(Failure::new(format!(
        "{} of {} documents in the key vault {} are not valid key documents (delete them with `keys delete <id>` or repair them): {}",
        malformed.len(),
        malformed.len() + keys.len(),
        vault.namespace,
        malformed.join("; ")
    )))
}

async fn delete(vault: &KeyVault, reference: &str) -> Result<String, Failure> {
    // By id without reading the document: a malformed key document can be deleted too.
    if let Ok(id) = reference.parse::<Uuid>() {
        let deleted = vault
            .encryption
            .delete_key(id)
            .await
            .with_context(|| format!("cannot delete data key {id}"))?;
        if deleted {
            return Ok(format!("deleted data key {id}\n"));
        }
    }
    let key = vault.find(reference).await?;
    let deleted = vault
        .encryption
        .delete_key(key.id)
        .await
        .with_context(|| format!("cannot delete data key {}", key.id))?;
    if !deleted {
        return Err(gone(&key));
    }
    Ok(format!("deleted data key {}\n", key.id))
}

/// A key that was found, then was not there any more.
fn gone(key: &KeyDocument) -> Failure {
    Failure::new(format!(
        "data key {} was deleted by someone else meanwhile",
        key.id
    ))
}
