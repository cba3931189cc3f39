//! The demo's command line.

use std::path::PathBuf;

use clap::Parser;
use encrypted::Namespace;

/// MedcoMD: MongoDB's client-side field level encryption guide (steps A to F), run
/// against a real server with this crate: doctors read everything, receptionists see
/// names and insurance providers but never SSNs, policy numbers or medical records.
///
/// `scripts/medcomd` runs it with a local FerretDB (unless MONGODB_URI is set) and an
/// AWS KMS emulator.
#[derive(Debug, Parser)]
#[command(name = "medcomd")]
pub struct Args {
    /// The MongoDB server's connection string (never printed).
    #[arg(long, env = "MONGODB_URI", hide_env_values = true)]
    pub uri: Option<String>,

    /// The database of the `patients` collection.
    #[arg(long, value_name = "NAME", default_value = "medicalRecords")]
    pub database: String,

    /// The key vault collection.
    #[arg(
        long,
        value_name = "DB.COLLECTION",
        default_value = "encryption.__keyVault"
    )]
    pub key_vault: Namespace,

    /// The local master key file of step A: created if missing, reused otherwise.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "target/medcomd/master-key.txt"
    )]
    pub master_key_file: PathBuf,

    /// Replace an existing master key file with a new key (every data key the old one
    /// wraps becomes unreadable).
    #[arg(long)]
    pub force_new_master_key: bool,

    /// Keep the `medco-key` data key of an earlier run instead of deleting it at start.
    #[arg(long)]
    pub keep_key_vault: bool,

    /// The AWS KMS endpoint of step F (`host[:port]`; default: the region's).
    #[arg(long, value_name = "HOST[:PORT]", env = "ENCRYPTED_TEST_AWS_ENDPOINT")]
    pub aws_endpoint: Option<String>,

    /// A PEM file of CA certificates to trust for the AWS KMS endpoint, besides the
    /// web's roots.
    #[arg(long, value_name = "FILE", env = "ENCRYPTED_TEST_AWS_CA_FILE")]
    pub aws_ca_file: Option<PathBuf>,

    /// The ARN of the AWS KMS key that wraps the data key from step F on.
    #[arg(long, value_name = "ARN", env = "ENCRYPTED_TEST_AWS_KEY_ARN")]
    pub aws_key_arn: Option<String>,

    /// The AWS region of that key (default: the region its ARN names).
    #[arg(long, value_name = "REGION", env = "ENCRYPTED_TEST_AWS_REGION")]
    pub aws_region: Option<String>,
}
