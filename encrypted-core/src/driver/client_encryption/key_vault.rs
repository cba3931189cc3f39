//! The key vault collection: its namespace and its index.

use std::fmt;

use bson::doc;
use mongodb::IndexModel;
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::IndexOptions;

use super::{ClientEncryption, key_vault_error};
use crate::Result;

/// A `database.collection` namespace; the key vault's is `encryption.__keyVault` by
/// default.
///
/// ```
/// use encrypted_core::Namespace;
///
/// assert_eq!(Namespace::default().to_string(), "encryption.__keyVault");
/// let custom: Namespace = "medco.keys".parse()?;
/// assert_eq!(custom.db, "medco");
/// # Ok::<(), encrypted_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Namespace {
    /// The database.
    pub db: String,
    /// The collection.
    pub coll: String,
}

impl Namespace {
    /// A namespace from its two parts.
    pub fn new(db: impl Into<String>, coll: impl Into<String>) -> Self {
        Self {
            db: db.into(),
            coll: coll.into(),
        }
    }
}

impl Default for Namespace {
    fn default() -> Self {
        Self::new("encryption", "__keyVault")
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.db, self.coll)
    }
}

impl std::str::FromStr for Namespace {
    type Err = crate::Error;

    fn from_str(text: &str) -> Result<Self> {
        match text.split_once('.') {
            Some((db, coll)) if !db.is_empty() && !coll.is_empty() => Ok(Self::new(db, coll)),
            _ => Err(crate::Error::InvalidNamespace {
                namespace: text.to_owned(),
            }),
        }
    }
}

impl ClientEncryption {
    /// Creates the spec's unique index on `keyAltNames` (partial: only documents that
    /// have the field), so that the server itself refuses a duplicate alternate name.
    /// Where the server has no partial indexes (FerretDB 1.x), a unique *sparse* index
    /// is created instead (keys without names are left out of it). FerretDB 1.x
    /// compares whole arrays in it: a second `["a"]` is refused, `["b", "a"]` next to
    /// `["a"]` is not; the checks below cover that case for this library's writes.
    /// Idempotent.
    ///
    /// Without either index, alternate names are still kept unique: each write is
    /// checked before, serialised within this handle, and checked again after (a
    /// writer that finds its name on a second key takes its write back and fails with
    /// [`crate::Error::DuplicateKeyAltName`]). Two processes racing can then both
    /// fail, and a process dying between its write and its check can leave a
    /// duplicate; using an ambiguous name is refused
    /// ([`crate::Error::AmbiguousKeyAltName`]), never resolved to one of the keys.
    ///
    /// # Errors
    ///
    /// [`crate::Error::UnsupportedByServer`] when the server implements neither kind
    /// of index. [`crate::Error::KeyVault`] for any other failure (for example an
    /// existing duplicate).
    pub async fn create_key_alt_names_index(&self) -> Result<()> {
        let partial = IndexOptions::builder()
            .name("keyAltNames_1".to_owned())
            .unique(true)
            .partial_filter_expression(doc! { "keyAltNames": { "$exists": true } })
            .build();
        let sparse = IndexOptions::builder()
            .name("keyAltNames_1".to_owned())
            .unique(true)
            .sparse(true)
            .build();
        let mut unsupported = None;
        for options in [partial, sparse] {
            let index = IndexModel::builder()
                .keys(doc! { "keyAltNames": 1 })
                .options(options)
                .build();
            match self.inner.key_vault.create_index(index).await {
                Ok(_) => return Ok(()),
                Err(error) => match not_implemented(&error) {
                    Some(message) => unsupported = Some(message),
                    None => return Err(key_vault_error("createIndexes")(error)),
                },
            }
        }
        Err(crate::Error::UnsupportedByServer {
            operation: "createIndexes",
            message: unsupported.unwrap_or_default(),
        })
    }
}

/// The server's message when it says it does not implement what was asked
/// (`NotImplemented`, 238, or `CommandNotSupported`, 115).
pub(crate) fn not_implemented(error: &mongodb::error::Error) -> Option<String> {
    match error.kind.as_ref() {
        ErrorKind::Command(command) if matches!(command.code, 115 | 238) => {
            Some(command.message.clone())
        }
        _ => None,
    }
}

/// Whether the server refused a write as a duplicate key (code 11000).
pub(crate) fn is_duplicate_key(error: &mongodb::error::Error) -> bool {
    const DUPLICATE_KEY: i32 = 11000;
    match error.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(write)) => write.code == DUPLICATE_KEY,
        ErrorKind::Command(command) => command.code == DUPLICATE_KEY,
        _ => false,
    }
}
