//! libmongocrypt's QE vectors (vendored under encrypted-core/tests/data/, see its README):
//! every expected byte matched, plus the cases that must fail.

use std::sync::Arc;

use base64::Engine;
use bson::{Bson, Uuid};

use super::blob::Blob;
use super::cipher::Aead;
use super::explicit::{indexed_with, unindexed_with};
use super::test_vectors::{hex, vector, vector_text};
use crate::model::Keys;
use crate::{DataKey, Error, KeyRef, Result};

const USER: &str = "abcdefab123498761234123456789012";
const INDEX: &str = "12345678123498761234123456789012";

fn data_key(id: &str) -> DataKey {
    let material = hex(&vector_text(&format!(
        "keys/{}-key-material.txt",
        id.to_uppercase()
    )));
    DataKey::from_bytes(Uuid::from_bytes(hex(id).try_into().unwrap()), &material).unwrap()
}

fn keys(ids: &[&str]) -> Keys {
    ids.iter().fold(Keys::new(), |keys, id| {
        let key = Arc::new(data_key(id));
        keys.with(KeyRef::Id(key.id()), key)
    })
}

/// Replays fixed random bytes, and fails if asked for more than the vector fixed.
fn replay(bytes: Vec<u8>) -> impl FnMut(&mut [u8]) -> Result<()> {
    let mut at = 0;
    move |dest: &mut [u8]| {
        dest.copy_from_slice(&bytes[at..at + dest.len()]);
        at += dest.len();
        Ok(())
    }
}

fn expected_blob(file: &str) -> Vec<u8> {
    let v = vector(file);
    base64::engine::general_purpose::STANDARD
        .decode(v["v"]["$binary"]["base64"].as_str().unwrap())
        .unwrap()
}

#[test]
fn qe_indexed_values_from_the_server_decrypt_to_the_vectors_plaintext() {
    let mut passed = 0;
    for (file, subtype) in [
        ("iev-v2/FLECrudTest-insertOneV2.json", 14),
        ("iev-v2/FLECrudTest-insertOneRangeV2.json", 15),
    ] {
        let v = vector(file);
        let text = |name: &str| v[name].as_str().unwrap().to_owned();
        let s_key = DataKey::from_bytes(
            Uuid::from_bytes(hex(&text("S_KeyId")).try_into().unwrap()),
            &hex(&text("S_Key")),
        )
        .unwrap();
        let k_key = DataKey::from_bytes(
            Uuid::from_bytes(hex(&text("K_KeyId")).try_into().unwrap()),
            &hex(&text("K_Key")),
        )
        .unwrap();
        let payload = hex(&text("payload"));
        assert_eq!(payload[0], subtype);
        let blob = Blob::parse(&payload).unwrap();
        assert_eq!(blob.first_key_id(), s_key.id());
        let (bson_type, value) = blob
            .decrypt_bytes(|id| {
                [&s_key, &k_key]
                    .into_iter()
                    .find(|key| key.id() == id)
                    .ok_or(Error::KeyNotFound {
                        key: id.to_string(),
                    })
            })
            .unwrap();
        assert_eq!(
            u64::from(bson_type),
            v["bson_value_type"].as_u64().unwrap(),
            "{file}"
        );
        assert_eq!(&*value, &hex(&text("bson_value"))[..], "{file}");

        // Through the public API too, and the failures.
        let keys = Keys::new()
            .with(KeyRef::Id(s_key.id()), Arc::new(s_key))
            .with(KeyRef::Id(k_key.id()), Arc::new(k_key));
        super::decrypt(&payload, &keys).unwrap();
        let only_s = Keys::new().with(
            KeyRef::Id(Uuid::from_bytes(hex(&text("S_KeyId")).try_into().unwrap())),
            Arc::new(
                DataKey::from_bytes(
                    Uuid::from_bytes(hex(&text("S_KeyId")).try_into().unwrap()),
                    &hex(&text("S_Key")),
                )
                .unwrap(),
            ),
        );
        assert!(matches!(
            super::decrypt(&payload, &only_s),
            Err(Error::KeyNotFound { .. })
        ));
        let wrong_k = only_s.clone().with(
            KeyRef::Id(Uuid::from_bytes(hex(&text("K_KeyId")).try_into().unwrap())),
            Arc::new(
                DataKey::from_bytes(
                    Uuid::from_bytes(hex(&text("K_KeyId")).try_into().unwrap()),
                    &[7; 96],
                )
                .unwrap(),
            ),
        );
        assert!(matches!(
            super::decrypt(&payload, &wrong_k),
            Err(Error::Decryption)
        ));
        let mut tampered = payload.clone();
        let sev_end = tampered.len()
            - 96 * usize::from(tampered[18]).max(1) * usize::from(subtype == 15)
            - 96 * usize::from(subtype == 14);
        tampered[sev_end - 1] ^= 1; // the last byte of the client value's tag
        assert!(
            matches!(super::decrypt(&tampered, &keys), Err(Error::Decryption)),
            "{file}"
        );
        for len in 0..payload.len().min(19 + 17 + 96) {
            assert!(
                matches!(
                    super::decrypt(&payload[..len], &keys),
                    Err(Error::QueryableEncryption { .. })
                ),
                "{file} truncated to {len}"
            );
        }
        passed += 1;
    }
    assert_eq!(passed, 2);
}

#[test]
fn qe_unindexed_vector_decrypts_and_reencrypts_byte_for_byte() {
    let v = &vector("transcribed.json")["uev-v2"];
    let text = |name: &str| v[name].as_str().unwrap().to_owned();
    let keys = keys(&[USER]);
    let uev = hex(&text("uev"));
    assert_eq!(
        super::decrypt(&uev, &keys).unwrap(),
        Bson::String("value123".into())
    );
    // Re-encrypting with the IV of the vector gives its bytes.
    let iv = uev[18..34].to_vec();
    let again = unindexed_with(
        &data_key(USER),
        &Bson::String("value123".into()),
        &mut replay(iv),
    )
    .unwrap();
    assert_eq!(again.bytes, uev);
    // libmongocrypt's FLE2AEAD (CTR) blob, which its test uses to check that v2
    // decryption refuses it: authentic under FLE2AEAD (its plaintext carries a 16-byte
    // prefix before the value, as that test wrote it), refused as FLE2v2AEAD below.
    let ctr = hex(&text("uev_ctr_fle2aead"));
    let value = Aead::Ctr
        .open(data_key(USER).material(), &ctr[..18], &ctr[18..])
        .unwrap();
    assert!(value.ends_with(&hex(&text("plaintext"))));
    // Wrong key, tampered tag, truncated blob, FLE2AEAD bytes read as FLE2v2AEAD.
    assert!(matches!(
        super::decrypt(&uev, &self::keys(&[INDEX])),
        Err(Error::KeyNotFound { .. })
    ));
    let wrong = Keys::new().with(
        KeyRef::Id(data_key(USER).id()),
        Arc::new(DataKey::from_bytes(data_key(USER).id(), &[1; 96]).unwrap()),
    );
    assert!(matches!(
        super::decrypt(&uev, &wrong),
        Err(Error::Decryption)
    ));
    let mut tampered = uev.clone();
    *tampered.last_mut().unwrap() ^= 0x80;
    assert!(matches!(
        super::decrypt(&tampered, &keys),
        Err(Error::Decryption)
    ));
    assert!(matches!(
        super::decrypt(&uev[..18], &keys),
        Err(Error::QueryableEncryption { .. })
    ));
    assert!(matches!(
        super::decrypt(&uev[..40], &keys),
        Err(Error::Decryption)
    ));
    assert!(matches!(
        super::decrypt(&ctr, &keys),
        Err(Error::Decryption)
    ));
}

#[test]
fn qe_explicit_unindexed_matches_libmongocrypt_byte_for_byte() {
    let v = &vector("transcribed.json")["explicit-unindexed-v2"];
    let expected = base64::engine::general_purpose::STANDARD
        .decode(v["expect_base64"].as_str().unwrap())
        .unwrap();
    let got = unindexed_with(
        &data_key(USER),
        &Bson::String("value123".into()),
        &mut replay(hex(v["rng"].as_str().unwrap())),
    )
    .unwrap();
    assert_eq!(got.bytes, expected);
    assert_eq!(
        super::decrypt(&expected, &keys(&[USER])).unwrap(),
        Bson::String("value123".into())
    );
}

#[test]
fn qe_explicit_indexed_insert_payloads_match_libmongocrypt_byte_for_byte() {
    let cases = vector("transcribed.json")["explicit-indexed-v2"].clone();
    let mut passed = 0;
    for case in cases.as_array().unwrap() {
        let expected = expected_blob(case["expect"].as_str().unwrap());
        let got = indexed_with(
            &data_key(USER),
            &data_key(case["index_key"].as_str().unwrap()),
            &Bson::String("value123".into()),
            case["contention_factor"].as_i64().unwrap(),
            &mut replay(hex(case["rng"].as_str().unwrap())),
        )
        .unwrap();
        assert_eq!(got.bytes, expected, "{}", case["desc"]);
        // Its `p` is its `s` encrypted (FLE2) with the ECOC token of the index key.
        let document = bson::RawDocument::from_bytes(&expected[1..]).unwrap();
        let ecoc = super::tokens::EcocToken::derive(
            &super::tokens::CollectionsLevel1Token::from_data_key(&data_key(
                case["index_key"].as_str().unwrap(),
            )),
        );
        let p =
            super::cipher::ctr_decrypt(ecoc.as_bytes(), document.get_binary("p").unwrap().bytes)
                .unwrap();
        assert_eq!(&*p, document.get_binary("s").unwrap().bytes);
        // libmongocrypt's payload decrypts with the user key alone.
        assert_eq!(
            super::decrypt(&expected, &keys(&[USER])).unwrap(),
            Bson::String("value123".into())
        );
        passed += 1;
    }
    assert_eq!(passed, 4);
}

#[test]
fn qe_explicit_equality_find_payloads_match_libmongocrypt_byte_for_byte() {
    let cases = vector("transcribed.json")["explicit-find-equality-v2"].clone();
    let mut passed = 0;
    for case in cases.as_array().unwrap() {
        let expected = expected_blob(case["expect"].as_str().unwrap());
        let got = super::encrypt_equality_query(
            &data_key(INDEX),
            &Bson::Int32(i32::try_from(case["value_int32"].as_i64().unwrap()).unwrap()),
            case["contention_factor"].as_i64().unwrap(),
        )
        .unwrap();
        assert_eq!(got.bytes, expected, "{}", case["desc"]);
        passed += 1;
    }
    assert_eq!(passed, 2);
}

#[test]
fn qe_explicit_refuses_bad_contention_factors_and_types() {
    let key = data_key(USER);
    for cf in [-1, i64::MAX] {
        assert!(matches!(
            super::encrypt_indexed(&key, &key, &Bson::Int32(1), cf),
            Err(Error::QueryableEncryption { .. })
        ));
    }
    for value in [Bson::Double(1.5), Bson::Document(bson::doc! {}), Bson::Null] {
        assert!(super::encrypt_indexed(&key, &key, &value, 0).is_err());
        assert!(super::encrypt_equality_query(&key, &value, 0).is_err());
    }
    assert!(super::encrypt_unindexed(&key, &Bson::Double(1.5)).is_ok());
    assert!(super::encrypt_unindexed(&key, &Bson::MaxKey).is_err());
}

#[test]
fn qe_random_contention_stays_within_the_factor_and_round_trips() {
    let key = data_key(USER);
    let keys = keys(&[USER]);
    for _ in 0..32 {
        let payload = super::encrypt_indexed(&key, &key, &Bson::Int64(42), 3).unwrap();
        let document = bson::RawDocument::from_bytes(&payload.bytes[1..]).unwrap();
        let k = document.get_i64("k").unwrap();
        assert!((0..=3).contains(&k));
        assert_eq!(
            super::decrypt(&payload.bytes, &keys).unwrap(),
            Bson::Int64(42)
        );
    }
}

#[test]
fn qe_decrypt_refuses_fle1_and_unknown_subtypes_by_name() {
    let keys = keys(&[USER]);
    for first in [1u8, 2, 12, 200] {
        let error = super::decrypt(&[first, 0, 0], &keys).unwrap_err();
        assert!(
            error.to_string().contains(&format!("blob subtype {first}")),
            "{error}"
        );
    }
    let error = super::decrypt(&[11, 5, 0, 0, 0, 0], &keys).unwrap_err();
    assert!(
        error.to_string().contains("FLE2InsertUpdatePayloadV2"),
        "{error}"
    );
    let error = super::decrypt(&[15; 40], &keys).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("FLE2IndexedRangeEncryptedValueV2"),
        "{error}"
    );
}

#[test]
fn qe_error_messages_follow_the_house_style_and_name_no_value() {
    let key = data_key(USER);
    let errors = [
        super::decrypt(&[14, 1, 2], &keys(&[USER])).unwrap_err(),
        super::encrypt_indexed(&key, &key, &Bson::String("secret-ssn".into()), -1).unwrap_err(),
        super::encrypt_indexed(&key, &key, &Bson::Double(98.6), 0).unwrap_err(),
    ];
    for error in errors {
        let message = error.to_string();
        assert!(
            message.starts_with("queryable encryption refused the "),
            "{message}"
        );
        assert!(
            !message.ends_with('.') && !message.contains("secret") && !message.contains("98.6"),
            "{message}"
        );
    }
}

#[test]
fn qe_decrypt_never_panics_on_mutated_or_truncated_blobs() {
    let user = data_key(USER);
    let index = data_key(INDEX);
    let keys = keys(&[USER, INDEX]);
    let v = vector("iev-v2/FLECrudTest-insertOneRangeV2.json");
    let seeds = [
        super::encrypt_unindexed(&user, &Bson::String("value123".into()))
            .unwrap()
            .bytes,
        super::encrypt_indexed(&user, &index, &Bson::Int64(5), 2)
            .unwrap()
            .bytes,
        hex(vector("iev-v2/FLECrudTest-insertOneV2.json")["payload"]
            .as_str()
            .unwrap()),
        hex(v["payload"].as_str().unwrap()),
    ];
    // xorshift64: a fixed, reproducible stream of mutations.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut refused = 0;
    for round in 0..4000 {
        let mut blob = seeds[round % seeds.len()].clone();
        for _ in 0..=(next() % 4) {
            let at = (next() as usize) % blob.len();
            match next() % 3 {
                0 => blob[at] ^= 1 << (next() % 8),
                1 => blob.truncate(at.max(1)),
                _ => blob[at] = next() as u8,
            }
        }
        if super::decrypt(&blob, &keys).is_err() {
            refused += 1;
        }
    }
    // Nearly every mutation is refused (a flip in an unauthenticated metadata block of an
    // indexed value is not the client's to check).
    assert!(refused > 3000, "{refused}");
}
