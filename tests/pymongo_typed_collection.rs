//! `EncryptedCollection<Patient>` and pymongo (4.20, pymongocrypt 1.21.2 bundling
//! libmongocrypt 1.21.0) on one live server (`MONGODB_URI`): pymongo's automatic
//! decryption reads what the typed collection wrote, with and without the generated
//! schema in its `schema_map`; the typed collection reads, and finds by deterministic
//! equality, what pymongo encrypted explicitly as the generated schema says; and a field
//! pymongo left in plaintext where the model expects ciphertext is refused by name.
//! Needs the interop venv (`scripts/install-prerequisites`); never skips.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use test_support::server;

use test_support::python_peer;

#[path = "common/medco.rs"]
mod medco;

use bson::spec::BinarySubtype;
use bson::{Bson, Document, doc};
use encrypted::kms::{KmsProviders, LocalKms};
use encrypted::{
    Algorithm, ClientEncryption, Encrypted, EncryptedCollection, Error, LocalMasterKey, MasterKey,
    Namespace,
};
use medco::{Patient, jon_doe, patient};
use serde_json::{Value, json};

const MASTER: [u8; 96] = [0x3c; 96];
const KEY_ALT_NAME: &str = "medco-key";

struct Setup {
    db: mongodb::Database,
    encryption: ClientEncryption,
    key_vault: Namespace,
}

impl Setup {
    async fn new(purpose: &str) -> Self {
        let name = server::unique_db(purpose);
        let client = server::client().await;
        let key_vault = Namespace::new(&name, "__keyVault");
        let kms =
            KmsProviders::new().with(LocalKms::new(LocalMasterKey::from_bytes(&MASTER).unwrap()));
        let encryption = ClientEncryption::builder(client.clone(), kms)
            .key_vault_namespace(key_vault.clone())
            .build();
        encryption
            .create_data_key(MasterKey::local())
            .key_alt_names([KEY_ALT_NAME])
            .await
            .unwrap();
        Self {
            db: client.database(&name),
            encryption,
            key_vault,
        }
    }

    fn patients(&self) -> EncryptedCollection<Patient> {
        EncryptedCollection::new(
            &self.db.collection::<Document>("patients"),
            &self.encryption,
        )
    }

    /// The request fields every phase of the peer needs.
    fn request(&self, phase: &str) -> Value {
        json!({
            "phase": phase,
            "uri": server::uri(),
            "keyVaultNamespace": self.key_vault.to_string(),
            "kmsProviders": { "local": base64(&MASTER) },
            "namespace": format!("{}.patients", self.db.name()),
        })
    }

    async fn drop(self) {
        self.db.drop().await.unwrap();
    }
}

fn base64(bytes: &[u8]) -> String {
    match Bson::Binary(bson::Binary {
        subtype: BinarySubtype::Generic,
        bytes: bytes.to_vec(),
    })
    .into_canonical_extjson()
    {
        Value::Object(o) => o["$binary"]["base64"].as_str().unwrap().to_owned(),
        _ => unreachable!(),
    }
}

/// A document as the peer takes it: hex-encoded BSON, which keeps the field order a
/// JSON object would lose.
fn to_hex(document: &Document) -> String {
    bson::serialize_to_vec(document)
        .unwrap()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn from_hex(value: &Value) -> Document {
    let hex = value.as_str().unwrap();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).unwrap())
        .collect();
    bson::deserialize_from_slice(&bytes).unwrap()
}

fn plaintext(patient: &Patient) -> Document {
    bson::serialize_to_document(patient).unwrap()
}

fn bytes(document: &Document) -> Vec<u8> {
    bson::serialize_to_vec(document).unwrap()
}

fn is_ciphertext(value: Option<&Bson>) -> bool {
    matches!(value, Some(Bson::Binary(binary)) if binary.subtype == BinarySubtype::Encrypted)
}

/// Runs `interop/python/typed_collection_peer.py` with one request (the common fields
/// of `request` plus `extra`); returns its reply.
fn pymongo(mut request: Value, extra: Value) -> Value {
    let (Value::Object(request_fields), Value::Object(extra)) = (&mut request, extra) else {
        unreachable!()
    };
    request_fields.extend(extra);
    python_peer::run("typed_collection_peer.py", &request)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymongo_decrypts_what_the_typed_collection_wrote() {
    let setup = Setup::new("py_typed_read").await;
    let patients = setup.patients();
    patients.insert_one(jon_doe()).await.unwrap();
    let schema = patients.json_schema().await.unwrap();

    // Automatic decryption alone, then with the generated schema in the schema map.
    for schema in [None, Some(to_hex(&schema))] {
        let mut extra = json!({ "filter": { "name": "Jon Doe" } });
        if let Some(schema) = &schema {
            extra["schemaBson"] = json!(schema);
        }
        let reply = pymongo(setup.request("read"), extra);
        let with = if schema.is_some() {
            "with the schema map"
        } else {
            "without a schema map"
        };

        // What the server holds: ciphertext in every encrypted field.
        let stored = from_hex(&reply["storedBson"]);
        for field in ["ssn", "bloodType", "medicalRecords"] {
            assert!(is_ciphertext(stored.get(field)), "{field}: {stored:?}");
        }
        let insurance = stored.get_document("insurance").unwrap();
        assert!(is_ciphertext(insurance.get("policyNumber")), "{stored:?}");

        // What pymongo decrypts: every field, with its BSON type, as Rust wrote it.
        let mut decrypted = from_hex(&reply["decryptedBson"]);
        assert_eq!(decrypted.get("_id"), stored.get("_id"));
        decrypted.remove("_id");
        assert_eq!(decrypted.get_str("name").unwrap(), "Jon Doe", "{with}");
        assert_eq!(decrypted.get_i32("ssn").unwrap(), 241014209, "{with}");
        assert_eq!(decrypted.get_str("bloodType").unwrap(), "AB+", "{with}");
        assert_eq!(
            decrypted.get_array("medicalRecords").unwrap(),
            &vec![Bson::Document(
                doc! { "weight": 180, "bloodPressure": "120/80" }
            )],
            "{with}"
        );
        let insurance = decrypted.get_document("insurance").unwrap();
        assert_eq!(insurance.get_i32("policyNumber").unwrap(), 123142, "{with}");
        assert_eq!(
            insurance.get_str("provider").unwrap(),
            "MaestCare",
            "{with}"
        );
        // Byte for byte: same fields, same order, same types.
        assert_eq!(bytes(&decrypted), bytes(&plaintext(&jon_doe())), "{with}");
    }
    setup.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typed_collection_reads_and_queries_what_pymongo_encrypted_by_the_schema() {
    let setup = Setup::new("py_typed_write").await;
    let patients = setup.patients();
    let written: Vec<Patient> = std::iter::once(jon_doe())
        .chain((1..=4).map(patient))
        .collect();
    let reply = pymongo(
        setup.request("write"),
        json!({
            "schemaBson": to_hex(&patients.json_schema().await.unwrap()),
            "keyAltName": KEY_ALT_NAME,
            "documents": written
                .iter()
                .map(|patient| json!({ "documentBson": to_hex(&plaintext(patient)) }))
                .collect::<Vec<_>>(),
        }),
    );

    // pymongo found in the generated schema exactly the model's encrypted fields.
    assert_eq!(
        reply["encryptedFields"],
        json!([
            { "path": "ssn", "algorithm": Algorithm::Deterministic.as_str() },
            { "path": "bloodType", "algorithm": Algorithm::Random.as_str() },
            { "path": "medicalRecords", "algorithm": Algorithm::Random.as_str() },
            { "path": "insurance.policyNumber", "algorithm": Algorithm::Deterministic.as_str() },
        ])
    );

    // libmongocrypt's deterministic ciphertexts are ours byte for byte...
    let stored = from_hex(&reply["writtenBson"][0]);
    let ours = setup
        .encryption
        .encrypt(
            Bson::Int32(241014209),
            KEY_ALT_NAME.into(),
            Algorithm::Deterministic,
        )
        .await
        .unwrap();
    assert_eq!(stored.get("ssn"), Some(&Bson::Binary(ours)));

    // ...so equality queries encrypted here match what pymongo stored, and every
    // document decrypts into the model.
    for patient in &written {
        let found = patients
            .find_one(Patient::fields().ssn().eq(patient.ssn))
            .await
            .unwrap();
        assert_eq!(found.as_ref(), Some(patient), "ssn {}", patient.ssn);
        let found = patients
            .find_one(
                Patient::fields()
                    .insurance()
                    .fields()
                    .policy_number()
                    .eq(patient.insurance.policy_number),
            )
            .await
            .unwrap();
        assert_eq!(found.as_ref(), Some(patient), "{}", patient.name);
    }
    let count = patients
        .count_documents(Patient::fields().ssn().is_in([241014209, 100_000_002, 7]))
        .await
        .unwrap();
    assert_eq!(count, 2);
    setup.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_pymongo_left_in_plaintext_is_refused_by_name() {
    let setup = Setup::new("py_typed_plain").await;
    let patients = setup.patients();
    let cases = [
        (patient(1), "bloodType", "string"),
        (patient(2), "insurance.policyNumber", "int"),
        (patient(3), "ssn", "int"),
        (patient(4), "medicalRecords", "array"),
    ];
    let reply = pymongo(
        setup.request("write"),
        json!({
            "schemaBson": to_hex(&patients.json_schema().await.unwrap()),
            "keyAltName": KEY_ALT_NAME,
            "documents": cases
                .iter()
                .map(|(patient, field, _)| json!({
                    "documentBson": to_hex(&plaintext(patient)),
                    "plaintextFields": [field],
                }))
                .collect::<Vec<_>>(),
        }),
    );
    assert_eq!(reply["writtenBson"].as_array().unwrap().len(), cases.len());

    for (patient, field, bson_type) in &cases {
        let error = patients
            .find_one(Patient::fields().name().eq(patient.name.as_str()))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, Error::UnencryptedField { path, found } if path == field && found == bson_type),
            "{}: {error}",
            patient.name
        );
        assert!(error.to_string().contains(field), "{error}");
    }
    // A plaintext ssn is invisible to an encrypted equality query.
    assert_eq!(
        patients
            .find_one(Patient::fields().ssn().eq(patient(3).ssn))
            .await
            .unwrap(),
        None
    );
    setup.drop().await;
}
