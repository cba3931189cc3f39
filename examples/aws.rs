//! AWS KMS: a data key wrapped by an AWS KMS key, then explicit encryption with it.
//!
//! Credentials come from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (and
//! `AWS_SESSION_TOKEN`); the KMS key from `AWS_KMS_KEY_ARN` and `AWS_REGION`. A KMS endpoint
//! that is not AWS's own (a proxy, an emulator) is named by `AWS_KMS_ENDPOINT` (`host:port`),
//! with `AWS_KMS_CA_FILE` for a CA it is signed by: the provider must allow it explicitly,
//! since a key document alone may never send requests elsewhere. Against the project's
//! emulator:
//!
//! ```sh
//! scripts/kms-emulator run -- scripts/local-server run -- sh -c \
//!   'AWS_KMS_ENDPOINT=$ENCRYPTED_TEST_AWS_ENDPOINT AWS_KMS_CA_FILE=$ENCRYPTED_TEST_AWS_CA_FILE \
//!    AWS_KMS_KEY_ARN=$ENCRYPTED_TEST_AWS_KEY_ARN AWS_REGION=$ENCRYPTED_TEST_AWS_REGION \
//!    cargo run --example aws'
//! ```

use encrypted::bson::Bson;
use encrypted::kms::{AwsCredentials, AwsKms, KmsProviders, TlsOptions};
use encrypted::mongodb;
use encrypted::{Algorithm, ClientEncryption, KeyRef, MasterKey, Namespace};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let region = std::env::var("AWS_REGION")?;
    let key_arn = std::env::var("AWS_KMS_KEY_ARN")?;
    let db = std::env::var("DATABASE").unwrap_or_else(|_| "medicalRecords".into());

    let mut aws = AwsKms::new(AwsCredentials::from_env()?)?;
    let mut master_key = MasterKey::aws(&region, &key_arn);
    if let Ok(endpoint) = std::env::var("AWS_KMS_ENDPOINT") {
        aws = aws.with_allowed_endpoint(&endpoint)?;
        master_key = master_key.with_endpoint(endpoint);
    }
    if let Ok(ca_file) = std::env::var("AWS_KMS_CA_FILE") {
        aws = aws.with_tls(TlsOptions::new().with_ca_pem(std::fs::read(ca_file)?)?)?;
    }

    let client = mongodb::Client::with_uri_str(std::env::var("MONGODB_URI")?).await?;
    let encryption = ClientEncryption::builder(client, KmsProviders::new().with(aws))
        .key_vault_namespace(Namespace::new(&db, "__keyVault"))
        .build();

    // We generate the data key's 96 bytes; AWS KMS `Encrypt`s them under the KMS key.
    let key_id = encryption.create_data_key(master_key).await?;
    println!("created data key {key_id}, wrapped by {key_arn}");

    let value = Bson::String("123-45-6789".into());
    let ciphertext = encryption
        .encrypt(value.clone(), KeyRef::Id(key_id), Algorithm::Random)
        .await?;
    println!("encrypted a value: {} bytes", ciphertext.bytes.len());

    // Encrypting unwrapped the data key with KMS `Decrypt`; the key cache keeps it for
    // a while (60 s by default), so decrypting does not ask KMS again.
    let decrypted = encryption.decrypt(&ciphertext).await?;
    if decrypted != value {
        return Err("the decrypted value differs from the original".into());
    }
    println!("decrypted the value back through AWS KMS");

    encryption.delete_key(key_id).await?;
    Ok(())
}
