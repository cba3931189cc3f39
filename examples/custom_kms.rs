//! A KMS provider of your own, end to end: it creates data keys (`MasterKey::custom`),
//! its master key document is stored in the key vault as given, and decryption — in a
//! handle that has never seen the key — finds the provider again by the name the key
//! document records.
//!
//! The provider here stands for an HSM or an in-house key service: it holds several
//! master keys, chosen by the `keyName` of the master key document. (To keep the example
//! self-contained each is a 96-byte local master key; a real one would call its service
//! in `wrap` and `unwrap`.)
//!
//! `MONGODB_URI=mongodb://127.0.0.1:27017 cargo run --example custom_kms`.
//! `MASTER_KEY_FILE` (default `master-key.txt`) is created when missing; the key vault is
//! `<DATABASE>.__keyVault` (default `medicalRecords`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use encrypted::bson::{Bson, Uuid, doc};
use encrypted::kms::{BoxFuture, KmsProvider, KmsProviders};
use encrypted::mongodb;
use encrypted::{
    Algorithm, ClientEncryption, DataKey, Error, KeyRef, LocalMasterKey, MasterKey, Namespace,
};

/// The provider's name: `kind` or `kind:name`, as key documents record it. Any kind but
/// the spec's five (`local`, `aws`, `azure`, `gcp`, `kmip`).
const PROVIDER: &str = "vault:demo";

/// A KMS provider with one master key per `keyName`.
#[derive(Debug)]
struct KeyService {
    master_keys: HashMap<String, LocalMasterKey>,
    unwraps: Arc<AtomicUsize>,
}

impl KeyService {
    /// The master key a master key document names, or why there is none.
    fn master_key(
        &self,
        master_key: &MasterKey,
        key_id: Uuid,
    ) -> encrypted::Result<&LocalMasterKey> {
        let document = master_key.to_document();
        let name = document.get_str("keyName").unwrap_or_default();
        self.master_keys
            .get(name)
            .ok_or_else(|| Error::MalformedKeyDocument {
                key_id: Some(key_id),
                field: "masterKey.keyName",
                problem: format!("names no master key of `{PROVIDER}`"),
            })
    }
}

impl KmsProvider for KeyService {
    fn name(&self) -> &str {
        PROVIDER
    }

    fn wrap<'a>(
        &'a self,
        master_key: &'a MasterKey,
        key: &'a DataKey,
    ) -> BoxFuture<'a, encrypted::Result<Vec<u8>>> {
        Box::pin(async move { self.master_key(master_key, key.id())?.wrap(key) })
    }

    fn unwrap<'a>(
        &'a self,
        master_key: &'a MasterKey,
        key_id: Uuid,
        key_material: &'a [u8],
    ) -> BoxFuture<'a, encrypted::Result<DataKey>> {
        Box::pin(async move {
            self.unwraps.fetch_add(1, Ordering::SeqCst);
            self.master_key(master_key, key_id)?
                .unwrap(key_id, key_material)
        })
    }
}

fn providers(master_key: LocalMasterKey, unwraps: &Arc<AtomicUsize>) -> KmsProviders {
    KmsProviders::new().with(KeyService {
        master_keys: HashMap::from([("medco".to_owned(), master_key)]),
        unwraps: Arc::clone(unwraps),
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key_file = std::env::var("MASTER_KEY_FILE").unwrap_or_else(|_| "master-key.txt".into());
    if !std::fs::exists(&key_file)? {
        LocalMasterKey::create_file(&key_file, false)?;
    }
    let db = std::env::var("DATABASE").unwrap_or_else(|_| "medicalRecords".into());
    let client = mongodb::Client::with_uri_str(std::env::var("MONGODB_URI")?).await?;
    let namespace = Namespace::new(&db, "__keyVault");

    // Create a data key with the custom provider's master key `medco`.
    let writer = ClientEncryption::builder(
        client.clone(),
        providers(LocalMasterKey::from_file(&key_file)?, &Arc::default()),
    )
    .key_vault_namespace(namespace.clone())
    .build();
    let master_key = MasterKey::custom(PROVIDER, doc! { "keyName": "medco" })?;
    let key_id = writer.create_data_key(master_key).await?;
    let stored = writer
        .get_key(key_id)
        .await?
        .ok_or("the key was not stored")?;
    println!(
        "created data key {key_id} with masterKey {}",
        stored.master_key.to_document()
    );

    let ssn = Bson::String("123-45-6789".into());
    let ciphertext = writer
        .encrypt(ssn.clone(), KeyRef::Id(key_id), Algorithm::Random)
        .await?;

    // Another handle, another process in real life: an empty key cache, the same
    // provider configured. The key document's `provider` routes the unwrap to it.
    let unwraps = Arc::new(AtomicUsize::new(0));
    let reader = ClientEncryption::builder(
        client,
        providers(LocalMasterKey::from_file(&key_file)?, &unwraps),
    )
    .key_vault_namespace(namespace)
    .build();
    if reader.decrypt(&ciphertext).await? != ssn {
        return Err("the decrypted value differs from the original".into());
    }
    println!(
        "decrypted the value back through {PROVIDER} ({} unwrap)",
        unwraps.load(Ordering::SeqCst)
    );
    Ok(())
}
