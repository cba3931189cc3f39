use bson::{Bson, doc, spec::ElementType};

use super::*;
use crate::error::report;
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
    keys_to_decrypt(&OUTER, &raw(&encrypted), &Path::ROOT, &mut ids).unwrap();
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
    assert!(report(&error).contains("/owner"), "{error}");
}

const WIDE: ModelSpec = ModelSpec {
    name: "Wide",
    key: Some(KEY),
    inherits_key: false,
    fields: &[
        FieldSpec {
            name: "l",
            kind: encrypted(Algorithm::Random, ElementType::Int64, false),
        },
        FieldSpec {
            name: "d",
            kind: encrypted(Algorithm::Deterministic, ElementType::String, false),
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

fn decrypt_wide(stored: &bson::Document, ring: &Keys, missing: MissingKeys) -> Result<Vec<u8>> {
    decrypt_document(&WIDE, &raw(stored), ring, missing, &Path::ROOT).map(|plain| plain.to_vec())
}

fn mismatch(error: &Error) -> Option<(&str, ElementType, Algorithm)> {
    match error {
        Error::Field { path, source } => match **source {
            Error::CiphertextMismatch {
                found_type,
                found_algorithm,
                ..
            } => Some((path.as_str(), found_type, found_algorithm)),
            _ => None,
        },
        _ => None,
    }
}

#[test]
fn finding_8_int32_ciphertext_in_int64_field_is_refused() {
    let (ring, key) = ring();
    let int32 = key.encrypt(&Bson::Int32(7), Algorithm::Random).unwrap();
    let stored = doc! { "l": Bson::from(int32), "d": Bson::from(key.encrypt(&Bson::String("x".into()), Algorithm::Deterministic).unwrap()) };
    let error = decrypt_wide(&stored, &ring, MissingKeys::Fail).unwrap_err();
    assert_eq!(
        mismatch(&error),
        Some(("l", ElementType::Int32, Algorithm::Random)),
        "{error}"
    );
    assert_eq!(
        report(&error),
        "field `l`: the ciphertext holds a value of BSON type int encrypted randomly, but the model declares BSON type long encrypted randomly"
    );
    // No key is loaded for it.
    let mut ids = HashSet::new();
    keys_to_decrypt(&WIDE, &raw(&stored), &Path::ROOT, &mut ids).unwrap();
    assert_eq!(ids.len(), 1);
    // The right type decrypts.
    let int64 = key.encrypt(&Bson::Int64(7), Algorithm::Random).unwrap();
    let stored = doc! { "l": Bson::from(int64) };
    assert_eq!(
        document(&decrypt_wide(&stored, &ring, MissingKeys::Fail).unwrap()),
        doc! { "l": 7_i64 }
    );
}

#[test]
fn finding_8_random_ciphertext_in_deterministic_field_is_refused() {
    let (ring, key) = ring();
    let random = key
        .encrypt(&Bson::Int32(123142), Algorithm::Random)
        .unwrap();
    let stored = doc! { "inner": { "n": Bson::from(random) } };
    let error = decrypt_wide(&stored, &ring, MissingKeys::Fail).unwrap_err();
    assert_eq!(
        mismatch(&error),
        Some(("inner.n", ElementType::Int32, Algorithm::Random)),
        "{error}"
    );
    // A view leaves it sealed instead.
    let view = decrypt_wide(&stored, &ring, MissingKeys::Seal).unwrap();
    assert_eq!(document(&view), stored);
}

#[test]
fn finding_14_garbage_ciphertext_is_malformed_before_any_key_lookup() {
    let garbage = bson::Binary {
        subtype: bson::spec::BinarySubtype::Encrypted,
        bytes: b"this is not a ciphertext at all, only bytes".to_vec(),
    };
    let stored = doc! { "inner": { "n": garbage } };
    let mut ids = HashSet::new();
    let error = keys_to_decrypt(&WIDE, &raw(&stored), &Path::ROOT, &mut ids).unwrap_err();
    assert!(
        matches!(&error, Error::Field { path, source } if path == "inner.n" && matches!(**source, Error::MalformedCiphertext { .. })),
        "{error}"
    );
    assert!(ids.is_empty());
    for missing in [MissingKeys::Fail, MissingKeys::Seal] {
        let error = decrypt_wide(&stored, &Keys::default(), missing).unwrap_err();
        assert!(report(&error).contains("malformed ciphertext"), "{error}");
    }
}

#[test]
fn finding_14_one_bad_field_in_a_view_is_sealed_not_fatal() {
    let (ring, key) = ring();
    let good = key
        .encrypt(&Bson::String("fine".into()), Algorithm::Deterministic)
        .unwrap();
    let mut tampered = key
        .encrypt(&Bson::Int32(5), Algorithm::Deterministic)
        .unwrap()
        .into_binary();
    if let Some(last) = tampered.bytes.last_mut() {
        *last ^= 1;
    }
    let stored = doc! { "d": Bson::from(good), "inner": { "n": tampered.clone() } };
    let error = decrypt_wide(&stored, &ring, MissingKeys::Fail).unwrap_err();
    assert!(
        matches!(&error, Error::Field { path, source } if path == "inner.n" && matches!(**source, Error::Decryption)),
        "{error}"
    );
    let view = document(&decrypt_wide(&stored, &ring, MissingKeys::Seal).unwrap());
    assert_eq!(view.get_str("d").unwrap(), "fine");
    assert_eq!(
        view.get_document("inner").unwrap().get("n"),
        Some(&Bson::Binary(tampered))
    );
    // Plaintext is never sealed: still an error naming the field.
    let error = decrypt_wide(&doc! { "d": "plain" }, &ring, MissingKeys::Seal).unwrap_err();
    assert!(
        matches!(&error, Error::UnencryptedField { path, .. } if path == "d"),
        "{error}"
    );
}

#[test]
fn finding_14_a_missing_encrypted_field_is_named() {
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        n: i32,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Wide {
        l: i64,
        d: String,
        inner: Inner,
    }
    let (ring, key) = ring();
    let d = key
        .encrypt(&Bson::String("x".into()), Algorithm::Deterministic)
        .unwrap();
    let l = key.encrypt(&Bson::Int64(1), Algorithm::Random).unwrap();
    let plain = decrypt_wide(
        &doc! { "l": Bson::from(l), "d": Bson::from(d), "inner": { "p": 1 } },
        &ring,
        MissingKeys::Fail,
    )
    .unwrap();
    let error = crate::model::deserialize_decrypted::<Wide>(&WIDE, &plain).unwrap_err();
    assert!(
        matches!(&error, Error::Field { path, source } if path == "inner.n" && matches!(**source, Error::MissingField)),
        "{error}"
    );
}

/// `{ name: "deep", extra: { a: { a: ... } } }`, `levels` levels below the root.
pub(crate) fn nested_document(levels: usize) -> Vec<u8> {
    // Built byte by byte: no recursion on the test thread.
    let mut bytes = Vec::new();
    let mut inner = raw(&doc! { "a": 1 });
    for _ in 1..levels {
        let mut outer = Vec::with_capacity(inner.len() + 8);
        let len = i32::try_from(inner.len() + 4 + 3 + 1).unwrap();
        outer.extend_from_slice(&len.to_le_bytes());
        outer.extend_from_slice(&[0x03, b'a', 0]);
        outer.extend_from_slice(&inner);
        outer.push(0);
        inner = outer;
    }
    let name = raw(&doc! { "name": "deep" });
    let len = i32::try_from(name.len() + 7 + inner.len()).unwrap();
    bytes.extend_from_slice(&len.to_le_bytes());
    bytes.extend_from_slice(&name[4..name.len() - 1]);
    bytes.extend_from_slice(&[0x03]);
    bytes.extend_from_slice(b"extra\0");
    bytes.extend_from_slice(&inner);
    bytes.push(0);
    bytes
}

#[test]
fn finding_16_a_thousand_levels_are_refused_not_a_stack_overflow() {
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Deep {
        name: String,
        extra: Bson,
    }
    let stored = nested_document(1000);
    // The stack of a tokio worker thread.
    let decoded = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            let plain = decrypt_document(
                &WIDE,
                &stored,
                &Keys::default(),
                MissingKeys::Seal,
                &Path::ROOT,
            )?;
            crate::model::deserialize_decrypted::<Deep>(&WIDE, &plain)
        })
        .unwrap()
        .join()
        .unwrap();
    let error = decoded.unwrap_err();
    assert!(
        matches!(error, Error::TooDeeplyNested { limit: 100 }),
        "{error}"
    );
}

#[test]
fn finding_16_mongodbs_hundred_levels_still_decode() {
    #[derive(serde::Deserialize, Debug)]
    struct Deep {
        name: String,
    }
    let plain = nested_document(100);
    let deep: Deep = crate::model::deserialize_decrypted(&WIDE, &plain).unwrap();
    assert_eq!(deep.name, "deep");
    let error =
        crate::model::deserialize_decrypted::<Deep>(&WIDE, &nested_document(101)).unwrap_err();
    assert!(matches!(error, Error::TooDeeplyNested { .. }), "{error}");
}
