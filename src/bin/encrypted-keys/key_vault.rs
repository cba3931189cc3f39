//! The key vault a command works on: the server connection, the `ClientEncryption`
//! handle, and finding a key by id or alternate name.

use std::str::FromStr;

use encrypted::bson::{Document, Uuid};
use encrypted::kms::KmsProviders;
use encrypted::{ClientEncryption, KeyDocument, Namespace};
use mongodb::{Client, Collection};

use crate::args::Connection;
use crate::failure::{Context, Failure};

/// An open key vault.
#[derive(Debug)]
pub struct KeyVault {
    /// The handle for data keys and explicit encryption.
    pub encryption: ClientEncryption,
    /// The key vault collection itself, for queries the handle does not offer.
    pub collection: Collection<Document>,
    /// Where the key vault is.
    pub namespace: Namespace,
}

impl KeyVault {
    /// Connects to the key vault `connection` names, with these KMS providers. The
    /// driver connects lazily: a server that cannot be reached fails the first command.
    ///
    /// # Errors
    ///
    /// When no URI is given or it is not a valid connection string.
    pub async fn open(connection: &Connection, kms: KmsProviders) -> Result<Self, Failure> {
        let uri = connection
            .uri
            .as_deref()
            .ok_or_else(|| Failure::new("no MongoDB server: pass --uri or set MONGODB_URI"))?;
        // The driver's own message may quote the connection string, password included.
        let client = Client::with_uri_str(uri).await.map_err(|_| {
            Failure::new("the MongoDB URI (--uri or MONGODB_URI) is not a valid connection string")
        })?;
        let namespace = connection.key_vault.clone();
        let collection = client
            .database(&namespace.db)
            .collection::<Document>(&namespace.coll);
        let encryption = ClientEncryption::builder(client, kms)
            .key_vault_namespace(namespace.clone())
            .build();
        Ok(Self {
            encryption,
            collection,
            namespace,
        })
    }

    /// The key `reference` names: a UUID (`_id`), or else an alternate name. Text that
    /// reads as a UUID but is no key's id is tried as an alternate name too.
    ///
    /// # Errors
    ///
    /// When there is no such key or the key vault fails.
    pub async fn find(&self, reference: &str) -> Result<KeyDocument, Failure> {
        if let Ok(id) = Uuid::from_str(reference)
            && let Some(key) = self
                .encryption
                .get_key(id)
                .await
                .with_context(|| format!("cannot look up data key {id}"))?
        {
            return Ok(key);
        }
        self.encryption
            .get_key_by_alt_name(reference)
            .await
            .with_context(|| format!("cannot look up data key `{reference}`"))?
            .ok_or_else(|| {
                Failure::new(format!(
                    "no data key with the id or alternate name `{reference}` in the key vault {}",
                    self.namespace
                ))
            })
    }
}
