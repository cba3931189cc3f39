//! The documents `Sort`, `Projection` and `Pipeline` produce, sent with the `mongodb`
//! driver's own `Collection` (the escape hatch: no `EncryptedCollection`) to a real server
//! (`MONGODB_URI`; `scripts/local-server run -- ...` starts a local FerretDB): the
//! encrypted `$match` operand finds the stored ciphertexts, a deterministic group key groups
//! equal values, a kept encrypted field stays decryptable, and plaintext sorts order the
//! results.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::Arc;

use test_support::server;

#[path = "common/medco.rs"]
mod medco;

use bson::{Bson, Document, RawDocumentBuf, doc};
use encrypted::model::{self, Keys, Pipeline, Projection, Sort};
use encrypted::{Algorithm, Ciphertext, DataKey, Encrypted, KeyRef};
use futures_util::TryStreamExt;
use medco::{Patient, patient};

struct Setup {
    db: mongodb::Database,
    patients: mongodb::Collection<RawDocumentBuf>,
    key: Arc<DataKey>,
    keys: Keys,
}

impl Setup {
    /// A collection of `count` patients, stored encrypted by `model::encode` with a local
    /// data key (no key vault: the sans-I/O path).
    async fn new(purpose: &str, count: i32) -> Self {
        let db = server::client().await.database(&server::unique_db(purpose));
        let key = Arc::new(DataKey::generate(bson::Uuid::new()).unwrap());
        let keys = Keys::new().with(KeyRef::AltName("medco-key".into()), Arc::clone(&key));
        let patients = db.collection::<RawDocumentBuf>("patients");
        let stored: Vec<RawDocumentBuf> = (0..count)
            .map(|n| model::encode(&patient(n), &keys).unwrap())
            .collect();
        if !stored.is_empty() {
            patients.insert_many(stored).await.unwrap();
        }
        Self {
            db,
            patients,
            key,
            keys,
        }
    }

    async fn aggregate(&self, stages: Vec<Document>) -> Vec<Document> {
        let documents = self.db.collection::<Document>("patients");
        documents
            .aggregate(stages)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap()
    }

    fn decrypt(&self, value: &Bson) -> Bson {
        self.key
            .decrypt(&Ciphertext::from_bson(value).unwrap())
            .unwrap()
    }
}

#[tokio::test]
async fn an_encrypted_match_in_a_pipeline_finds_the_patient_and_plaintext_stages_follow() {
    let setup = Setup::new("pipe_match", 12).await;
    let wanted = patient(7);
    let stages = Pipeline::<Patient>::new()
        .filter(Patient::fields().ssn().eq(wanted.ssn))
        .sort(Patient::fields().name().ascending())
        .project(
            Projection::new()
                .exclude(Patient::fields().medical_records())
                .exclude(Patient::fields().blood_type()),
        )
        .limit(5)
        .to_documents(&setup.keys)
        .unwrap();
    let found = setup.aggregate(stages).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].get_str("name").unwrap(), wanted.name);
    assert!(!found[0].contains_key("bloodType"));
    // The kept SSN is its ciphertext, at its path, and decrypts to the patient's SSN.
    assert_eq!(
        setup.decrypt(found[0].get("ssn").unwrap()),
        Bson::Int32(wanted.ssn)
    );
    setup.db.drop().await.unwrap();
}

#[tokio::test]
async fn a_raw_pipeline_with_a_ciphertext_operand_is_sent_as_written_and_decodes() {
    let setup = Setup::new("pipe_raw", 6).await;
    let wanted = patient(3);
    let ciphertext = setup
        .key
        .encrypt(&Bson::Int32(wanted.ssn), Algorithm::Deterministic)
        .unwrap();
    let stages = Pipeline::<Patient>::from(vec![
        doc! { "$match": { "ssn": { "$in": [Bson::from(ciphertext)] } } },
        doc! { "$match": { "name": { "$regex": "^Patient" } } },
    ])
    .to_documents(&Keys::new())
    .unwrap();
    let documents = setup.patients.aggregate(stages).await.unwrap();
    let raw: Vec<Document> = documents
        .with_type::<RawDocumentBuf>()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .into_iter()
        .map(|raw| {
            let decoded: Patient = model::decode(&raw, &setup.keys).unwrap();
            assert_eq!(decoded, wanted);
            Document::try_from(raw.as_ref()).unwrap()
        })
        .collect();
    assert_eq!(raw.len(), 1);
    setup.db.drop().await.unwrap();
}

#[tokio::test]
async fn grouping_by_a_deterministic_field_groups_equal_values() {
    let setup = Setup::new("pipe_group", 0).await;
    // Three patients share an SSN, two another; the server groups their ciphertexts.
    let mut stored = Vec::new();
    for (n, ssn) in [(1, 111), (2, 111), (3, 111), (4, 222), (5, 222)] {
        let mut p = patient(n);
        p.ssn = ssn;
        stored.push(model::encode(&p, &setup.keys).unwrap());
    }
    setup.patients.insert_many(stored).await.unwrap();
    let stages = Pipeline::<Patient>::from(vec![
        doc! { "$group": { "_id": "$ssn", "n": { "$sum": 1 } } },
        doc! { "$sort": { "n": -1 } },
    ])
    .to_documents(&setup.keys)
    .unwrap();
    let groups = setup.aggregate(stages).await;
    let counted: Vec<(Bson, i32)> = groups
        .iter()
        .map(|group| {
            let n = match group.get("n").unwrap() {
                Bson::Int32(n) => *n,
                Bson::Int64(n) => i32::try_from(*n).unwrap(),
                other => panic!("count {other}"),
            };
            // The group key is the SSN's ciphertext, not decrypted by the model.
            (setup.decrypt(group.get("_id").unwrap()), n)
        })
        .collect();
    assert_eq!(counted, vec![(Bson::Int32(111), 3), (Bson::Int32(222), 2)]);
    setup.db.drop().await.unwrap();
}

#[tokio::test]
async fn a_typed_sort_and_projection_work_with_the_drivers_find() {
    let setup = Setup::new("pipe_find", 10).await;
    let sort = Patient::fields()
        .insurance()
        .fields()
        .provider()
        .descending()
        .then(Patient::fields().name().ascending());
    let projection = Projection::<Patient>::new()
        .include(Patient::fields().name())
        .include(Patient::fields().insurance());
    let documents = setup.db.collection::<Document>("patients");
    let found: Vec<Document> = documents
        .find(doc! {})
        .sort(sort.to_document().unwrap())
        .projection(projection.to_document().unwrap())
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut expected: Vec<_> = (0..10).map(patient).collect();
    expected.sort_by(|a, b| {
        b.insurance
            .provider
            .cmp(&a.insurance.provider)
            .then(a.name.cmp(&b.name))
    });
    assert_eq!(found.len(), expected.len());
    for (document, patient) in found.iter().zip(&expected) {
        assert_eq!(document.get_str("name").unwrap(), patient.name);
        assert!(!document.contains_key("ssn"));
        let insurance = document.get_document("insurance").unwrap();
        assert_eq!(
            setup.decrypt(insurance.get("policyNumber").unwrap()),
            Bson::Int32(patient.insurance.policy_number)
        );
    }
    // What would sort by a ciphertext never reaches the server.
    let refused = Sort::<Patient>::from(doc! { "insurance": 1 })
        .to_document()
        .unwrap_err();
    assert!(matches!(
        refused,
        encrypted::Error::EncryptedPathRefused { .. }
    ));
    setup.db.drop().await.unwrap();
}
