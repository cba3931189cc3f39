//! The README's quick start as a program: one model, a local master key, one data key, an
//! insert and a query on an encrypted field.
//!
//! `MONGODB_URI=mongodb://127.0.0.1:27017 cargo run --example quickstart` (or
//! `scripts/local-server run -- cargo run --example quickstart`). `MASTER_KEY_FILE`
//! (default `master-key.txt`) is created when missing; `DATABASE` (default
//! `medicalRecords`) holds the collection and the key vault.

use encrypted::kms::{KmsProviders, LocalKms};
use encrypted::{ClientEncryption, Encrypted, EncryptedCollection, LocalMasterKey, MasterKey};
use encrypted::{Namespace, model::Protected};
use encrypted::{bson, mongodb};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Encrypted, Debug)]
#[serde(rename_all = "camelCase")]
#[encrypted(key_alt_name = "medco-key")]
struct Patient {
    name: String,
    #[encrypt(deterministic)]
    ssn: i32, // queryable by equality
    #[encrypt(random)]
    blood_type: String, // not queryable, leaks nothing
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key_file = std::env::var("MASTER_KEY_FILE").unwrap_or_else(|_| "master-key.txt".into());
    let master_key = match std::fs::exists(&key_file)? {
        true => LocalMasterKey::from_file(&key_file)?,
        false => LocalMasterKey::create_file(&key_file, false)?, // 96 random bytes, mode 0600
    };
    let db = std::env::var("DATABASE").unwrap_or_else(|_| "medicalRecords".into());

    let client = mongodb::Client::with_uri_str(std::env::var("MONGODB_URI")?).await?;
    let kms = KmsProviders::new().with(LocalKms::new(master_key));
    let encryption = ClientEncryption::builder(client.clone(), kms)
        .key_vault_namespace(Namespace::new(&db, "__keyVault"))
        .build();
    if encryption.get_key_by_alt_name("medco-key").await?.is_none() {
        encryption
            .create_data_key(MasterKey::local())
            .key_alt_names(["medco-key"])
            .await?;
    }

    let collection = client
        .database(&db)
        .collection::<bson::Document>("patients");
    let patients = EncryptedCollection::<Patient>::new(&collection, &encryption);
    let jon = Patient {
        name: "Jon Doe".into(),
        ssn: 241014209,
        blood_type: "AB+".into(),
    };
    patients.insert_one(&jon).await?;

    // The operand is encrypted for you: the server compares ciphertexts.
    let found = patients
        .find_one(Patient::fields().ssn().eq(241014209))
        .await?;
    let found = found.ok_or("no patient with this SSN")?;
    println!("found {} by SSN", found.name);

    // What a reader without keys sees: the name, and `<sealed>` for encrypted fields.
    let no_keys = EncryptedCollection::<Patient>::without_keys(&collection);
    if let Some(view) = no_keys
        .find_one_view(Patient::fields().name().eq("Jon Doe"))
        .await?
    {
        let sealed = matches!(view.blood_type, Protected::Sealed(_));
        println!("without keys: {} (blood type sealed: {sealed})", view.name);
    }
    Ok(())
}
