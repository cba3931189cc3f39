//! The read side of `EncryptedCollection` against a real server (`MONGODB_URI`; a local
//! FerretDB with `bash scripts/local-server run -- cargo test --test collection_reads`):
//! every option of the read builders on encrypted and plaintext paths (what the server
//! receives, by command monitoring), pagination, batch decryption, projections into user
//! types, aggregation, sessions, `'static` cursors, and change events.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

#[path = "common/medco.rs"]
mod medco;

use std::collections::{BTreeSet, HashMap};
use std::future::IntoFuture;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bson::spec::BinarySubtype;
use bson::{Bson, Document, RawDocumentBuf, doc};
use encrypted::kms::{KmsProviders, LocalKms};
use encrypted::model::{Filter, Pipeline, Projection, Sort};
use encrypted::{
    ClientEncryption, Encrypted, EncryptedCollection, EncryptedCursor, Error, LocalMasterKey,
    MasterKey, Namespace,
};
use futures_util::{StreamExt, TryStreamExt};
use medco::{Insurance, Patient, PatientView, jon_doe, patient};
use mongodb::event::command::CommandEvent;
use mongodb::options::{ClientOptions, FindOptions, Hint};
use serde::{Deserialize, Serialize};
use test_support::server;

const MASTER: [u8; 96] = [0x31; 96];

/// The commands a client sent: name and body.
#[derive(Clone, Default)]
struct Sent(Arc<Mutex<Vec<(String, Document)>>>);

impl Sent {
    fn take(&self) -> Vec<(String, Document)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// The commands named `name` sent to collection `collection`.
    fn named(&self, name: &str, collection: &str) -> Vec<Document> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(sent, body)| sent == name && body.get_str(name).ok() == Some(collection))
            .map(|(_, body)| body.clone())
            .collect()
    }
}

/// A client that records every command it sends.
async fn recording_client() -> (mongodb::Client, Sent) {
    let sent = Sent::default();
    let mut options = ClientOptions::parse(server::uri()).await.unwrap();
    let recorder = sent.clone();
    options.command_event_handler = Some(mongodb::event::EventHandler::callback(move |event| {
        if let CommandEvent::Started(started) = event {
            recorder
                .0
                .lock()
                .unwrap()
                .push((started.command_name.clone(), started.command.clone()));
        }
    }));
    (mongodb::Client::with_options(options).unwrap(), sent)
}

struct Setup {
    db: mongodb::Database,
    encryption: ClientEncryption,
    sent: Sent,
}

impl Setup {
    /// A fresh database whose key vault holds `medco-key`, over one recording client for
    /// the data and the key vault (as most applications have it).
    async fn new(purpose: &str) -> Self {
        let name = server::unique_db(purpose);
        let (client, sent) = recording_client().await;
        let encryption = Self::encryption(&client, &name);
        encryption
            .create_data_key(MasterKey::local())
            .key_alt_names(["medco-key"])
            .await
            .unwrap();
        Self {
            db: client.database(&name),
            encryption,
            sent,
        }
    }

    fn encryption(client: &mongodb::Client, db: &str) -> ClientEncryption {
        let kms =
            KmsProviders::new().with(LocalKms::new(LocalMasterKey::from_bytes(&MASTER).unwrap()));
        ClientEncryption::builder(client.clone(), kms)
            .key_vault_namespace(Namespace::new(db, "__keyVault"))
            .build()
    }

    fn patients(&self) -> EncryptedCollection<Patient> {
        EncryptedCollection::new(
            &self.db.collection::<Document>("patients"),
            &self.encryption,
        )
    }

    async fn with_patients(purpose: &str, count: i32) -> Self {
        let setup = Self::new(purpose).await;
        setup
            .patients()
            .insert_many((0..count).map(patient))
            .await
            .unwrap();
        setup.sent.take();
        setup
    }

    async fn drop(self) {
        self.db.drop().await.unwrap();
    }
}

fn is_ciphertext(value: Option<&Bson>) -> bool {
    matches!(value, Some(Bson::Binary(binary)) if binary.subtype == BinarySubtype::Encrypted)
}

fn refused(error: Error) -> (String, String) {
    match error {
        Error::EncryptedPathRefused {
            path, operation, ..
        } => (path, operation),
        other => panic!("not an EncryptedPathRefused: {other:?}"),
    }
}

/// Whether the server refused an option because it does not implement it (FerretDB
/// answers NotImplemented or FailedToParse for options it lacks).
fn not_implemented(error: &mongodb::error::Error) -> bool {
    matches!(&*error.kind, mongodb::error::ErrorKind::Command(command) if command.code == 238 || command.code == 9)
}

/// The outcome of an action whose options are under test: what matters is what the server
/// received, so a server that says it does not implement an option (FerretDB) is
/// accepted, only there; any other failure fails the test.
async fn ran<T>(result: Result<T, Error>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(Error::Collection { source, .. })
            if not_implemented(&source) && server::is_ferretdb().await =>
        {
            None
        }
        Err(error) => panic!("{error:?}"),
    }
}

/// The `find` commands the server received on `patients`, with their getMores.
fn finds(sent: &Sent) -> Vec<Document> {
    sent.named("find", "patients")
}

#[tokio::test]
async fn find_sends_every_option_on_plaintext_paths_and_decrypts_the_results() {
    let setup = Setup::with_patients("reads_find_options", 30).await;
    let patients = setup.patients();
    let page: Vec<Patient> = patients
        .find(Filter::all())
        .sort(Patient::fields().name().ascending())
        .skip(2)
        .limit(5)
        .batch_size(2)
        .comment("page 1")
        .max_time(Duration::from_secs(5))
        .allow_disk_use(true)
        .projection(doc! { "_id": 0 })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut names: Vec<String> = (0..30).map(|n| patient(n).name).collect();
    names.sort();
    let expected: Vec<String> = names[2..7].to_vec();
    assert_eq!(
        page.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
        expected
    );
    for found in &page {
        let n: i32 = found.name.trim_start_matches("Patient ").parse().unwrap();
        assert_eq!(found, &patient(n), "decrypted whole");
    }
    let sent = finds(&setup.sent);
    assert_eq!(sent.len(), 1);
    let find = &sent[0];
    assert_eq!(find.get_document("sort").unwrap(), &doc! { "name": 1 });
    assert_eq!(find.get("skip"), Some(&Bson::Int64(2)));
    assert_eq!(find.get("limit"), Some(&Bson::Int64(5)));
    assert_eq!(find.get("batchSize"), Some(&Bson::Int32(2)));
    assert_eq!(find.get_str("comment").unwrap(), "page 1");
    assert!(find.contains_key("maxTimeMS"));
    assert!(find.get_bool("allowDiskUse").unwrap());
    assert_eq!(find.get_document("projection").unwrap(), &doc! { "_id": 0 });
    // Five results in batches of two: the cursor fetched more twice.
    let get_mores = setup
        .sent
        .take()
        .into_iter()
        .filter(|(name, _)| name == "getMore")
        .count();
    assert_eq!(get_mores, 2);
    setup.drop().await;
}

/// Runs a `find` configured by `$configure` and checks that the server received `$key`.
macro_rules! find_option_reaches_the_server {
    ($setup:expr, $key:literal, |$find:ident| $configure:expr) => {{
        let patients = $setup.patients();
        let $find = patients.find(Filter::all());
        let result = async { $configure.await?.try_collect::<Vec<Patient>>().await }.await;
        if let Some(found) = ran(result).await {
            assert!(found.len() <= 4, "{}", $key);
        }
        let sent = finds(&$setup.sent);
        let find = sent.last().expect("a find was sent");
        assert!(find.contains_key($key), "`{}` missing from {find:?}", $key);
        $setup.sent.take();
    }};
}

#[tokio::test]
async fn every_find_option_reaches_the_server() {
    use mongodb::options::{Collation, CursorType, ReadConcern, ReadPreference, SelectionCriteria};
    let setup = Setup::with_patients("reads_every_find_option", 4).await;
    find_option_reaches_the_server!(setup, "allowDiskUse", |find| find.allow_disk_use(true));
    find_option_reaches_the_server!(setup, "allowPartialResults", |find| find
        .allow_partial_results(true));
    find_option_reaches_the_server!(setup, "batchSize", |find| find.batch_size(3));
    find_option_reaches_the_server!(setup, "comment", |find| find.comment("by test"));
    find_option_reaches_the_server!(setup, "hint", |find| find
        .hint(Hint::Keys(doc! { "ssn": 1 })));
    find_option_reaches_the_server!(setup, "limit", |find| find.limit(4));
    find_option_reaches_the_server!(setup, "maxTimeMS", |find| find
        .max_time(Duration::from_millis(1500)));
    find_option_reaches_the_server!(setup, "min", |find| find
        .hint(Hint::Keys(doc! { "name": 1 }))
        .min(doc! { "name": "Patient 0" }));
    find_option_reaches_the_server!(setup, "max", |find| find
        .hint(Hint::Keys(doc! { "name": 1 }))
        .max(doc! { "name": "Patient 9" }));
    find_option_reaches_the_server!(setup, "noCursorTimeout", |find| find
        .no_cursor_timeout(true));
    find_option_reaches_the_server!(setup, "projection", |find| find
        .projection(doc! { "_id": 0 }));
    find_option_reaches_the_server!(setup, "readConcern", |find| find
        .read_concern(ReadConcern::local()));
    find_option_reaches_the_server!(setup, "returnKey", |find| find.return_key(false));
    find_option_reaches_the_server!(setup, "showRecordId", |find| find.show_record_id(false));
    find_option_reaches_the_server!(setup, "skip", |find| find.skip(1));
    find_option_reaches_the_server!(setup, "sort", |find| find
        .sort(Patient::fields().name().descending()));
    find_option_reaches_the_server!(setup, "collation", |find| find
        .collation(Collation::builder().locale("en").build()));
    find_option_reaches_the_server!(setup, "let", |find| find.let_vars(doc! { "unused": 1 }));
    // A read preference on a single server is the driver's to drop; the call still works.
    let primary = setup
        .patients()
        .find(Filter::all())
        .selection_criteria(SelectionCriteria::ReadPreference(ReadPreference::Primary))
        .await
        .unwrap()
        .try_collect::<Vec<Patient>>()
        .await
        .unwrap();
    assert_eq!(primary.len(), 4);

    // A tailable cursor, on a capped collection.
    setup
        .db
        .create_collection("log")
        .capped(true)
        .size(1 << 20)
        .await
        .unwrap();
    let log = EncryptedCollection::<Patient>::new(
        &setup.db.collection::<Document>("log"),
        &setup.encryption,
    );
    log.insert_many([patient(1), patient(2)]).await.unwrap();
    setup.sent.take();
    let mut tail = log
        .find(Filter::all())
        .cursor_type(CursorType::TailableAwait)
        .max_await_time(Duration::from_millis(100))
        .await
        .unwrap();
    for expected in [patient(1), patient(2)] {
        let next = tokio::time::timeout(Duration::from_secs(10), tail.next()).await;
        assert_eq!(next.unwrap().unwrap().unwrap(), expected);
    }
    let find = &setup.sent.named("find", "log")[0];
    assert!(find.get_bool("tailable").unwrap(), "{find:?}");
    assert!(find.get_bool("awaitData").unwrap(), "{find:?}");
    drop(tail);
    setup.drop().await;
}

#[tokio::test]
async fn find_encrypts_its_filter_and_takes_a_hint_on_an_encrypted_index_key() {
    let setup = Setup::with_patients("reads_find_filter", 10).await;
    let patients = setup.patients();
    let sevens: Vec<Patient> = patients
        .find(
            Patient::fields()
                .ssn()
                .is_in([patient(7).ssn, patient(3).ssn]),
        )
        .sort(Sort::new().descending(Patient::fields().name()))
        .hint(Hint::Name("_id_".to_owned()))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(sevens, vec![patient(7), patient(3)]);
    let find = &finds(&setup.sent)[0];
    let operands = find
        .get_document("filter")
        .unwrap()
        .get_document("ssn")
        .unwrap()
        .get_array("$in")
        .unwrap();
    assert!(operands.iter().all(|operand| is_ciphertext(Some(operand))));
    assert_eq!(find.get_str("hint").unwrap(), "_id_");
    setup.drop().await;
}

#[tokio::test]
async fn find_one_sends_its_options_and_decrypts_the_first_match() {
    let setup = Setup::with_patients("reads_find_one", 12).await;
    let patients = setup.patients();
    let first = patients
        .find_one(
            Patient::fields()
                .insurance()
                .fields()
                .provider()
                .eq("Medicorp"),
        )
        .sort(Patient::fields().name().descending())
        .skip(1)
        .comment("second Medicorp")
        .max_time(Duration::from_secs(5))
        .projection(doc! { "_id": 0 })
        .await
        .unwrap()
        .unwrap();
    // Medicorp patients are the odd ones; by name descending: 9, 7, 5, 3, 11, 1.
    assert_eq!(first, patient(7));
    let find = &finds(&setup.sent)[0];
    assert_eq!(find.get_document("sort").unwrap(), &doc! { "name": -1 });
    assert_eq!(find.get("skip"), Some(&Bson::Int64(1)));
    assert_eq!(find.get_str("comment").unwrap(), "second Medicorp");
    let none = patients
        .find_one(Patient::fields().ssn().eq(7))
        .await
        .unwrap();
    assert!(none.is_none());
    setup.drop().await;
}

#[tokio::test]
async fn sorts_bounds_hints_and_projections_on_encrypted_paths_are_refused_before_anything_is_sent()
{
    let setup = Setup::with_patients("reads_refused", 3).await;
    let patients = setup.patients();
    let error = patients
        .find(Filter::all())
        .sort(doc! { "name": 1, "ssn": 1 })
        .await
        .unwrap_err();
    assert_eq!(refused(error), ("ssn".to_owned(), "sort".to_owned()));
    // The same sort given raw through the driver's options.
    let error = patients
        .find(Filter::all())
        .with_options(
            FindOptions::builder()
                .sort(doc! { "bloodType": -1 })
                .build(),
        )
        .await
        .unwrap_err();
    assert_eq!(refused(error).0, "bloodType");
    let error = patients
        .find_one(Filter::all())
        .sort(doc! { "insurance.policyNumber": 1 })
        .await
        .unwrap_err();
    assert_eq!(refused(error).0, "insurance.policyNumber");
    let error = patients
        .find(Filter::all())
        .min(doc! { "ssn": 100_000_000 })
        .await
        .unwrap_err();
    assert_eq!(refused(error), ("ssn".to_owned(), "min".to_owned()));
    let error = patients
        .find_one(Filter::all())
        .max(doc! { "ssn": 100_000_000 })
        .await
        .unwrap_err();
    assert_eq!(refused(error), ("ssn".to_owned(), "max".to_owned()));
    let error = patients
        .find(Filter::all())
        .hint(Hint::Keys(doc! { "bloodType": "text" }))
        .await
        .unwrap_err();
    assert_eq!(refused(error), ("bloodType".to_owned(), "hint".to_owned()));
    let error = patients
        .count_documents(Filter::all())
        .hint(Hint::Keys(doc! { "ssn": "2dsphere" }))
        .await
        .unwrap_err();
    assert_eq!(refused(error).0, "ssn");
    let error = patients
        .find(Filter::all())
        .projection(doc! { "medicalRecords": { "$slice": 1 } })
        .await
        .unwrap_err();
    assert_eq!(refused(error).0, "medicalRecords");
    let error = patients
        .aggregate(vec![doc! { "$sort": { "ssn": 1 } }])
        .await
        .unwrap_err();
    assert_eq!(refused(error).0, "ssn");
    assert!(finds(&setup.sent).is_empty(), "nothing reached the server");
    assert!(setup.sent.named("aggregate", "patients").is_empty());
    assert!(setup.sent.named("count", "patients").is_empty());
    setup.drop().await;
}

#[tokio::test]
async fn paging_through_10000_patients_by_sort_skip_limit_returns_each_exactly_once_decrypted() {
    const PATIENTS: i32 = 10_000;
    const PAGE: i64 = 700;
    let setup = Setup::with_patients("reads_paging", PATIENTS).await;
    let patients = setup.patients();
    let mut seen = BTreeSet::new();
    let mut pages = 0;
    loop {
        let page: Vec<Patient> = patients
            .find(Filter::all())
            .sort(Patient::fields().name().ascending())
            .skip(u64::try_from(pages * PAGE).unwrap())
            .limit(PAGE)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        pages += 1;
        for found in page {
            let n = found.ssn - 100_000_000;
            assert_eq!(found, patient(n), "decrypted");
            assert!(seen.insert(n), "patient {n} returned twice");
        }
    }
    assert_eq!(seen.len(), PATIENTS as usize);
    assert_eq!(seen, (0..PATIENTS).collect());
    assert_eq!(pages, (i64::from(PATIENTS) + PAGE - 1) / PAGE);
    setup.drop().await;
}

/// Per-document keys: each note is encrypted with the key its `owner` names.
#[derive(Serialize, Deserialize, Encrypted, Debug, Clone, PartialEq)]
struct Note {
    owner: String,
    #[encrypt(random, key_alt_name_field = "owner")]
    body: String,
}

#[tokio::test]
async fn a_batch_is_decrypted_with_one_key_vault_read_for_all_its_keys() {
    const NOTES: usize = 12;
    const BATCH: u32 = 4;
    let setup = Setup::new("reads_batch_keys").await;
    let owners: Vec<String> = (0..NOTES).map(|n| format!("owner{n}")).collect();
    for owner in &owners {
        setup
            .encryption
            .create_data_key(MasterKey::local())
            .key_alt_names([owner.as_str()])
            .await
            .unwrap();
    }
    let notes: Vec<Note> = owners
        .iter()
        .map(|owner| Note {
            owner: owner.clone(),
            body: format!("a note of {owner}"),
        })
        .collect();
    EncryptedCollection::<Note>::new(&setup.db.collection::<Document>("notes"), &setup.encryption)
        .insert_many(&notes)
        .await
        .unwrap();
    // A reader with an empty key cache.
    let (client, sent) = recording_client().await;
    let reader_encryption = Setup::encryption(&client, setup.db.name());
    let reader = EncryptedCollection::<Note>::new(
        &client
            .database(setup.db.name())
            .collection::<Document>("notes"),
        &reader_encryption,
    );
    let read: Vec<Note> = reader
        .find(Filter::all())
        .sort(Note::fields().owner().ascending())
        .batch_size(BATCH)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut expected = notes.clone();
    expected.sort_by(|a, b| a.owner.cmp(&b.owner));
    assert_eq!(read, expected);
    let batches = NOTES.div_ceil(BATCH as usize);
    let key_vault_reads = sent.named("find", "__keyVault").len();
    assert_eq!(
        key_vault_reads, batches,
        "one key vault read per batch of {BATCH} documents with {BATCH} distinct keys"
    );
    setup.drop().await;
}

/// A partial patient of the user's: a subset of the fields, one of them optional.
#[derive(Deserialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Chart {
    name: String,
    ssn: i32,
    blood_type: String,
    insurance: Option<Insurance>,
}

#[tokio::test]
async fn a_projection_decodes_into_a_user_type_with_its_encrypted_fields_decrypted() {
    let setup = Setup::with_patients("reads_projection", 6).await;
    let patients = setup.patients();
    let charts: Vec<Chart> = patients
        .find_as::<Chart>(Filter::all())
        .projection(
            Projection::new()
                .include(Patient::fields().name())
                .include(Patient::fields().ssn())
                .include(Patient::fields().blood_type()),
        )
        .sort(Patient::fields().name().ascending())
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let expected: Vec<Chart> = (0..6)
        .map(patient)
        .map(|p| Chart {
            name: p.name,
            ssn: p.ssn,
            blood_type: p.blood_type,
            insurance: None,
        })
        .collect();
    assert_eq!(charts, expected);
    let find = &finds(&setup.sent)[0];
    assert_eq!(
        find.get_document("projection").unwrap(),
        &doc! { "name": 1, "ssn": 1, "bloodType": 1 }
    );
    // The server returned ciphertexts: the raw documents of the same projection.
    let raw = setup
        .db
        .collection::<Document>("patients")
        .find_one(doc! {})
        .projection(doc! { "ssn": 1, "insurance": 1 })
        .await
        .unwrap()
        .unwrap();
    assert!(is_ciphertext(raw.get("ssn")));
    // One, with a nested model kept whole and decrypted.
    let one = patients
        .find_one_as::<Chart>(Patient::fields().ssn().eq(patient(3).ssn))
        .projection(doc! { "medicalRecords": 0 })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one.insurance, Some(patient(3).insurance));
    // The model itself cannot be decoded from a projection that drops a required field:
    // the error names it.
    let error = patients
        .find(Filter::all())
        .projection(Projection::new().exclude(Patient::fields().ssn()))
        .await
        .unwrap()
        .try_next()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Field { path, source } if path == "ssn" && matches!(**source, Error::MissingField)),
        "{error:?}"
    );
    setup.drop().await;
}

#[tokio::test]
async fn views_reveal_what_the_handle_can_open_and_leave_the_rest_sealed() {
    let setup = Setup::with_patients("reads_views", 5).await;
    let receptionist =
        EncryptedCollection::<Patient>::without_keys(&setup.db.collection::<Document>("patients"));
    let views: Vec<PatientView> = receptionist
        .find_views(Filter::all())
        .sort(Patient::fields().name().descending())
        .limit(3)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        views
            .iter()
            .map(|view| view.name.as_str())
            .collect::<Vec<_>>(),
        ["Patient 4", "Patient 3", "Patient 2"]
    );
    assert!(
        views
            .iter()
            .all(|view| view.ssn.is_sealed() && view.blood_type.is_sealed())
    );
    let one = receptionist
        .find_one_view(Patient::fields().name().eq("Patient 1"))
        .comment("front desk")
        .await
        .unwrap()
        .unwrap();
    assert!(one.ssn.is_sealed());
    // With keys, the same views are revealed.
    let doctor = setup
        .patients()
        .find_one_view(Patient::fields().name().eq("Patient 1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(doctor.ssn.revealed(), Some(&patient(1).ssn));
    // Without keys, the model itself cannot be read: the error says why.
    let error = receptionist
        .find(Filter::all())
        .await
        .unwrap()
        .try_next()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Field { source, .. } if matches!(**source, Error::NoKeyAccess)),
        "{error:?}"
    );
    setup.drop().await;
}

#[tokio::test]
async fn counts_and_distinct_send_their_options_and_decrypt_distinct_values() {
    let setup = Setup::with_patients("reads_counts", 20).await;
    let patients = setup.patients();
    let one = patients
        .count_documents(Patient::fields().ssn().eq(patient(4).ssn))
        .comment("one ssn")
        .max_time(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(one, 1);
    let window = patients
        .count_documents(Filter::all())
        .skip(5)
        .limit(10)
        .await
        .unwrap();
    assert_eq!(window, 10);
    let estimated = patients
        .estimated_document_count()
        .max_time(Duration::from_secs(5))
        .comment("about")
        .await
        .unwrap();
    assert_eq!(estimated, 20);
    // (FerretDB does not take a time limit on `distinct`.)
    let limited = patients
        .distinct(Patient::fields().ssn(), Filter::all())
        .max_time(Duration::from_secs(5))
        .await;
    if let Some(all) = ran(limited).await {
        assert_eq!(all.len(), 20);
    }
    let sent = setup.sent.named("distinct", "patients");
    assert!(sent[0].contains_key("maxTimeMS"));
    let mut ssns: Vec<i32> = patients
        .distinct(
            Patient::fields().ssn(),
            Patient::fields()
                .insurance()
                .fields()
                .provider()
                .eq("MaestCare"),
        )
        .comment("distinct ssns")
        .await
        .unwrap();
    ssns.sort_unstable();
    assert_eq!(
        ssns,
        (0..20)
            .step_by(2)
            .map(|n| patient(n).ssn)
            .collect::<Vec<_>>()
    );
    let mut providers: Vec<String> = patients
        .distinct(
            Patient::fields().insurance().fields().provider(),
            Filter::all(),
        )
        .await
        .unwrap();
    providers.sort();
    assert_eq!(providers, ["MaestCare", "Medicorp"]);
    // countDocuments runs as an aggregation whose `$match` holds the ciphertext.
    let count = setup
        .sent
        .named("aggregate", "patients")
        .into_iter()
        .find(|sent| sent.get_str("comment").ok() == Some("one ssn"))
        .expect("the count's aggregation");
    let stages = count.get_array("pipeline").unwrap();
    let matched = stages[0]
        .as_document()
        .unwrap()
        .get_document("$match")
        .unwrap();
    assert!(is_ciphertext(matched.get("ssn")), "{matched:?}");
    let distinct = setup
        .sent
        .named("distinct", "patients")
        .into_iter()
        .find(|sent| sent.get_str("comment").ok() == Some("distinct ssns"))
        .unwrap();
    assert_eq!(
        distinct.get_document("query").unwrap(),
        &doc! { "insurance.provider": "MaestCare" }
    );
    assert_eq!(distinct.get_str("comment").unwrap(), "distinct ssns");
    setup.drop().await;
}

#[tokio::test]
async fn aggregate_with_a_match_on_the_ssn_then_a_project_returns_decrypted_values() {
    let setup = Setup::with_patients("reads_aggregate", 10).await;
    let patients = setup.patients();
    let charts: Vec<Chart> = patients
        .aggregate(
            Pipeline::new()
                .filter(Patient::fields().ssn().eq(patient(6).ssn))
                .project(doc! { "_id": 0, "name": 1, "ssn": 1, "bloodType": 1, "insurance": 1 }),
        )
        .with_type::<Chart>()
        .batch_size(5)
        .comment("chart")
        .max_time(Duration::from_secs(5))
        .allow_disk_use(true)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let six = patient(6);
    assert_eq!(
        charts,
        vec![Chart {
            name: six.name.clone(),
            ssn: six.ssn,
            blood_type: six.blood_type.clone(),
            insurance: Some(six.insurance.clone()),
        }]
    );
    let sent = &setup.sent.named("aggregate", "patients")[0];
    let stages = sent.get_array("pipeline").unwrap();
    let matched = stages[0]
        .as_document()
        .unwrap()
        .get_document("$match")
        .unwrap();
    assert!(is_ciphertext(matched.get("ssn")), "{matched:?}");
    assert_eq!(sent.get_str("comment").unwrap(), "chart");
    assert_eq!(
        sent.get_document("cursor").unwrap().get("batchSize"),
        Some(&Bson::Int32(5))
    );
    // Whole models, sorted and limited by the pipeline.
    let first_three: Vec<Patient> = patients
        .aggregate(
            Pipeline::new()
                .filter(Filter::all())
                .sort(Patient::fields().name().ascending())
                .limit(3),
        )
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(first_three, vec![patient(0), patient(1), patient(2)]);
    // Views, without keys.
    let receptionist =
        EncryptedCollection::<Patient>::without_keys(&setup.db.collection::<Document>("patients"));
    let views: Vec<PatientView> = receptionist
        .aggregate(vec![doc! { "$match": { "name": "Patient 2" } }])
        .views()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(views.len(), 1);
    assert!(views[0].ssn.is_sealed());
    setup.drop().await;
}

/// A function that returns a cursor: it owns what it needs.
async fn everyone(patients: &EncryptedCollection<Patient>) -> EncryptedCursor<Patient> {
    patients.find(Filter::all()).batch_size(3).await.unwrap()
}

#[tokio::test]
async fn the_cursor_is_static_it_outlives_its_handle_and_moves_into_a_task() {
    let setup = Setup::with_patients("reads_static", 8).await;
    let cursor = {
        let patients = setup.patients();
        everyone(&patients).await
        // `patients` is dropped here.
    };
    let all = tokio::spawn(async move { cursor.try_collect::<Vec<Patient>>().await })
        .await
        .unwrap()
        .unwrap();
    let mut ssns: Vec<i32> = all.iter().map(|p| p.ssn).collect();
    ssns.sort_unstable();
    assert_eq!(ssns, (0..8).map(|n| patient(n).ssn).collect::<Vec<_>>());
    setup.drop().await;
}

#[tokio::test]
async fn a_session_reaches_every_read_and_the_key_vault_reads_stay_outside_it() {
    let setup = Setup::with_patients("reads_session", 7).await;
    let client = setup.db.client().clone();
    // A reader with an empty key cache, so that reads in the session need the key vault.
    let reader_encryption = Setup::encryption(&client, setup.db.name());
    let patients = EncryptedCollection::<Patient>::new(
        &setup.db.collection::<Document>("patients"),
        &reader_encryption,
    );
    let mut session = client.start_session().await.unwrap();
    let lsid = session.id().clone();

    let mut cursor = patients
        .find(Filter::all())
        .sort(Patient::fields().name().ascending())
        .batch_size(2)
        .session(&mut session)
        .await
        .unwrap();
    let first = cursor.next(&mut session).await.unwrap().unwrap();
    assert_eq!(first, patient(0));
    let rest: Vec<Patient> = cursor.stream(&mut session).try_collect().await.unwrap();
    assert_eq!(rest, (1..7).map(patient).collect::<Vec<_>>());
    let one = patients
        .find_one(Patient::fields().ssn().eq(patient(5).ssn))
        .session(&mut session)
        .await
        .unwrap();
    assert_eq!(one, Some(patient(5)));
    let counted = patients
        .count_documents(Patient::fields().ssn().eq(patient(5).ssn))
        .session(&mut session)
        .await
        .unwrap();
    assert_eq!(counted, 1);
    let ssns: Vec<i32> = patients
        .distinct(Patient::fields().ssn(), Filter::all())
        .session(&mut session)
        .await
        .unwrap();
    assert_eq!(ssns.len(), 7);
    let mut aggregated = patients
        .aggregate(Pipeline::new().filter(Patient::fields().ssn().eq(patient(2).ssn)))
        .session(&mut session)
        .await
        .unwrap();
    assert_eq!(
        aggregated.next(&mut session).await.unwrap().unwrap(),
        patient(2)
    );
    assert!(aggregated.next(&mut session).await.is_none());

    let sent = setup.sent.take();
    let data: Vec<&(String, Document)> = sent
        .iter()
        .filter(|(name, body)| {
            ["find", "getMore", "aggregate", "distinct", "count"].contains(&name.as_str())
                && (body.get_str(name).ok() == Some("patients")
                    || body.get_str("collection").ok() == Some("patients"))
        })
        .collect();
    assert!(data.len() >= 7, "{data:?}");
    for (name, body) in &data {
        assert_eq!(
            body.get_document("lsid").ok(),
            Some(&lsid),
            "{name} outside the session"
        );
    }
    let key_vault: Vec<&(String, Document)> = sent
        .iter()
        .filter(|(name, body)| name == "find" && body.get_str("find").ok() == Some("__keyVault"))
        .collect();
    assert!(!key_vault.is_empty(), "the reader's cache was empty");
    for (_, body) in key_vault {
        assert_ne!(
            body.get_document("lsid").ok(),
            Some(&lsid),
            "a key vault read in the session"
        );
    }
    setup.drop().await;
}

#[tokio::test]
async fn decode_accepts_any_stored_document_of_the_model() {
    let setup = Setup::with_patients("reads_decode", 2).await;
    let patients = setup.patients();
    // A document with a field the model does not know, read by the plain driver.
    patients
        .plain()
        .update_one(
            doc! { "name": "Patient 1" },
            doc! { "$set": { "visits": 3 } },
        )
        .await
        .unwrap();
    let raw = patients
        .plain()
        .clone_with_type::<RawDocumentBuf>()
        .find_one(doc! { "name": "Patient 1" })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(patients.decode(&raw).await.unwrap(), patient(1));
    assert_eq!(patients.decode(raw.clone()).await.unwrap(), patient(1));
    let view = patients.decode_view(raw.as_ref()).await.unwrap();
    assert_eq!(view.ssn.revealed(), Some(&patient(1).ssn));
    // `encrypt_filter` makes a query any driver call can use.
    let filter = patients
        .encrypt_filter(Patient::fields().ssn().eq(patient(1).ssn))
        .await
        .unwrap();
    assert!(is_ciphertext(filter.get("ssn")));
    assert_eq!(patients.plain().count_documents(filter).await.unwrap(), 1);
    setup.drop().await;
}

/// Replaces the placeholders of tests/data/change-events.json with the stored form of
/// the named patients.
fn fill(value: &mut Bson, stored: &HashMap<&str, Document>) {
    match value {
        Bson::Document(document) => {
            if let Ok(name) = document.get_str("$$encoded") {
                *value = Bson::Document(stored[name].clone());
            } else if let Ok(at) = document.get_array("$$ciphertext") {
                let (name, path) = (at[0].as_str().unwrap(), at[1].as_str().unwrap());
                let segments: Vec<&str> = path.split('.').collect();
                let (last, parents) = segments.split_last().unwrap();
                let mut holder = &stored[name];
                for segment in parents {
                    holder = holder.get_document(segment).unwrap();
                }
                *value = holder.get(*last).unwrap().clone();
            } else {
                for (_, inner) in document.iter_mut() {
                    fill(inner, stored);
                }
            }
        }
        Bson::Array(values) => values.iter_mut().for_each(|inner| fill(inner, stored)),
        _ => {}
    }
}

fn jon_moved() -> Patient {
    Patient {
        name: "Jon Doe Jr.".to_owned(),
        blood_type: "O-".to_owned(),
        insurance: Insurance {
            provider: "Medicorp".to_owned(),
            policy_number: 777001,
        },
        ..jon_doe()
    }
}

#[tokio::test]
async fn change_events_as_a_server_emits_them_decode_with_their_documents_and_updated_fields_decrypted()
 {
    let setup = Setup::new("reads_change_events").await;
    let patients = setup.patients();
    let models: HashMap<&str, Patient> = [("jon", jon_doe()), ("jon_moved", jon_moved())].into();
    let mut stored = HashMap::new();
    for (name, model) in &models {
        let raw = patients.encode(model).await.unwrap();
        stored.insert(*name, Document::try_from(raw).unwrap());
    }
    let recorded: serde_json::Value =
        serde_json::from_str(include_str!("data/change-events.json")).unwrap();
    let events = recorded["events"].as_array().unwrap();
    assert_eq!(events.len(), 5);
    for case in events {
        let description = case["description"].as_str().unwrap();
        let mut event = Bson::try_from(case["event"].clone()).unwrap();
        fill(&mut event, &stored);
        let event = RawDocumentBuf::try_from(event.as_document().unwrap()).unwrap();
        let decoded = patients.decode_change_event(&event).await.unwrap();
        let expect = &case["expect"];
        let operation = bson::serialize_to_bson(&decoded.operation_type).unwrap();
        assert_eq!(
            operation.as_str(),
            expect["operationType"].as_str(),
            "{description}"
        );
        let model = |key: &str| expect[key].as_str().map(|name| models[name].clone());
        assert_eq!(
            decoded.full_document,
            model("fullDocument"),
            "{description}"
        );
        assert_eq!(
            decoded.full_document_before_change,
            model("fullDocumentBeforeChange"),
            "{description}"
        );
        let updated = decoded
            .update_description
            .map(|description| description.updated_fields)
            .unwrap_or_default();
        let expected_updated = Bson::try_from(expect["updatedFields"].clone()).unwrap();
        assert_eq!(Bson::Document(updated), expected_updated, "{description}");
        assert!(decoded.ns.is_some(), "{description}");
    }
    setup.drop().await;
}

#[tokio::test]
async fn watch_decrypts_events_where_the_server_has_change_streams_and_fails_by_name_where_not() {
    let setup = Setup::new("reads_watch").await;
    let patients = setup.patients();
    let opened = patients
        .watch()
        .full_document(mongodb::options::FullDocumentType::UpdateLookup)
        .batch_size(10)
        .comment("watch")
        .await;
    match opened {
        Err(Error::Collection { operation, .. }) if server::is_ferretdb().await => {
            assert_eq!(operation, "watch");
            eprintln!(
                "watch: this server (FerretDB) has no change streams: the decode path is tested on recorded events"
            );
        }
        Err(other) => panic!("watch failed on a server that is not FerretDB: {other:?}"),
        Ok(mut changes) => {
            eprintln!("watch: this server has change streams: tested live");
            patients.insert_one(jon_doe()).await.unwrap();
            let event = tokio::time::timeout(Duration::from_secs(30), changes.next())
                .await
                .expect("an event within 30 s")
                .unwrap()
                .unwrap();
            assert_eq!(event.full_document, Some(jon_doe()));
            assert!(changes.resume_token().is_some());
        }
    }
    setup.drop().await;
}

/// Compile-time: every future and stream the read side returns is `Send` (this function
/// is never called; it only has to compile).
#[allow(dead_code, clippy::needless_pass_by_value)]
fn every_future_and_stream_is_send(
    patients: &EncryptedCollection<Patient>,
    session: &mut mongodb::ClientSession,
    cursor: EncryptedCursor<Patient>,
    mut session_cursor: encrypted::EncryptedSessionCursor<Patient>,
    changes: encrypted::EncryptedChangeStream<Patient>,
    session_changes: encrypted::EncryptedSessionChangeStream<Patient>,
) {
    fn assert_send<F: Send>(_: &F) {}
    fn assert_static<F: 'static>(_: &F) {}
    assert_send(&patients.find(Filter::all()).into_future());
    assert_send(&patients.find_views(Filter::all()).into_future());
    assert_send(&patients.find_as::<Chart>(Filter::all()).into_future());
    assert_send(&patients.find_one(Filter::all()).into_future());
    assert_send(&patients.find_one_view(Filter::all()).into_future());
    assert_send(&patients.find_one_as::<Chart>(Filter::all()).into_future());
    assert_send(&patients.count_documents(Filter::all()).into_future());
    assert_send(&patients.estimated_document_count().into_future());
    assert_send(
        &patients
            .distinct(Patient::fields().ssn(), Filter::all())
            .into_future(),
    );
    assert_send(&patients.aggregate(Pipeline::new()).into_future());
    assert_send(&patients.aggregate(Pipeline::new()).views().into_future());
    assert_send(
        &patients
            .aggregate(Pipeline::new())
            .with_type::<Chart>()
            .into_future(),
    );
    assert_send(&patients.watch().into_future());
    assert_send(&patients.decode(RawDocumentBuf::new()));
    assert_send(&patients.decode_view(RawDocumentBuf::new()));
    assert_send(&patients.encrypt_filter(Filter::all()));
    assert_send(&patients.decode_change_event(RawDocumentBuf::new()));
    assert_send(&cursor);
    assert_static(&cursor);
    assert_send(&changes);
    assert_static(&changes);
    assert_send(&session_cursor);
    assert_send(&session_changes);
    assert_send(
        &patients
            .find(Filter::all())
            .session(&mut *session)
            .into_future(),
    );
    assert_send(
        &patients
            .find_one(Filter::all())
            .session(&mut *session)
            .into_future(),
    );
    assert_send(
        &patients
            .count_documents(Filter::all())
            .session(&mut *session)
            .into_future(),
    );
    assert_send(
        &patients
            .distinct(Patient::fields().ssn(), Filter::all())
            .session(&mut *session)
            .into_future(),
    );
    assert_send(
        &patients
            .aggregate(Pipeline::new())
            .session(&mut *session)
            .into_future(),
    );
    assert_send(&patients.watch().session(&mut *session).into_future());
    assert_send(&session_cursor.next(session));
    assert_send(&session_cursor.stream(session));
}

#[test]
fn the_send_checks_compile() {
    // The checks are in the signature's body: naming the function is enough.
    let _ = every_future_and_stream_is_send;
}
