//! The generated schema of the MedcoMD guide's model.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

use encrypted::Encrypted;
use encrypted::bson::{Binary, Uuid, doc};

#[path = "common/medco.rs"]
mod medco;

use medco::Patient;

#[test]
fn patient_schema_is_the_guides() {
    let key_id = Uuid::new();
    let schema = encrypted::model::json_schema(Patient::SPEC, |name| {
        (name == "medco-key").then_some(key_id)
    })
    .unwrap();
    let expected = doc! {
        "bsonType": "object",
        "encryptMetadata": { "keyId": [Binary::from_uuid(key_id)] },
        "properties": {
            "ssn": { "encrypt": { "bsonType": "int", "algorithm": "AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic" } },
            "bloodType": { "encrypt": { "bsonType": "string", "algorithm": "AEAD_AES_256_CBC_HMAC_SHA_512-Random" } },
            "medicalRecords": { "encrypt": { "bsonType": "array", "algorithm": "AEAD_AES_256_CBC_HMAC_SHA_512-Random" } },
            "insurance": { "bsonType": "object", "properties": {
                "policyNumber": { "encrypt": { "bsonType": "int", "algorithm": "AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic" } }
            } }
        }
    };
    assert_eq!(schema, expected);
    assert_eq!(
        Patient::fields()
            .insurance()
            .fields()
            .policy_number()
            .path(),
        "insurance.policyNumber"
    );
}
