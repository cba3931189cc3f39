//! The `kmip` provider against a real KMIP server: PyKMIP's server on loopback over
//! mutual TLS, with certificates made for the run (`scripts/kms-kmip run -- …`), and a
//! live key vault (`scripts/local-server run -- …`). Data keys are created and decrypted
//! in both modes (SecretData, delegated), pymongo + libmongocrypt configured with the same
//! server decrypts ours and we decrypt its, and the server going down loses nothing.
//!
//! `bash scripts/kms-kmip run -- bash scripts/local-server run -- cargo test --test kmip_kms`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;
use std::time::Duration;

use bson::{Bson, Uuid, doc};
use encrypted::kms::{KmipKms, KmsErrorKind, KmsProviders, LocalKms, TlsOptions};
use encrypted::{Algorithm, ClientEncryption, Error, KeyRef, LocalMasterKey, MasterKey, Namespace};
use serde_json::{Value, json};
use test_support::{fail, python_peer, server};
use tokio::sync::Mutex;

/// One test at a time talks to the server: one of them stops it, and PyKMIP's server
/// (SQLite underneath) is a reference server, not one to load-test.
static SERVER: Mutex<()> = Mutex::const_new(());

/// The value of `name`, set by `scripts/kms-kmip run -- …`.
fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        fail(&format!(
            "this test needs PyKMIP's server and {name} is not set: run it under `bash scripts/kms-kmip run -- …`, or run `bash scripts/test`"
        ))
    })
}

fn tls() -> TlsOptions {
    TlsOptions::new()
        .with_ca_pem(std::fs::read(env("ENCRYPTED_TEST_KMIP_CA_FILE")).unwrap())
        .unwrap()
        .with_client_identity_pem(std::fs::read(env("ENCRYPTED_TEST_KMIP_IDENTITY_FILE")).unwrap())
        .unwrap()
}

fn kmip() -> KmipKms {
    KmipKms::new(&env("ENCRYPTED_TEST_KMIP_ENDPOINT"), tls()).unwrap()
}

fn handle(client: &mongodb::Client, db: &str, kms: KmsProviders) -> ClientEncryption {
    ClientEncryption::builder(client.clone(), kms)
        .key_vault_namespace(Namespace::new(db, "__keyVault"))
        .build()
}

fn master_key_fields(document: &bson::Document) -> Vec<String> {
    document.keys().cloned().collect()
}

#[tokio::test]
async fn creates_and_decrypts_data_keys_in_both_modes() {
    let _server = SERVER.lock().await;
    let db = server::unique_db("kmip");
    let client = server::client().await;
    let encryption = handle(&client, &db, KmsProviders::new().with(kmip()));
    for (master_key, fields, material_len) in [
        // Wrapped here with the 96-byte secret, as `local` does: IV, ciphertext, tag.
        (MasterKey::kmip(), vec!["provider", "keyId"], 16 + 112 + 32),
        // Encrypted by the server: its IV, then AES-CBC of 96 bytes.
        (
            MasterKey::kmip().with_delegated(true),
            vec!["provider", "delegated", "keyId"],
            16 + 112,
        ),
    ] {
        let id = encryption.create_data_key(master_key).await.unwrap();
        let document = encryption.get_key(id).await.unwrap().unwrap();
        assert_eq!(
            master_key_fields(&document.master_key.to_document()),
            fields
        );
        assert_eq!(document.key_material.len(), material_len);
        let value = Bson::String(format!("secret of {id}"));
        let ciphertext = encryption
            .encrypt(value.clone(), KeyRef::Id(id), Algorithm::Random)
            .await
            .unwrap();
        // A fresh handle has no cached key: it asks the KMIP server.
        let fresh = handle(&client, &db, KmsProviders::new().with(kmip()));
        assert_eq!(fresh.decrypt(&ciphertext).await.unwrap(), value);
    }
    client.database(&db).drop().await.unwrap();
}

#[tokio::test]
async fn a_key_id_given_in_the_master_key_is_used_and_not_registered_again() {
    let _server = SERVER.lock().await;
    let db = server::unique_db("kmip_keyid");
    let client = server::client().await;
    let encryption = handle(&client, &db, KmsProviders::new().with(kmip()));
    for delegated in [false, true] {
        let first = encryption
            .create_data_key(MasterKey::kmip().with_delegated(delegated))
            .await
            .unwrap();
        let MasterKey::Kmip {
            key_id: Some(kmip_id),
            ..
        } = encryption.get_key(first).await.unwrap().unwrap().master_key
        else {
            panic!("not a kmip key with a keyId");
        };
        let second = encryption
            .create_data_key(
                MasterKey::kmip()
                    .with_key_id(kmip_id.clone())
                    .with_delegated(delegated),
            )
            .await
            .unwrap();
        let document = encryption.get_key(second).await.unwrap().unwrap();
        assert!(
            matches!(&document.master_key, MasterKey::Kmip { key_id: Some(id), .. } if *id == kmip_id)
        );
        let ciphertext = encryption
            .encrypt(Bson::Int32(7), KeyRef::Id(second), Algorithm::Deterministic)
            .await
            .unwrap();
        let fresh = handle(&client, &db, KmsProviders::new().with(kmip()));
        assert_eq!(fresh.decrypt(&ciphertext).await.unwrap(), Bson::Int32(7));
    }
    client.database(&db).drop().await.unwrap();
}

#[tokio::test]
async fn rewraps_keys_from_local_to_kmip_and_back() {
    let _server = SERVER.lock().await;
    let db = server::unique_db("kmip_rewrap");
    let client = server::client().await;
    let local = || LocalKms::new(LocalMasterKey::from_bytes(&[0x42; 96]).unwrap());
    let encryption = handle(&client, &db, KmsProviders::new().with(local()).with(kmip()));
    let id = encryption
        .create_data_key(MasterKey::local())
        .await
        .unwrap();
    let ciphertext = encryption
        .encrypt(Bson::Int64(42), KeyRef::Id(id), Algorithm::Random)
        .await
        .unwrap();
    for target in [
        MasterKey::kmip().with_delegated(true),
        MasterKey::kmip(),
        MasterKey::local(),
    ] {
        let provider = target.provider();
        let result = encryption
            .rewrap_many_data_key(doc! {}, Some(target))
            .await
            .unwrap();
        assert_eq!(result.rewrapped, [id]);
        let document = encryption.get_key(id).await.unwrap().unwrap();
        assert_eq!(document.master_key.provider(), provider);
        let fresh = handle(&client, &db, KmsProviders::new().with(local()).with(kmip()));
        assert_eq!(fresh.decrypt(&ciphertext).await.unwrap(), Bson::Int64(42));
    }
    client.database(&db).drop().await.unwrap();
}

#[tokio::test]
async fn pymongo_and_libmongocrypt_share_kmip_keys_with_us() {
    let _server = SERVER.lock().await;
    let db = server::unique_db("kmip_pymongo");
    let namespace = Namespace::new(db.as_str(), "__keyVault");
    let client = server::client().await;
    let encryption = handle(&client, &db, KmsProviders::new().with(kmip()));
    let value = Bson::String("shared through KMIP".to_owned());

    // Ours, in both modes: pymongo decrypts them.
    let mut ours = Vec::new();
    let mut our_fields = Vec::new();
    for (description, master_key) in [
        ("rust, secret data", MasterKey::kmip()),
        ("rust, delegated", MasterKey::kmip().with_delegated(true)),
    ] {
        let id = encryption.create_data_key(master_key).await.unwrap();
        let ciphertext = encryption
            .encrypt(value.clone(), KeyRef::Id(id), Algorithm::Random)
            .await
            .unwrap();
        our_fields.push(master_key_fields(
            &encryption
                .get_key(id)
                .await
                .unwrap()
                .unwrap()
                .master_key
                .to_document(),
        ));
        ours.push(json!({
            "description": description,
            "value": value.clone().into_canonical_extjson(),
            "ciphertext": Bson::Binary(ciphertext).into_canonical_extjson(),
        }));
    }
    // Theirs, in both modes, created by libmongocrypt on the same server.
    let reply = python_peer::run(
        "kmip_peer.py",
        &json!({
            "phase": "create",
            "uri": server::uri(),
            "keyVaultNamespace": namespace.to_string(),
            "kmip": {
                "endpoint": env("ENCRYPTED_TEST_KMIP_ENDPOINT"),
                "caFile": env("ENCRYPTED_TEST_KMIP_CA_FILE"),
                "identityFile": env("ENCRYPTED_TEST_KMIP_IDENTITY_FILE"),
            },
            "value": value.clone().into_canonical_extjson(),
            "create": [
                { "altName": "python-secret-data", "masterKey": {} },
                { "altName": "python-delegated", "masterKey": { "delegated": true } },
            ],
            "cases": ours,
        }),
    );
    let created = reply["created"].as_array().unwrap();
    assert_eq!(created.len(), 2);
    for (theirs, our_fields) in created.iter().zip(&our_fields) {
        // The same masterKey shape, field for field, as libmongocrypt writes.
        let their_fields: Vec<String> =
            serde_json::from_value(theirs["masterKeyFields"].clone()).unwrap();
        assert_eq!(&their_fields, our_fields, "{}", theirs["altName"]);
        let ciphertext = match Bson::try_from(theirs["ciphertext"].clone()).unwrap() {
            Bson::Binary(binary) => binary,
            other => panic!("not a binary: {other}"),
        };
        let fresh = handle(&client, &db, KmsProviders::new().with(kmip()));
        assert_eq!(
            fresh.decrypt(&ciphertext).await.unwrap(),
            value,
            "{}",
            theirs["altName"]
        );
        // And the key document parses into the same master key it was written from.
        let key = fresh
            .get_key_by_alt_name(theirs["altName"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
        let written = bson::Document::try_from(
            serde_json::from_value::<serde_json::Map<String, Value>>(theirs["masterKey"].clone())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(key.master_key.to_document(), written);
    }
    client.database(&db).drop().await.unwrap();
}

#[tokio::test]
async fn a_master_key_naming_another_endpoint_is_refused_before_connecting() {
    let _server = SERVER.lock().await;
    let db = server::unique_db("kmip_pinning");
    let client = server::client().await;
    let encryption = handle(&client, &db, KmsProviders::new().with(kmip()));
    // A listener that would see any connection attempt.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let elsewhere = listener.local_addr().unwrap().to_string();
    let created = encryption
        .create_data_key(MasterKey::kmip().with_endpoint(elsewhere.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(&created, Error::KmsEndpointRefused { endpoint, .. } if *endpoint == elsewhere),
        "{created:?}"
    );
    // A key document pointing elsewhere (written by whoever can write the key vault).
    let id = encryption.create_data_key(MasterKey::kmip()).await.unwrap();
    let ciphertext = encryption
        .encrypt(Bson::Int32(1), KeyRef::Id(id), Algorithm::Random)
        .await
        .unwrap();
    client
        .database(&db)
        .collection::<bson::Document>("__keyVault")
        .update_one(
            doc! { "_id": id },
            doc! { "$set": { "masterKey.endpoint": &elsewhere } },
        )
        .await
        .unwrap();
    let fresh = handle(&client, &db, KmsProviders::new().with(kmip()));
    let refused = fresh.decrypt(&ciphertext).await.unwrap_err();
    assert!(
        matches!(&refused, Error::KmsEndpointRefused { key_id, .. } if *key_id == id),
        "{refused:?}"
    );
    let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
    assert!(accepted.is_err(), "a connection reached the other endpoint");
    // Allowed by the application, the same endpoint is tried.
    let allowing = handle(
        &client,
        &db,
        KmsProviders::new().with(kmip().with_allowed_endpoint(&elsewhere).unwrap()),
    );
    let (tried, accepted) = tokio::join!(
        allowing.decrypt(&ciphertext),
        tokio::time::timeout(Duration::from_secs(5), listener.accept())
    );
    assert!(tried.is_err());
    assert!(accepted.is_ok(), "the allowed endpoint was not tried");
    client.database(&db).drop().await.unwrap();
}

#[tokio::test]
async fn the_server_refuses_a_client_without_a_certificate() {
    let _server = SERVER.lock().await;
    let db = server::unique_db("kmip_no_cert");
    let client = server::client().await;
    let ca_only = TlsOptions::new()
        .with_ca_pem(std::fs::read(env("ENCRYPTED_TEST_KMIP_CA_FILE")).unwrap())
        .unwrap();
    let kms = KmipKms::new(&env("ENCRYPTED_TEST_KMIP_ENDPOINT"), ca_only)
        .unwrap()
        .with_timeout(Duration::from_secs(5));
    let encryption = handle(&client, &db, KmsProviders::new().with(kms));
    let refused = encryption
        .create_data_key(MasterKey::kmip())
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, Error::Kms { provider, kind: KmsErrorKind::Tls | KmsErrorKind::Unreachable, .. } if provider == "kmip"),
        "{refused:?}"
    );
    let keys = client
        .database(&db)
        .collection::<bson::Document>("__keyVault")
        .count_documents(doc! {})
        .await
        .unwrap();
    assert_eq!(keys, 0);
}

fn signal(name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), env("ENCRYPTED_TEST_KMIP_PID")])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name}");
}

/// Resumes the server however the test ends.
struct Resume;

impl Drop for Resume {
    fn drop(&mut self) {
        signal("CONT");
    }
}

#[tokio::test]
async fn the_server_down_during_create_or_decrypt_loses_nothing() {
    let _server = SERVER.lock().await;
    let db = server::unique_db("kmip_outage");
    let client = server::client().await;
    let quick = || kmip().with_timeout(Duration::from_millis(700));
    let encryption = handle(&client, &db, KmsProviders::new().with(quick()));
    let mut secrets = Vec::new();
    for delegated in [false, true] {
        let id = encryption
            .create_data_key(MasterKey::kmip().with_delegated(delegated))
            .await
            .unwrap();
        let value = Bson::Boolean(delegated);
        let ciphertext = encryption
            .encrypt(value.clone(), KeyRef::Id(id), Algorithm::Random)
            .await
            .unwrap();
        secrets.push((ciphertext, value));
    }
    {
        let _resume = Resume;
        signal("STOP");
        // Create: a typed error, and no key document half-written.
        for delegated in [false, true] {
            let failed = encryption
                .create_data_key(MasterKey::kmip().with_delegated(delegated))
                .key_alt_names([format!("during-outage-{delegated}")])
                .await
                .unwrap_err();
            assert!(
                matches!(&failed, Error::Kms { kind: KmsErrorKind::TimedOut, message, .. } if message.contains("in time")),
                "{failed:?}"
            );
        }
        // Decrypt with no cached key: a typed error naming the key.
        let cold = handle(&client, &db, KmsProviders::new().with(quick()));
        for (ciphertext, _) in &secrets {
            let failed = cold.decrypt(ciphertext).await.unwrap_err();
            assert!(
                matches!(&failed, Error::Kms { kind: KmsErrorKind::TimedOut, message, .. } if message.contains("cannot unwrap data key")),
                "{failed:?}"
            );
        }
    }
    // Nothing lost: the two keys, only them, and they decrypt once the server is back.
    let keys = client
        .database(&db)
        .collection::<bson::Document>("__keyVault")
        .count_documents(doc! {})
        .await
        .unwrap();
    assert_eq!(keys, 2);
    let cold = handle(&client, &db, KmsProviders::new().with(kmip()));
    for (ciphertext, value) in &secrets {
        assert_eq!(&cold.decrypt(ciphertext).await.unwrap(), value);
    }
    client.database(&db).drop().await.unwrap();
}

#[tokio::test]
async fn no_server_listening_is_a_typed_error() {
    let _server = SERVER.lock().await;
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kms = KmipKms::new(&format!("127.0.0.1:{port}"), tls()).unwrap();
    let key = encrypted::DataKey::generate(Uuid::new()).unwrap();
    let failed = encrypted::kms::KmsProvider::wrap(&kms, &MasterKey::kmip().with_key_id("1"), &key)
        .await
        .unwrap_err();
    assert!(
        matches!(&failed, Error::Kms { kind: KmsErrorKind::Unreachable, message, .. } if message.contains("cannot connect")),
        "{failed:?}"
    );
}
