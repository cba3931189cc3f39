//! The generated schema of the MedcoMD guide's model.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use encrypted::Encrypted;
use encrypted::bson::{Binary, Uuid, doc};

#[path = "common/medco.rs"]
mod medco;

#[path = "common/report.rs"]
mod report;

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

mod features {
    use std::sync::Arc;

    use encrypted::bson::{Binary, Bson, Document, RawDocumentBuf, Uuid, doc, spec::BinarySubtype};
    use encrypted::model::{self, Keys};
    use encrypted::{DataKey, Encrypted, Error, KeyRef};
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
    #[serde(rename_all = "lowercase")]
    pub enum Plan {
        Basic,
        Premium,
    }

    /// serde's renames, skips and defaults, `Option`, per-field keys and a custom type.
    #[derive(Serialize, Deserialize, Encrypted, Debug, Clone, PartialEq)]
    #[encrypted(key_alt_name = "default-key")]
    pub struct Member {
        #[serde(rename = "memberName")]
        pub name: String,
        #[serde(rename = "SSN")]
        #[encrypt(deterministic)]
        pub ssn: i64,
        #[encrypt(random)]
        pub nickname: Option<String>,
        #[encrypt(deterministic, key_alt_name = "billing-key")]
        pub card: String,
        #[encrypt(deterministic, bson_type = "string")]
        pub plan: Plan,
        #[serde(skip)]
        pub session: u32,
        #[serde(default)]
        #[encrypt(random, key_id = "9c4a3f0e-3f2b-4f1e-8d2c-1a2b3c4d5e6f")]
        pub notes: Vec<String>,
    }

    fn member() -> Member {
        Member {
            name: "Ada".into(),
            ssn: 123_456_789_012,
            nickname: None,
            card: "4111".into(),
            plan: Plan::Premium,
            session: 0,
            notes: vec!["allergic to penicillin".into()],
        }
    }

    fn keys() -> (Keys, Arc<DataKey>, Arc<DataKey>, Arc<DataKey>) {
        let default = Arc::new(DataKey::generate(Uuid::new()).unwrap());
        let billing = Arc::new(DataKey::generate(Uuid::new()).unwrap());
        let pinned = Arc::new(
            DataKey::generate(Uuid::parse_str("9c4a3f0e-3f2b-4f1e-8d2c-1a2b3c4d5e6f").unwrap())
                .unwrap(),
        );
        let keys = Keys::new()
            .with(KeyRef::AltName("default-key".into()), Arc::clone(&default))
            .with(KeyRef::AltName("billing-key".into()), Arc::clone(&billing))
            .with(KeyRef::Id(pinned.id()), Arc::clone(&pinned));
        (keys, default, billing, pinned)
    }

    #[test]
    fn stored_names_keys_and_types_follow_the_attributes() {
        let (keys, default, billing, pinned) = keys();
        let stored = model::encode(&member(), &keys).unwrap();
        let stored = Document::try_from(stored.as_ref()).unwrap();
        assert_eq!(stored.get_str("memberName").unwrap(), "Ada");
        assert!(!stored.contains_key("session"), "serde(skip) is honoured");
        assert!(
            !stored.contains_key("nickname"),
            "None is stored as an absent field"
        );
        let key_of = |field: &str| {
            let Some(Bson::Binary(binary)) = stored.get(field) else {
                panic!("{field} not encrypted")
            };
            assert_eq!(binary.subtype, BinarySubtype::Encrypted);
            encrypted::Ciphertext::from_binary(binary).unwrap().key_id()
        };
        assert_eq!(key_of("SSN"), default.id());
        assert_eq!(key_of("card"), billing.id());
        assert_eq!(key_of("notes"), pinned.id());
        // The custom type is declared a string: encrypted deterministically as one.
        assert_eq!(
            stored.get("plan"),
            Some(&Bson::from(
                default
                    .encrypt(
                        &Bson::String("premium".into()),
                        encrypted::Algorithm::Deterministic
                    )
                    .unwrap()
            ))
        );
        let back: Member =
            model::decode(&RawDocumentBuf::try_from(&stored).unwrap(), &keys).unwrap();
        assert_eq!(back, member());

        let schema = model::json_schema(Member::SPEC, |name| match name {
            "default-key" => Some(default.id()),
            "billing-key" => Some(billing.id()),
            _ => None,
        })
        .unwrap();
        let properties = schema.get_document("properties").unwrap();
        assert_eq!(
            properties.get_document("card").unwrap(),
            &doc! { "encrypt": { "keyId": [Binary::from_uuid(billing.id())], "bsonType": "string", "algorithm": "AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic" } }
        );
        assert_eq!(
            properties
                .get_document("SSN")
                .unwrap()
                .get_document("encrypt")
                .unwrap()
                .get_str("bsonType")
                .unwrap(),
            "long"
        );
        assert_eq!(
            properties
                .get_document("nickname")
                .unwrap()
                .get_document("encrypt")
                .unwrap()
                .get_str("bsonType")
                .unwrap(),
            "string"
        );
        assert!(!properties.contains_key("memberName"));
        assert_eq!(Member::fields().ssn().path(), "SSN");
    }

    #[test]
    fn a_missing_key_or_a_wrong_type_is_a_typed_error_naming_the_field() {
        let (_, default, _, _) = keys();
        let only_default = Keys::new().with(KeyRef::AltName("default-key".into()), default);
        let error = model::encode(&member(), &only_default).unwrap_err();
        assert!(
            matches!(&error, Error::Field { path, source } if path == "card" && matches!(**source, Error::KeyNotFound { .. })),
            "{error}"
        );
        let (keys, ..) = keys();
        let stored = model::encode(&member(), &keys).unwrap();
        let error = model::decode::<Member>(&stored, &Keys::new()).unwrap_err();
        assert!(
            matches!(&error, Error::Field { path, .. } if path == "SSN"),
            "{error}"
        );
        // Nothing secret in the messages, causes included.
        let shown = crate::report::report(&error);
        for secret in ["123456789012", "4111", "premium", "penicillin"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
