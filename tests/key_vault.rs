//! `ClientEncryption` against a real server (`MONGODB_URI`; `scripts/test` starts a local
//! FerretDB): data keys, alternate names, explicit encryption, the key cache, rewrap, and
//! the typed errors of bad input and faults.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use test_support::server;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bson::{Bson, Uuid, doc};
use encrypted::kms::{BoxFuture, KmsProvider, KmsProviders, LocalKms};
use encrypted::{
    Algorithm, ClientEncryption, DataKey, Error, KeyRef, LocalMasterKey, MasterKey, Namespace,
    RewrapProgress,
};
use futures_util::TryStreamExt;

const MASTER: [u8; 96] = [0x42; 96];

fn local(bytes: &[u8; 96]) -> KmsProviders {
    KmsProviders::new().with(LocalKms::new(LocalMasterKey::from_bytes(bytes).unwrap()))
}

async fn handle(db: &str, kms: KmsProviders) -> ClientEncryption {
    ClientEncryption::builder(server::client().await, kms)
        .key_vault_namespace(Namespace::new(db, "__keyVault"))
        .build()
}

async fn drop_db(db: &str) {
    server::client().await.database(db).drop().await.unwrap();
}

#[tokio::test]
async fn data_keys_alt_names_and_explicit_encryption() {
    let db = server::unique_db("keys");
    let encryption = handle(&db, local(&MASTER)).await;
    let index_created = create_index_or_know_why_not(&encryption).await;
    if index_created {
        encryption.create_key_alt_names_index().await.unwrap(); // idempotent
    }

    let id = encryption
        .create_data_key(MasterKey::local())
        .key_alt_names(["medco-key"])
        .await
        .unwrap();
    let stored = encryption.get_key(id).await.unwrap().unwrap();
    assert_eq!(stored.key_alt_names, ["medco-key"]);
    assert_eq!(stored.key_material.len(), 160);
    assert_eq!(stored.master_key, MasterKey::local());
    assert_eq!(
        encryption
            .get_key_by_alt_name("medco-key")
            .await
            .unwrap()
            .unwrap()
            .id,
        id
    );
    let all: Vec<_> = encryption
        .get_keys()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 1);

    let by_id = encryption
        .encrypt(
            Bson::Int32(123_456_789),
            KeyRef::Id(id),
            Algorithm::Deterministic,
        )
        .await
        .unwrap();
    let by_name = encryption
        .encrypt(
            Bson::Int32(123_456_789),
            "medco-key".into(),
            Algorithm::Deterministic,
        )
        .await
        .unwrap();
    assert_eq!(by_id, by_name);
    assert_eq!(
        encryption.decrypt(&by_id).await.unwrap(),
        Bson::Int32(123_456_789)
    );

    // A plain driver collection sees only subtype 6.
    let patients = server::client()
        .await
        .database(&db)
        .collection::<bson::Document>("patients");
    patients
        .insert_one(doc! { "ssn": by_id.clone() })
        .await
        .unwrap();
    let found = patients
        .find_one(doc! { "ssn": by_id.clone() })
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(found.get("ssn"), Some(Bson::Binary(b)) if b.subtype == bson::spec::BinarySubtype::Encrypted)
    );

    drop_db(&db).await;
}

/// Creates the unique `keyAltNames` index: partial on MongoDB, sparse on FerretDB 1.x
/// (which has no partial indexes); both test servers must take one of them.
async fn create_index_or_know_why_not(encryption: &ClientEncryption) -> bool {
    match encryption.create_key_alt_names_index().await {
        Ok(()) => true,
        Err(other) => panic!("createIndexes: {other}"),
    }
}

#[tokio::test]
async fn the_unique_index_refuses_duplicates_behind_our_back() {
    let db = server::unique_db("index");
    let encryption = handle(&db, local(&MASTER)).await;
    assert!(create_index_or_know_why_not(&encryption).await);
    encryption
        .create_data_key(MasterKey::local())
        .key_alt_names(["taken"])
        .await
        .unwrap();
    encryption
        .create_data_key(MasterKey::local())
        .await
        .unwrap();
    encryption
        .create_data_key(MasterKey::local())
        .await
        .unwrap(); // keys without names coexist
    // A writer that skips our check still hits the index.
    let vault = server::client()
        .await
        .database(&db)
        .collection::<bson::Document>("__keyVault");
    // FerretDB 1.x's sparse unique index compares whole arrays: it refuses a second
    // `["taken"]` but not `["free", "taken"]` (the checks around our own writes cover
    // that case; see `create_key_alt_names_index`).
    let mut duplicates = vec![vec!["taken"]];
    if !server::is_ferretdb().await {
        duplicates.push(vec!["free", "taken"]);
    }
    for names in duplicates {
        let err = vault
            .insert_one(doc! { "_id": Uuid::new(), "keyAltNames": names })
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("11000") || err.to_string().contains("duplicate"),
            "{err}"
        );
    }
    // And so does add_key_alt_name, through the server's refusal.
    let other = encryption
        .create_data_key(MasterKey::local())
        .await
        .unwrap();
    let duplicate = encryption.add_key_alt_name(other, "taken").await;
    assert!(matches!(duplicate, Err(Error::DuplicateKeyAltName { .. })));
    let duplicate = encryption
        .create_data_key(MasterKey::local())
        .key_alt_names(["free", "taken"])
        .await;
    assert!(matches!(duplicate, Err(Error::DuplicateKeyAltName { .. })));
    assert_eq!(keys_named(&db, "taken").await, 1);
    drop_db(&db).await;
}

#[tokio::test]
async fn alt_names_are_added_removed_and_never_duplicated() {
    let db = server::unique_db("altnames");
    let encryption = handle(&db, local(&MASTER)).await;
    let a = encryption
        .create_data_key(MasterKey::local())
        .key_alt_names(["a"])
        .await
        .unwrap();
    let b = encryption
        .create_data_key(MasterKey::local())
        .await
        .unwrap();

    // Without the unique index, the check before writing refuses duplicates.
    let duplicate = encryption
        .create_data_key(MasterKey::local())
        .key_alt_names(["a"])
        .await;
    assert!(matches!(duplicate, Err(Error::DuplicateKeyAltName { ref name }) if name == "a"));
    let duplicate = encryption.add_key_alt_name(b, "a").await;
    assert!(matches!(duplicate, Err(Error::DuplicateKeyAltName { .. })));

    let before = encryption
        .add_key_alt_name(a, "second")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before.key_alt_names, ["a"]);
    // Adding a name a key already has changes nothing and is no error.
    encryption.add_key_alt_name(a, "second").await.unwrap();
    assert_eq!(
        encryption.get_key(a).await.unwrap().unwrap().key_alt_names,
        ["a", "second"]
    );

    let before = encryption
        .remove_key_alt_name(a, "a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before.key_alt_names, ["a", "second"]);
    encryption.remove_key_alt_name(a, "second").await.unwrap();
    let raw = server::client()
        .await
        .database(&db)
        .collection::<bson::Document>("__keyVault")
        .find_one(doc! { "_id": a })
        .await
        .unwrap()
        .unwrap();
    assert!(
        !raw.contains_key("keyAltNames"),
        "the emptied array is removed: {raw}"
    );

    assert!(
        encryption
            .add_key_alt_name(Uuid::new(), "x")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        encryption
            .remove_key_alt_name(Uuid::new(), "x")
            .await
            .unwrap()
            .is_none()
    );
    drop_db(&db).await;
}

#[tokio::test]
async fn deleting_a_key_shreds_what_it_encrypted() {
    let db = server::unique_db("delete");
    let encryption = handle(&db, local(&MASTER)).await;
    let id = encryption
        .create_data_key(MasterKey::local())
        .await
        .unwrap();
    let secret = encryption
        .encrypt(Bson::String("O+".into()), KeyRef::Id(id), Algorithm::Random)
        .await
        .unwrap();
    assert!(encryption.delete_key(id).await.unwrap());
    assert!(!encryption.delete_key(id).await.unwrap());
    let shredded = encryption.decrypt(&secret).await;
    assert!(
        matches!(shredded, Err(Error::KeyNotFound { .. })),
        "{shredded:?}"
    );
    drop_db(&db).await;
}

#[tokio::test]
async fn bad_input_is_a_typed_error() {
    let db = server::unique_db("bad");
    let encryption = handle(&db, local(&MASTER)).await;
    let id = encryption
        .create_data_key(MasterKey::local())
        .await
        .unwrap();

    let unknown = encryption
        .encrypt(Bson::Int32(1), "nobody".into(), Algorithm::Random)
        .await;
    assert!(matches!(unknown, Err(Error::KeyNotFound { .. })));
    let short = encryption
        .create_data_key(MasterKey::local())
        .key_material(vec![1; 95])
        .await;
    assert!(matches!(
        short,
        Err(Error::InvalidKeyLength { actual: 95, .. })
    ));
    let no_provider = encryption
        .create_data_key(MasterKey::aws("us-east-1", "arn"))
        .await;
    assert!(matches!(no_provider, Err(Error::UnknownKmsProvider { .. })));

    // Another master key cannot unwrap: the error names the key and the provider.
    let other = encryption_with_other_master_key(&db).await;
    let err = other
        .encrypt(Bson::Int32(1), KeyRef::Id(id), Algorithm::Random)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::KeyUnwrap { key_id, ref provider } if key_id == id && provider == "local")
    );
    assert!(err.to_string().contains(&id.to_string()));

    // A malformed document in the key vault.
    let vault = server::client()
        .await
        .database(&db)
        .collection::<bson::Document>("__keyVault");
    let broken = Uuid::new();
    vault
        .insert_one(doc! { "_id": broken, "keyMaterial": "not binary" })
        .await
        .unwrap();
    let err = encryption
        .encrypt(Bson::Int32(1), KeyRef::Id(broken), Algorithm::Random)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::MalformedKeyDocument {
                field: "keyMaterial",
                ..
            }
        ),
        "{err}"
    );
    drop_db(&db).await;
}

async fn encryption_with_other_master_key(db: &str) -> ClientEncryption {
    handle(db, local(&[0x24; 96])).await
}

#[tokio::test]
async fn custom_key_material_gives_libmongocrypt_compatible_ciphertexts() {
    let db = server::unique_db("material");
    let encryption = handle(&db, local(&MASTER)).await;
    let material: Vec<u8> = (0..96).collect();
    let id = encryption
        .create_data_key(MasterKey::local())
        .key_material(material.clone())
        .await
        .unwrap();
    let through_vault = encryption
        .encrypt(Bson::Int32(42), KeyRef::Id(id), Algorithm::Deterministic)
        .await
        .unwrap();
    let direct = DataKey::from_bytes(id, &material)
        .unwrap()
        .encrypt(&Bson::Int32(42), Algorithm::Deterministic)
        .unwrap();
    assert_eq!(through_vault, direct.into_binary());
    drop_db(&db).await;
}

/// The local provider, counting how often it is asked to unwrap.
#[derive(Debug)]
struct CountingKms {
    inner: LocalKms,
    unwraps: Arc<AtomicUsize>,
}

impl KmsProvider for CountingKms {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn wrap<'a>(
        &'a self,
        master_key: &'a MasterKey,
        key: &'a DataKey,
    ) -> BoxFuture<'a, encrypted::Result<Vec<u8>>> {
        self.inner.wrap(master_key, key)
    }
    fn unwrap<'a>(
        &'a self,
        master_key: &'a MasterKey,
        key_id: Uuid,
        key_material: &'a [u8],
    ) -> BoxFuture<'a, encrypted::Result<DataKey>> {
        self.unwraps.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.inner.unwrap(master_key, key_id, key_material).await
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_asking_for_one_uncached_key_cause_one_read_and_one_kms_call() {
    let db = server::unique_db("singleflight");
    let setup = handle(&db, local(&MASTER)).await;
    let id = setup.create_data_key(MasterKey::local()).await.unwrap();

    let unwraps = Arc::new(AtomicUsize::new(0));
    let kms = KmsProviders::new().with(CountingKms {
        inner: LocalKms::new(LocalMasterKey::from_bytes(&MASTER).unwrap()),
        unwraps: Arc::clone(&unwraps),
    });
    let (client, finds) = server::counting_client().await;
    let encryption = ClientEncryption::builder(client, kms)
        .key_vault_namespace(Namespace::new(db.as_str(), "__keyVault"))
        .build();
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let encryption = encryption.clone();
            tokio::spawn(async move {
                encryption
                    .encrypt(Bson::Int32(i), KeyRef::Id(id), Algorithm::Deterministic)
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(unwraps.load(Ordering::SeqCst), 1, "KMS calls");
    assert_eq!(finds.load(Ordering::SeqCst), 1, "key vault reads");
    drop_db(&db).await;
}

#[tokio::test]
async fn expired_keys_are_read_again() {
    let db = server::unique_db("ttl");
    let setup = handle(&db, local(&MASTER)).await;
    let id = setup.create_data_key(MasterKey::local()).await.unwrap();
    let (client, finds) = server::counting_client().await;
    let encryption = ClientEncryption::builder(client, local(&MASTER))
        .key_vault_namespace(Namespace::new(db.as_str(), "__keyVault"))
        .key_cache_ttl(Duration::from_secs(1))
        .build();
    for _ in 0..3 {
        encryption
            .encrypt(Bson::Int32(1), KeyRef::Id(id), Algorithm::Random)
            .await
            .unwrap();
    }
    assert_eq!(finds.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    encryption
        .encrypt(Bson::Int32(1), KeyRef::Id(id), Algorithm::Random)
        .await
        .unwrap();
    assert_eq!(finds.load(Ordering::SeqCst), 2);
    drop_db(&db).await;
}

#[tokio::test]
async fn rewrap_moves_keys_to_another_master_key_and_everything_still_decrypts() {
    let db = server::unique_db("rewrap");
    let old_master = LocalMasterKey::from_bytes(&MASTER).unwrap();
    let new_master = LocalMasterKey::from_bytes(&[0x77; 96]).unwrap();
    let kms = KmsProviders::new()
        .with(LocalKms::new(old_master))
        .with(LocalKms::named("hsm", new_master).unwrap());
    let encryption = handle(&db, kms).await;
    let mut secrets = Vec::new();
    for i in 0..3 {
        let id = encryption
            .create_data_key(MasterKey::local())
            .await
            .unwrap();
        let value = Bson::String(format!("secret {i}"));
        secrets.push((
            encryption
                .encrypt(value.clone(), KeyRef::Id(id), Algorithm::Random)
                .await
                .unwrap(),
            value,
        ));
    }
    let named = MasterKey::local_named("hsm");
    let result = encryption
        .rewrap_many_data_key(doc! {}, Some(named.clone()))
        .await
        .unwrap();
    assert_eq!(result.rewrapped.len(), 3);
    assert!(result.skipped.is_empty());

    // A fresh handle (empty cache) that only knows the new master key reads everything.
    let only_new = encryption_only(
        &db,
        LocalKms::named("hsm", LocalMasterKey::from_bytes(&[0x77; 96]).unwrap()).unwrap(),
    )
    .await;
    for (ciphertext, value) in &secrets {
        assert_eq!(&only_new.decrypt(ciphertext).await.unwrap(), value);
    }
    // The old master key alone no longer can.
    let only_old = handle(&db, local(&MASTER)).await;
    let err = only_old.decrypt(&secrets[0].0).await.unwrap_err();
    assert!(
        matches!(err, Error::UnknownKmsProvider { ref name, .. } if name == "local:hsm"),
        "{err}"
    );
    for key in only_new
        .get_keys()
        .await
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
    {
        assert_eq!(key.master_key, named);
    }
    drop_db(&db).await;
}

/// A real local provider that starts failing after a number of wraps: a KMS going
/// down in the middle of a rewrap.
#[derive(Debug)]
struct FailingAfter {
    inner: LocalKms,
    wraps_left: AtomicUsize,
}

impl KmsProvider for FailingAfter {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn wrap<'a>(
        &'a self,
        master_key: &'a MasterKey,
        key: &'a DataKey,
    ) -> BoxFuture<'a, encrypted::Result<Vec<u8>>> {
        let left = self.wraps_left.load(Ordering::SeqCst);
        if left == 0 {
            return Box::pin(async {
                Err(Error::kms(
                    "local:hsm",
                    encrypted::kms::KmsErrorKind::Unreachable,
                    "connection refused",
                ))
            });
        }
        self.wraps_left.store(left - 1, Ordering::SeqCst);
        self.inner.wrap(master_key, key)
    }
    fn unwrap<'a>(
        &'a self,
        master_key: &'a MasterKey,
        key_id: Uuid,
        key_material: &'a [u8],
    ) -> BoxFuture<'a, encrypted::Result<DataKey>> {
        self.inner.unwrap(master_key, key_id, key_material)
    }
}

#[tokio::test]
async fn an_interrupted_rewrap_loses_nothing_and_a_rerun_completes_it() {
    let db = server::unique_db("interrupted");
    let old = || LocalKms::new(LocalMasterKey::from_bytes(&MASTER).unwrap());
    let new = || LocalKms::named("hsm", LocalMasterKey::from_bytes(&[0x77; 96]).unwrap()).unwrap();
    let setup = handle(&db, KmsProviders::new().with(old())).await;
    let mut secrets = Vec::new();
    for i in 0..5 {
        let id = setup.create_data_key(MasterKey::local()).await.unwrap();
        let value = Bson::Int32(i);
        let ciphertext = setup
            .encrypt(value.clone(), KeyRef::Id(id), Algorithm::Deterministic)
            .await
            .unwrap();
        secrets.push((ciphertext, value));
    }

    // The new KMS dies after two wraps.
    let failing = KmsProviders::new().with(old()).with(FailingAfter {
        inner: new(),
        wraps_left: AtomicUsize::new(2),
    });
    let interrupted = handle(&db, failing)
        .await
        .rewrap_many_data_key(doc! {}, Some(MasterKey::local_named("hsm")))
        .await;
    assert!(
        matches!(interrupted, Err(Error::Kms { .. })),
        "{interrupted:?}"
    );

    // Every key is whole: readable with its old or its new master key.
    let both = || KmsProviders::new().with(old()).with(new());
    let reader = handle(&db, both()).await;
    let keys: Vec<_> = reader
        .get_keys()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let moved = keys
        .iter()
        .filter(|k| k.master_key == MasterKey::local_named("hsm"))
        .count();
    assert_eq!(moved, 2);
    for (ciphertext, value) in &secrets {
        assert_eq!(&reader.decrypt(ciphertext).await.unwrap(), value);
    }

    // Rerunning completes the job; afterwards only the new master key is needed.
    let result = handle(&db, both())
        .await
        .rewrap_many_data_key(
            doc! { "masterKey.provider": "local" },
            Some(MasterKey::local_named("hsm")),
        )
        .await
        .unwrap();
    assert_eq!(result.rewrapped.len(), 3);
    let only_new = handle(&db, KmsProviders::new().with(new())).await;
    for (ciphertext, value) in &secrets {
        assert_eq!(&only_new.decrypt(ciphertext).await.unwrap(), value);
    }
    drop_db(&db).await;
}

/// `on_progress` reports the number of documents first, then each key as it is done:
/// rewrapped ones (from which provider to which), malformed documents by id, and the
/// key whose rewrap failed, last, before the error is returned; that key is intact
/// under its old master key.
#[tokio::test]
async fn rewrap_progress_reports_each_key_the_malformed_ones_and_where_it_failed() {
    let db = server::unique_db("progress");
    let old = || LocalKms::new(LocalMasterKey::from_bytes(&MASTER).unwrap());
    let new = || LocalKms::named("hsm", LocalMasterKey::from_bytes(&[0x77; 96]).unwrap()).unwrap();
    let setup = handle(&db, KmsProviders::new().with(old())).await;
    for _ in 0..3 {
        setup.create_data_key(MasterKey::local()).await.unwrap();
    }
    let malformed = Uuid::new();
    raw_vault(&db)
        .await
        .insert_one(doc! { "_id": malformed, "masterKey": { "provider": "local" } })
        .await
        .unwrap();

    // The new KMS dies after two wraps.
    let failing = KmsProviders::new().with(old()).with(FailingAfter {
        inner: new(),
        wraps_left: AtomicUsize::new(2),
    });
    let mut events = Vec::new();
    let interrupted = handle(&db, failing)
        .await
        .rewrap_many_data_key(doc! {}, Some(MasterKey::local_named("hsm")))
        .on_progress(|event| events.push(event))
        .await;
    assert!(
        matches!(interrupted, Err(Error::Kms { .. })),
        "{interrupted:?}"
    );
    assert!(
        matches!(
            events.first(),
            Some(RewrapProgress::Started { total: 4, .. })
        ),
        "{events:?}"
    );
    let Some(RewrapProgress::Failed { id: failed, .. }) = events.last() else {
        panic!("the last report is not the failure: {events:?}");
    };
    let mut rewrapped = 0;
    for event in &events[1..events.len() - 1] {
        match event {
            RewrapProgress::Rewrapped { from, to, .. } => {
                assert_eq!((from.as_str(), to.as_str()), ("local", "local:hsm"));
                rewrapped += 1;
            }
            RewrapProgress::Malformed(bad) => assert_eq!(bad.id, malformed.to_string()),
            other => panic!("unexpected report {other:?} in {events:?}"),
        }
    }
    assert_eq!(rewrapped, 2, "{events:?}");
    let key = setup.get_key(*failed).await.unwrap().unwrap();
    assert_eq!(key.master_key, MasterKey::local());
    drop_db(&db).await;
}

async fn encryption_only(db: &str, provider: LocalKms) -> ClientEncryption {
    handle(db, KmsProviders::new().with(provider)).await
}

#[tokio::test]
async fn an_unreachable_server_is_a_key_vault_error() {
    // A port nothing listens on, and a short server selection timeout.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let client = mongodb::Client::with_uri_str(format!(
        "mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=300&connectTimeoutMS=300"
    ))
    .await
    .unwrap();
    let encryption = ClientEncryption::builder(client, local(&MASTER)).build();
    let err = encryption
        .create_data_key(MasterKey::local())
        .key_alt_names(["x"])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::KeyVault { .. }), "{err}");
    let err = encryption
        .decrypt(
            &DataKey::generate(Uuid::new())
                .unwrap()
                .encrypt(&Bson::Int32(1), Algorithm::Random)
                .unwrap()
                .into_binary(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::KeyVault {
                operation: "getKey",
                ..
            }
        ),
        "{err}"
    );
}

/// The raw key vault collection of a test database.
async fn raw_vault(db: &str) -> mongodb::Collection<bson::Document> {
    server::client()
        .await
        .database(db)
        .collection::<bson::Document>("__keyVault")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_5_delete_key_racing_alt_name_loads_leaves_the_key_unusable() {
    let db = server::unique_db("deleterace");
    let unwraps = Arc::new(AtomicUsize::new(0));
    // A KMS that takes a moment, so that loads are in flight while the key is deleted.
    let kms = KmsProviders::new().with(CountingKms {
        inner: LocalKms::new(LocalMasterKey::from_bytes(&MASTER).unwrap()),
        unwraps: Arc::clone(&unwraps),
    });
    let encryption = handle(&db, kms).await;
    let mut usable_after_delete = Vec::new();
    for round in 0..40 {
        let name = format!("key-{round}");
        let id = encryption
            .create_data_key(MasterKey::local())
            .key_alt_names([name.clone()])
            .await
            .unwrap();
        let loads: Vec<_> = (0..8u64)
            .map(|i| {
                let (encryption, name) = (encryption.clone(), name.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_micros(300 * i)).await;
                    encryption
                        .encrypt(Bson::Int32(1), KeyRef::AltName(name), Algorithm::Random)
                        .await
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_micros(500 + 100 * (round % 10))).await;
        assert!(encryption.delete_key(id).await.unwrap());
        for load in loads {
            // Loads that overlapped the deletion may succeed or fail...
            let _ = load.await.unwrap();
        }
        // ...but once it has returned, the deleted key is unusable on this handle.
        let by_name = encryption
            .encrypt(Bson::Int32(1), KeyRef::AltName(name), Algorithm::Random)
            .await;
        let by_id = encryption
            .encrypt(Bson::Int32(1), KeyRef::Id(id), Algorithm::Random)
            .await;
        if !matches!(by_name, Err(Error::KeyNotFound { .. }))
            || !matches!(by_id, Err(Error::KeyNotFound { .. }))
        {
            usable_after_delete.push(round);
        }
    }
    assert!(
        usable_after_delete.is_empty(),
        "deleted key still usable in rounds {usable_after_delete:?}"
    );
    drop_db(&db).await;
}

#[tokio::test]
async fn finding_6_an_ambiguous_alt_name_is_refused_never_resolved() {
    let db = server::unique_db("ambiguous");
    let encryption = handle(&db, local(&MASTER)).await;
    // Two keys given the same name behind the library's back (no unique index here).
    let first = encryption
        .create_data_key(MasterKey::local())
        .await
        .unwrap();
    let second = encryption
        .create_data_key(MasterKey::local())
        .await
        .unwrap();
    let vault = raw_vault(&db).await;
    for id in [first, second] {
        vault
            .update_one(
                doc! { "_id": id },
                doc! { "$set": { "keyAltNames": ["shared"] } },
            )
            .await
            .unwrap();
    }
    let encrypted = encryption
        .encrypt(Bson::Int32(1), "shared".into(), Algorithm::Deterministic)
        .await;
    assert!(
        matches!(encrypted, Err(Error::AmbiguousKeyAltName { ref name, count: 2 }) if name == "shared"),
        "{encrypted:?}"
    );
    let message = encrypted.unwrap_err().to_string();
    assert!(
        message.contains("shared") && message.contains('2'),
        "{message}"
    );
    let found = encryption.get_key_by_alt_name("shared").await;
    assert!(
        matches!(found, Err(Error::AmbiguousKeyAltName { .. })),
        "{found:?}"
    );
    // Refused on every later attempt too: nothing was cached.
    let again = encryption
        .encrypt(Bson::Int32(1), "shared".into(), Algorithm::Random)
        .await;
    assert!(matches!(again, Err(Error::AmbiguousKeyAltName { .. })));
    // Values encrypted by id still decrypt (ciphertexts name their key by id).
    let by_id = encryption
        .encrypt(Bson::Int32(7), KeyRef::Id(first), Algorithm::Random)
        .await
        .unwrap();
    assert_eq!(encryption.decrypt(&by_id).await.unwrap(), Bson::Int32(7));
    drop_db(&db).await;
}

/// Runs 16 concurrent creations of a key named `name`, from `handles` (cycled).
async fn create_concurrently(handles: &[ClientEncryption], name: &str) -> Vec<Result<Uuid, Error>> {
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let encryption = handles[i % handles.len()].clone();
            let name = name.to_owned();
            tokio::spawn(async move {
                encryption
                    .create_data_key(MasterKey::local())
                    .key_alt_names([name])
                    .await
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

async fn keys_named(db: &str, name: &str) -> u64 {
    raw_vault(db)
        .await
        .count_documents(doc! { "keyAltNames": name })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_6_concurrent_creation_with_one_alt_name_makes_exactly_one_key() {
    // One handle, no index: serialised within the handle.
    let db = server::unique_db("createrace");
    let encryption = handle(&db, local(&MASTER)).await;
    let results = create_concurrently(std::slice::from_ref(&encryption), "one").await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| matches!(e, Error::DuplicateKeyAltName { name } if name == "one")),
        "{results:?}"
    );
    assert_eq!(keys_named(&db, "one").await, 1);

    // Sixteen handles (as sixteen processes) with the index: the server decides.
    let handles: Vec<_> =
        futures_util::future::join_all((0..16).map(|_| handle(&db, local(&MASTER)))).await;
    handles[0].create_key_alt_names_index().await.unwrap();
    let results = create_concurrently(&handles, "two").await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| matches!(e, Error::DuplicateKeyAltName { .. })),
        "{results:?}"
    );
    assert_eq!(keys_named(&db, "two").await, 1);
    drop_db(&db).await;

    // Sixteen handles and no index: never two keys with the name (the checks after
    // each write), though racing writers may all fail.
    let db = server::unique_db("createrace");
    let handles: Vec<_> =
        futures_util::future::join_all((0..16).map(|_| handle(&db, local(&MASTER)))).await;
    let results = create_concurrently(&handles, "three").await;
    let created = results.iter().filter(|r| r.is_ok()).count();
    assert!(created <= 1, "{results:?}");
    assert_eq!(keys_named(&db, "three").await, created as u64);
    drop_db(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_6_concurrent_add_key_alt_name_gives_the_name_to_one_key() {
    let db = server::unique_db("addrace");
    let encryption = handle(&db, local(&MASTER)).await;
    let mut ids = Vec::new();
    for _ in 0..16 {
        ids.push(
            encryption
                .create_data_key(MasterKey::local())
                .await
                .unwrap(),
        );
    }
    let tasks: Vec<_> = ids
        .iter()
        .map(|&id| {
            let encryption = encryption.clone();
            tokio::spawn(async move { encryption.add_key_alt_name(id, "shared").await })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        // The outcome only (the key documents are not needed here).
        results.push(task.await.unwrap().map(|_| ()));
    }
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| matches!(e, Error::DuplicateKeyAltName { .. })),
        "{results:?}"
    );
    assert_eq!(keys_named(&db, "shared").await, 1);
    encryption
        .encrypt(Bson::Int32(1), "shared".into(), Algorithm::Random)
        .await
        .unwrap();
    drop_db(&db).await;
}

#[tokio::test]
async fn finding_7_one_malformed_key_document_breaks_neither_listing_nor_delete_nor_rewrap() {
    let db = server::unique_db("malformed");
    let encryption = handle(&db, local(&MASTER)).await;
    let good = encryption
        .create_data_key(MasterKey::local())
        .await
        .unwrap();
    let vault = raw_vault(&db).await;
    // A key whose `status` another tool wrote as an int64: valid, as for libmongocrypt.
    let int64_status = encryption
        .create_data_key(MasterKey::local())
        .await
        .unwrap();
    vault
        .update_one(
            doc! { "_id": int64_status },
            doc! { "$set": { "status": Bson::Int64(0) } },
        )
        .await
        .unwrap();
    // Really malformed ones.
    let (no_material, bad_master_key) = (Uuid::new(), Uuid::new());
    let mut broken = raw_vault(&db)
        .await
        .find_one(doc! { "_id": good })
        .await
        .unwrap()
        .unwrap();
    broken.insert("_id", no_material);
    broken.remove("keyMaterial");
    vault.insert_one(broken.clone()).await.unwrap();
    broken.insert("_id", bad_master_key);
    broken.insert(
        "keyMaterial",
        bson::Binary {
            subtype: bson::spec::BinarySubtype::Generic,
            bytes: vec![0; 160],
        },
    );
    broken.insert("masterKey", doc! { "provider": 7 });
    vault.insert_one(broken).await.unwrap();

    // Listing: every document is an item, the bad ones errors naming their id.
    let items: Vec<_> =
        futures_util::StreamExt::collect::<Vec<_>>(encryption.get_keys().await.unwrap()).await;
    assert_eq!(items.len(), 4);
    let mut listed: Vec<Uuid> = items
        .iter()
        .filter_map(|i| i.as_ref().ok())
        .map(|k| k.id)
        .collect();
    listed.sort_by_key(|id| id.to_string());
    let mut expected = vec![good, int64_status];
    expected.sort_by_key(|id| id.to_string());
    assert_eq!(listed, expected);
    let mut bad: Vec<Uuid> = items
        .iter()
        .filter_map(|i| match i {
            Err(Error::MalformedKeyDocument {
                key_id: Some(id), ..
            }) => Some(*id),
            _ => None,
        })
        .collect();
    bad.sort_by_key(|id| id.to_string());
    let mut expected_bad = vec![no_material, bad_master_key];
    expected_bad.sort_by_key(|id| id.to_string());
    assert_eq!(bad, expected_bad);

    // Rewrap skips and reports the malformed documents, rewraps the others, and a
    // rerun does the same (no longer stopping at the first bad one).
    for _ in 0..2 {
        let result = encryption
            .rewrap_many_data_key(doc! {}, None)
            .await
            .unwrap();
        assert_eq!(result.rewrapped.len(), 2, "{result:?}");
        let mut skipped: Vec<&str> = result.malformed.iter().map(|m| m.id.as_str()).collect();
        skipped.sort_unstable();
        let mut expected: Vec<String> = expected_bad.iter().map(ToString::to_string).collect();
        expected.sort_unstable();
        assert_eq!(skipped, expected, "{result:?}");
        assert!(
            result
                .malformed
                .iter()
                .any(|m| m.problem.contains("keyMaterial")),
            "{result:?}"
        );
    }

    // Deleting works by id, without reading the document.
    assert!(encryption.delete_key(no_material).await.unwrap());
    assert!(encryption.delete_key(bad_master_key).await.unwrap());
    let all: Vec<_> = encryption
        .get_keys()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    drop_db(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_15_cold_cache_encryptions_by_alt_name_read_the_key_vault_once() {
    let db = server::unique_db("herd");
    let setup = handle(&db, local(&MASTER)).await;
    setup
        .create_data_key(MasterKey::local())
        .key_alt_names(["medco-key"])
        .await
        .unwrap();

    let unwraps = Arc::new(AtomicUsize::new(0));
    let kms = KmsProviders::new().with(CountingKms {
        inner: LocalKms::new(LocalMasterKey::from_bytes(&MASTER).unwrap()),
        unwraps: Arc::clone(&unwraps),
    });
    let (client, finds) = server::counting_client().await;
    let encryption = ClientEncryption::builder(client, kms)
        .key_vault_namespace(Namespace::new(db.as_str(), "__keyVault"))
        .build();
    let tasks: Vec<_> = (0..256)
        .map(|i| {
            let encryption = encryption.clone();
            tokio::spawn(async move {
                encryption
                    .encrypt(Bson::Int32(i), "medco-key".into(), Algorithm::Deterministic)
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(finds.load(Ordering::SeqCst), 1, "key vault reads");
    assert_eq!(unwraps.load(Ordering::SeqCst), 1, "KMS calls");
    drop_db(&db).await;
}

/// Under the unique index on `keyAltNames`, two keys that held `keyAltNames: []` at the
/// same moment collided: removing each key's last name concurrently failed for some.
#[tokio::test]
async fn finding_6_removing_last_alt_names_concurrently_never_leaves_empty_arrays() {
    let db = server::unique_db("lastnames");
    let encryption = handle(&db, local(&MASTER)).await;
    match encryption.create_key_alt_names_index().await {
        Ok(()) => {}
        Err(error) => panic!("the key vault index: {error}"),
    }
    let mut ids = Vec::new();
    for n in 0..16 {
        let id = encryption
            .create_data_key(MasterKey::local())
            .key_alt_names([format!("last-{n}")])
            .await
            .unwrap();
        ids.push(id);
    }
    let removals = ids.iter().enumerate().map(|(n, id)| {
        let encryption = encryption.clone();
        let id = *id;
        tokio::spawn(async move {
            encryption
                .remove_key_alt_name(id, &format!("last-{n}"))
                .await
        })
    });
    for (n, removal) in removals.collect::<Vec<_>>().into_iter().enumerate() {
        let before = removal.await.unwrap();
        match before {
            Ok(Some(before)) => assert_eq!(before.key_alt_names, [format!("last-{n}")]),
            other => panic!("removing the last name of key {n}: {other:?}"),
        }
    }
    let vault = server::client()
        .await
        .database(&db)
        .collection::<bson::Document>("__keyVault");
    assert_eq!(
        vault
            .count_documents(doc! { "keyAltNames": { "$exists": true } })
            .await
            .unwrap(),
        0,
        "every key lost its only name and the field with it"
    );
    drop_db(&db).await;
}
