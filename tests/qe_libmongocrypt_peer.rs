//! Queryable Encryption (protocol v2) against libmongocrypt 1.21 (pymongocrypt, in the
//! interop venv), with no server: libmongocrypt decrypts our `Unindexed` values and
//! `Indexed` insert payloads; our equality find payloads are byte-identical to its own
//! at contention factors 0 and 4; every deterministic field of our insert payloads
//! (`d`, `s`, `u`, `t`, `e`, `l`, `k`) is identical to its own at contention 0 (`p` and
//! `v` hold random IVs); and we decrypt its `Unindexed` values and insert payloads.
//! Needs `.venv-interop` (`scripts/install-prerequisites`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bson::{Bson, RawDocument, doc, oid::ObjectId};
use encrypted::model::Keys;
use encrypted::{DataKey, KeyDocument, KeyRef, LocalMasterKey, MasterKey, qe};
use serde_json::{Value, json};
use test_support::python_peer;

const MASTER: [u8; 96] = [0x3c; 96];

fn raw_value(value: &Bson) -> Vec<u8> {
    doc! { "v": value.clone() }.to_vec().unwrap()
}

fn values() -> Vec<(Bson, bool)> {
    vec![
        (Bson::String("457-55-5462".into()), true),
        (Bson::String(String::new()), true),
        (Bson::Int32(-7), true),
        (Bson::Int64(1 << 40), true),
        (
            Bson::DateTime(bson::DateTime::from_millis(1_700_000_000_000)),
            true,
        ),
        (Bson::ObjectId(ObjectId::from_bytes([9; 12])), true),
        (Bson::Boolean(true), true),
        (Bson::Double(98.6), false),
        (
            Bson::Document(doc! { "street": "1 Main St", "zip": 12345 }),
            false,
        ),
    ]
}

#[test]
fn qe_payloads_agree_with_libmongocrypt_both_ways() {
    let master = LocalMasterKey::from_bytes(&MASTER).unwrap();
    let id = bson::Uuid::from_bytes([0x51; 16]);
    let material: Vec<u8> = (0..96u8).map(|b| b.wrapping_mul(7)).collect();
    let key = Arc::new(DataKey::from_bytes(id, &material).unwrap());
    let key_document = KeyDocument::new(id, master.wrap(&key).unwrap(), MasterKey::local());
    let keys = Keys::new().with(KeyRef::Id(id), Arc::clone(&key));

    let mut ours = Vec::new();
    for (value, indexed) in values() {
        let raw = STANDARD.encode(raw_value(&value));
        ours.push(json!({ "blob": STANDARD.encode(qe::encrypt_unindexed(&key, &value).unwrap().bytes), "value": raw }));
        if indexed {
            let insert = qe::encrypt_indexed(&key, &key, &value, 4).unwrap();
            ours.push(json!({ "blob": STANDARD.encode(insert.bytes), "value": raw }));
        }
    }
    let request = json!({
        "master_key": STANDARD.encode(MASTER),
        "keys": [STANDARD.encode(key_document.to_document().to_vec().unwrap())],
        "key_id": hex(&id.bytes()),
        "ours": ours,
        "values": values().iter().map(|(value, indexed)| json!({
            "value": STANDARD.encode(raw_value(value)), "indexed": indexed,
        })).collect::<Vec<_>>(),
    });
    let reply = python_peer::run("qe_peer.py", &request);

    let blob = |reply: &Value, name: &str| STANDARD.decode(reply[name].as_str().unwrap()).unwrap();
    let mut compared = 0;
    for ((value, indexed), theirs) in values().iter().zip(reply["theirs"].as_array().unwrap()) {
        assert_eq!(
            &qe::decrypt(&blob(theirs, "unindexed"), &keys).unwrap(),
            value
        );
        if !indexed {
            continue;
        }
        for cf in [0, 4] {
            let our_find = qe::encrypt_equality_query(&key, value, cf).unwrap();
            assert_eq!(
                our_find.bytes,
                blob(theirs, &format!("find{cf}")),
                "find payload of {value:?} at cf {cf}"
            );
        }
        let their_insert = blob(theirs, "insert");
        assert_eq!(&qe::decrypt(&their_insert, &keys).unwrap(), value);
        let our_insert = qe::encrypt_indexed(&key, &key, value, 0).unwrap();
        let (a, b) = (
            RawDocument::from_bytes(&our_insert.bytes[1..]).unwrap(),
            RawDocument::from_bytes(&their_insert[1..]).unwrap(),
        );
        let ours_keys: Vec<_> = a.iter().map(|e| e.unwrap().0.to_owned()).collect();
        let theirs_keys: Vec<_> = b.iter().map(|e| e.unwrap().0.to_owned()).collect();
        assert_eq!(ours_keys, theirs_keys, "insert payload fields of {value:?}");
        for field in ["d", "s", "u", "t", "e", "l", "k"] {
            assert_eq!(
                a.get(field).unwrap(),
                b.get(field).unwrap(),
                "insert payload `{field}` of {value:?}"
            );
        }
        compared += 1;
    }
    assert_eq!(compared, 7);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
