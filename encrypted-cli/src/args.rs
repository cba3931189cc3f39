//! The command line: options and subcommands, as clap parses them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use encrypted::{Algorithm, Namespace};

/// Manage the data keys of a MongoDB client-side field level encryption (CSFLE) key
/// vault, and encrypt or decrypt single values with them.
///
/// Key material (master keys, data keys) and plaintext are never printed in errors.
#[derive(Debug, Parser)]
#[command(
    name = "encrypted-keys",
    version,
    about,
    long_about,
    max_term_width = 100
)]
pub struct Cli {
    /// Where the key vault is and which KMS providers wrap its keys.
    #[command(flatten)]
    pub connection: Connection,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The options every subcommand shares: the server, the key vault and the KMS providers.
#[derive(Debug, Args)]
pub struct Connection {
    /// MongoDB connection string of the server holding the key vault.
    #[arg(long, env = "MONGODB_URI", hide_env_values = true, global = true)]
    pub uri: Option<String>,

    /// The key vault collection, as `database.collection`.
    #[arg(
        long,
        value_name = "NAMESPACE",
        default_value = "encryption.__keyVault",
        value_parser = parse_namespace,
        global = true
    )]
    pub key_vault: Namespace,

    /// The local KMS provider's master key: a file of 96 raw bytes (MongoDB's
    /// `master-key.txt`) or of their base64, readable by its owner only (on Unix, a file
    /// its group or others may access is refused: `chmod 600` it).
    #[arg(long, value_name = "FILE", global = true)]
    pub local_master_key: Option<PathBuf>,

    /// How the local master key files hold their 96 bytes. `auto` tells raw bytes from
    /// base64 text by their content and refuses a file that reads both ways (96 bytes
    /// of base64 text).
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = MasterKeyFormat::Auto, global = true)]
    pub local_master_key_format: MasterKeyFormat,

    /// How long to look for the MongoDB server before giving up, in seconds. A
    /// `serverSelectionTimeoutMS` in the URI wins.
    #[arg(long, value_name = "SECONDS", default_value_t = 5, global = true)]
    pub server_selection_timeout: u64,

    /// The AWS region of new AWS master keys (default: the region in the key's ARN).
    #[arg(long, value_name = "REGION", global = true)]
    pub aws_region: Option<String>,

    /// Another AWS KMS endpoint than the region's (`host[:port]`), recorded in the master
    /// key of new AWS-wrapped keys. Credentials come from AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
    #[arg(long, value_name = "HOST[:PORT]", global = true)]
    pub aws_endpoint: Option<String>,

    /// A PEM file of CA certificates to trust, besides the usual web roots, when
    /// talking to AWS KMS.
    #[arg(long, value_name = "FILE", global = true)]
    pub aws_ca_file: Option<PathBuf>,

    /// The Azure key vault of new Azure master keys (`my-vault.vault.azure.net`, or the
    /// `host[:port]` of another the operator trusts). Credentials come from
    /// AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, or AZURE_ACCESS_TOKEN,
    /// or (with --azure-managed-identity) the instance metadata service.
    #[arg(long, value_name = "HOST[:PORT]", global = true)]
    pub azure_key_vault_endpoint: Option<String>,

    /// Another identity platform than `login.microsoftonline.com` (`host[:port]`), for
    /// the client credentials.
    #[arg(long, value_name = "HOST[:PORT]", global = true)]
    pub azure_identity_platform_endpoint: Option<String>,

    /// Get Azure tokens on demand from the instance metadata service (the managed
    /// identity of the Azure VM or container) instead of the AZURE_* variables.
    #[arg(long, global = true)]
    pub azure_managed_identity: bool,

    /// A PEM file of CA certificates to trust, besides the usual web roots, when
    /// talking to Azure Key Vault and the identity platform.
    #[arg(long, value_name = "FILE", global = true)]
    pub azure_ca_file: Option<PathBuf>,

    /// The KMIP server of the kmip provider (`host[:port]`, port 5696 by default),
    /// reached over mutual TLS with `--kmip-ca-file` and `--kmip-cert-file`.
    #[arg(long, value_name = "HOST[:PORT]", global = true)]
    pub kmip_endpoint: Option<String>,

    /// A PEM file of the CA certificates of the KMIP server, trusted besides the web roots.
    #[arg(long, value_name = "FILE", global = true)]
    pub kmip_ca_file: Option<PathBuf>,

    /// The client certificate presented to the KMIP server: a PEM file with the
    /// certificate chain and, unless `--kmip-key-file` is given, its private key.
    #[arg(long, value_name = "FILE", global = true)]
    pub kmip_cert_file: Option<PathBuf>,

    /// The private key (PEM) of `--kmip-cert-file`, when that file holds none.
    #[arg(long, value_name = "FILE", global = true, requires = "kmip_cert_file")]
    pub kmip_key_file: Option<PathBuf>,

    /// The KMIP key (its Unique Identifier) of new kmip master keys; by default a new one
    /// is registered on the server for each data key.
    #[arg(long, value_name = "ID", global = true)]
    pub kmip_key_id: Option<String>,

    /// New kmip master keys are delegated: the server encrypts and decrypts data keys
    /// with an AES key that never leaves it (libmongocrypt 1.9+'s `delegated`).
    #[arg(long, global = true)]
    pub kmip_delegated: bool,

    /// Another Google Cloud KMS endpoint than `cloudkms.googleapis.com` (`host[:port]`),
    /// recorded in the master key of new GCP-wrapped keys. Credentials: the service
    /// account key file GOOGLE_APPLICATION_CREDENTIALS names, or the token in
    /// GOOGLE_OAUTH_ACCESS_TOKEN, or `--gcp-on-demand`.
    #[arg(long, value_name = "HOST[:PORT]", global = true)]
    pub gcp_endpoint: Option<String>,

    /// Another OAuth token endpoint than `oauth2.googleapis.com` (`host[:port]`) for
    /// the service account's tokens.
    #[arg(long, value_name = "HOST[:PORT]", global = true)]
    pub gcp_oauth_endpoint: Option<String>,

    /// Get Google Cloud tokens on demand from the metadata server (on GCP; GCE_METADATA_HOST
    /// names another server), when no other GCP credentials are set.
    #[arg(long, global = true)]
    pub gcp_on_demand: bool,

    /// A PEM file of CA certificates to trust, besides the usual web roots, when
    /// talking to Google Cloud KMS and its token endpoint.
    #[arg(long, value_name = "FILE", global = true)]
    pub gcp_ca_file: Option<PathBuf>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Local master keys.
    #[command(subcommand)]
    MasterKey(MasterKeyCommand),

    /// Data keys in the key vault.
    #[command(subcommand)]
    Keys(KeysCommand),

    /// Encrypt one value explicitly; prints the ciphertext as canonical Extended JSON.
    Encrypt(EncryptArgs),

    /// Decrypt one ciphertext; prints the value as Extended JSON.
    Decrypt(DecryptArgs),
}

/// `master-key …`.
#[derive(Debug, Subcommand)]
pub enum MasterKeyCommand {
    /// Write a new random 96-byte local master key to FILE (mode 0600 on Unix).
    Generate {
        /// The file to create.
        file: PathBuf,
        /// Overwrite FILE if it exists. Every data key wrapped by the master key it held
        /// becomes unreadable.
        #[arg(long)]
        force: bool,
    },
}

/// `keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a data key; prints its UUID.
    Create {
        /// The KMS provider whose master key wraps the new key.
        #[arg(long, value_enum)]
        provider: Provider,
        /// The AWS KMS key that wraps it (with `--provider aws`).
        #[arg(long, value_name = "ARN", required_if_eq("provider", "aws"))]
        aws_key_arn: Option<String>,
        /// The Azure Key Vault key that wraps it (with `--provider azure`), in the vault
        /// `--azure-key-vault-endpoint` names.
        #[arg(long, value_name = "NAME", required_if_eq("provider", "azure"))]
        azure_key_name: Option<String>,
        /// A version of the Azure key (its current version by default).
        #[arg(long, value_name = "VERSION")]
        azure_key_version: Option<String>,
        /// The Google Cloud KMS key that wraps it (with `--provider gcp`):
        /// `projects/P/locations/L/keyRings/R/cryptoKeys/K[/cryptoKeyVersions/V]`.
        #[arg(long, value_name = "RESOURCE_NAME", required_if_eq("provider", "gcp"))]
        gcp_key: Option<String>,
        /// An alternate name for the key; repeat for several.
        #[arg(long = "alt-name", value_name = "NAME")]
        alt_names: Vec<String>,
    },

    /// List the data keys (never their key material).
    List {
        /// One relaxed Extended JSON document per key, without `keyMaterial`.
        #[arg(long)]
        json: bool,
    },

    /// Show one data key (never its key material).
    Show {
        /// The key's UUID or one of its alternate names.
        key: String,
        /// Relaxed Extended JSON, without `keyMaterial`.
        #[arg(long)]
        json: bool,
    },

    /// Delete a data key. Every value encrypted with it becomes unreadable for good.
    Delete {
        /// The key's UUID or one of its alternate names.
        key: String,
    },

    /// Give a data key another alternate name.
    AddAltName {
        /// The key's UUID (or an alternate name it already has).
        key: String,
        /// The new name; no other key may have it.
        name: String,
    },

    /// Take an alternate name away from a data key.
    RemoveAltName {
        /// The key's UUID (or one of its alternate names).
        key: String,
        /// The name to remove.
        name: String,
    },

    /// Re-wrap data keys under another master key. The data keys themselves do not
    /// change: every ciphertext stays readable. Safe to rerun after a failure.
    Rewrap(RewrapArgs),
}

/// `keys rewrap`.
#[derive(Debug, Args)]
pub struct RewrapArgs {
    /// Only the keys this query (Extended JSON) matches; all keys by default.
    #[arg(long, value_name = "EXTENDED_JSON", default_value = "{}")]
    pub filter: String,

    /// The KMS provider whose master key wraps the keys afterwards.
    #[arg(long, value_enum)]
    pub to: Provider,

    /// The AWS KMS key that wraps them afterwards (with `--to aws`).
    #[arg(long, value_name = "ARN", required_if_eq("to", "aws"))]
    pub aws_key_arn: Option<String>,

    /// The Azure Key Vault key that wraps them afterwards (with `--to azure`).
    #[arg(long, value_name = "NAME", required_if_eq("to", "azure"))]
    pub azure_key_name: Option<String>,

    /// A version of the Azure key (its current version by default).
    #[arg(long, value_name = "VERSION")]
    pub azure_key_version: Option<String>,
    /// The Google Cloud KMS key that wraps them afterwards (with `--to gcp`):
    /// `projects/P/locations/L/keyRings/R/cryptoKeys/K[/cryptoKeyVersions/V]`.
    #[arg(long, value_name = "RESOURCE_NAME", required_if_eq("to", "gcp"))]
    pub gcp_key: Option<String>,

    /// A new local master key file (with `--to local`): keys are unwrapped with
    /// `--local-master-key` (or their KMS provider) and wrapped with this one. Keys
    /// already under the new master key are re-wrapped too, so a rerun completes.
    #[arg(long, value_name = "FILE")]
    pub new_local_master_key: Option<PathBuf>,
}

/// `encrypt`.
#[derive(Debug, Args)]
pub struct EncryptArgs {
    /// The data key: its UUID or one of its alternate names.
    #[arg(long, value_name = "ID_OR_ALT_NAME")]
    pub key: String,

    /// Deterministic (equal values give equal ciphertexts: queryable by equality) or
    /// random.
    #[arg(long, value_enum)]
    pub algorithm: AlgorithmArg,

    /// The value, as Extended JSON (`"text"`, `42`, `{"$numberLong": "42"}`, …); `-`
    /// reads it from standard input, which keeps it out of the shell history.
    #[arg(value_name = "EXTENDED_JSON", allow_hyphen_values = true)]
    pub value: String,
}

/// `decrypt`.
#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// The ciphertext, as Extended JSON (`{"$binary": {"base64": "…", "subType": "06"}}`);
    /// `-` reads it from standard input.
    #[arg(value_name = "EXTENDED_JSON", allow_hyphen_values = true)]
    pub value: String,

    /// Print canonical Extended JSON instead of relaxed.
    #[arg(long)]
    pub canonical: bool,
}

/// How a local master key file holds its key (`--local-master-key-format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MasterKeyFormat {
    /// Raw bytes or base64, told apart by the content; ambiguous files are refused.
    Auto,
    /// Exactly 96 raw bytes (MongoDB's `master-key.txt`, what `master-key generate`
    /// writes).
    Raw,
    /// The base64 of the 96 bytes; line breaks and spaces are ignored.
    Base64,
}

impl From<MasterKeyFormat> for encrypted::LocalMasterKeyFormat {
    fn from(format: MasterKeyFormat) -> Self {
        match format {
            MasterKeyFormat::Auto => Self::Auto,
            MasterKeyFormat::Raw => Self::Raw,
            MasterKeyFormat::Base64 => Self::Base64,
        }
    }
}

/// A KMS provider a data key can be wrapped with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Provider {
    /// The local master key (`--local-master-key`, or `--new-local-master-key`).
    Local,
    /// An AWS KMS key (`--aws-key-arn`).
    Aws,
    /// An Azure Key Vault key (`--azure-key-name`).
    Azure,
    /// A key on a KMIP server (`--kmip-endpoint`, `--kmip-key-id`, `--kmip-delegated`).
    Kmip,
    /// A Google Cloud KMS key (`--gcp-key`).
    Gcp,
}

/// The encryption algorithm, as typed on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AlgorithmArg {
    /// AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic.
    Deterministic,
    /// AEAD_AES_256_CBC_HMAC_SHA_512-Random.
    Random,
}

impl From<AlgorithmArg> for Algorithm {
    fn from(algorithm: AlgorithmArg) -> Self {
        match algorithm {
            AlgorithmArg::Deterministic => Self::Deterministic,
            AlgorithmArg::Random => Self::Random,
        }
    }
}

fn parse_namespace(text: &str) -> Result<Namespace, encrypted::Error> {
    text.parse()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
