//! Explicit encryption with `ClientEncryption`, as mongosh's `ClientEncryption` does it: a
//! data key wrapped by a local master key, one value encrypted deterministically and
//! decrypted again; no model involved.
//!
//! `MONGODB_URI=mongodb://127.0.0.1:27017 cargo run --example explicit`. `MASTER_KEY_FILE`
//! (default `master-key.txt`) is created when missing; the key vault is
//! `<DATABASE>.__keyVault` (default `medicalRecords`).

use encrypted::bson::Bson;
use encrypted::kms::{KmsProviders, LocalKms};
use encrypted::mongodb;
use encrypted::{Algorithm, ClientEncryption, KeyRef, LocalMasterKey, MasterKey, Namespace};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key_file = std::env::var("MASTER_KEY_FILE").unwrap_or_else(|_| "master-key.txt".into());
    let master_key = match std::fs::exists(&key_file)? {
        true => LocalMasterKey::from_file(&key_file)?,
        false => LocalMasterKey::create_file(&key_file, false)?,
    };
    let db = std::env::var("DATABASE").unwrap_or_else(|_| "medicalRecords".into());

    let client = mongodb::Client::with_uri_str(std::env::var("MONGODB_URI")?).await?;
    let kms = KmsProviders::new().with(LocalKms::new(master_key));
    let encryption = ClientEncryption::builder(client, kms)
        .key_vault_namespace(Namespace::new(&db, "__keyVault"))
        .build();

    // A new data key each run, found again by its id (an alternate name works as well).
    let key_id = encryption.create_data_key(MasterKey::local()).await?;
    println!("created data key {key_id}");

    let ssn = Bson::String("123-45-6789".into());
    let ciphertext = encryption
        .encrypt(ssn.clone(), KeyRef::Id(key_id), Algorithm::Deterministic)
        .await?;
    // Binary subtype 6: what a field holds in the database (libmongocrypt's format).
    println!(
        "ciphertext: {} bytes, binary subtype {:#04x}",
        ciphertext.bytes.len(),
        u8::from(ciphertext.subtype)
    );
    // Deterministic: the same value under the same key gives the same ciphertext, which is
    // what lets the server find it by equality.
    let again = encryption
        .encrypt(ssn.clone(), KeyRef::Id(key_id), Algorithm::Deterministic)
        .await?;
    println!("same ciphertext again: {}", again == ciphertext);

    let decrypted = encryption.decrypt(&ciphertext).await?;
    if decrypted != ssn {
        return Err("the decrypted value differs from the original".into());
    }
    println!("decrypted the value back");

    encryption.delete_key(key_id).await?;
    Ok(())
}
