//! The typed encrypted collection against a real server (`MONGODB_URI`; `scripts/test`
//! starts a local FerretDB): every operation, what a plain driver sees, readers without
//! keys, per-document keys, and the typed errors of bad data.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use test_support::server;

#[path = "common/medco.rs"]
mod medco;

#[path = "common/report.rs"]
mod report;

use bson::spec::BinarySubtype;
use bson::{Bson, Document, doc};
use encrypted::kms::{KmsProviders, LocalKms};
use encrypted::model::{Filter, Keys, Update};
use encrypted::{
    ClientEncryption, Encrypted, EncryptedCollection, Error, KeyRef, LocalMasterKey, MasterKey,
    Namespace,
};
use futures_util::TryStreamExt;
use medco::{Patient, jon_doe, patient};
use serde::{Deserialize, Serialize};

const MASTER: [u8; 96] = [0x24; 96];

struct Setup {
    db: mongodb::Database,
    encryption: ClientEncryption,
}

impl Setup {
    async fn new(purpose: &str) -> Self {
        let name = server::unique_db(purpose);
        let client = server::client().await;
        let kms =
            KmsProviders::new().with(LocalKms::new(LocalMasterKey::from_bytes(&MASTER).unwrap()));
        let encryption = ClientEncryption::builder(client.clone(), kms)
            .key_vault_namespace(Namespace::new(&name, "__keyVault"))
            .build();
        encryption
            .create_data_key(MasterKey::local())
            .key_alt_names(["medco-key"])
            .await
            .unwrap();
        Self {
            db: client.database(&name),
            encryption,
        }
    }

    fn patients(&self) -> EncryptedCollection<Patient> {
        EncryptedCollection::new(
            &self.db.collection::<Document>("patients"),
            &self.encryption,
        )
    }

    async fn drop(self) {
        self.db.drop().await.unwrap();
    }
}

fn is_ciphertext(value: Option<&Bson>) -> bool {
    matches!(value, Some(Bson::Binary(binary)) if binary.subtype == BinarySubtype::Encrypted)
}

#[tokio::test]
async fn a_doctor_writes_and_reads_patients_and_the_server_sees_only_ciphertext() {
    let setup = Setup::new("coll_roundtrip").await;
    let patients = setup.patients();
    patients.insert_one(jon_doe()).await.unwrap();
    patients.insert_many((1..=5).map(patient)).await.unwrap();

    // Equality on a deterministic field: the operand is encrypted for us.
    let found = patients
        .find_one(Patient::fields().ssn().eq(241014209))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, jon_doe());

    // And on a deterministic field of a nested model, combined with a plaintext one.
    let found = patients
        .find_one(
            Patient::fields()
                .insurance()
                .fields()
                .policy_number()
                .eq(123142)
                .and(Patient::fields().name().eq("Jon Doe")),
        )
        .await
        .unwrap();
    assert_eq!(found, Some(jon_doe()));

    // $in on a deterministic field, as a stream.
    let some: Vec<Patient> = patients
        .find(Patient::fields().ssn().is_in([100_000_001, 100_000_003, 1]))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut names: Vec<_> = some.iter().map(|p| p.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["Patient 1", "Patient 3"]);

    // Plaintext fields take any operator.
    let count = patients
        .count_documents(
            Patient::fields()
                .insurance()
                .fields()
                .provider()
                .eq("Medicorp"),
        )
        .await
        .unwrap();
    assert_eq!(count, 3);
    assert_eq!(patients.count_documents(Filter::all()).await.unwrap(), 6);

    // Distinct on a deterministic field: ciphertexts on the server, values here.
    let mut ssns = patients
        .distinct(
            Patient::fields().ssn(),
            Patient::fields().name().ne("Jon Doe"),
        )
        .await
        .unwrap();
    ssns.sort_unstable();
    assert_eq!(ssns, (1..=5).map(|n| 100_000_000 + n).collect::<Vec<_>>());

    // A plain driver collection sees binary subtype 6 in every encrypted field.
    let raw = setup
        .db
        .collection::<Document>("patients")
        .find_one(doc! { "name": "Jon Doe" })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(raw.get_str("name").unwrap(), "Jon Doe");
    for field in ["ssn", "bloodType", "medicalRecords"] {
        assert!(
            is_ciphertext(raw.get(field)),
            "{field} is not encrypted: {raw:?}"
        );
    }
    let insurance = raw.get_document("insurance").unwrap();
    assert_eq!(insurance.get_str("provider").unwrap(), "MaestCare");
    assert!(is_ciphertext(insurance.get("policyNumber")));
    // Deterministic: the stored ssn is what the driver's explicit encryption gives.
    let explicit = setup
        .encryption
        .encrypt(
            Bson::Int32(241014209),
            "medco-key".into(),
            encrypted::Algorithm::Deterministic,
        )
        .await
        .unwrap();
    assert_eq!(raw.get("ssn"), Some(&Bson::Binary(explicit)));
    setup.drop().await;
}

#[tokio::test]
async fn updates_replacements_and_deletes_keep_encrypted_fields_encrypted() {
    let setup = Setup::new("coll_update").await;
    let patients = setup.patients();
    patients.insert_many((1..=4).map(patient)).await.unwrap();
    let plain = setup.db.collection::<Document>("patients");

    let result = patients
        .update_one(
            Patient::fields().ssn().eq(100_000_001),
            Update::new()
                .set(Patient::fields().blood_type(), "B-")
                .set(Patient::fields().insurance().fields().policy_number(), 999)
                .set(Patient::fields().name(), "Renamed"),
        )
        .await
        .unwrap();
    assert_eq!(result.modified_count, 1);
    let updated = patients
        .find_one(
            Patient::fields()
                .insurance()
                .fields()
                .policy_number()
                .eq(999),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.blood_type, "B-");
    assert_eq!(updated.name, "Renamed");
    let raw = plain
        .find_one(doc! { "name": "Renamed" })
        .await
        .unwrap()
        .unwrap();
    assert!(is_ciphertext(raw.get("bloodType")));
    assert!(is_ciphertext(
        raw.get_document("insurance").unwrap().get("policyNumber")
    ));

    // $set of a whole nested model encrypts its encrypted fields.
    patients
        .update_many(
            Patient::fields()
                .insurance()
                .fields()
                .provider()
                .eq("Medicorp"),
            Update::new().set(
                Patient::fields().insurance(),
                medco::Insurance {
                    provider: "NewCo".to_owned(),
                    policy_number: 7,
                },
            ),
        )
        .await
        .unwrap();
    let moved: Vec<Patient> = patients
        .find(Patient::fields().insurance().fields().policy_number().eq(7))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(moved.len(), 2);
    for raw in plain
        .find(doc! { "insurance.provider": "NewCo" })
        .await
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
    {
        assert!(is_ciphertext(
            raw.get_document("insurance").unwrap().get("policyNumber")
        ));
    }

    let mut replacement = patient(4);
    replacement.ssn = 42;
    patients
        .replace_one(Patient::fields().ssn().eq(100_000_004), &replacement)
        .await
        .unwrap();
    assert_eq!(
        patients
            .find_one(Patient::fields().ssn().eq(42))
            .await
            .unwrap(),
        Some(replacement)
    );

    assert_eq!(
        patients
            .delete_one(Patient::fields().ssn().eq(42))
            .await
            .unwrap()
            .deleted_count,
        1
    );
    assert_eq!(
        patients
            .delete_many(Patient::fields().ssn().is_in([100_000_001, 100_000_002]))
            .await
            .unwrap()
            .deleted_count,
        2
    );
    assert_eq!(patients.count_documents(Filter::all()).await.unwrap(), 1);
    setup.drop().await;
}

#[tokio::test]
async fn a_receptionist_without_keys_sees_names_and_providers_and_sealed_secrets() {
    let setup = Setup::new("coll_receptionist").await;
    setup.patients().insert_one(jon_doe()).await.unwrap();

    let receptionist =
        EncryptedCollection::<Patient>::without_keys(&setup.db.collection::<Document>("patients"));
    let view = receptionist
        .find_one_view(Patient::fields().name().eq("Jon Doe"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.name, "Jon Doe");
    assert_eq!(view.insurance.provider, "MaestCare");
    assert!(view.ssn.is_sealed());
    assert!(view.blood_type.is_sealed());
    assert!(view.medical_records.is_sealed());
    assert!(view.insurance.policy_number.is_sealed());
    let printed = format!("{view:?}");
    assert!(printed.contains("<sealed>"), "{printed}");
    for secret in ["241014209", "AB+", "120/80", "123142"] {
        assert!(!printed.contains(secret), "{printed} shows {secret}");
    }

    // The typed model cannot be read without keys: the error names the field.
    let error = receptionist
        .find_one(Patient::fields().name().eq("Jon Doe"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Field { path, source } if path == "ssn" && matches!(**source, Error::NoKeyAccess)),
        "{error}"
    );
    assert_eq!(
        report::report(&error),
        "field `ssn`: this collection handle has no key access"
    );
    // Nor can it query by an encrypted field, or write one.
    assert!(matches!(
        receptionist
            .find_one(Patient::fields().ssn().eq(241014209))
            .await,
        Err(Error::Field { .. } | Error::NoKeyAccess)
    ));
    assert!(matches!(
        receptionist.insert_one(jon_doe()).await,
        Err(Error::NoKeyAccess)
    ));

    // A doctor's view reveals everything.
    let doctor = setup
        .patients()
        .find_one_view(Filter::all())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(doctor.ssn.revealed(), Some(&241014209));
    assert_eq!(doctor.insurance.policy_number.revealed(), Some(&123142));
    setup.drop().await;
}

#[tokio::test]
async fn raw_filters_and_updates_on_encrypted_fields_must_use_ciphertexts() {
    let setup = Setup::new("coll_raw").await;
    let patients = setup.patients();
    patients.insert_one(jon_doe()).await.unwrap();

    let error = patients
        .find_one(Filter::raw(doc! { "ssn": 241014209 }))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::UnencryptedField { path, found: "int" } if path == "ssn"),
        "{error}"
    );
    let error = patients
        .find_one(Filter::raw(
            doc! { "$or": [ { "name": "x" }, { "insurance.policyNumber": { "$in": [123142] } } ] },
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::UnencryptedField { path, .. } if path == "insurance.policyNumber"),
        "{error}"
    );
    let ciphertext = setup
        .encryption
        .encrypt(
            Bson::Int32(241014209),
            "medco-key".into(),
            encrypted::Algorithm::Deterministic,
        )
        .await
        .unwrap();
    let error = patients
        .find_one(Filter::raw(doc! { "ssn": { "$gt": ciphertext.clone() } }))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::UnsupportedOperator { operator, .. } if operator == "$gt"),
        "{error}"
    );
    let error = patients
        .find_one(Filter::raw(
            doc! { "insurance": { "provider": "MaestCare", "policyNumber": 123142 } },
        ))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::UnencryptedField { .. }), "{error}");
    // With a ciphertext it works.
    let found = patients
        .find_one(Filter::raw(doc! { "ssn": ciphertext }))
        .await
        .unwrap();
    assert_eq!(found, Some(jon_doe()));

    let error = patients
        .update_many_raw(Filter::all(), doc! { "$set": { "bloodType": "O+" } })
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::UnencryptedField { path, .. } if path == "bloodType"),
        "{error}"
    );
    let error = patients
        .update_many_raw(Filter::all(), doc! { "$inc": { "ssn": 1 } })
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::UnsupportedOperator { operator, .. } if operator == "$inc"),
        "{error}"
    );
    // Nothing was changed by the refused updates.
    assert_eq!(
        patients.find_one(Filter::all()).await.unwrap(),
        Some(jon_doe())
    );
    setup.drop().await;
}

#[tokio::test]
async fn tampered_or_plaintext_stored_fields_are_errors_that_name_the_field() {
    let setup = Setup::new("coll_tamper").await;
    let patients = setup.patients();
    patients.insert_one(jon_doe()).await.unwrap();
    let plain = setup.db.collection::<Document>("patients");

    // Someone with database access writes plaintext into an encrypted field.
    plain
        .update_one(doc! {}, doc! { "$set": { "bloodType": "O-" } })
        .await
        .unwrap();
    let error = patients.find_one(Filter::all()).await.unwrap_err();
    assert!(
        matches!(&error, Error::UnencryptedField { path, found: "string" } if path == "bloodType"),
        "{error}"
    );

    // ... or flips a bit of a ciphertext.
    patients.delete_many(Filter::all()).await.unwrap();
    patients.insert_one(jon_doe()).await.unwrap();
    let raw = plain.find_one(doc! {}).await.unwrap().unwrap();
    let Some(Bson::Binary(mut binary)) = raw
        .get_document("insurance")
        .unwrap()
        .get("policyNumber")
        .cloned()
    else {
        panic!("not encrypted");
    };
    let last = binary.bytes.len() - 1;
    binary.bytes[last] ^= 1;
    plain
        .update_one(
            doc! {},
            doc! { "$set": { "insurance.policyNumber": binary } },
        )
        .await
        .unwrap();
    let error = patients.find_one(Filter::all()).await.unwrap_err();
    assert!(
        matches!(&error, Error::Field { path, source } if path == "insurance.policyNumber" && matches!(**source, Error::Decryption)),
        "{error}"
    );
    assert_eq!(
        report::report(&error),
        "field `insurance.policyNumber`: decryption failed: the ciphertext is not authentic for this key"
    );
    setup.drop().await;
}

/// Per-document keys: each note is encrypted with the key named by its `owner` field.
#[derive(Serialize, Deserialize, Encrypted, Debug, Clone, PartialEq)]
struct Note {
    owner: String,
    #[encrypt(random, key_alt_name_field = "owner")]
    body: String,
    #[encrypt(random, key_alt_name_field = "owner")]
    mood: Option<String>,
}

#[tokio::test]
async fn deleting_a_per_document_key_shreds_that_document_only() {
    let setup = Setup::new("coll_shred").await;
    for owner in ["alice", "bob"] {
        setup
            .encryption
            .create_data_key(MasterKey::local())
            .key_alt_names([owner])
            .await
            .unwrap();
    }
    let notes = EncryptedCollection::<Note>::new(
        &setup.db.collection::<Document>("notes"),
        &setup.encryption,
    );
    let alice = Note {
        owner: "alice".into(),
        body: "alice's secret".into(),
        mood: None,
    };
    let bob = Note {
        owner: "bob".into(),
        body: "bob's secret".into(),
        mood: Some("calm".into()),
    };
    notes.insert_many([&alice, &bob]).await.unwrap();

    // None is stored as an absent field, never as null or as a ciphertext of null.
    let raw = setup
        .db
        .collection::<Document>("notes")
        .find_one(doc! { "owner": "alice" })
        .await
        .unwrap()
        .unwrap();
    assert!(!raw.contains_key("mood"));
    assert!(is_ciphertext(raw.get("body")));

    let schema = EncryptedCollection::<Note>::new(
        &setup.db.collection::<Document>("notes"),
        &setup.encryption,
    )
    .json_schema()
    .await
    .unwrap();
    assert_eq!(
        schema
            .get_document("properties")
            .unwrap()
            .get_document("body")
            .unwrap(),
        &doc! { "encrypt": { "keyId": "/owner", "bsonType": "string", "algorithm": "AEAD_AES_256_CBC_HMAC_SHA_512-Random" } }
    );

    let alice_key = setup
        .encryption
        .get_key_by_alt_name("alice")
        .await
        .unwrap()
        .unwrap();
    setup.encryption.delete_key(alice_key.id).await.unwrap();
    // A fresh handle (empty key cache), as after a restart.
    let fresh = ClientEncryption::builder(
        server::client().await,
        KmsProviders::new().with(LocalKms::new(LocalMasterKey::from_bytes(&MASTER).unwrap())),
    )
    .key_vault_namespace(Namespace::new(setup.db.name(), "__keyVault"))
    .build();
    let notes = EncryptedCollection::<Note>::new(&setup.db.collection::<Document>("notes"), &fresh);
    let views: Vec<NoteView> = notes
        .find_views(Filter::all())
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(views.len(), 2);
    for view in views {
        match view.owner.as_str() {
            "alice" => assert!(view.body.is_sealed()),
            _ => {
                assert_eq!(
                    view.body.revealed().map(String::as_str),
                    Some("bob's secret")
                );
                assert_eq!(
                    view.mood.and_then(|mood| mood.into_revealed()).as_deref(),
                    Some("calm")
                );
            }
        }
    }
    assert_eq!(
        notes
            .find_one(Note::fields().owner().eq("bob"))
            .await
            .unwrap(),
        Some(bob)
    );
    let error = notes
        .find_one(Note::fields().owner().eq("alice"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Field { path, .. } if path == "body"),
        "{error}"
    );
    // Writing for a deleted owner fails with a typed error, nothing half-written.
    let error = notes.insert_one(&alice).await.unwrap_err();
    assert!(
        matches!(error, Error::KeyNotFound { .. } | Error::Field { .. }),
        "{error}"
    );
    assert_eq!(notes.count_documents(Filter::all()).await.unwrap(), 2);
    setup.drop().await;
}

#[tokio::test]
async fn the_schema_names_the_key_vaults_uuid() {
    let setup = Setup::new("coll_schema").await;
    let key = setup
        .encryption
        .get_key_by_alt_name("medco-key")
        .await
        .unwrap()
        .unwrap();
    let schema = setup.patients().json_schema().await.unwrap();
    assert_eq!(
        schema.get_document("encryptMetadata").unwrap(),
        &doc! { "keyId": [bson::Binary::from_uuid(key.id)] }
    );
    let validator = setup.patients().validator().await.unwrap();
    assert_eq!(validator.get_document("$jsonSchema").unwrap(), &schema);
    setup.drop().await;
}

#[tokio::test]
async fn the_validator_makes_the_server_refuse_plaintext_where_it_supports_validators() {
    let setup = Setup::new("coll_validator").await;
    let patients = setup.patients();
    match patients.create_with_validator().await {
        Ok(()) => {
            // Idempotent: a second call sets it on the existing collection.
            patients.create_with_validator().await.unwrap();
            patients.insert_one(jon_doe()).await.unwrap();
            let refused = setup
                .db
                .collection::<Document>("patients")
                .insert_one(doc! { "name": "Plain", "ssn": 1, "bloodType": "O+", "medicalRecords": [], "insurance": { "provider": "x", "policyNumber": 1 } })
                .await;
            assert!(refused.is_err(), "the server accepted a plaintext ssn");
        }
        Err(Error::UnsupportedByServer { .. }) => {
            assert!(
                server::is_ferretdb().await,
                "only FerretDB is known to lack validators"
            );
            // The codecs still only ever write ciphertexts.
            patients.insert_one(jon_doe()).await.unwrap();
        }
        Err(other) => panic!("{other}"),
    }
    setup.drop().await;
}

#[tokio::test]
async fn insert_many_sends_everything_or_nothing() {
    let setup = Setup::new("coll_many").await;
    let patients = setup.patients();
    let count = 2500;
    let result = patients
        .insert_many((0..count as i32).map(patient))
        .await
        .unwrap();
    assert_eq!(result.inserted_ids.len(), count);
    assert!((0..count).all(|index| result.inserted_ids.contains_key(&index)));
    assert_eq!(
        patients.count_documents(Filter::all()).await.unwrap(),
        count as u64
    );

    // One model that cannot be encrypted (its per-document key does not exist): nothing
    // is inserted, and the error says which key.
    setup
        .encryption
        .create_data_key(MasterKey::local())
        .key_alt_names(["bob"])
        .await
        .unwrap();
    let notes = EncryptedCollection::<Note>::new(
        &setup.db.collection::<Document>("notes"),
        &setup.encryption,
    );
    let mut batch: Vec<Note> = (0..1700)
        .map(|n| Note {
            owner: "bob".into(),
            body: format!("note {n}"),
            mood: None,
        })
        .collect();
    batch[1600].owner = "nobody".into();
    let error = notes.insert_many(&batch).await.unwrap_err();
    assert!(
        matches!(&error, Error::KeyNotFound { key } if key.contains("nobody")),
        "{error}"
    );
    assert_eq!(notes.count_documents(Filter::all()).await.unwrap(), 0);
    setup.drop().await;
}

/// A stored Jon Doe and a plain handle on the same collection.
async fn planted(
    purpose: &str,
) -> (
    Setup,
    EncryptedCollection<Patient>,
    mongodb::Collection<Document>,
) {
    let setup = Setup::new(purpose).await;
    let patients = setup.patients();
    patients.insert_one(jon_doe()).await.unwrap();
    let plain = setup.db.collection::<Document>("patients");
    (setup, patients, plain)
}

async fn ciphertext(setup: &Setup, value: Bson, algorithm: encrypted::Algorithm) -> bson::Binary {
    setup
        .encryption
        .encrypt(value, "medco-key".into(), algorithm)
        .await
        .unwrap()
}

fn mismatch_at(error: &Error, expected_path: &str) -> bool {
    matches!(error, Error::Field { path, source } if path == expected_path && matches!(**source, Error::CiphertextMismatch { .. }))
}

#[tokio::test]
async fn finding_8_int64_and_random_ciphertexts_in_an_int32_deterministic_field_are_refused() {
    let (setup, patients, plain) = planted("coll_f8").await;
    for (value, algorithm) in [
        (Bson::Int64(241014209), encrypted::Algorithm::Deterministic),
        (Bson::Int32(241014209), encrypted::Algorithm::Random),
    ] {
        let planted = ciphertext(&setup, value, algorithm).await;
        plain
            .update_one(doc! {}, doc! { "$set": { "ssn": planted } })
            .await
            .unwrap();
        let error = patients.find_one(Filter::all()).await.unwrap_err();
        assert!(mismatch_at(&error, "ssn"), "{error}");
        let error = patients
            .find(Filter::all())
            .await
            .unwrap()
            .try_collect::<Vec<_>>()
            .await
            .unwrap_err();
        assert!(mismatch_at(&error, "ssn"), "{error}");
        let error = patients
            .distinct(Patient::fields().ssn(), Filter::all())
            .await
            .unwrap_err();
        assert!(mismatch_at(&error, "ssn"), "{error}");
        // A view leaves the field sealed and shows the rest.
        let view = patients
            .find_one_view(Filter::all())
            .await
            .unwrap()
            .unwrap();
        assert!(view.ssn.is_sealed());
        assert_eq!(view.name, "Jon Doe");
    }
    setup.drop().await;
}

#[tokio::test]
async fn finding_9_distinct_refuses_plaintext_planted_in_an_encrypted_field() {
    let (setup, patients, plain) = planted("coll_f9").await;
    plain
        .insert_one(doc! { "name": "Planted", "ssn": 5, "insurance": { "provider": "x", "policyNumber": 7 } })
        .await
        .unwrap();
    let error = patients
        .distinct(Patient::fields().ssn(), Filter::all())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::UnencryptedField { path, found: "int" } if path == "ssn"),
        "{error}"
    );
    let error = patients
        .distinct(
            Patient::fields().insurance().fields().policy_number(),
            Filter::all(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::UnencryptedField { path, .. } if path == "insurance.policyNumber"),
        "{error}"
    );
    // Without the planted document, distinct still decrypts.
    plain.delete_one(doc! { "name": "Planted" }).await.unwrap();
    let ssns = patients
        .distinct(Patient::fields().ssn(), Filter::all())
        .await
        .unwrap();
    assert_eq!(ssns, [241014209]);
    setup.drop().await;
}

#[tokio::test]
async fn finding_10_update_many_raw_refuses_rename_onto_an_encrypted_path() {
    let (setup, patients, plain) = planted("coll_f10").await;
    for update in [
        doc! { "$rename": { "name": "ssn" } },
        doc! { "$rename": { "name": "insurance.policyNumber" } },
        doc! { "$max": { "ssn": 1 } },
        doc! { "$setOnInsert": { "bloodType": "O+" } },
        doc! { "$currentDate": { "insurance": true } },
    ] {
        let error = patients
            .update_many_raw(Filter::all(), update.clone())
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                Error::UnsupportedOperator { .. } | Error::UnencryptedField { .. }
            ),
            "{update}: {error}"
        );
    }
    let error = patients
        .update_many_raw(
            Filter::all(),
            doc! { "$set": { "insurance": { "provider": "x", "policyNumber": 1 } } },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::UnencryptedField { path, .. } if path == "insurance.policyNumber"),
        "{error}"
    );
    // Nothing was written: the document still decodes as it was.
    assert_eq!(
        patients.find_one(Filter::all()).await.unwrap(),
        Some(jon_doe())
    );
    assert!(is_ciphertext(
        plain.find_one(doc! {}).await.unwrap().unwrap().get("ssn")
    ));
    setup.drop().await;
}

#[tokio::test]
async fn finding_11_raw_filters_comparing_a_parent_document_or_using_expr_are_refused() {
    let (setup, patients, _plain) = planted("coll_f11").await;
    let insurance = doc! { "provider": "MaestCare", "policyNumber": 123142 };
    for filter in [
        doc! { "insurance": { "$eq": insurance.clone() } },
        doc! { "insurance": { "$in": [insurance.clone()] } },
    ] {
        let error = patients.find_one(Filter::raw(filter)).await.unwrap_err();
        assert!(
            matches!(&error, Error::UnencryptedField { path, .. } if path == "insurance.policyNumber"),
            "{error}"
        );
    }
    for filter in [
        doc! { "$expr": { "$eq": ["$ssn", 241014209] } },
        doc! { "ssn": { "$type": "int" } },
    ] {
        let error = patients
            .count_documents(Filter::raw(filter))
            .await
            .unwrap_err();
        assert!(
            matches!(error, Error::UnsupportedOperator { .. }),
            "{error}"
        );
    }
    // The same parent comparison with the stored ciphertext is a query that works.
    let policy = ciphertext(
        &setup,
        Bson::Int32(123142),
        encrypted::Algorithm::Deterministic,
    )
    .await;
    let found = patients
        .find_one(Filter::raw(
            doc! { "insurance": { "$eq": { "provider": "MaestCare", "policyNumber": policy } } },
        ))
        .await
        .unwrap();
    assert_eq!(found, Some(jon_doe()));
    setup.drop().await;
}

#[tokio::test]
async fn finding_14_errors_name_the_field_and_say_what_is_wrong() {
    let (setup, patients, plain) = planted("coll_f14").await;
    // Garbage subtype-6 bytes: malformed, not "no data key".
    let garbage = bson::Binary {
        subtype: BinarySubtype::Encrypted,
        bytes: vec![1; 40],
    };
    plain
        .update_one(doc! {}, doc! { "$set": { "bloodType": garbage } })
        .await
        .unwrap();
    let error = patients.find_one(Filter::all()).await.unwrap_err();
    assert!(
        matches!(&error, Error::Field { path, source } if path == "bloodType" && matches!(**source, Error::MalformedCiphertext { .. })),
        "{error}"
    );
    assert!(
        report::report(&error).contains("malformed ciphertext"),
        "{error}"
    );

    // One tampered field: the view seals it and shows the rest.
    patients.delete_many(Filter::all()).await.unwrap();
    patients.insert_one(jon_doe()).await.unwrap();
    let stored = plain.find_one(doc! {}).await.unwrap().unwrap();
    let Some(Bson::Binary(mut binary)) = stored.get("bloodType").cloned() else {
        panic!("not encrypted");
    };
    let last = binary.bytes.len() - 1;
    binary.bytes[last] ^= 1;
    plain
        .update_one(doc! {}, doc! { "$set": { "bloodType": binary } })
        .await
        .unwrap();
    let view = patients
        .find_one_view(Filter::all())
        .await
        .unwrap()
        .unwrap();
    assert!(view.blood_type.is_sealed());
    assert_eq!(view.ssn.revealed(), Some(&241014209));

    // A missing encrypted field is named.
    plain
        .update_one(doc! {}, doc! { "$unset": { "insurance.policyNumber": "" } })
        .await
        .unwrap();
    plain
        .update_one(
            doc! {},
            doc! { "$set": { "bloodType": stored.get("bloodType").unwrap() } },
        )
        .await
        .unwrap();
    let error = patients.find_one(Filter::all()).await.unwrap_err();
    assert!(
        matches!(&error, Error::Field { path, source } if path == "insurance.policyNumber" && matches!(**source, Error::MissingField)),
        "{error}"
    );

    // A failed insert_many says how many documents were stored.
    patients.delete_many(Filter::all()).await.unwrap();
    plain
        .create_index(
            mongodb::IndexModel::builder()
                .keys(doc! { "name": 1 })
                .options(
                    mongodb::options::IndexOptions::builder()
                        .unique(true)
                        .build(),
                )
                .build(),
        )
        .await
        .unwrap();
    let mut batch: Vec<Patient> = (1..=5).map(patient).collect();
    batch[3].name = batch[0].name.clone();
    let error = patients.insert_many(&batch).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::PartialInsert {
                inserted: Some(3),
                total: 5,
                ..
            }
        ),
        "{error}"
    );
    assert!(
        error.to_string().contains("after storing 3 of 5 documents"),
        "{error}"
    );
    setup.drop().await;
}

#[tokio::test]
async fn finding_16_a_document_nested_a_thousand_levels_deep_is_refused_not_an_abort() {
    let (setup, _patients, _plain) = planted("coll_f16").await;
    // Jon Doe as stored, with a plaintext field nested 1000 levels deep (built as bytes:
    // no recursion on this thread).
    let mut raw = setup
        .db
        .collection::<bson::RawDocumentBuf>("patients")
        .find_one(doc! {})
        .await
        .unwrap()
        .unwrap();
    let mut deep = bson::rawdoc! { "a": 1 };
    for _ in 1..1000 {
        let mut outer = bson::RawDocumentBuf::new();
        outer.append(bson::raw::cstr!("a"), deep);
        deep = outer;
    }
    raw.append(bson::raw::cstr!("extra"), deep);
    // Decoded on a thread with a tokio worker's 2 MiB stack.
    let encryption = setup.encryption.clone();
    let db = setup.db.clone();
    let decoded = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    let patients = EncryptedCollection::<Patient>::new(
                        &db.collection::<Document>("patients"),
                        &encryption,
                    );
                    (
                        patients.decode(raw.clone()).await.map(drop),
                        patients.decode_view(raw).await.map(drop),
                    )
                })
        })
        .unwrap()
        .join()
        .unwrap();
    for result in [decoded.0, decoded.1] {
        let error = result.unwrap_err();
        assert!(
            matches!(error, Error::TooDeeplyNested { limit: 100 }),
            "{error}"
        );
    }
    setup.drop().await;
}

/// Filters and updates made without a server (the sans-I/O core) are what the collection
/// sends: the plain driver collection can use them, and the typed collection reads back
/// what such an update wrote.
#[tokio::test]
async fn filters_and_updates_made_without_a_server_work_on_the_plain_driver() {
    let setup = Setup::new("coll_to_document").await;
    let patients = setup.patients();
    patients.insert_one(jon_doe()).await.unwrap();
    patients.insert_many((1..=3).map(patient)).await.unwrap();
    let key = setup
        .encryption
        .data_key(&KeyRef::AltName("medco-key".into()))
        .await
        .unwrap();
    let keys = Keys::new().with(KeyRef::AltName("medco-key".into()), key);
    let plain = setup.db.collection::<Document>("patients");

    let filter = Patient::fields()
        .ssn()
        .eq(241014209)
        .and(
            Patient::fields()
                .insurance()
                .fields()
                .policy_number()
                .eq(123142),
        )
        .to_document(&keys)
        .unwrap();
    assert_eq!(plain.count_documents(filter.clone()).await.unwrap(), 1);

    let update = Update::new()
        .set(Patient::fields().blood_type(), "O-")
        .set(
            Patient::fields().insurance(),
            medco::Insurance {
                provider: "Acme".into(),
                policy_number: 777,
            },
        )
        .to_document(&keys)
        .unwrap();
    let set = update.get_document("$set").unwrap();
    assert!(is_ciphertext(set.get("bloodType")));
    assert!(is_ciphertext(
        set.get_document("insurance").unwrap().get("policyNumber")
    ));
    assert_eq!(
        plain
            .update_one(filter, update)
            .await
            .unwrap()
            .modified_count,
        1
    );

    let updated = patients
        .find_one(
            Patient::fields()
                .insurance()
                .fields()
                .policy_number()
                .eq(777),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.blood_type, "O-");
    assert_eq!(updated.insurance.provider, "Acme");
    assert_eq!(updated.name, "Jon Doe");

    // A key the schema names but the set lacks is an error naming the field.
    let error = Patient::fields()
        .ssn()
        .eq(1)
        .to_document(&Keys::new())
        .unwrap_err();
    assert!(matches!(error, Error::Field { ref path, .. } if path == "ssn"));
    setup.drop().await;
}
