//! encrypted-core and pymongo's `ClientEncryption` (pymongocrypt, libmongocrypt 1.21.0)
//! share one key vault on a live server (`MONGODB_URI`): keys created on either side are
//! used by the other, values encrypted by either decrypt in the other, deterministic
//! ciphertexts are byte-identical, and after a rewrap done here pymongo still decrypts
//! everything. Needs the interop venv (`scripts/install-prerequisites`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use test_support::server;

use test_support::python_peer;

use bson::{Bson, doc};
use encrypted::kms::{KmsProviders, LocalKms};
use encrypted::{Algorithm, ClientEncryption, KeyRef, LocalMasterKey, MasterKey, Namespace};
use serde_json::{Value, json};

const OLD_MASTER: [u8; 96] = [0x5a; 96];
const NEW_MASTER: [u8; 96] = [0xa5; 96];

fn base64(bytes: &[u8]) -> String {
    match Bson::Binary(bson::Binary {
        subtype: bson::spec::BinarySubtype::Generic,
        bytes: bytes.to_vec(),
    })
    .into_canonical_extjson()
    {
        Value::Object(o) => o["$binary"]["base64"].as_str().unwrap().to_owned(),
        _ => unreachable!(),
    }
}

/// Runs `interop/python/key_vault_peer.py` with one request; returns its reply.
fn pymongo(request: &Value) -> Value {
    python_peer::run("key_vault_peer.py", request)
}

fn values() -> Vec<(&'static str, Bson, Algorithm)> {
    vec![
        (
            "ssn, deterministic",
            Bson::Int32(123_456_789),
            Algorithm::Deterministic,
        ),
        (
            "policy number, deterministic",
            Bson::Int64(9_876_543_210),
            Algorithm::Deterministic,
        ),
        (
            "blood type, random",
            Bson::String("AB-".into()),
            Algorithm::Random,
        ),
        (
            "medical records, random",
            Bson::Array(vec![Bson::Document(
                doc! { "weight": 180, "bloodPressure": "120/80" },
            )]),
            Algorithm::Random,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_and_pymongo_share_one_key_vault() {
    let db = server::unique_db("pymongo");
    let namespace = Namespace::new(db.as_str(), "__keyVault");
    let kms = KmsProviders::new()
        .with(LocalKms::new(
            LocalMasterKey::from_bytes(&OLD_MASTER).unwrap(),
        ))
        .with(
            LocalKms::named("rotated", LocalMasterKey::from_bytes(&NEW_MASTER).unwrap()).unwrap(),
        );
    let encryption = ClientEncryption::builder(server::client().await, kms.clone())
        .key_vault_namespace(namespace.clone())
        .build();
    let kms_json = json!({ "local": base64(&OLD_MASTER), "local:rotated": base64(&NEW_MASTER) });

    // Rust creates a key and encrypts; pymongo decrypts, re-encrypts deterministically
    // with the same key by alt name, then creates its own key and encrypts.
    encryption
        .create_data_key(MasterKey::local())
        .key_alt_names(["rust-key"])
        .await
        .unwrap();
    let mut rust_cases = Vec::new();
    for (description, value, algorithm) in values() {
        let ciphertext = encryption
            .encrypt(value.clone(), "rust-key".into(), algorithm)
            .await
            .unwrap();
        rust_cases.push(json!({
            "description": description,
            "algorithm": algorithm.as_str(),
            "keyAltName": "rust-key",
            "value": value.into_canonical_extjson(),
            "ciphertext": Bson::Binary(ciphertext).into_canonical_extjson(),
        }));
    }
    let to_encrypt: Vec<Value> = values()
        .into_iter()
        .map(|(description, value, algorithm)| {
            json!({ "description": description, "algorithm": algorithm.as_str(), "value": value.into_canonical_extjson() })
        })
        .collect();
    let reply = pymongo(&json!({
        "phase": "check-and-write",
        "uri": server::uri(),
        "keyVaultNamespace": namespace.to_string(),
        "kmsProviders": kms_json,
        "cases": rust_cases.clone(),
        "toEncrypt": to_encrypt,
    }));

    // Rust reads what pymongo wrote, with a key pymongo created, and agrees on
    // deterministic bytes.
    let python_key = encryption
        .get_key_by_alt_name("python-key")
        .await
        .unwrap()
        .unwrap();
    let mut python_cases = Vec::new();
    for case in reply["written"].as_array().unwrap() {
        let ciphertext = match Bson::try_from(case["ciphertext"].clone()).unwrap() {
            Bson::Binary(binary) => binary,
            other => panic!("not a binary: {other}"),
        };
        let expected = Bson::try_from(case["value"].clone()).unwrap();
        assert_eq!(
            encryption.decrypt(&ciphertext).await.unwrap(),
            expected,
            "{}",
            case["description"]
        );
        let algorithm: Algorithm = case["algorithm"].as_str().unwrap().parse().unwrap();
        if algorithm == Algorithm::Deterministic {
            let ours = encryption
                .encrypt(expected.clone(), KeyRef::Id(python_key.id), algorithm)
                .await
                .unwrap();
            assert_eq!(ours, ciphertext, "{}", case["description"]);
        }
        python_cases.push(case.clone());
    }

    assert_eq!(python_cases.len(), values().len());

    // Rotate every key to another master key here; pymongo still decrypts everything.
    let result = encryption
        .rewrap_many_data_key(doc! {}, Some(MasterKey::local_named("rotated")))
        .await
        .unwrap();
    assert_eq!(result.rewrapped.len(), 2);
    let mut all_cases = rust_cases;
    all_cases.extend(python_cases);
    pymongo(&json!({
        "phase": "check",
        "uri": server::uri(),
        "keyVaultNamespace": namespace.to_string(),
        "kmsProviders": { "local:rotated": base64(&NEW_MASTER) },
        "cases": all_cases,
    }));
    server::client().await.database(&db).drop().await.unwrap();
}
