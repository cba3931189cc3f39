//! The `gcp` KMS provider against the strict Google Cloud KMS test server
//! (`interop/kms-servers/gcp_server.py`, started by `scripts/kms-gcp run`): the OAuth JWT
//! bearer flow it verifies (RS256 signature against the service account's public key,
//! issuer, audience, scope, lifetime), static and on-demand (metadata server) tokens,
//! token expiry, faults (provider down, 503, 400), endpoint pinning, malformed keys, and
//! pymongo + libmongocrypt sharing gcp keys with us through the same server.
//!
//! Run with `bash scripts/kms-gcp run -- bash scripts/local-server run -- cargo test --test gcp_kms`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use bson::{Bson, Document, Uuid, doc};
use encrypted::kms::{
    GcpCredentials, GcpKms, KmsErrorKind, KmsProvider, KmsProviders, LocalKms, TlsOptions,
};
use encrypted::{
    Algorithm, ClientEncryption, DataKey, Error, KeyRef, LocalMasterKey, MasterKey, Namespace,
};
use serde_json::{Value, json};
use test_support::{python_peer, server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The tests share one server whose faults and counters they set: one at a time.
static SERVER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        test_support::fail(&format!(
            "this test needs the Google Cloud KMS test server and {name} is not set: run it under `bash scripts/kms-gcp run -- …`"
        ))
    })
}

fn private_key_pem() -> Vec<u8> {
    std::fs::read(env("ENCRYPTED_TEST_GCP_PRIVATE_KEY_FILE")).unwrap()
}

fn service_account() -> GcpCredentials {
    GcpCredentials::service_account(env("ENCRYPTED_TEST_GCP_EMAIL"), private_key_pem()).unwrap()
}

/// The provider with `credentials`, allowed to reach the test server, trusting its CA.
fn gcp_with(credentials: GcpCredentials) -> GcpKms {
    let endpoint = env("ENCRYPTED_TEST_GCP_ENDPOINT");
    GcpKms::new(credentials)
        .unwrap()
        .with_allowed_endpoint(&endpoint)
        .unwrap()
        .with_oauth_endpoint(&endpoint)
        .unwrap()
        .with_metadata_endpoint(&env("ENCRYPTED_TEST_GCP_METADATA_ENDPOINT"))
        .unwrap()
        .with_tls(
            TlsOptions::new()
                .with_ca_pem(std::fs::read(env("ENCRYPTED_TEST_GCP_CA_FILE")).unwrap())
                .unwrap(),
        )
        .unwrap()
}

fn gcp() -> GcpKms {
    gcp_with(service_account())
}

fn master_key() -> MasterKey {
    MasterKey::gcp(
        env("ENCRYPTED_TEST_GCP_PROJECT_ID"),
        env("ENCRYPTED_TEST_GCP_LOCATION"),
        env("ENCRYPTED_TEST_GCP_KEY_RING"),
        env("ENCRYPTED_TEST_GCP_KEY_NAME"),
    )
    .with_endpoint(env("ENCRYPTED_TEST_GCP_ENDPOINT"))
}

/// A control of the test server (`/_admin/…` on its plain-HTTP metadata port); returns
/// its JSON answer.
async fn admin(path: &str) -> Value {
    let endpoint = env("ENCRYPTED_TEST_GCP_METADATA_ENDPOINT");
    let mut stream = tokio::net::TcpStream::connect(&endpoint).await.unwrap();
    let request =
        format!("GET /_admin/{path} HTTP/1.1\r\nHost: {endpoint}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    serde_json::from_str(body).unwrap()
}

/// Takes the server for this test, with no faults, fresh counters and no valid token.
async fn take_server() -> tokio::sync::MutexGuard<'static, ()> {
    let guard = SERVER.lock().await;
    admin("reset").await;
    guard
}

async fn stat(name: &str) -> u64 {
    admin("stats").await[name].as_u64().unwrap()
}

fn kms_kind<T: std::fmt::Debug>(result: encrypted::Result<T>) -> (KmsErrorKind, String) {
    match result {
        Err(Error::Kms {
            provider,
            kind,
            message,
            ..
        }) => {
            assert_eq!(provider, "gcp");
            (kind, message)
        }
        other => panic!("expected a KMS error, got {other:?}"),
    }
}

fn same_key(a: &DataKey, b: &DataKey) {
    let value = Bson::Int32(7);
    assert_eq!(
        a.encrypt(&value, Algorithm::Deterministic).unwrap(),
        b.encrypt(&value, Algorithm::Deterministic).unwrap()
    );
}

fn local() -> LocalKms {
    LocalKms::new(LocalMasterKey::from_bytes(&[0x42; 96]).unwrap())
}

async fn open_vault(db: &str, providers: KmsProviders) -> ClientEncryption {
    ClientEncryption::builder(server::client().await, providers)
        .key_vault_namespace(Namespace::new(db, "__keyVault"))
        .build()
}

#[tokio::test]
async fn a_service_account_token_is_fetched_once_and_reused() {
    let _server = take_server().await;
    let kms = gcp();
    let master_key = master_key();
    let (first, second) = (
        DataKey::generate(Uuid::new()).unwrap(),
        DataKey::generate(Uuid::new()).unwrap(),
    );
    // Two callers on a cold cache: one token fetch, shared.
    let (a, b) = tokio::join!(
        kms.wrap(&master_key, &first),
        kms.wrap(&master_key, &second)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    same_key(
        &kms.unwrap(&master_key, first.id(), &a).await.unwrap(),
        &first,
    );
    same_key(
        &kms.unwrap(&master_key, second.id(), &b).await.unwrap(),
        &second,
    );
    // The server verified the JWT (signature, iss, aud, scope, iat/exp) once.
    assert_eq!(stat("token").await, 1);
    assert_eq!(stat("encrypt").await, 2);
    assert_eq!(stat("decrypt").await, 2);
}

#[tokio::test]
async fn a_success_reply_without_its_field_is_malformed() {
    let _server = take_server().await;
    let kms = gcp();
    let key = DataKey::generate(Uuid::new()).unwrap();
    // 200 with Google's error document instead of `ciphertext`.
    admin("fault?status=200&count=1&target=encrypt").await;
    let (kind, message) = kms_kind(kms.wrap(&master_key(), &key).await);
    assert_eq!(kind, KmsErrorKind::MalformedReply, "{message}");
    assert!(message.contains("without ciphertext"), "{message}");
}

#[tokio::test]
async fn a_key_version_wraps_and_the_key_unwraps() {
    let _server = take_server().await;
    let kms = gcp();
    let key = DataKey::generate(Uuid::new()).unwrap();
    let versioned = master_key().with_key_version("2");
    let wrapped = kms.wrap(&versioned, &key).await.unwrap();
    same_key(
        &kms.unwrap(&versioned, key.id(), &wrapped).await.unwrap(),
        &key,
    );
    // An unknown version is Google's 404, not retried.
    let (kind, message) = kms_kind(kms.wrap(&master_key().with_key_version("9"), &key).await);
    assert_eq!(
        kind,
        KmsErrorKind::HttpStatus {
            status: 404,
            code: Some("NOT_FOUND".to_owned())
        }
    );
    assert!(message.contains(&key.id().to_string()), "{message}");
}

#[tokio::test]
async fn data_keys_move_between_local_and_gcp_master_keys() {
    let _server = take_server().await;
    let db = server::unique_db("gcp");
    let both = open_vault(&db, KmsProviders::new().with(local()).with(gcp())).await;
    let local_key = both.create_data_key(MasterKey::local()).await.unwrap();
    let gcp_key = both
        .create_data_key(master_key())
        .key_alt_names(["medco-gcp"])
        .await
        .unwrap();
    let mut secrets = Vec::new();
    for key in [local_key, gcp_key] {
        let value = Bson::String(format!("secret of {key}"));
        let ciphertext = both
            .encrypt(value.clone(), KeyRef::Id(key), Algorithm::Random)
            .await
            .unwrap();
        secrets.push((ciphertext, value));
    }
    // Everything to Google Cloud KMS: then a handle with only gcp reads it all.
    let result = both
        .rewrap_many_data_key(doc! {}, Some(master_key()))
        .await
        .unwrap();
    assert_eq!(result.rewrapped.len(), 2);
    let only_gcp = open_vault(&db, KmsProviders::new().with(gcp())).await;
    for (ciphertext, value) in &secrets {
        assert_eq!(&only_gcp.decrypt(ciphertext).await.unwrap(), value);
    }
    // And back to the local master key.
    both.rewrap_many_data_key(doc! {}, Some(MasterKey::local()))
        .await
        .unwrap();
    let only_local = open_vault(&db, KmsProviders::new().with(local())).await;
    for (ciphertext, value) in &secrets {
        assert_eq!(&only_local.decrypt(ciphertext).await.unwrap(), value);
    }
    server::client().await.database(&db).drop().await.unwrap();
}

#[tokio::test]
async fn a_named_gcp_provider_writes_its_name() {
    let _server = take_server().await;
    let db = server::unique_db("gcp_named");
    let named = GcpKms::named("eu", service_account())
        .unwrap()
        .with_allowed_endpoint(&env("ENCRYPTED_TEST_GCP_ENDPOINT"))
        .unwrap()
        .with_oauth_endpoint(&env("ENCRYPTED_TEST_GCP_ENDPOINT"))
        .unwrap()
        .with_tls(
            TlsOptions::new()
                .with_ca_pem(std::fs::read(env("ENCRYPTED_TEST_GCP_CA_FILE")).unwrap())
                .unwrap(),
        )
        .unwrap();
    let encryption = open_vault(&db, KmsProviders::new().with(named)).await;
    let id = encryption
        .create_data_key(master_key().with_provider_name("eu"))
        .await
        .unwrap();
    let stored = encryption.get_key(id).await.unwrap().unwrap();
    assert_eq!(stored.master_key.provider(), "gcp:eu");
    let ciphertext = encryption
        .encrypt(Bson::Int32(1), KeyRef::Id(id), Algorithm::Random)
        .await
        .unwrap();
    assert_eq!(
        encryption.decrypt(&ciphertext).await.unwrap(),
        Bson::Int32(1)
    );
    server::client().await.database(&db).drop().await.unwrap();
}

#[tokio::test]
async fn an_access_token_is_used_as_given() {
    let _server = take_server().await;
    let kms = gcp_with(GcpCredentials::access_token(env(
        "ENCRYPTED_TEST_GCP_ACCESS_TOKEN",
    )));
    let key = DataKey::generate(Uuid::new()).unwrap();
    let wrapped = kms.wrap(&master_key(), &key).await.unwrap();
    same_key(
        &kms.unwrap(&master_key(), key.id(), &wrapped).await.unwrap(),
        &key,
    );
    assert_eq!(stat("token").await + stat("metadata").await, 0);
    // A token the server does not know: its 401, typed, tried once (it cannot be renewed).
    let wrong = gcp_with(GcpCredentials::access_token("ya29.not-issued"));
    let (kind, _) = kms_kind(wrong.wrap(&master_key(), &key).await);
    assert_eq!(
        kind,
        KmsErrorKind::HttpStatus {
            status: 401,
            code: Some("UNAUTHENTICATED".to_owned())
        }
    );
}

#[tokio::test]
async fn on_demand_tokens_come_from_the_metadata_server() {
    let _server = take_server().await;
    let kms = gcp_with(GcpCredentials::on_demand());
    let key = DataKey::generate(Uuid::new()).unwrap();
    let wrapped = kms.wrap(&master_key(), &key).await.unwrap();
    same_key(
        &kms.unwrap(&master_key(), key.id(), &wrapped).await.unwrap(),
        &key,
    );
    // One metadata request (which the server refuses without `Metadata-Flavor: Google`).
    assert_eq!(stat("metadata").await, 1);
    assert_eq!(stat("token").await, 0);
    assert_eq!(stat("refused").await, 0);
}

#[tokio::test]
async fn the_metadata_server_refuses_requests_without_metadata_flavor() {
    let _server = take_server().await;
    let endpoint = env("ENCRYPTED_TEST_GCP_METADATA_ENDPOINT");
    let mut stream = tokio::net::TcpStream::connect(&endpoint).await.unwrap();
    let request = format!(
        "GET /computeMetadata/v1/instance/service-accounts/default/token HTTP/1.1\r\nHost: {endpoint}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    assert!(reply.contains(" 403 "), "{reply}");
    assert_eq!(stat("metadata").await, 0);
}

#[tokio::test]
async fn an_unreachable_metadata_server_is_a_typed_error() {
    let _server = take_server().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = listener.local_addr().unwrap().to_string();
    drop(listener);
    let kms = gcp_with(GcpCredentials::on_demand())
        .with_metadata_endpoint(&closed)
        .unwrap()
        .with_retry(false);
    let key = DataKey::generate(Uuid::new()).unwrap();
    let (kind, message) = kms_kind(kms.wrap(&master_key(), &key).await);
    assert_eq!(kind, KmsErrorKind::Unreachable, "{message}");
    assert_eq!(stat("encrypt").await, 0);
}

#[tokio::test]
async fn a_token_revoked_mid_run_is_renewed_without_failing() {
    let _server = take_server().await;
    for credentials in [service_account(), GcpCredentials::on_demand()] {
        let kms = gcp_with(credentials);
        let key = DataKey::generate(Uuid::new()).unwrap();
        let wrapped = kms.wrap(&master_key(), &key).await.unwrap();
        admin("expire-tokens").await;
        // The KMS answers 401; a new token is fetched and the call goes through.
        same_key(
            &kms.unwrap(&master_key(), key.id(), &wrapped).await.unwrap(),
            &key,
        );
    }
    assert_eq!(stat("token").await, 2);
    assert_eq!(stat("metadata").await, 2);
    assert_eq!(stat("refused").await, 2);
}

#[tokio::test]
async fn a_token_is_refreshed_before_it_expires() {
    let _server = take_server().await;
    admin("ttl?seconds=2").await;
    let kms = gcp();
    let key = DataKey::generate(Uuid::new()).unwrap();
    let wrapped = kms.wrap(&master_key(), &key).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    same_key(
        &kms.unwrap(&master_key(), key.id(), &wrapped).await.unwrap(),
        &key,
    );
    // A second token, fetched before the KMS could refuse the first one.
    assert_eq!(stat("token").await, 2);
    assert_eq!(stat("refused").await, 0);
}

#[tokio::test]
async fn a_kms_answering_503_twice_then_200_is_retried() {
    let _server = take_server().await;
    let kms = gcp();
    let key = DataKey::generate(Uuid::new()).unwrap();
    admin("fault?status=503&count=2&target=encrypt").await;
    let wrapped = kms.wrap(&master_key(), &key).await.unwrap();
    assert_eq!(stat("faults").await, 2);
    assert_eq!(stat("encrypt").await, 1);
    // The token endpoint is retried the same way.
    admin("expire-tokens").await;
    admin("fault?status=503&count=2&target=token").await;
    same_key(
        &kms.unwrap(&master_key(), key.id(), &wrapped).await.unwrap(),
        &key,
    );
    assert_eq!(stat("faults").await, 4);
}

#[tokio::test]
async fn a_kms_answering_400_is_not_retried() {
    let _server = take_server().await;
    let kms = gcp();
    let key = DataKey::generate(Uuid::new()).unwrap();
    admin("fault?status=400&count=5&target=encrypt").await;
    let (kind, message) = kms_kind(kms.wrap(&master_key(), &key).await);
    assert_eq!(
        kind,
        KmsErrorKind::HttpStatus {
            status: 400,
            code: Some("FAILED_PRECONDITION".to_owned())
        }
    );
    assert!(!kind.is_transient());
    assert!(message.contains("encrypt"), "{message}");
    assert_eq!(stat("faults").await, 1);
}

#[tokio::test]
async fn provider_down_during_create_decrypt_and_rewrap_loses_nothing() {
    let _server = take_server().await;
    let db = server::unique_db("gcp_down");
    let kms = || {
        KmsProviders::new()
            .with(local())
            .with(gcp().with_timeout(Duration::from_secs(2)).unwrap())
    };
    let encryption = open_vault(&db, kms()).await;
    let gcp_key = encryption.create_data_key(master_key()).await.unwrap();
    let local_key = encryption
        .create_data_key(MasterKey::local())
        .await
        .unwrap();
    let mut secrets = Vec::new();
    for key in [gcp_key, local_key] {
        let value = Bson::String(format!("kept {key}"));
        let ciphertext = encryption
            .encrypt(value.clone(), KeyRef::Id(key), Algorithm::Random)
            .await
            .unwrap();
        secrets.push((ciphertext, value));
    }
    let keys = server::client()
        .await
        .database(&db)
        .collection::<Document>("__keyVault");
    let before: Vec<Document> = {
        use futures_util::TryStreamExt;
        keys.find(doc! {})
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap()
    };

    admin("down?on=1").await;
    // A fresh handle: no cached data key, no cached token.
    let cold = open_vault(&db, kms()).await;
    let (kind, _) = kms_kind(cold.create_data_key(master_key()).await);
    assert!(kind.is_transient(), "{kind:?}");
    let (kind, _) = kms_kind(cold.decrypt(&secrets[0].0).await);
    assert!(kind.is_transient(), "{kind:?}");
    let (kind, _) = kms_kind(cold.rewrap_many_data_key(doc! {}, Some(master_key())).await);
    assert!(kind.is_transient(), "{kind:?}");
    // Nothing was written: the key vault is as it was.
    let after: Vec<Document> = {
        use futures_util::TryStreamExt;
        keys.find(doc! {})
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap()
    };
    assert_eq!(before, after);

    admin("down?on=0").await;
    let recovered = open_vault(&db, kms()).await;
    for (ciphertext, value) in &secrets {
        assert_eq!(&recovered.decrypt(ciphertext).await.unwrap(), value);
    }
    server::client().await.database(&db).drop().await.unwrap();
}

#[tokio::test]
async fn a_key_document_cannot_send_the_token_elsewhere() {
    let _server = take_server().await;
    let endpoint = env("ENCRYPTED_TEST_GCP_ENDPOINT");
    // Trusting the server's CA and fetching tokens there, but not allowing it as a KMS.
    let kms = GcpKms::new(service_account())
        .unwrap()
        .with_oauth_endpoint(&endpoint)
        .unwrap()
        .with_tls(
            TlsOptions::new()
                .with_ca_pem(std::fs::read(env("ENCRYPTED_TEST_GCP_CA_FILE")).unwrap())
                .unwrap(),
        )
        .unwrap();
    let key = DataKey::generate(Uuid::new()).unwrap();
    match kms.wrap(&master_key(), &key).await {
        Err(Error::KmsEndpointRefused {
            provider,
            key_id,
            endpoint: refused,
        }) => {
            assert_eq!((provider.as_str(), key_id), ("gcp", key.id()));
            assert_eq!(refused, endpoint);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Refused before anything was sent: not even a token was asked for.
    assert_eq!(stat("token").await, 0);
    assert_eq!(stat("encrypt").await, 0);
}

#[tokio::test]
async fn a_malformed_private_key_is_refused_with_a_typed_error() {
    let pem = String::from_utf8(private_key_pem()).unwrap();
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let truncated = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        &body[..body.len() / 8 * 4]
    );
    let pkcs1 = pem.replace("PRIVATE KEY", "RSA PRIVATE KEY");
    for (input, expected) in [
        (truncated.as_str(), "not a PKCS#8 RSA key"),
        (pkcs1.as_str(), "PKCS#1"),
        (&body[..body.len() - 8], "not a PKCS#8 RSA key"),
        ("-----BEGIN CERTIFICATE-----", "no `PRIVATE KEY` section"),
    ] {
        let error = GcpCredentials::service_account("a@b", input).unwrap_err();
        let (kind, message) = kms_kind::<()>(Err(error));
        assert_eq!(kind, KmsErrorKind::Credentials);
        assert!(message.contains(expected), "{message}");
        // No key bytes: no 12 characters of the key's base64 appear in it.
        let compact: String = body.chars().collect();
        assert!(
            !(0..compact.len() - 12).any(|i| message.contains(&compact[i..i + 12])),
            "{message}"
        );
    }
    // The well-formed key, as base64 DER (libmongocrypt's form), is accepted.
    GcpCredentials::service_account("a@b", body.as_str()).unwrap();
}

#[tokio::test]
async fn a_service_account_the_token_endpoint_refuses_is_a_credentials_error() {
    let _server = take_server().await;
    let kms = gcp_with(
        GcpCredentials::service_account(
            "someone-else@example.iam.gserviceaccount.com",
            private_key_pem(),
        )
        .unwrap(),
    );
    let key = DataKey::generate(Uuid::new()).unwrap();
    let (kind, message) = kms_kind(kms.wrap(&master_key(), &key).await);
    assert_eq!(kind, KmsErrorKind::Credentials);
    assert!(
        message.contains("invalid_grant") && message.contains("issuer"),
        "{message}"
    );
    assert_eq!(stat("encrypt").await, 0);
}

#[tokio::test]
async fn pymongo_and_encrypted_core_share_gcp_keys() {
    let _server = take_server().await;
    pymongo_shares_gcp_keys(service_account(), None).await;
    // libmongocrypt fetched its token with the JWT bearer flow the server verified.
    assert!(stat("token").await >= 2);
}

#[tokio::test]
async fn pymongo_and_encrypted_core_share_gcp_keys_with_on_demand_credentials() {
    let _server = take_server().await;
    let metadata = env("ENCRYPTED_TEST_GCP_METADATA_ENDPOINT");
    pymongo_shares_gcp_keys(GcpCredentials::on_demand(), Some(metadata)).await;
    // Both asked the metadata server (with `Metadata-Flavor: Google`); no JWT flow.
    assert!(stat("metadata").await >= 2);
    assert_eq!(stat("token").await, 0);
    assert_eq!(stat("refused").await, 0);
}

/// Rust creates a gcp key and encrypts with it; pymongo (libmongocrypt) decrypts that,
/// creates a gcp key of its own and encrypts with it; Rust decrypts that and compares
/// the `masterKey` documents.
async fn pymongo_shares_gcp_keys(credentials: GcpCredentials, metadata_host: Option<String>) {
    let db = server::unique_db("gcp_pymongo");
    let encryption = open_vault(&db, KmsProviders::new().with(gcp_with(credentials))).await;
    let rust_key = encryption
        .create_data_key(master_key())
        .key_alt_names(["rust-gcp"])
        .await
        .unwrap();
    let value = Bson::String("from Rust".to_owned());
    let ciphertext = encryption
        .encrypt(value.clone(), KeyRef::Id(rust_key), Algorithm::Random)
        .await
        .unwrap();
    let ciphertext = Bson::Binary(ciphertext);
    let mut master_key_json = json!({});
    for (field, value) in master_key().to_document() {
        if field != "provider" {
            master_key_json[field] = Value::String(value.as_str().unwrap().to_owned());
        }
    }
    let reply = python_peer::run(
        "gcp_kms_peer.py",
        &json!({
            "uri": server::uri(),
            "keyVaultNamespace": format!("{db}.__keyVault"),
            "endpoint": env("ENCRYPTED_TEST_GCP_ENDPOINT"),
            "caFile": env("ENCRYPTED_TEST_GCP_CA_FILE"),
            "email": env("ENCRYPTED_TEST_GCP_EMAIL"),
            "privateKeyPem": String::from_utf8(private_key_pem()).unwrap(),
            "masterKey": master_key_json,
            "altName": "python-gcp",
            "metadataHost": metadata_host,
            "value": Bson::String("from pymongo".to_owned()).into_canonical_extjson(),
            "cases": [{
                "description": "a Rust ciphertext under a Rust gcp key",
                "ciphertext": ciphertext.into_canonical_extjson(),
                "value": value.into_canonical_extjson(),
            }],
        }),
    );
    // libmongocrypt's masterKey is ours field for field, in the same order.
    let stored = encryption
        .get_key_by_alt_name("python-gcp")
        .await
        .unwrap()
        .unwrap();
    let fields: Vec<String> = stored.master_key.to_document().keys().cloned().collect();
    assert_eq!(
        reply["masterKeyFields"],
        json!([
            "provider",
            "projectId",
            "location",
            "keyRing",
            "keyName",
            "endpoint"
        ])
    );
    assert_eq!(json!(fields), reply["masterKeyFields"]);
    assert_eq!(stored.master_key, master_key());
    // And its ciphertext decrypts here (unwrapping its key through the same server).
    let Bson::Binary(theirs) = Bson::try_from(reply["ciphertext"].clone()).unwrap() else {
        panic!("not a ciphertext");
    };
    assert_eq!(
        encryption.decrypt(&theirs).await.unwrap(),
        Bson::String("from pymongo".to_owned())
    );
    server::client().await.database(&db).drop().await.unwrap();
}
