//! The write side of the typed encrypted collection against a real server
//! (`MONGODB_URI`; `bash scripts/local-server run -- cargo test --test collection_writes`
//! starts a local FerretDB): every builder option of the inserts, updates, replacements,
//! deletes and find-and-modify actions, with encrypted and plaintext paths; upserts that
//! create encrypted documents; sessions and transactions, checked by command monitoring
//! (what the server receives), and on a replica set by running a real transaction; the
//! driver's error, labels and codes through ours.
//!
//! Options the local FerretDB does not implement (`collation`, `let`, `arrayFilters`, a
//! find-and-modify `projection`) are checked as far as a server can be: the command the
//! server receives carries them, and the server's own `NotImplemented` (code 238) comes
//! back through our error. On MongoDB the same tests check their effect.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::{Arc, Mutex};

use bson::spec::BinarySubtype;
use bson::{Bson, Document, doc};
use encrypted::kms::{KmsProviders, LocalKms};
use encrypted::model::{Filter, Projection, Sort, Update};
use encrypted::{
    ClientEncryption, Encrypted, EncryptedCollection, Error, LocalMasterKey, MasterKey, Namespace,
};
use mongodb::event::command::CommandEvent;
use mongodb::options::{
    Acknowledgment, ClientOptions, Collation, FindOneAndDeleteOptions, Hint, IndexOptions,
    ReturnDocument, UpdateOptions, WriteConcern,
};
use mongodb::{Client, IndexModel};
use serde::{Deserialize, Serialize};
use test_support::server;

const MASTER: [u8; 96] = [0x5A; 96];
/// The server's code for a duplicate key.
const DUPLICATE_KEY: i32 = 11000;
/// FerretDB's (and MongoDB's) code for a command option it does not implement.
const NOT_IMPLEMENTED: i32 = 238;

#[derive(Serialize, Deserialize, Encrypted, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
#[encrypted(key_alt_name = "ward-key")]
struct Patient {
    name: String,
    visits: i32,
    scores: Vec<i32>,
    #[encrypt(deterministic)]
    ssn: i32,
    #[encrypt(random)]
    blood_type: String,
    #[encrypt(random)]
    notes: Vec<String>,
}

fn patient(n: i32) -> Patient {
    Patient {
        name: format!("Patient {n:02}"),
        visits: n,
        scores: vec![10 * n, 60],
        ssn: 100_000_000 + n,
        blood_type: ["O+", "A-"][(n % 2) as usize].to_owned(),
        notes: vec![format!("note {n}")],
    }
}

/// The commands a client sent, as the server received them (command monitoring).
#[derive(Clone, Default)]
struct Commands(Arc<Mutex<Vec<(String, Document)>>>);

impl Commands {
    /// The commands named `name` sent since the last call, emptying the record.
    fn take(&self, name: &str) -> Vec<Document> {
        let mut all = self.0.lock().unwrap();
        let (named, rest): (Vec<_>, Vec<_>) = all.drain(..).partition(|(n, _)| n == name);
        *all = rest;
        named.into_iter().map(|(_, command)| command).collect()
    }

    fn clear(&self) {
        self.0.lock().unwrap().clear();
    }

    /// The one command named `name` sent since the last call.
    fn one(&self, name: &str) -> Document {
        let mut commands = self.take(name);
        assert_eq!(commands.len(), 1, "expected one `{name}`: {commands:?}");
        commands.pop().unwrap()
    }
}

async fn monitored_client() -> (Client, Commands) {
    let commands = Commands::default();
    let mut options = ClientOptions::parse(server::uri()).await.unwrap();
    let record = commands.clone();
    options.command_event_handler = Some(mongodb::event::EventHandler::callback(move |event| {
        if let CommandEvent::Started(started) = event {
            record
                .0
                .lock()
                .unwrap()
                .push((started.command_name.clone(), started.command.clone()));
        }
    }));
    (Client::with_options(options).unwrap(), commands)
}

struct Setup {
    client: Client,
    commands: Commands,
    db: mongodb::Database,
    name: String,
    encryption: ClientEncryption,
}

impl Setup {
    async fn new(purpose: &str) -> Self {
        let name = server::unique_db(purpose);
        let (client, commands) = monitored_client().await;
        let encryption = Self::encryption(&client, &name);
        encryption
            .create_data_key(MasterKey::local())
            .key_alt_names(["ward-key"])
            .await
            .unwrap();
        commands.clear();
        Self {
            db: client.database(&name),
            client,
            commands,
            name,
            encryption,
        }
    }

    fn encryption(client: &Client, name: &str) -> ClientEncryption {
        let kms =
            KmsProviders::new().with(LocalKms::new(LocalMasterKey::from_bytes(&MASTER).unwrap()));
        ClientEncryption::builder(client.clone(), kms)
            .key_vault_namespace(Namespace::new(name, "__keyVault"))
            .build()
    }

    fn patients(&self) -> EncryptedCollection<Patient> {
        EncryptedCollection::new(
            &self.db.collection::<Document>("patients"),
            &self.encryption,
        )
    }

    /// A handle whose key cache is empty: its first operation reads the key vault.
    fn fresh_patients(&self) -> EncryptedCollection<Patient> {
        EncryptedCollection::new(
            &self.db.collection::<Document>("patients"),
            &Self::encryption(&self.client, &self.name),
        )
    }

    /// What any driver sees.
    fn stored(&self) -> mongodb::Collection<Document> {
        self.db.collection("patients")
    }

    async fn stored_one(&self, filter: Document) -> Document {
        self.stored().find_one(filter).await.unwrap().unwrap()
    }

    async fn drop(self) {
        self.db.drop().await.unwrap();
    }
}

fn is_ciphertext(value: Option<&Bson>) -> bool {
    matches!(value, Some(Bson::Binary(binary)) if binary.subtype == BinarySubtype::Encrypted)
}

/// The path an error refuses (a sort, projection, hint or array filter on ciphertext).
fn refused_path(error: &Error) -> Option<(&str, &str)> {
    match error {
        Error::UnsupportedOperator { path, operator } => Some((path, operator)),
        Error::EncryptedPathRefused {
            path, operation, ..
        } => Some((path, operation)),
        _ => None,
    }
}

/// The write's body (`updates`, `deletes`) sent in `command`, its first statement.
fn statement<'c>(command: &'c Document, key: &str) -> &'c Document {
    command.get_array(key).unwrap()[0].as_document().unwrap()
}

/// Asserts that an option the server does not implement reached it: its refusal is the
/// server's `NotImplemented`, reachable through our error.
fn server_refused_as_not_implemented<T: std::fmt::Debug>(result: encrypted::Result<T>) {
    let error = result.expect_err("the local server does not implement this option");
    assert!(
        matches!(error, Error::Collection { .. }),
        "not the server's refusal: {error:?}"
    );
    assert_eq!(error.code(), Some(NOT_IMPLEMENTED), "{error:?}");
}

#[tokio::test]
async fn insert_options_reach_the_server_and_only_ciphertext_is_stored() {
    let setup = Setup::new("writes_insert").await;
    let patients = setup.patients();
    let w1 = WriteConcern::builder().w(Acknowledgment::Nodes(1)).build();
    patients
        .insert_one(patient(1))
        .bypass_document_validation(true)
        .write_concern(w1.clone())
        .comment("admission")
        .await
        .unwrap();
    let insert = setup.commands.one("insert");
    assert_eq!(insert.get_bool("bypassDocumentValidation").ok(), Some(true));
    assert_eq!(insert.get_str("comment").ok(), Some("admission"));
    assert_eq!(
        insert.get_document("writeConcern").ok(),
        Some(&doc! { "w": 1 })
    );
    let sent = statement(&insert, "documents");
    assert!(is_ciphertext(sent.get("ssn")) && is_ciphertext(sent.get("bloodType")));
    assert_eq!(sent.get_str("name").ok(), Some("Patient 01"));

    let result = patients
        .insert_many([patient(2), patient(3)])
        .ordered(false)
        .comment("ward round")
        .write_concern(w1)
        .await
        .unwrap();
    assert_eq!(result.inserted_ids.len(), 2);
    let insert = setup.commands.one("insert");
    assert_eq!(insert.get_bool("ordered").ok(), Some(false));
    assert_eq!(insert.get_str("comment").ok(), Some("ward round"));
    // Every document got its `_id` first, before being sent.
    for sent in insert.get_array("documents").unwrap() {
        let sent = sent.as_document().unwrap();
        assert_eq!(sent.keys().next().map(String::as_str), Some("_id"));
        assert!(is_ciphertext(sent.get("notes")));
    }
    // Owned or borrowed, as the driver takes them; with_options replaces every option.
    let ward = [patient(4)];
    patients
        .insert_many(&ward)
        .ordered(false)
        .with_options(None)
        .await
        .unwrap();
    assert!(
        setup
            .commands
            .one("insert")
            .get_bool("ordered")
            .unwrap_or(true)
    );
    let stored = setup.stored_one(doc! { "name": "Patient 03" }).await;
    assert!(is_ciphertext(stored.get("ssn")) && is_ciphertext(stored.get("notes")));
    assert_eq!(
        patients
            .find_one(Patient::fields().ssn().eq(100_000_003))
            .await
            .unwrap(),
        Some(patient(3))
    );
    setup.drop().await;
}

#[tokio::test]
async fn nothing_is_sent_when_one_model_cannot_be_encrypted() {
    let setup = Setup::new("writes_nothing_sent").await;
    let receptionist =
        EncryptedCollection::<Patient>::without_keys(&setup.db.collection::<Document>("patients"));
    let error = receptionist
        .insert_many([patient(1), patient(2)])
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NoKeyAccess), "{error:?}");
    assert!(setup.commands.take("insert").is_empty());
    assert_eq!(setup.stored().count_documents(doc! {}).await.unwrap(), 0);
    setup.drop().await;
}

#[tokio::test]
async fn a_duplicate_key_is_code_11000_through_our_error_and_partial_inserts_are_counted() {
    let setup = Setup::new("writes_duplicate").await;
    // Equal SSNs have equal deterministic ciphertexts: a unique index on them works.
    setup
        .stored()
        .create_index(
            IndexModel::builder()
                .keys(doc! { "ssn": 1 })
                .options(IndexOptions::builder().unique(true).build())
                .build(),
        )
        .await
        .unwrap();
    let patients = setup.patients();
    patients.insert_one(patient(1)).await.unwrap();

    let error = patients.insert_one(patient(1)).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Collection {
                operation: "insertOne",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.code(), Some(DUPLICATE_KEY));
    assert!(error.driver_error().is_some());
    assert!(!error.contains_label(mongodb::error::TRANSIENT_TRANSACTION_ERROR));

    // Ordered: the server stops at the duplicate; the one before it is stored.
    let error = patients
        .insert_many([patient(2), patient(1), patient(3)])
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::PartialInsert {
                inserted: Some(1),
                total: 3,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.code(), Some(DUPLICATE_KEY));
    // Unordered: it goes on after the duplicate.
    let error = patients
        .insert_many([patient(4), patient(1), patient(5)])
        .ordered(false)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::PartialInsert {
                inserted: Some(2),
                total: 3,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(patients.count_documents(Filter::all()).await.unwrap(), 4);
    setup.drop().await;
}

#[tokio::test]
async fn an_upsert_creates_an_encrypted_document() {
    let setup = Setup::new("writes_upsert").await;
    let patients = setup.patients();
    let filter = Patient::fields().ssn().eq(241014209);
    let encrypted_filter = patients
        .encrypt_filter(Patient::fields().ssn().eq(241014209))
        .await
        .unwrap();
    let result = patients
        .update_one(
            filter,
            Update::new()
                .set(Patient::fields().name(), "Jon Doe")
                .set(Patient::fields().blood_type(), "AB+")
                .set(Patient::fields().visits(), 1)
                .set(Patient::fields().scores(), vec![70])
                .set(Patient::fields().notes(), vec!["admitted".to_owned()]),
        )
        .upsert(true)
        .await
        .unwrap();
    assert_eq!(result.matched_count, 0);
    let id = result.upserted_id.expect("an upserted document");
    let update = setup.commands.one("update");
    assert_eq!(
        statement(&update, "updates").get_bool("upsert").ok(),
        Some(true)
    );

    // On the stored bytes: the filter's equality became the SSN's ciphertext, the very
    // one the filter carried; the `$set` of a random field is a ciphertext too.
    let stored = setup.stored_one(doc! { "_id": id }).await;
    assert!(is_ciphertext(stored.get("ssn")));
    assert_eq!(stored.get("ssn"), encrypted_filter.get("ssn"));
    assert!(is_ciphertext(stored.get("bloodType")) && is_ciphertext(stored.get("notes")));
    assert_eq!(stored.get_str("name").ok(), Some("Jon Doe"));
    let jon = patients
        .find_one(Patient::fields().ssn().eq(241014209))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (jon.name.as_str(), jon.blood_type.as_str()),
        ("Jon Doe", "AB+")
    );

    // A replacement upserted is encrypted as an insert is.
    let result = patients
        .replace_one(Patient::fields().ssn().eq(100_000_007), patient(7))
        .upsert(true)
        .await
        .unwrap();
    let stored = setup
        .stored_one(doc! { "_id": result.upserted_id.unwrap() })
        .await;
    assert!(is_ciphertext(stored.get("ssn")) && is_ciphertext(stored.get("bloodType")));
    assert_eq!(
        patients
            .find_one(Patient::fields().ssn().eq(100_000_007))
            .await
            .unwrap(),
        Some(patient(7))
    );
    setup.drop().await;
}

#[tokio::test]
async fn update_options_reach_the_server() {
    let setup = Setup::new("writes_update_options").await;
    let patients = setup.patients();
    patients.insert_many((1..=3).map(patient)).await.unwrap();
    setup.commands.clear();

    // What the local server implements: hint, comment, write concern,
    // bypassDocumentValidation; typed and raw updates.
    let result = patients
        .update_many(
            Patient::fields().visits().gte(2),
            Update::new().inc(Patient::fields().visits(), 10),
        )
        .hint(Hint::Keys(doc! { "_id": 1 }))
        .comment("round")
        .bypass_document_validation(true)
        .write_concern(WriteConcern::builder().w(Acknowledgment::Nodes(1)).build())
        .await
        .unwrap();
    assert_eq!(result.modified_count, 2);
    let update = setup.commands.one("update");
    let body = statement(&update, "updates");
    assert_eq!(body.get_bool("multi").ok(), Some(true));
    assert_eq!(body.get_document("hint").ok(), Some(&doc! { "_id": 1 }));
    assert_eq!(update.get_str("comment").ok(), Some("round"));
    assert_eq!(update.get_bool("bypassDocumentValidation").ok(), Some(true));

    let result = patients
        .update_one_raw(
            Patient::fields().ssn().eq(100_000_001),
            doc! { "$set": { "name": "Renamed" } },
        )
        .await
        .unwrap();
    assert_eq!(result.modified_count, 1);
    assert_ne!(
        statement(&setup.commands.one("update"), "updates")
            .get_bool("multi")
            .ok(),
        Some(true)
    );
    // The raw form is still checked: plaintext into an encrypted field is refused.
    let error = patients
        .update_one_raw(Filter::all(), doc! { "$set": { "ssn": 5 } })
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::UnencryptedField { path, .. } if path == "ssn"),
        "{error:?}"
    );

    // Collation and let variables reach the server (the local FerretDB does not implement
    // them: its refusal comes back; MongoDB applies them).
    let collated = patients
        .update_one(
            Patient::fields().name().eq("patient 02"),
            Update::new().set(Patient::fields().visits(), 0),
        )
        .collation(
            Collation::builder()
                .locale("en")
                .strength(mongodb::options::CollationStrength::Secondary)
                .build(),
        )
        .await;
    let update = setup.commands.one("update");
    assert!(
        statement(&update, "updates")
            .get_document("collation")
            .is_ok()
    );
    match collated {
        Ok(result) => assert_eq!(result.modified_count, 1),
        Err(_) => server_refused_as_not_implemented(collated),
    }
    let with_let = patients
        .update_many_raw(Filter::all(), doc! { "$set": { "visits": 1 } })
        .let_vars(doc! { "limit": 5 })
        .await;
    assert_eq!(
        setup.commands.one("update").get_document("let").ok(),
        Some(&doc! { "limit": 5 })
    );
    if with_let.is_err() {
        server_refused_as_not_implemented(with_let);
    }
    // with_options takes the driver's own struct.
    let options = UpdateOptions::builder()
        .upsert(false)
        .comment(Bson::from("via options"))
        .build();
    patients
        .update_one(
            Filter::all(),
            Update::new().set(Patient::fields().visits(), 3),
        )
        .with_options(options)
        .await
        .unwrap();
    assert_eq!(
        setup.commands.one("update").get_str("comment").ok(),
        Some("via options")
    );
    setup.drop().await;
}

#[tokio::test]
async fn array_filters_on_plaintext_arrays_are_sent_and_on_encrypted_ones_refused_by_name() {
    let setup = Setup::new("writes_array_filters").await;
    let patients = setup.patients();
    patients.insert_one(patient(1)).await.unwrap();
    setup.commands.clear();

    // `scores` is plaintext: raise the scores under 50.
    let raised = patients
        .update_one_raw(
            Patient::fields().ssn().eq(100_000_001),
            doc! { "$set": { "scores.$[low]": 50 } },
        )
        .array_filters([doc! { "low": { "$lt": 50 } }])
        .await;
    let update = setup.commands.one("update");
    assert_eq!(
        statement(&update, "updates").get_array("arrayFilters").ok(),
        Some(&vec![Bson::Document(doc! { "low": { "$lt": 50 } })])
    );
    match raised {
        Ok(_) => {
            let jon = patients.find_one(Filter::all()).await.unwrap().unwrap();
            assert_eq!(jon.scores, [50, 60]);
        }
        Err(_) => server_refused_as_not_implemented(raised),
    }

    // `notes` is encrypted: its elements are inside a ciphertext, refused before sending.
    let error = patients
        .update_one_raw(Filter::all(), doc! { "$unset": { "notes.$[n]": "" } })
        .array_filters([doc! { "n": "note 1" }])
        .await
        .unwrap_err();
    assert_eq!(
        refused_path(&error),
        Some(("notes", "arrayFilters")),
        "{error:?}"
    );
    // An identifier the update does not use could name anything: refused too.
    let error = patients
        .update_many(
            Filter::all(),
            Update::new().inc(Patient::fields().visits(), 1),
        )
        .array_filters([doc! { "ssn": 100_000_001 }])
        .await
        .unwrap_err();
    assert_eq!(
        refused_path(&error),
        Some(("ssn", "arrayFilters")),
        "{error:?}"
    );
    let error = patients
        .find_one_and_update_raw(Filter::all(), doc! { "$unset": { "notes.$[n]": "" } })
        .array_filters([doc! { "n": "note 1" }])
        .await
        .unwrap_err();
    assert_eq!(
        refused_path(&error),
        Some(("notes", "arrayFilters")),
        "{error:?}"
    );
    assert!(setup.commands.take("update").is_empty());
    assert!(setup.commands.take("findAndModify").is_empty());
    setup.drop().await;
}

#[tokio::test]
async fn find_one_and_update_returns_the_decrypted_model_before_or_after() {
    let setup = Setup::new("writes_find_one_and_update").await;
    let patients = setup.patients();
    patients.insert_many((1..=4).map(patient)).await.unwrap();
    setup.commands.clear();

    let before = patients
        .find_one_and_update(
            Patient::fields().ssn().eq(100_000_001),
            Update::new()
                .set(Patient::fields().blood_type(), "B+")
                .inc(Patient::fields().visits(), 1),
        )
        .comment("transfusion")
        .max_time(std::time::Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before, patient(1));
    let command = setup.commands.one("findAndModify");
    assert!(is_ciphertext(
        command.get_document("query").unwrap().get("ssn")
    ));
    assert!(is_ciphertext(
        command
            .get_document("update")
            .unwrap()
            .get_document("$set")
            .unwrap()
            .get("bloodType")
    ));
    let stored = setup.stored_one(doc! { "name": "Patient 01" }).await;
    assert!(is_ciphertext(stored.get("bloodType")));

    let after = patients
        .find_one_and_update(
            Patient::fields().ssn().eq(100_000_001),
            Update::new().set(Patient::fields().notes(), vec!["typed B+".to_owned()]),
        )
        .return_document(ReturnDocument::After)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.blood_type, "B+");
    assert_eq!(after.visits, 2);
    assert_eq!(after.notes, ["typed B+"]);

    // Sorted by a typed, plaintext path: the last by name is changed.
    setup.commands.clear();
    let last = patients
        .find_one_and_update(
            Filter::all(),
            Update::new().set(Patient::fields().visits(), 99),
        )
        .sort(Sort::new().descending(Patient::fields().name()))
        .return_document(ReturnDocument::After)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((last.name.as_str(), last.visits), ("Patient 04", 99));
    assert_eq!(
        setup
            .commands
            .one("findAndModify")
            .get_document("sort")
            .ok(),
        Some(&doc! { "name": -1 })
    );

    // Nothing matches: None; with upsert, the upserted model comes back decrypted and is
    // stored encrypted.
    let missing = patients
        .find_one_and_update(
            Patient::fields().ssn().eq(5),
            Update::new().set(Patient::fields().name(), "nobody"),
        )
        .await
        .unwrap();
    assert_eq!(missing, None);
    let upserted = patients
        .find_one_and_update(
            Patient::fields().ssn().eq(100_000_009),
            Update::new()
                .set(Patient::fields().name(), "Patient 09")
                .set(Patient::fields().visits(), 9)
                .set(Patient::fields().scores(), vec![90, 60])
                .set(Patient::fields().blood_type(), "A-")
                .set(Patient::fields().notes(), vec!["note 9".to_owned()]),
        )
        .upsert(true)
        .return_document(ReturnDocument::After)
        .hint(Hint::Keys(doc! { "_id": 1 }))
        .await
        .unwrap();
    assert_eq!(upserted, Some(patient(9)));
    let stored = setup.stored_one(doc! { "name": "Patient 09" }).await;
    assert!(is_ciphertext(stored.get("ssn")) && is_ciphertext(stored.get("bloodType")));

    // Into a type of the user's, its encrypted fields decrypted by the model's paths.
    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct Chart {
        name: String,
        blood_type: String,
    }
    let chart = patients
        .find_one_and_update(
            Patient::fields().ssn().eq(100_000_002),
            Update::new().inc(Patient::fields().visits(), 1),
        )
        .into_type::<Chart>()
        .await
        .unwrap();
    assert_eq!(
        chart,
        Some(Chart {
            name: "Patient 02".to_owned(),
            blood_type: "O+".to_owned()
        })
    );
    setup.drop().await;
}

#[tokio::test]
async fn find_one_and_replace_and_find_one_and_delete_return_decrypted_models() {
    let setup = Setup::new("writes_find_one_and_replace").await;
    let patients = setup.patients();
    patients.insert_many((1..=3).map(patient)).await.unwrap();

    let mut renamed = patient(2);
    renamed.name = "Patient 02 (married)".to_owned();
    renamed.blood_type = "AB-".to_owned();
    let before = patients
        .find_one_and_replace(Patient::fields().ssn().eq(100_000_002), &renamed)
        .comment("marriage")
        .await
        .unwrap();
    assert_eq!(before, Some(patient(2)));
    let after = patients
        .find_one_and_replace(Patient::fields().ssn().eq(100_000_002), renamed.clone())
        .return_document(ReturnDocument::After)
        .await
        .unwrap();
    assert_eq!(after, Some(renamed));
    let stored = setup
        .stored_one(doc! { "name": "Patient 02 (married)" })
        .await;
    assert!(is_ciphertext(stored.get("bloodType")));
    // Upserted when nothing matches.
    let upserted = patients
        .find_one_and_replace(Patient::fields().ssn().eq(100_000_008), patient(8))
        .upsert(true)
        .return_document(ReturnDocument::After)
        .await
        .unwrap();
    assert_eq!(upserted, Some(patient(8)));

    // Delete the first by name, and get it back decrypted.
    let first = patients
        .find_one_and_delete(Filter::all())
        .sort(Patient::fields().name().ascending())
        .await
        .unwrap();
    assert_eq!(first, Some(patient(1)));
    assert_eq!(
        patients
            .count_documents(Patient::fields().ssn().eq(100_000_001))
            .await
            .unwrap(),
        0
    );
    // A handle without keys gets the view: encrypted fields sealed, the rest readable.
    let receptionist =
        EncryptedCollection::<Patient>::without_keys(&setup.db.collection::<Document>("patients"));
    let view = receptionist
        .find_one_and_delete(Patient::fields().name().eq("Patient 03"))
        .into_view()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.name, "Patient 03");
    assert!(view.blood_type.is_sealed());
    assert_eq!(
        receptionist.count_documents(Filter::all()).await.unwrap(),
        2
    );
    setup.drop().await;
}

#[tokio::test]
async fn a_find_and_modify_projection_reaches_the_server_keeping_encrypted_fields_whole() {
    let setup = Setup::new("writes_projection").await;
    let patients = setup.patients();
    patients.insert_one(patient(1)).await.unwrap();
    setup.commands.clear();
    #[derive(Deserialize, Debug, PartialEq)]
    struct Ssn {
        ssn: i32,
    }
    let found = patients
        .find_one_and_update(
            Filter::all(),
            Update::new().inc(Patient::fields().visits(), 1),
        )
        .projection(Projection::new().include(Patient::fields().ssn()))
        .into_type::<Ssn>()
        .await;
    let command = setup.commands.one("findAndModify");
    assert_eq!(
        command.get_document("fields").ok(),
        Some(&doc! { "ssn": 1 })
    );
    match found {
        Ok(found) => assert_eq!(found, Some(Ssn { ssn: 100_000_001 })),
        // The local FerretDB does not implement `fields`.
        Err(_) => server_refused_as_not_implemented(found),
    }
    setup.drop().await;
}

#[tokio::test]
async fn sorts_projections_and_hints_on_encrypted_paths_are_refused_by_name_before_sending() {
    let setup = Setup::new("writes_refusals").await;
    let patients = setup.patients();
    patients.insert_one(patient(1)).await.unwrap();
    setup.commands.clear();
    let set_visits = || Update::new().set(Patient::fields().visits(), 1);

    let error = patients
        .find_one_and_update(Filter::all(), set_visits())
        .sort(doc! { "ssn": 1 })
        .await
        .unwrap_err();
    assert_eq!(
        refused_path(&error).map(|(path, _)| path),
        Some("ssn"),
        "{error:?}"
    );
    let error = patients
        .find_one_and_delete(Filter::all())
        .with_options(
            FindOneAndDeleteOptions::builder()
                .sort(doc! { "bloodType": -1 })
                .build(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        refused_path(&error).map(|(path, _)| path),
        Some("bloodType"),
        "{error:?}"
    );
    let error = patients
        .find_one_and_replace(Filter::all(), patient(2))
        .projection(doc! { "notes": { "$slice": 1 } })
        .await
        .unwrap_err();
    assert_eq!(
        refused_path(&error).map(|(path, _)| path),
        Some("notes"),
        "{error:?}"
    );
    let error = patients
        .update_one(Filter::all(), set_visits())
        .sort(doc! { "name": 1, "ssn": -1 })
        .await
        .unwrap_err();
    assert_eq!(
        refused_path(&error).map(|(path, _)| path),
        Some("ssn"),
        "{error:?}"
    );
    let error = patients
        .replace_one(Filter::all(), patient(2))
        .sort(doc! { "bloodType": 1 })
        .await
        .unwrap_err();
    assert_eq!(
        refused_path(&error).map(|(path, _)| path),
        Some("bloodType"),
        "{error:?}"
    );
    let error = patients
        .delete_one(Filter::all())
        .hint(Hint::Keys(doc! { "notes": "text" }))
        .await
        .unwrap_err();
    assert_eq!(
        refused_path(&error).map(|(path, _)| path),
        Some("notes"),
        "{error:?}"
    );
    for command in ["update", "delete", "findAndModify"] {
        assert!(
            setup.commands.take(command).is_empty(),
            "{command} was sent"
        );
    }
    // An ordinary index hint on an encrypted field is fine (equality on ciphertexts).
    patients
        .delete_many(Patient::fields().ssn().eq(5))
        .hint(Hint::Keys(doc! { "_id": 1 }))
        .comment("nothing")
        .await
        .unwrap();
    let delete = setup.commands.one("delete");
    assert_eq!(statement(&delete, "deletes").get_i32("limit").ok(), Some(0));
    setup.drop().await;
}

#[tokio::test]
async fn encrypt_update_gives_the_document_any_driver_call_can_send() {
    let setup = Setup::new("writes_encrypt_update").await;
    let patients = setup.patients();
    patients.insert_one(patient(1)).await.unwrap();
    let filter = patients
        .encrypt_filter(Patient::fields().ssn().eq(100_000_001))
        .await
        .unwrap();
    let update = patients
        .encrypt_update(
            Update::new()
                .set(Patient::fields().blood_type(), "B-")
                .inc(Patient::fields().visits(), 2),
        )
        .await
        .unwrap();
    assert!(is_ciphertext(
        update.get_document("$set").unwrap().get("bloodType")
    ));
    assert_eq!(
        update.get_document("$inc").ok(),
        Some(&doc! { "visits": 2 })
    );
    let result = patients.plain().update_one(filter, update).await.unwrap();
    assert_eq!(result.modified_count, 1);
    let jon = patients.find_one(Filter::all()).await.unwrap().unwrap();
    assert_eq!((jon.blood_type.as_str(), jon.visits), ("B-", 3));
    setup.drop().await;
}

#[tokio::test]
async fn every_write_runs_in_the_users_session_and_the_key_vault_reads_do_not() {
    let setup = Setup::new("writes_session").await;
    let mut session = setup.client.start_session().await.unwrap();
    let lsid = session.id().clone();

    // A fresh key cache: the first write must read the key vault, in the middle of it.
    let patients = setup.fresh_patients();
    setup.commands.clear();
    patients
        .insert_one(patient(1))
        .session(&mut session)
        .await
        .unwrap();
    patients
        .insert_many([patient(2), patient(3)])
        .session(&mut session)
        .await
        .unwrap();
    patients
        .update_one(
            Patient::fields().ssn().eq(100_000_001),
            Update::new().set(Patient::fields().blood_type(), "B+"),
        )
        .session(&mut session)
        .await
        .unwrap();
    patients
        .update_many_raw(Filter::all(), doc! { "$inc": { "visits": 1 } })
        .session(&mut session)
        .await
        .unwrap();
    patients
        .replace_one(Patient::fields().ssn().eq(100_000_002), patient(2))
        .session(&mut session)
        .await
        .unwrap();
    let before = patients
        .find_one_and_update(
            Patient::fields().ssn().eq(100_000_003),
            Update::new().set(Patient::fields().name(), "Three"),
        )
        .session(&mut session)
        .await
        .unwrap();
    assert_eq!(before.map(|p| p.name), Some("Patient 03".to_owned()));
    patients
        .find_one_and_replace(Patient::fields().ssn().eq(100_000_003), patient(3))
        .session(&mut session)
        .await
        .unwrap();
    patients
        .find_one_and_delete(Patient::fields().ssn().eq(100_000_003))
        .session(&mut session)
        .await
        .unwrap();
    patients
        .delete_one(Patient::fields().ssn().eq(100_000_002))
        .session(&mut session)
        .await
        .unwrap();
    patients
        .delete_many(Patient::fields().ssn().eq(100_000_001))
        .session(&mut session)
        .await
        .unwrap();

    let writes: Vec<Document> = ["insert", "update", "findAndModify", "delete"]
        .into_iter()
        .flat_map(|name| setup.commands.take(name))
        .collect();
    assert_eq!(writes.len(), 10, "{writes:?}");
    for write in &writes {
        assert_eq!(
            write.get_document("lsid").ok(),
            Some(&lsid),
            "not in the session: {write}"
        );
    }
    // The key vault was read (the cache was empty), never in the user's session.
    let key_reads: Vec<Document> = setup
        .commands
        .take("find")
        .into_iter()
        .filter(|find| find.get_str("find").ok() == Some("__keyVault"))
        .collect();
    assert!(!key_reads.is_empty(), "the key vault was not read");
    for read in &key_reads {
        assert_ne!(read.get_document("lsid").ok(), Some(&lsid), "{read}");
        for field in ["txnNumber", "startTransaction", "autocommit"] {
            assert!(
                !read.contains_key(field),
                "{field} in a key vault read: {read}"
            );
        }
    }
    assert_eq!(setup.stored().count_documents(doc! {}).await.unwrap(), 0);

    // In a transaction, the user's writes carry its number and `autocommit: false` (the
    // first one `startTransaction`); the key vault reads carry none of it. (The driver
    // starts a transaction here whatever the server; a server without transactions,
    // FerretDB, ignores the fields: what it stores is not checked here, see
    // a_transaction_commits_or_aborts_its_encrypted_writes_on_a_replica_set.)
    let patients = setup.fresh_patients();
    setup.commands.clear();
    session.start_transaction().await.unwrap();
    let inserted = patients.insert_one(patient(4)).session(&mut session).await;
    let updated = patients
        .update_one(
            Patient::fields().ssn().eq(100_000_004),
            Update::new().inc(Patient::fields().visits(), 1),
        )
        .session(&mut session)
        .await;
    // FerretDB refuses the transaction's fields ("unknown field"): its refusal comes back
    // as the server's, with its code; a replica set accepts them.
    for result in [inserted.map(drop), updated.map(drop)] {
        if let Err(error) = result {
            assert!(matches!(error, Error::Collection { .. }), "{error:?}");
            assert!(error.code().is_some(), "{error:?}");
        }
    }
    let insert = setup.commands.one("insert");
    let update = setup.commands.one("update");
    assert_eq!(insert.get_bool("startTransaction").ok(), Some(true));
    for write in [&insert, &update] {
        assert_eq!(write.get_document("lsid").ok(), Some(&lsid), "{write}");
        assert_eq!(write.get_bool("autocommit").ok(), Some(false), "{write}");
        assert!(write.get("txnNumber").is_some(), "{write}");
        assert_eq!(write.get("txnNumber"), insert.get("txnNumber"));
    }
    let key_reads = setup.commands.take("find");
    assert!(!key_reads.is_empty(), "the key vault was not read");
    for read in &key_reads {
        assert_ne!(read.get_document("lsid").ok(), Some(&lsid), "{read}");
        for field in ["txnNumber", "startTransaction", "autocommit"] {
            assert!(
                !read.contains_key(field),
                "{field} in a key vault read: {read}"
            );
        }
    }
    // Whatever the server made of it, the session ends its transaction.
    let _ = session.abort_transaction().await;
    setup.drop().await;
}

/// The replica set's name, if the server is a member of one.
async fn replica_set(client: &Client) -> Option<String> {
    let hello = client
        .database("admin")
        .run_command(doc! { "hello": 1 })
        .await
        .unwrap();
    hello.get_str("setName").ok().map(str::to_owned)
}

#[tokio::test]
async fn a_transaction_commits_or_aborts_its_encrypted_writes_on_a_replica_set() {
    let setup = Setup::new("writes_transaction").await;
    let mut session = setup.client.start_session().await.unwrap();
    let Some(set_name) = replica_set(&setup.client).await else {
        let server = if server::is_ferretdb().await {
            "FerretDB"
        } else {
            "the server in MONGODB_URI"
        };
        println!(
            "{server} is not a replica set: transaction path not exercised; lsid/txnNumber plumbing \
             checked by monitoring instead (every_write_runs_in_the_users_session_and_the_key_vault_reads_do_not)"
        );
        setup.drop().await;
        return;
    };
    // The collection exists before the transaction (older servers cannot create one in it).
    setup.db.create_collection("patients").await.unwrap();
    let patients = setup.fresh_patients();
    let lsid = session.id().clone();
    setup.commands.clear();

    session.start_transaction().await.unwrap();
    patients
        .insert_one(patient(1))
        .session(&mut session)
        .await
        .unwrap();
    patients
        .update_one(
            Patient::fields().ssn().eq(100_000_001),
            Update::new().set(Patient::fields().blood_type(), "B+"),
        )
        .session(&mut session)
        .await
        .unwrap();
    session.commit_transaction().await.unwrap();
    let insert = setup.commands.one("insert");
    let update = setup.commands.one("update");
    assert_eq!(insert.get_bool("startTransaction").ok(), Some(true));
    for write in [&insert, &update] {
        assert_eq!(write.get_document("lsid").ok(), Some(&lsid));
        assert_eq!(write.get_bool("autocommit").ok(), Some(false));
        assert_eq!(write.get("txnNumber"), insert.get("txnNumber"));
    }
    for read in setup.commands.take("find") {
        for field in ["txnNumber", "startTransaction", "autocommit"] {
            assert!(
                !read.contains_key(field),
                "{field} in a key vault read: {read}"
            );
        }
    }
    let committed = patients.find_one(Filter::all()).await.unwrap().unwrap();
    assert_eq!(committed.blood_type, "B+");
    assert!(is_ciphertext(
        setup.stored_one(doc! {}).await.get("bloodType")
    ));

    session.start_transaction().await.unwrap();
    patients
        .insert_one(patient(2))
        .session(&mut session)
        .await
        .unwrap();
    session.abort_transaction().await.unwrap();
    assert_eq!(
        patients
            .count_documents(Patient::fields().ssn().eq(100_000_002))
            .await
            .unwrap(),
        0
    );
    println!("transaction path exercised on replica set `{set_name}`: commit and abort");
    setup.drop().await;
}
