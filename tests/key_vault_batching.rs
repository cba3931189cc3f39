//! Key vault access against a real server (`MONGODB_URI`; `scripts/local-server run`
//! starts a local FerretDB), observed through the driver's command monitoring: every key
//! vault read carries read concern majority and every write write concern majority (the
//! Client Side Encryption spec, "Key Vault collection"); the keys an operation needs are
//! loaded with one `find` however many they are, and their KMS unwraps run concurrently,
//! at most eight at a time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use test_support::server;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bson::{Bson, Document, Uuid, doc};
use encrypted::kms::{BoxFuture, KmsProvider, KmsProviders, LocalKms};
use encrypted::model::Filter;
use encrypted::{
    Algorithm, ClientEncryption, DataKey, Encrypted, EncryptedCollection, Error, KeyRef,
    LocalMasterKey, MasterKey, Namespace,
};
use futures_util::TryStreamExt;
use mongodb::event::command::CommandEvent;
use mongodb::options::ClientOptions;
use serde::{Deserialize, Serialize};

const MASTER: [u8; 96] = [0x17; 96];
const KEY_VAULT: &str = "__keyVault";

/// The commands a client sent to one database's key vault collection: name and body.
#[derive(Clone, Default)]
struct Sent(Arc<Mutex<Vec<(String, Document)>>>);

impl Sent {
    fn take(&self) -> Vec<(String, Document)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    fn count(&self, name: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(sent, _)| sent == name)
            .count()
    }
}

/// A client recording every command it sends to `db`'s key vault collection.
async fn monitored_client(db: &str) -> (mongodb::Client, Sent) {
    let sent = Sent::default();
    let mut options = ClientOptions::parse(server::uri()).await.unwrap();
    let (record, db) = (sent.clone(), db.to_owned());
    options.command_event_handler = Some(mongodb::event::EventHandler::callback(move |event| {
        if let CommandEvent::Started(started) = event
            && started.db == db
            && (started.command.get_str(&started.command_name).ok() == Some(KEY_VAULT)
                || started.command.get_str("collection").ok() == Some(KEY_VAULT))
        {
            record
                .0
                .lock()
                .unwrap()
                .push((started.command_name.clone(), started.command.clone()));
        }
    }));
    (mongodb::Client::with_options(options).unwrap(), sent)
}

fn handle(client: mongodb::Client, db: &str, kms: KmsProviders) -> ClientEncryption {
    ClientEncryption::builder(client, kms)
        .key_vault_namespace(Namespace::new(db, KEY_VAULT))
        .build()
}

fn local() -> LocalKms {
    LocalKms::new(LocalMasterKey::from_bytes(&MASTER).unwrap())
}

async fn drop_db(db: &str) {
    server::client().await.database(db).drop().await.unwrap();
}

const READS: [&str; 4] = ["find", "aggregate", "count", "distinct"];
const WRITES: [&str; 5] = [
    "insert",
    "update",
    "delete",
    "findAndModify",
    "createIndexes",
];

#[tokio::test]
async fn every_key_vault_read_is_majority_read_concern_and_every_write_majority_write_concern() {
    let db = server::unique_db("vault_concerns");
    let (client, sent) = monitored_client(&db).await;
    let encryption = handle(client, &db, KmsProviders::new().with(local()));

    // Every key management function and both encryption directions.
    let _ = encryption.create_key_alt_names_index().await;
    let id = encryption
        .create_data_key(MasterKey::local())
        .key_alt_names(["concerns"])
        .await
        .unwrap();
    encryption.get_key(id).await.unwrap().unwrap();
    encryption.get_key_by_alt_name("concerns").await.unwrap();
    let _: Vec<_> = encryption
        .get_keys()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    encryption.add_key_alt_name(id, "second").await.unwrap();
    encryption.remove_key_alt_name(id, "second").await.unwrap();
    let secret = encryption
        .encrypt(
            Bson::from("x"),
            KeyRef::AltName("concerns".into()),
            Algorithm::Random,
        )
        .await
        .unwrap();
    let other = handle(
        monitored_client(&db).await.0,
        &db,
        KmsProviders::new().with(local()),
    );
    other.decrypt(&secret).await.unwrap();
    encryption.data_keys([KeyRef::Id(id)]).await.unwrap();
    encryption
        .rewrap_many_data_key(doc! {}, Some(MasterKey::local()))
        .await
        .unwrap();
    assert!(encryption.delete_key(id).await.unwrap());

    let sent = sent.take();
    let names: HashSet<&str> = sent.iter().map(|(name, _)| name.as_str()).collect();
    for expected in [
        "find",
        "aggregate",
        "insert",
        "update",
        "delete",
        "findAndModify",
    ] {
        assert!(
            names.contains(expected),
            "no `{expected}` was sent: {names:?}"
        );
    }
    for (name, command) in &sent {
        if READS.contains(&name.as_str()) {
            assert_eq!(
                command.get_document("readConcern").ok(),
                Some(&doc! { "level": "majority" }),
                "{name}: {command}"
            );
        } else if WRITES.contains(&name.as_str()) {
            assert_eq!(
                command
                    .get_document("writeConcern")
                    .ok()
                    .and_then(|concern| concern.get("w")),
                Some(&Bson::from("majority")),
                "{name}: {command}"
            );
        } else {
            panic!("an unexpected key vault command `{name}`: {command}");
        }
    }
    drop_db(&db).await;
}

/// A KMS provider that records how many unwraps run at once (the local provider inside,
/// each unwrap made slow enough to overlap).
#[derive(Debug)]
struct InFlight {
    inner: LocalKms,
    now: AtomicUsize,
    max: Arc<AtomicUsize>,
    unwraps: Arc<AtomicUsize>,
}

impl InFlight {
    fn new() -> (Self, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let (max, unwraps) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let kms = Self {
            inner: local(),
            now: AtomicUsize::new(0),
            max: Arc::clone(&max),
            unwraps: Arc::clone(&unwraps),
        };
        (kms, max, unwraps)
    }
}

impl KmsProvider for InFlight {
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
        Box::pin(async move {
            self.unwraps.fetch_add(1, Ordering::SeqCst);
            let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.max.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(30)).await;
            self.now.fetch_sub(1, Ordering::SeqCst);
            self.inner.unwrap(master_key, key_id, key_material).await
        })
    }
}

async fn create_keys(db: &str, names: &[String]) -> Vec<Uuid> {
    let setup = handle(
        server::client().await,
        db,
        KmsProviders::new().with(local()),
    );
    let mut ids = Vec::new();
    for name in names {
        ids.push(
            setup
                .create_data_key(MasterKey::local())
                .key_alt_names([name.as_str()])
                .await
                .unwrap(),
        );
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n_uncached_keys_cost_one_key_vault_find_and_at_most_eight_unwraps_at_once() {
    let db = server::unique_db("vault_batch");
    let names: Vec<String> = (0..40).map(|n| format!("batch-{n}")).collect();
    let ids = create_keys(&db, &names).await;

    let (client, sent) = monitored_client(&db).await;
    let (kms, max, unwraps) = InFlight::new();
    let encryption = handle(client, &db, KmsProviders::new().with(kms));
    // Half by id, half by name, and one key both ways.
    let refs: Vec<KeyRef> = ids[..20]
        .iter()
        .map(|id| KeyRef::Id(*id))
        .chain(names[19..].iter().map(|name| KeyRef::AltName(name.clone())))
        .collect();
    let keys = encryption.data_keys(refs).await.unwrap();
    let _ = keys;
    assert_eq!(sent.count("find"), 1, "key vault finds for 40 keys");
    assert_eq!(
        sent.count("getMore") + sent.count("killCursors"),
        0,
        "one round trip"
    );
    assert_eq!(unwraps.load(Ordering::SeqCst), 40, "one unwrap per key");
    assert_eq!(max.load(Ordering::SeqCst), 8, "unwraps in flight at most");

    // All cached: nothing more is read or unwrapped.
    encryption
        .data_keys(ids.iter().map(|id| KeyRef::Id(*id)))
        .await
        .unwrap();
    assert_eq!(sent.count("find"), 1);
    assert_eq!(unwraps.load(Ordering::SeqCst), 40);
    drop_db(&db).await;
}

#[tokio::test]
async fn a_batch_names_the_key_it_cannot_find_and_refuses_an_ambiguous_name() {
    let db = server::unique_db("vault_batch_errors");
    let ids = create_keys(&db, &["present".to_owned()]).await;
    let encryption = handle(
        server::client().await,
        &db,
        KmsProviders::new().with(local()),
    );

    let missing = Uuid::new();
    match encryption
        .data_keys([KeyRef::Id(ids[0]), KeyRef::Id(missing)])
        .await
    {
        Err(Error::KeyNotFound { key }) => assert_eq!(key, missing.to_string()),
        other => panic!("expected KeyNotFound, got {other:?}"),
    }
    match encryption
        .data_keys([KeyRef::AltName("absent".into())])
        .await
    {
        Err(Error::KeyNotFound { key }) => assert_eq!(key, "alt name `absent`"),
        other => panic!("expected KeyNotFound, got {other:?}"),
    }
    // A second key with the same name, written behind the library's back.
    let mut copy = server::client()
        .await
        .database(&db)
        .collection::<Document>(KEY_VAULT)
        .find_one(doc! { "_id": ids[0] })
        .await
        .unwrap()
        .unwrap();
    copy.insert("_id", Uuid::new());
    server::client()
        .await
        .database(&db)
        .collection::<Document>(KEY_VAULT)
        .insert_one(copy)
        .await
        .unwrap();
    match encryption
        .data_keys([KeyRef::AltName("present".into())])
        .await
    {
        Err(Error::AmbiguousKeyAltName { name, count }) => {
            assert_eq!((name.as_str(), count), ("present", 2));
        }
        other => panic!("expected AmbiguousKeyAltName, got {other:?}"),
    }
    drop_db(&db).await;
}

#[derive(Serialize, Deserialize, Encrypted, Debug, Clone, PartialEq)]
struct Note {
    owner: String,
    #[encrypt(random, key_alt_name_field = "owner")]
    body: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collection_loads_the_per_document_keys_of_an_insert_many_with_one_find() {
    let db = server::unique_db("vault_batch_coll");
    let owners: Vec<String> = (0..30).map(|n| format!("owner-{n}")).collect();
    create_keys(&db, &owners).await;
    let notes: Vec<Note> = owners
        .iter()
        .map(|owner| Note {
            owner: owner.clone(),
            body: format!("{owner}'s note"),
        })
        .collect();

    let (client, sent) = monitored_client(&db).await;
    let (kms, max, unwraps) = InFlight::new();
    let encryption = handle(client.clone(), &db, KmsProviders::new().with(kms));
    let collection = EncryptedCollection::<Note>::new(
        &client.database(&db).collection::<Document>("notes"),
        &encryption,
    );
    collection.insert_many(notes.clone()).await.unwrap();
    assert_eq!(sent.count("find"), 1, "key vault finds for insert_many");
    assert_eq!(unwraps.load(Ordering::SeqCst), 30);
    assert!(max.load(Ordering::SeqCst) > 1, "unwraps ran concurrently");

    // A reader with a cold cache: one find for the ciphertexts' keys.
    let (client, sent) = monitored_client(&db).await;
    let (kms, _, unwraps) = InFlight::new();
    let reader = handle(client.clone(), &db, KmsProviders::new().with(kms));
    let collection = EncryptedCollection::<Note>::new(
        &client.database(&db).collection::<Document>("notes"),
        &reader,
    );
    let mut read: Vec<Note> = collection
        .find(Filter::all())
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    read.sort_by(|a, b| a.owner.cmp(&b.owner));
    let mut expected = notes;
    expected.sort_by(|a, b| a.owner.cmp(&b.owner));
    assert_eq!(read, expected);
    // Each key is read and unwrapped once. (`find` decodes document by document here;
    // once it decodes whole cursor batches, through the same batched loading, this is
    // one find per cursor batch.)
    assert!(sent.count("find") <= 30, "key vault finds for find");
    assert_eq!(unwraps.load(Ordering::SeqCst), 30);
    drop_db(&db).await;
}
