//! Finding 1 (issue 9): no error quotes a value being encrypted or decrypted.
//!
//! Every path that sees plaintext is driven into failure with a secret inside the
//! value, and the `Display` and `Debug` of the error (or the command line's output) are
//! searched for it: `DataKey`, `ClientEncryption`, a typed `$set` through
//! `EncryptedCollection` (the `encrypted-keys` command line's test is in
//! `encrypted-cli/tests/cli_no_plaintext_in_errors.rs`). Decryption is driven
//! with ciphertexts that are authentic but whose plaintext is not a valid value of the
//! type their header names. The server tests need `MONGODB_URI`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use test_support::server;

use std::collections::BTreeMap;

use aes::Aes256;
use bson::spec::{BinarySubtype, ElementType};
use bson::{Binary, Bson, Document, JavaScriptCodeWithScope, Uuid, doc};
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeEncrypt, InnerIvInit, KeyInit};
use encrypted::kms::{KmsProviders, LocalKms};
use encrypted::model::{Filter, Update};
use encrypted::{
    Algorithm, Ciphertext, ClientEncryption, DataKey, Encrypted, EncryptedCollection, Error,
    KeyRef, LocalMasterKey, MasterKey, Namespace,
};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha512;

const SECRET: &str = "SSN 078-05-1120";
/// A part of the secret that no message has any other reason to contain.
const NEEDLE: &str = "078-05";
const MASTER: [u8; 96] = [0x31; 96];
const KEY_BYTES: [u8; 96] = [0x5c; 96];

/// Asserts that neither the `Display` nor the `Debug` of `error` holds the secret.
fn quotes_nothing(error: &Error) {
    let shown = error.to_string();
    let debug = format!("{error:?}");
    for text in [&shown, &debug] {
        assert!(
            !text.contains(NEEDLE),
            "the error quotes the plaintext: {text}"
        );
        assert!(!text.contains("078\\u"), "{text}");
    }
    // And the causes, as a command line prints them.
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        assert!(!inner.to_string().contains(NEEDLE), "{inner}");
        cause = inner.source();
    }
}

/// Values BSON cannot encode, each holding the secret.
fn unencodable() -> Vec<Bson> {
    let key = format!("{SECRET}\0");
    vec![
        Bson::Document(doc! { key.clone(): 1 }),
        Bson::Document(doc! { "ssn": SECRET, "nested": { key.clone(): SECRET } }),
        Bson::Array(vec![
            Bson::String(SECRET.into()),
            Bson::Document(doc! { key.clone(): 1 }),
        ]),
        Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope {
            code: SECRET.into(),
            scope: doc! { key: SECRET },
        }),
    ]
}

#[test]
fn finding_1_data_key_encrypt_does_not_quote_an_unencodable_value() {
    let key = DataKey::generate(Uuid::new()).unwrap();
    for value in unencodable() {
        let error = key.encrypt(&value, Algorithm::Random).unwrap_err();
        assert!(
            matches!(error, Error::UnencodableValue { reason } if reason.contains("NUL")),
            "{error:?}"
        );
        quotes_nothing(&error);
    }
}

/// An authentic FLE1 random ciphertext of `plaintext` under `KEY_BYTES`, whatever the
/// plaintext is: as a buggy or hostile writer holding the key would make it.
fn seal(key_id: Uuid, original_type: ElementType, plaintext: &[u8]) -> Ciphertext {
    let mut header = vec![2];
    header.extend_from_slice(&key_id.bytes());
    header.push(original_type as u8);
    let iv = [9u8; 16];
    let mut body = plaintext.to_vec();
    body.resize((plaintext.len() / 16 + 1) * 16, 0);
    let enc = Aes256::new_from_slice(&KEY_BYTES[32..64]).unwrap();
    cbc::Encryptor::<Aes256>::inner_iv_init(enc, (&iv).into())
        .encrypt_padded::<Pkcs7>(&mut body, plaintext.len())
        .unwrap();
    let mut sealed = iv.to_vec();
    sealed.extend_from_slice(&body);
    let tag = Hmac::<Sha512>::new_from_slice(&KEY_BYTES[..32])
        .unwrap()
        .chain_update(&header)
        .chain_update(&sealed)
        .chain_update(((header.len() as u64) * 8).to_be_bytes())
        .finalize()
        .into_bytes();
    let mut bytes = header;
    bytes.extend_from_slice(&sealed);
    bytes.extend_from_slice(&tag[..32]);
    Ciphertext::from_bytes(bytes).unwrap()
}

/// Authentic plaintexts that are not a valid value of the type named in the header.
fn invalid_plaintexts(key_id: Uuid) -> Vec<Ciphertext> {
    let string_with_wrong_length = [&[99, 0, 0, 0][..], SECRET.as_bytes(), &[0]].concat();
    let string_without_nul = [&[16, 0, 0, 0][..], SECRET.as_bytes(), b"x"].concat();
    let invalid_utf8 = [&[17, 0, 0, 0][..], SECRET.as_bytes(), &[0xff, 0]].concat();
    let mut document = vec![0, 0, 0, 0, 0x02];
    document.extend_from_slice(SECRET.as_bytes());
    document.extend_from_slice(&[0, 4, 0, 0, 0]);
    document.extend_from_slice(SECRET.as_bytes());
    let len = document.len() as i32;
    document[..4].copy_from_slice(&len.to_le_bytes());
    let trailing = [&[0x10, 0, 0, 0][..], SECRET.as_bytes(), &[0]].concat();
    vec![
        seal(key_id, ElementType::String, &string_with_wrong_length),
        seal(key_id, ElementType::String, &string_without_nul),
        seal(key_id, ElementType::String, &invalid_utf8),
        seal(key_id, ElementType::EmbeddedDocument, &document),
        seal(key_id, ElementType::Int32, &trailing),
        seal(key_id, ElementType::Symbol, &string_with_wrong_length),
    ]
}

#[test]
fn finding_1_data_key_decrypt_does_not_quote_an_invalid_authentic_plaintext() {
    let id = Uuid::new();
    let key = DataKey::from_bytes(id, &KEY_BYTES).unwrap();
    // The sealing above is right: a valid plaintext decrypts.
    let valid = seal(id, ElementType::Int32, &7i32.to_le_bytes());
    assert_eq!(key.decrypt(&valid).unwrap(), Bson::Int32(7));
    for ciphertext in invalid_plaintexts(id) {
        let error = key.decrypt(&ciphertext).unwrap_err();
        assert!(matches!(error, Error::Decryption), "{error:?}");
        quotes_nothing(&error);
    }
}

async fn encryption(db: &str) -> ClientEncryption {
    let kms = KmsProviders::new().with(LocalKms::new(LocalMasterKey::from_bytes(&MASTER).unwrap()));
    ClientEncryption::builder(server::client().await, kms)
        .key_vault_namespace(Namespace::new(db, "__keyVault"))
        .build()
}

async fn drop_db(db: &str) {
    server::client().await.database(db).drop().await.unwrap();
}

#[tokio::test]
async fn finding_1_client_encryption_errors_do_not_quote_the_plaintext() {
    let db = server::unique_db("noquote_ce");
    let encryption = encryption(&db).await;
    let id = encryption
        .create_data_key(MasterKey::local())
        .key_material(KEY_BYTES.to_vec())
        .await
        .unwrap();
    for value in unencodable() {
        let error = encryption
            .encrypt(value, KeyRef::Id(id), Algorithm::Random)
            .await
            .unwrap_err();
        assert!(matches!(error, Error::UnencodableValue { .. }), "{error:?}");
        quotes_nothing(&error);
    }
    for ciphertext in invalid_plaintexts(id) {
        let error = encryption
            .decrypt(&ciphertext.into_binary())
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Decryption), "{error:?}");
        quotes_nothing(&error);
    }
    drop_db(&db).await;
}

#[derive(Serialize, Deserialize, Encrypted, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
#[encrypted(inherit_key)]
pub struct Chart {
    pub labels: BTreeMap<String, String>,
    #[encrypt(random)]
    pub note: String,
}

#[derive(Serialize, Deserialize, Encrypted, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
#[encrypted(key_alt_name = "noquote-key")]
pub struct Record {
    pub name: String,
    #[encrypt(random)]
    pub details: BTreeMap<String, String>,
    #[encrypt(nested)]
    pub chart: Chart,
}

fn record() -> Record {
    Record {
        name: "r".into(),
        details: BTreeMap::from([("ok".into(), "fine".into())]),
        chart: Chart {
            labels: BTreeMap::new(),
            note: "n".into(),
        },
    }
}

#[tokio::test]
async fn finding_1_a_typed_set_does_not_quote_the_plaintext() {
    let db = server::unique_db("noquote_set");
    let encryption = encryption(&db).await;
    encryption
        .create_data_key(MasterKey::local())
        .key_alt_names(["noquote-key"])
        .await
        .unwrap();
    let database = server::client().await.database(&db);
    let records: EncryptedCollection<Record> =
        EncryptedCollection::new(&database.collection::<Document>("records"), &encryption);
    records.insert_one(record()).await.unwrap();
    let bad = BTreeMap::from([(format!("{SECRET}\0"), SECRET.to_owned())]);

    // An encrypted field whose value cannot be encoded.
    let error = records
        .update_one(
            Filter::all(),
            Update::new().set(Record::fields().details(), bad.clone()),
        )
        .await
        .unwrap_err();
    quotes_nothing(&error);

    // A nested model whose plain part cannot be encoded.
    let error = records
        .update_one(
            Filter::all(),
            Update::new().set(
                Record::fields().chart(),
                Chart {
                    labels: bad,
                    note: SECRET.into(),
                },
            ),
        )
        .await
        .unwrap_err();
    quotes_nothing(&error);

    // Nothing was written.
    let stored = records.find_one(Filter::all()).await.unwrap().unwrap();
    assert_eq!(stored, record());
    drop_db(&db).await;
}

#[test]
fn finding_1_the_bytes_of_a_binary_are_never_in_an_error_either() {
    // A binary is encoded as is, so it never fails: the one error of a refused binary is
    // "already encrypted", which quotes nothing.
    let key = DataKey::generate(Uuid::new()).unwrap();
    let encrypted = Bson::Binary(Binary {
        subtype: BinarySubtype::Encrypted,
        bytes: SECRET.as_bytes().to_vec(),
    });
    let error = key.encrypt(&encrypted, Algorithm::Random).unwrap_err();
    assert!(matches!(error, Error::AlreadyEncrypted));
    quotes_nothing(&error);
}
