//! The bodies of the fuzz targets, shared by the libFuzzer binaries (`fuzz/fuzz_targets/`,
//! nightly) and the stable mutation harness (`tests/fuzz_smoke.rs`, plain `cargo test`).
//!
//! Each target takes arbitrary bytes, runs one decode path of the library as an
//! application or the command line would, panics when a property does not hold (a panic
//! of the library itself is a finding too), and returns the authenticated blobs it
//! accepted (ciphertexts, wrapped key material). The mutation harness checks those
//! against the blobs of the unmutated seeds: FLE1 authenticates every byte of a
//! ciphertext and the local KMS every byte of `keyMaterial`, so a mutated blob must
//! never be accepted.
//!
//! The crate root that includes this file also declares the command line's `failure`
//! and `extended_json` modules (`encrypted-cli/src/`), as the binary does.

use std::sync::{Arc, OnceLock};

use encrypted::bson::spec::BinarySubtype;
use encrypted::bson::{self, Bson, RawBsonRef, RawDocument, Uuid};
use encrypted::model::{self, Keys, Protected};
use encrypted::{Algorithm, Ciphertext, DataKey, Encrypted, KeyDocument, KeyRef, LocalMasterKey};
use serde::{Deserialize, Serialize};

/// The authenticated blobs a target accepted.
pub type Accepted = Vec<Vec<u8>>;

/// The default data key of [`Patient`].
pub const KEY_ALT_NAME: &str = "fuzz-key";
/// The data key of [`Patient::notes`]: a view holding only [`KEY_ALT_NAME`] seals it.
pub const OTHER_KEY_ALT_NAME: &str = "fuzz-other-key";

/// A nested model that takes its key from the model it is in.
#[derive(Serialize, Deserialize, Encrypted, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
#[encrypted(inherit_key)]
pub struct Insurance {
    /// Plaintext.
    pub provider: String,
    /// Deterministic, the parent's key.
    #[encrypt(deterministic)]
    pub policy_number: i32,
}

/// The model of the stored documents: every kind of encrypted field.
#[derive(Serialize, Deserialize, Encrypted, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
#[encrypted(key_alt_name = "fuzz-key")]
pub struct Patient {
    /// Plaintext.
    pub name: String,
    /// Deterministic.
    #[encrypt(deterministic)]
    pub ssn: i32,
    /// Random.
    #[encrypt(random)]
    pub blood_type: String,
    /// Random and optional (absent when `None`).
    #[encrypt(random)]
    pub weight: Option<i64>,
    /// Random, under a key of its own.
    #[encrypt(random, key_alt_name = "fuzz-other-key")]
    pub notes: Vec<String>,
    /// A nested model, optional.
    #[encrypt(nested)]
    pub insurance: Option<Insurance>,
    /// Plaintext.
    pub visits: Vec<i32>,
}

/// The fixed keys the seeds were made with.
pub struct Fixtures {
    /// The data key named [`KEY_ALT_NAME`].
    pub key: Arc<DataKey>,
    /// The data key named [`OTHER_KEY_ALT_NAME`].
    pub other_key: Arc<DataKey>,
    /// A data key no target is given: its ciphertexts stay sealed.
    pub foreign_key: Arc<DataKey>,
    /// The local master key that wrapped the seeds' key documents.
    pub master_key: LocalMasterKey,
    /// Both data keys under their names.
    pub keys: Keys,
    /// [`Fixtures::key`] only.
    pub only_key: Keys,
}

fn fixed_bytes<const N: usize>(salt: u8) -> [u8; N] {
    std::array::from_fn(|i| (i as u8).wrapping_mul(31).wrapping_add(salt))
}

fn data_key(id: u8, salt: u8) -> Arc<DataKey> {
    Arc::new(
        DataKey::from_bytes(Uuid::from_bytes([id; 16]), &fixed_bytes::<96>(salt))
            .expect("96 bytes make a data key"),
    )
}

/// The fixed keys, built once.
pub fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let key = data_key(0x11, 1);
        let other_key = data_key(0x22, 2);
        let foreign_key = data_key(0x33, 3);
        Fixtures {
            keys: Keys::new()
                .with(KeyRef::AltName(KEY_ALT_NAME.into()), Arc::clone(&key))
                .with(
                    KeyRef::AltName(OTHER_KEY_ALT_NAME.into()),
                    Arc::clone(&other_key),
                ),
            only_key: Keys::new().with(KeyRef::AltName(KEY_ALT_NAME.into()), Arc::clone(&key)),
            master_key: LocalMasterKey::from_bytes(&fixed_bytes::<96>(4))
                .expect("96 bytes make a master key"),
            key,
            other_key,
            foreign_key,
        }
    })
}

/// The bytes a value occupies in a document, to compare values (NaN included).
fn value_bytes(value: &Bson) -> Vec<u8> {
    bson::doc! { "v": value.clone() }
        .to_vec()
        .expect("a decrypted value encodes")
}

/// A revealed field of a view holds the decoded model's value; a sealed one is not under
/// the key the view had.
fn check_view_field<T: PartialEq + std::fmt::Debug>(
    field: &Protected<T>,
    decoded: &T,
    key: &DataKey,
) {
    match field {
        Protected::Revealed(value) => assert_eq!(value, decoded, "a view reveals another value"),
        Protected::Sealed(sealed) => assert_ne!(
            sealed.key_id(),
            key.id(),
            "a view left sealed a field it holds the key of"
        ),
    }
}

/// The encrypted fields' ciphertexts of a stored [`Patient`].
fn patient_ciphertexts(stored: &RawDocument) -> Accepted {
    fn binary(document: &RawDocument, name: &str) -> Option<Vec<u8>> {
        match document.get(name) {
            Ok(Some(RawBsonRef::Binary(binary))) if binary.subtype == BinarySubtype::Encrypted => {
                Some(binary.bytes.to_vec())
            }
            _ => None,
        }
    }
    let mut found: Accepted = ["ssn", "bloodType", "weight", "notes"]
        .into_iter()
        .filter_map(|name| binary(stored, name))
        .collect();
    if let Ok(Some(RawBsonRef::Document(insurance))) = stored.get("insurance") {
        found.extend(binary(insurance, "policyNumber"));
    }
    found
}

/// Stored documents and views: `model::decode` with both keys, the view with one key
/// and with none (`EncryptedCollection::decode_view` without a key vault).
pub fn stored_document(data: &[u8]) -> Accepted {
    let fixtures = fixtures();
    let Ok(stored) = RawDocument::from_bytes(data) else {
        return Vec::new();
    };
    let decoded = model::decode::<Patient>(stored, &fixtures.keys);
    let view = encrypted::__fuzz::decode_view::<Patient>(data, &fixtures.only_key);
    let sealed = encrypted::__fuzz::decode_view::<Patient>(data, &Keys::new());

    if let Ok(sealed) = &sealed {
        // Without keys nothing is revealed: an encrypted field holds a ciphertext or
        // nothing, never plaintext.
        assert!(sealed.ssn.is_sealed(), "a view without keys revealed `ssn`");
        assert!(
            sealed.blood_type.is_sealed(),
            "a view without keys revealed `bloodType`"
        );
        assert!(
            sealed.weight.as_ref().is_none_or(Protected::is_sealed),
            "a view without keys revealed `weight`"
        );
        assert!(
            sealed.notes.is_sealed(),
            "a view without keys revealed `notes`"
        );
        assert!(
            sealed
                .insurance
                .as_ref()
                .is_none_or(|insurance| insurance.policy_number.is_sealed()),
            "a view without keys revealed `insurance.policyNumber`"
        );
    }

    let Ok(patient) = decoded else {
        return Vec::new();
    };
    // What decodes with every key is viewed without an error with fewer keys.
    let view = view.expect("a document that decodes has a view with fewer keys");
    assert!(
        sealed.is_ok(),
        "a document that decodes has a view without keys"
    );
    let key = &fixtures.key;
    check_view_field(&view.ssn, &patient.ssn, key);
    check_view_field(&view.blood_type, &patient.blood_type, key);
    check_view_field(&view.notes, &patient.notes, key);
    match (&view.weight, &patient.weight) {
        (Some(field), Some(weight)) => check_view_field(field, weight, key),
        (None, None) => {}
        _ => panic!("the view and the model disagree on `weight`"),
    }
    match (&view.insurance, &patient.insurance) {
        (Some(field), Some(insurance)) => {
            assert_eq!(field.provider, insurance.provider);
            check_view_field(&field.policy_number, &insurance.policy_number, key);
        }
        (None, None) => {}
        _ => panic!("the view and the model disagree on `insurance`"),
    }
    // A decoded model encodes again, and that decodes to the same model.
    let again = model::encode(&patient, &fixtures.keys).expect("a decoded model encodes");
    let back = model::decode::<Patient>(&again, &fixtures.keys).expect("an encoded model decodes");
    assert_eq!(back, patient, "encode then decode changed the model");
    patient_ciphertexts(stored)
}

/// Ciphertext parsing (`Ciphertext::from_bytes`) and decryption (`DataKey::decrypt`).
pub fn ciphertext(data: &[u8]) -> Accepted {
    let fixtures = fixtures();
    let Ok(ciphertext) = Ciphertext::from_bytes(data.to_vec()) else {
        return Vec::new();
    };
    assert_eq!(ciphertext.as_bytes(), data);
    let as_bson = Bson::Binary(ciphertext.to_binary());
    assert!(
        Ciphertext::from_bson(&as_bson).ok().as_ref() == Some(&ciphertext),
        "a parsed ciphertext does not parse again from its binary"
    );
    let mut accepted = Vec::new();
    for key in [&fixtures.key, &fixtures.other_key] {
        let Ok(value) = key.decrypt(&ciphertext) else {
            continue;
        };
        accepted.push(data.to_vec());
        assert_eq!(ciphertext.key_id(), key.id());
        assert_eq!(
            value.element_type(),
            ciphertext.original_type(),
            "a ciphertext decrypted to a value of another type than its header says"
        );
        let again = key
            .encrypt(&value, ciphertext.algorithm())
            .expect("a decrypted value encrypts again");
        if ciphertext.algorithm() == Algorithm::Deterministic {
            assert_eq!(
                again.as_bytes(),
                data,
                "deterministic encryption of the decrypted value gives another ciphertext"
            );
        }
        let back = key.decrypt(&again).expect("a fresh ciphertext decrypts");
        assert_eq!(value_bytes(&back), value_bytes(&value));
    }
    accepted
}

/// Key documents (`KeyDocument::from_document`) and local unwrapping
/// (`LocalMasterKey::unwrap`).
pub fn key_document(data: &[u8]) -> Accepted {
    let fixtures = fixtures();
    // As the driver hands a key document over: bytes whose length is known. (Not
    // `Document::from_reader`, which allocates whatever the length header says, up to
    // 2 GiB: the seed `oversized-length-header`.)
    let Ok(document) = RawDocument::from_bytes(data).and_then(bson::Document::try_from) else {
        return Vec::new();
    };
    let Ok(parsed) = KeyDocument::from_document(&document) else {
        return Vec::new();
    };
    assert_eq!(
        KeyDocument::from_document(&parsed.to_document())
            .ok()
            .as_ref(),
        Some(&parsed),
        "a key document does not parse again from what it writes"
    );
    let Ok(key) = fixtures.master_key.unwrap(parsed.id, &parsed.key_material) else {
        return Vec::new();
    };
    assert_eq!(key.id(), parsed.id);
    let probe = key
        .encrypt(&Bson::Int32(7), Algorithm::Deterministic)
        .expect("an unwrapped key encrypts");
    assert_eq!(key.decrypt(&probe).ok(), Some(Bson::Int32(7)));
    vec![parsed.key_material]
}

/// AWS KMS replies: two bytes of HTTP status (big-endian, modulo 600), then the body.
pub fn kms_reply(data: &[u8]) -> Accepted {
    let [high, low, body @ ..] = data else {
        return Vec::new();
    };
    let status = u16::from_be_bytes([*high, *low]) % 600;
    let success = (200..300).contains(&status);
    // A reply's key bytes never end up in an error message.
    let secret = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|json| {
            ["Plaintext", "CiphertextBlob"]
                .map(|field| {
                    json.get(field)
                        .and_then(serde_json::Value::as_str)
                        .map(str::to_owned)
                })
                .into_iter()
                .flatten()
                .find(|text| text.len() >= 16)
        });
    for reply in encrypted::__fuzz::aws_kms_reply(status, body) {
        match reply {
            Ok(_) => assert!(
                success,
                "a reply of status {status} was taken for an answer"
            ),
            Err(error) => {
                let message = error.to_string();
                if let (true, Some(secret)) = (success, &secret) {
                    assert!(
                        !message.contains(secret.as_str()),
                        "an error quotes the reply"
                    );
                }
            }
        }
    }
    Vec::new()
}

/// The command line's Extended JSON: values to encrypt, ciphertexts (then decrypted as
/// `encrypted-keys decrypt` does), filters.
pub fn extended_json(data: &[u8]) -> Accepted {
    use crate::extended_json::{
        canonical, parse_ciphertext, parse_filter, parse_plaintext, relaxed,
    };
    let Ok(text) = std::str::from_utf8(data) else {
        return Vec::new();
    };
    if let Ok(value) = parse_plaintext(text) {
        // What `decrypt` prints, `encrypt` reads back as the same value.
        let printed = canonical(value.clone());
        let again = parse_plaintext(&printed).expect("canonical Extended JSON parses");
        assert_eq!(
            canonical(again),
            printed,
            "canonical Extended JSON is not stable"
        );
        let _ = relaxed(value);
    }
    if let Ok(filter) = parse_filter(text) {
        let _ = relaxed(Bson::Document(filter));
    }
    match parse_ciphertext(text.trim()) {
        Ok(binary) => {
            assert_eq!(binary.subtype, BinarySubtype::Encrypted);
            ciphertext(&binary.bytes)
        }
        Err(_) => Vec::new(),
    }
}
