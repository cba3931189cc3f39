//! Finding 4 (issue 9): no plaintext copy is freed without being zeroized.
//!
//! This test binary runs on a scanning allocator (tests/support/scanning-alloc): while
//! armed with a random 32-byte marker, every freed or reallocated heap block is searched
//! for it. The values encrypted and decrypted here hold the marker; only the caller's
//! own value and the value `decrypt` returns may hold it, and they are dropped after
//! the scan. The server test (`ClientEncryption`) needs `MONGODB_URI`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "common/medco.rs"]
mod medco;

use test_support::server;

use bson::raw::CString;
use bson::spec::BinarySubtype;
use bson::{Binary, Bson, Document, JavaScriptCodeWithScope, Regex, Uuid, doc};
use encrypted::Encrypted as _;
use encrypted::kms::{KmsProviders, LocalKms};
use encrypted::model::{Filter, Update};
use encrypted::{
    Algorithm, ClientEncryption, DataKey, EncryptedCollection, KeyRef, LocalMasterKey, MasterKey,
    Namespace,
};
use medco::{MedicalRecord, Patient};
use scanning_alloc::{MARKER_LEN, ScanningAlloc};

#[global_allocator]
static ALLOC: ScanningAlloc = ScanningAlloc;

/// One armed scan at a time: the allocator's marker is global.
static SCAN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A random marker of lowercase letters, so that it is also valid UTF-8.
fn marker() -> [u8; MARKER_LEN] {
    let mut marker = [0; MARKER_LEN];
    let random = [Uuid::new().bytes(), Uuid::new().bytes()].concat();
    for (byte, random) in marker.iter_mut().zip(random) {
        *byte = b'a' + random % 26;
    }
    marker
}

/// Runs `f` with the scan armed; returns its result and the number of freed blocks
/// that held the marker.
fn scanned<T>(marker: [u8; MARKER_LEN], f: impl FnOnce() -> T) -> (T, usize) {
    scanning_alloc::arm(marker);
    let result = f();
    let hits = scanning_alloc::disarm();
    (result, hits)
}

/// Values of every type that can hold the marker, in every position.
fn secrets(marker: &str) -> Vec<Bson> {
    let text = Bson::String(marker.to_owned());
    let long = Bson::String(format!("{}{marker}{}", "x".repeat(700), "y".repeat(300)));
    let mut wide = Document::new();
    for i in 0..40 {
        wide.insert(format!("field{i}"), format!("{i}-{marker}"));
    }
    vec![
        text.clone(),
        long,
        Bson::Symbol(marker.to_owned()),
        Bson::JavaScriptCode(marker.to_owned()),
        Bson::Binary(Binary {
            subtype: BinarySubtype::Generic,
            bytes: marker.as_bytes().to_vec(),
        }),
        Bson::Binary(Binary {
            subtype: BinarySubtype::BinaryOld,
            bytes: marker.as_bytes().to_vec(),
        }),
        Bson::RegularExpression(Regex {
            pattern: CString::try_from(marker).unwrap(),
            options: CString::try_from("i").unwrap(),
        }),
        Bson::Document(doc! { "ssn": marker, "n": 1 }),
        Bson::Document(doc! { marker: 1 }),
        Bson::Document(doc! { "a": { "b": [1, { "c": marker }] } }),
        Bson::Document(wide),
        Bson::Array(vec![text.clone(), Bson::Document(doc! { marker: marker })]),
        Bson::Array(
            (0..100)
                .map(|i| Bson::String(format!("{i}{marker}")))
                .collect(),
        ),
        Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope {
            code: marker.to_owned(),
            scope: doc! { "x": marker },
        }),
    ]
}

fn algorithms(value: &Bson) -> Vec<Algorithm> {
    if encrypted::allowed_deterministic(value.element_type()) {
        vec![Algorithm::Deterministic, Algorithm::Random]
    } else {
        vec![Algorithm::Random]
    }
}

#[test]
fn the_scanner_finds_a_marker_left_in_freed_memory() {
    let _one = SCAN.blocking_lock();
    let marker = marker();
    let ((), hits) = scanned(marker, || drop(marker.to_vec()));
    assert_eq!(hits, 1);
    // A vector that regrows leaves a copy in the block it moved away from.
    let (grown, hits) = scanned(marker, || {
        let mut grown = Vec::with_capacity(MARKER_LEN);
        grown.extend_from_slice(&marker);
        grown.extend_from_slice(&[0; 4096]);
        grown
    });
    assert_eq!(hits, 1);
    drop(grown);
    // Zeroized before it is freed: nothing found.
    let ((), hits) = scanned(marker, || {
        let mut copy = marker.to_vec();
        copy.fill(0);
        std::hint::black_box(&copy);
    });
    assert_eq!(hits, 0);
    assert!(scanning_alloc::scanned() > 0);
}

#[test]
fn finding_4_data_key_encrypt_and_decrypt_free_no_plaintext_copy() {
    let _one = SCAN.blocking_lock();
    let key = DataKey::generate(Uuid::new()).unwrap();
    let marker = marker();
    let text = std::str::from_utf8(&marker).unwrap().to_owned();
    for value in secrets(&text) {
        for algorithm in algorithms(&value) {
            let (ciphertext, hits) = scanned(marker, || key.encrypt(&value, algorithm));
            let ciphertext = ciphertext.unwrap();
            assert_eq!(hits, 0, "encrypt {algorithm:?} freed a copy of {value:?}");

            let (decrypted, hits) = scanned(marker, || key.decrypt(&ciphertext));
            // The decrypted value is the caller's: dropped after the scan.
            assert_eq!(decrypted.unwrap(), value);
            assert_eq!(hits, 0, "decrypt {algorithm:?} freed a copy of {value:?}");
        }
    }
}

#[test]
fn finding_4_a_refused_value_leaves_no_copy_either() {
    let _one = SCAN.blocking_lock();
    let key = DataKey::generate(Uuid::new()).unwrap();
    let marker = marker();
    let text = std::str::from_utf8(&marker).unwrap();
    let value = Bson::Document(doc! { "ok": text, format!("{text}\0"): 1 });
    let (error, hits) = scanned(marker, || key.encrypt(&value, Algorithm::Random));
    assert!(error.is_err());
    assert_eq!(hits, 0);
}

#[tokio::test]
async fn finding_4_client_encryption_wipes_the_plaintext_it_is_handed() {
    let _one = SCAN.lock().await;
    let db = server::unique_db("zeroize");
    let kms = KmsProviders::new().with(LocalKms::new(
        LocalMasterKey::from_bytes(&[0x17; 96]).unwrap(),
    ));
    let encryption = ClientEncryption::builder(server::client().await, kms)
        .key_vault_namespace(Namespace::new(&db, "__keyVault"))
        .build();
    let id = encryption
        .create_data_key(MasterKey::local())
        .await
        .unwrap();
    // Loads the key into the cache first, so the scanned calls do only the encryption.
    encryption
        .encrypt(Bson::Int32(1), KeyRef::Id(id), Algorithm::Random)
        .await
        .unwrap();

    let marker = marker();
    let text = std::str::from_utf8(&marker).unwrap().to_owned();
    for value in secrets(&text) {
        let expected = value.clone();
        // The value is handed over by value: it must be wiped, not just dropped.
        scanning_alloc::arm(marker);
        let ciphertext = encryption
            .encrypt(value, KeyRef::Id(id), Algorithm::Random)
            .await;
        let hits = scanning_alloc::disarm();
        let ciphertext = ciphertext.unwrap();
        assert_eq!(
            hits, 0,
            "ClientEncryption::encrypt freed a copy of {expected:?}"
        );

        scanning_alloc::arm(marker);
        let decrypted = encryption.decrypt(&ciphertext).await;
        let hits = scanning_alloc::disarm();
        assert_eq!(decrypted.unwrap(), expected);
        assert_eq!(
            hits, 0,
            "ClientEncryption::decrypt freed a copy of {expected:?}"
        );
    }
    server::client().await.database(&db).drop().await.unwrap();
}

#[tokio::test]
async fn finding_4_a_typed_set_wipes_its_plaintext() {
    let _one = SCAN.lock().await;
    let db = server::unique_db("zeroize_set");
    let kms = KmsProviders::new().with(LocalKms::new(
        LocalMasterKey::from_bytes(&[0x17; 96]).unwrap(),
    ));
    let encryption = ClientEncryption::builder(server::client().await, kms)
        .key_vault_namespace(Namespace::new(&db, "__keyVault"))
        .build();
    encryption
        .create_data_key(MasterKey::local())
        .key_alt_names(["medco-key"])
        .await
        .unwrap();
    let database = server::client().await.database(&db);
    let patients: EncryptedCollection<Patient> =
        EncryptedCollection::new(&database.collection::<Document>("patients"), &encryption);
    // Loads the key into the cache first, so the scanned update does only the encryption.
    patients.insert_one(medco::jon_doe()).await.unwrap();

    let marker = marker();
    let text = std::str::from_utf8(&marker).unwrap().to_owned();
    let records = vec![MedicalRecord {
        weight: 1,
        blood_pressure: text.clone(),
    }];
    // Building the update converts and serializes the caller's values (`Update::set`
    // takes `impl Into<T>`: that converted Rust value is the caller's kind of value and
    // cannot be wiped, see the README). What the collection does with the serialized
    // values — encrypt them, send only ciphertexts — must free no copy unwiped.
    let update = Update::new()
        .set(Patient::fields().blood_type(), text.as_str())
        .set(Patient::fields().medical_records(), records.clone());
    scanning_alloc::arm(marker);
    let updated = patients.update_one(Filter::all(), update).await;
    let hits = scanning_alloc::disarm();
    assert_eq!(updated.unwrap().modified_count, 1);
    assert_eq!(hits, 0, "a typed $set freed a copy of its plaintext");

    let stored = patients.find_one(Filter::all()).await.unwrap().unwrap();
    assert_eq!(stored.blood_type, text);
    assert_eq!(stored.medical_records, records);
    database.drop().await.unwrap();
}
