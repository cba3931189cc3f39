use bson::{Bson, doc, spec::ElementType};

use super::*;
use crate::model::{EncryptedFieldSpec, FieldSpec};
use crate::{Algorithm, Ciphertext};

const KEY: KeySource = KeySource::AltName("k");

const fn encrypted(algorithm: Algorithm, bson_type: ElementType, optional: bool) -> FieldKind {
    FieldKind::Encrypted(EncryptedFieldSpec {
        algorithm,
        bson_type,
        key: None,
        optional,
    })
}

const INNER: ModelSpec = ModelSpec {
    name: "Inner",
    key: None,
    inherits_key: true,
    fields: &[FieldSpec {
        name: "n",
        kind: encrypted(Algorithm::Deterministic, ElementType::Int32, false),
    }],
};

const OUTER: ModelSpec = ModelSpec {
    name: "Outer",
    key: Some(KEY),
    inherits_key: false,
    fields: &[
        FieldSpec {
            name: "s",
            kind: encrypted(Algorithm::Deterministic, ElementType::String, false),
        },
        FieldSpec {
            name: "a",
            kind: encrypted(Algorithm::Random, ElementType::Array, false),
        },
        FieldSpec {
            name: "o",
            kind: encrypted(Algorithm::Random, ElementType::String, true),
        },
        FieldSpec {
            name: "inner",
            kind: FieldKind::Nested {
                model: &INNER,
                optional: false,
            },
        },
    ],
};

fn ring() -> (Keys, Arc<DataKey>) {
    let key = Arc::new(DataKey::generate(Uuid::new()).unwrap());
    let mut ring = Keys::default();
    ring.insert(KeyRef::AltName("k".into()), Arc::clone(&key));
    (ring, key)
}

fn raw(document: &bson::Document) -> Vec<u8> {
    bson::serialize_to_vec(document).unwrap()
}

fn document(bytes: &[u8]) -> bson::Document {
    bson::deserialize_from_slice(bytes).unwrap()
}

fn encrypt(document: &bson::Document, ring: &Keys) -> Result<bson::Document> {
    let encrypted = encrypt_document(&OUTER, &raw(document), None, ring, &Path::ROOT)?;
    Ok(self::document(&encrypted))
}

#[test]
fn fields_round_trip_and_match_the_explicit_api_byte_for_byte() {
    let (ring, key) = ring();
    let plain = doc! { "x": 1, "s": "secret", "a": [1, "two"], "o": "maybe", "inner": { "n": 7, "p": "plain" } };
    let encrypted = encrypt(&plain, &ring).unwrap();
    assert_eq!(encrypted.get_i32("x").unwrap(), 1);
    assert_eq!(
        encrypted
            .get_document("inner")
            .unwrap()
            .get_str("p")
            .unwrap(),
        "plain"
    );
    // Deterministic fields are exactly what `DataKey::encrypt` (checked against
    // libmongocrypt) gives for the same value.
    let expected = key
        .encrypt(&Bson::String("secret".into()), Algorithm::Deterministic)
        .unwrap();
    assert_eq!(encrypted.get("s"), Some(&Bson::from(expected)));
    let expected = key
        .encrypt(&Bson::Int32(7), Algorithm::Deterministic)
        .unwrap();
    assert_eq!(
        encrypted.get_document("inner").unwrap().get("n"),
        Some(&Bson::from(expected))
    );
    // Random fields decrypt through the explicit API too.
    let Some(Bson::Binary(array)) = encrypted.get("a") else {
        panic!()
    };
    let ciphertext = Ciphertext::from_binary(array).unwrap();
    assert_eq!(
        key.decrypt(&ciphertext).unwrap(),
        Bson::Array(vec![Bson::Int32(1), Bson::String("two".into())])
    );

    let decrypted = decrypt_document(
        &OUTER,
        &raw(&encrypted),
        &ring,
        MissingKeys::Fail,
        &Path::ROOT,
    )
    .unwrap();
    assert_eq!(document(&decrypted), plain);
}

#[test]
fn none_is_absent_and_null_is_never_encrypted() {
    let (ring, _) = ring();
    let encrypted = encrypt(&doc! { "s": "v", "o": null }, &ring).unwrap();
    assert!(!encrypted.contains_key("o"));
    // A required field that is null is refused as the spec refuses null.
    let error = encrypt(&doc! { "a": null }, &ring).unwrap_err();
    assert!(matches!(error, Error::SchemaMismatch { .. }), "{error}");
}

#[test]
fn wrong_types_and_ciphertexts_are_refused_with_the_field_path() {
    let (ring, key) = ring();
    let error = encrypt(&doc! { "inner": { "n": "seven" } }, &ring).unwrap_err();
    assert!(
        matches!(&error, Error::SchemaMismatch { path, expected: "int", found: "string" } if path == "inner.n"),
        "{error}"
    );
    let already = key
        .encrypt(&Bson::String("x".into()), Algorithm::Random)
        .unwrap();
    let error = encrypt(&doc! { "s": Bson::from(already) }, &ring).unwrap_err();
    assert!(
        matches!(&error, Error::Field { path, source } if path == "s" && matches!(**source, Error::AlreadyEncrypted)),
        "{error}"
    );
    let error = encrypt(&doc! { "inner": 3 }, &ring).unwrap_err();
    assert!(
        matches!(
            error,
            Error::SchemaMismatch {
                expected: "object",
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn decrypting_plaintext_fails_and_missing_keys_fail_or_stay_sealed() {
    let (ring, _) = ring();
    let error = decrypt_document(
        &OUTER,
        &raw(&doc! { "s": "plain" }),
        &ring,
        MissingKeys::Fail,
        &Path::ROOT,
    )
    .unwrap_err();
    assert!(
        matches!(&error, Error::UnencryptedField { path, found: "string" } if path == "s"),
        "{error}"
    );

    let encrypted = encrypt(&doc! { "inner": { "n": 1 } }, &ring).unwrap();
    let empty = Keys::default();
    let error = decrypt_document(
        &OUTER,
        &raw(&encrypted),
        &empty,
        MissingKeys::Fail,
        &Path::ROOT,
    )
    .unwrap_err();
    assert!(
        matches!(&error, Error::Field { path, .. } if path == "inner.n"),
        "{error}"
    );
    let sealed = decrypt_document(
        &OUTER,
        &raw(&encrypted),
        &empty,
        MissingKeys::Seal,
        &Path::ROOT,
    )
    .unwrap();
    assert_eq!(document(&sealed), encrypted);

    let mut ids = HashSet::new();
    keys_to_decrypt(&OUTER, &raw(&encrypted), &mut ids).unwrap();
    assert_eq!(ids.len(), 1);
}

#[test]
fn per_document_keys_come_from_a_sibling_field() {
    const NOTE: ModelSpec = ModelSpec {
        name: "Note",
        key: None,
        inherits_key: false,
        fields: &[FieldSpec {
            name: "body",
            kind: FieldKind::Encrypted(EncryptedFieldSpec {
                algorithm: Algorithm::Random,
                bson_type: ElementType::String,
                key: Some(KeySource::AltNameField("owner")),
                optional: false,
            }),
        }],
    };
    let mut keys = HashSet::new();
    keys_to_encrypt(
        &NOTE,
        &raw(&doc! { "owner": "alice", "body": "x" }),
        None,
        &Path::ROOT,
        &mut keys,
    )
    .unwrap();
    assert_eq!(keys, HashSet::from([KeyRef::AltName("alice".into())]));
    let error = keys_to_encrypt(
        &NOTE,
        &raw(&doc! { "owner": 5, "body": "x" }),
        None,
        &Path::ROOT,
        &mut keys,
    )
    .unwrap_err();
    assert!(error.to_string().contains("/owner"), "{error}");
}
