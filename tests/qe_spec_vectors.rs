//! The Client Side Encryption spec's `fle2v2-InsertFind-Indexed` test (vendored under
//! tests/data/specifications-92b3c0b9-qe/) records what a 7.0+ server received and
//! stored for `{encryptedIndexed: "123"}` at contention factor 0: from the test's key
//! vault document and local master key, our equality find payload is byte-identical to
//! the one libmongocrypt sent, and the `__safeContent__` tag the server stored is
//! `HMAC-SHA-256(EDCTwiceDerivedToken, count = 1)` of our token chain. Its
//! `fle2v2-BypassQueryAnalysis` test inserts an insert payload libmongocrypt made for
//! `"123"`: we decrypt it, and every deterministic field of ours equals its own.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bson::{Bson, Uuid};
use encrypted::qe::tokens::{
    CollectionsLevel1Token, EdcDerivedFromDataToken, EdcDerivedFromDataTokenAndContentionFactor,
    EdcToken, EdcTwiceDerivedToken,
};
use encrypted::{DataKey, LocalMasterKey, qe};
use hmac::{KeyInit, Mac};
use serde_json::Value;

fn spec_file(name: &str) -> Value {
    let path = format!(
        "{}/tests/data/specifications-92b3c0b9-qe/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn spec() -> Value {
    spec_file("fle2v2-InsertFind-Indexed.json")
}

fn binary(value: &Value) -> Vec<u8> {
    let extjson = serde_json::json!({ "$binary": value["$binary"].clone() });
    match Bson::try_from(extjson).unwrap() {
        Bson::Binary(binary) => binary.bytes,
        other => panic!("not a binary: {other:?}"),
    }
}

fn data_key(spec: &Value) -> DataKey {
    let test = &spec["tests"][0];
    let master = binary(&test["clientOptions"]["autoEncryptOpts"]["kmsProviders"]["local"]["key"]);
    let master = LocalMasterKey::from_bytes(&master).unwrap();
    let document = &spec["key_vault_data"][0];
    let id = Uuid::from_bytes(binary(&document["_id"]).try_into().unwrap());
    master
        .unwrap(id, &binary(&document["keyMaterial"]))
        .unwrap()
}

#[test]
fn qe_find_payload_equals_the_one_the_spec_test_sent() {
    let spec = spec();
    let key = data_key(&spec);
    let find = &spec["tests"][0]["expectations"][3]["command_started_event"]["command"];
    let expected = binary(&find["filter"]["encryptedIndexed"]["$eq"]);
    let ours = qe::encrypt_equality_query(&key, &Bson::String("123".into()), 0).unwrap();
    assert_eq!(ours.bytes, expected);
}

#[test]
fn qe_safe_content_tag_equals_the_one_the_server_stored() {
    let spec = spec();
    let key = data_key(&spec);
    let stored = &spec["tests"][0]["outcome"]["collection"]["data"][0]["__safeContent__"][0];
    // The BSON bytes of the string "123": length 4, the bytes, NUL.
    let value = b"\x04\x00\x00\x00123\x00";
    let edc = EdcToken::derive(&CollectionsLevel1Token::from_data_key(&key));
    let twice = EdcTwiceDerivedToken::derive(&EdcDerivedFromDataTokenAndContentionFactor::derive(
        &EdcDerivedFromDataToken::derive(&edc, value),
        0,
    ));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(twice.as_bytes()).unwrap();
    mac.update(&1u64.to_le_bytes());
    assert_eq!(
        mac.finalize().into_bytes().as_slice(),
        binary(stored).as_slice()
    );
}

#[test]
fn qe_insert_payload_of_the_spec_test_decrypts_and_matches_ours() {
    let spec = spec_file("fle2v2-BypassQueryAnalysis.json");
    let key = std::sync::Arc::new(data_key(&spec));
    let theirs =
        binary(&spec["tests"][0]["operations"][0]["arguments"]["document"]["encryptedIndexed"]);
    let keys = encrypted::model::Keys::new().with(encrypted::KeyRef::Id(key.id()), key.clone());
    let value = Bson::String("123".into());
    assert_eq!(qe::decrypt(&theirs, &keys).unwrap(), value);
    let ours = qe::encrypt_indexed(&key, &key, &value, 0).unwrap();
    let (a, b) = (
        bson::RawDocument::from_bytes(&ours.bytes[1..]).unwrap(),
        bson::RawDocument::from_bytes(&theirs[1..]).unwrap(),
    );
    for field in ["d", "s", "u", "t", "e", "l", "k"] {
        assert_eq!(a.get(field).unwrap(), b.get(field).unwrap(), "`{field}`");
    }
    assert_eq!(a.iter().count(), b.iter().count());
}
