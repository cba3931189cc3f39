//! The `azure` KMS provider against the Azure test server (identity platform token
//! endpoint, Key Vault wrapkey/unwrapkey with real RSA-OAEP-256, IMDS; started by
//! `scripts/kms-azure run`) and a live key vault (`MONGODB_URI`): keys created, used and
//! rewrapped through `ClientEncryption` in the three credential modes; token expiry and
//! revocation mid-run; the provider down during create, decrypt and rewrap; retried 503s
//! and unretried 400s; refused endpoints; and pymongo/libmongocrypt sharing the same
//! server and key vault.
//!
//! Each test works on its own Key Vault key (and, where it counts tokens, its own client
//! registration), so the faults it injects touch no other test.
//!
//! Run: `bash scripts/kms-azure run -- bash scripts/local-server run -- cargo test --test azure_kms`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bson::{Bson, Document, doc};
use encrypted::kms::{
    AzureCredentials, AzureKms, KmsErrorKind, KmsProvider, KmsProviders, LocalKms, TlsOptions,
};
use encrypted::{
    Algorithm, ClientEncryption, DataKey, Error, KeyRef, LocalMasterKey, MasterKey, Namespace,
};
use futures_util::TryStreamExt;
use serde_json::{Value, json};
use test_support::{fail, python_peer, server};

/// A variable `scripts/kms-azure run` sets; without it the test fails saying how to start
/// the server.
fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        fail(&format!(
            "this test needs the Azure test server and {name} is not set: start it with `bash scripts/kms-azure run -- bash scripts/local-server run -- cargo test --test azure_kms`"
        ))
    })
}

fn endpoint() -> String {
    env("ENCRYPTED_TEST_AZURE_ENDPOINT")
}

/// Calls the test server's control API (tests only: keys, clients, tokens, faults).
fn control(path: &str, request: &Value) -> Value {
    let script = r#"
import json, ssl, sys, urllib.request
context = ssl.create_default_context(cafile=sys.argv[2])
data = sys.argv[3].encode() if sys.argv[3] else None
request = urllib.request.Request(sys.argv[1], data=data, headers={"Content-Type": "application/json"})
print(urllib.request.urlopen(request, context=context, timeout=10).read().decode())
"#;
    let body = if path == "/control/stats" {
        String::new()
    } else {
        request.to_string()
    };
    let output = Command::new("python3")
        .args([
            "-c",
            script,
            &format!("https://{}{path}", endpoint()),
            &env("ENCRYPTED_TEST_AZURE_CA_FILE"),
            &body,
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "control {path}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A new Key Vault key of the server's, for one test.
fn new_key(name: &str) -> MasterKey {
    control("/control/keys", &json!({ "name": name }));
    MasterKey::azure(endpoint(), name)
}

/// A counter of the server's (`token:<client>`, `wrapkey:<key>`, `fault:key:<key>`, …).
fn count(name: &str) -> u64 {
    control("/control/stats", &json!({}))["counts"][name]
        .as_u64()
        .unwrap_or(0)
}

fn fault(target: &str, fault: Value) {
    let mut request = fault;
    request["target"] = json!(target);
    control("/control/faults", &request);
}

fn clear_faults(target: &str) {
    control(
        "/control/faults",
        &json!({ "target": target, "clear": true }),
    );
}

/// A client registration of its own (to count its tokens), with this token lifetime.
fn new_client(id: &str, lifetime_secs: u64) -> AzureCredentials {
    control(
        "/control/clients",
        &json!({ "client_id": id, "client_secret": format!("{id}-secret~"), "lifetime": lifetime_secs }),
    );
    AzureCredentials::client_credentials(
        env("ENCRYPTED_TEST_AZURE_TENANT_ID"),
        id,
        format!("{id}-secret~"),
    )
    .with_identity_platform_endpoint(endpoint())
}

fn tls() -> TlsOptions {
    TlsOptions::new()
        .with_ca_pem(std::fs::read(env("ENCRYPTED_TEST_AZURE_CA_FILE")).unwrap())
        .unwrap()
}

/// The provider with these credentials, allowed to reach the test server.
fn azure_with(credentials: AzureCredentials) -> AzureKms {
    AzureKms::new(credentials)
        .unwrap()
        .with_allowed_endpoint(&endpoint())
        .unwrap()
        .with_tls(tls())
        .unwrap()
        .with_timeout(Duration::from_secs(5))
        .unwrap()
}

/// The run's client credentials.
fn credentials() -> AzureCredentials {
    AzureCredentials::client_credentials(
        env("ENCRYPTED_TEST_AZURE_TENANT_ID"),
        env("ENCRYPTED_TEST_AZURE_CLIENT_ID"),
        env("ENCRYPTED_TEST_AZURE_CLIENT_SECRET"),
    )
    .with_identity_platform_endpoint(endpoint())
}

fn azure() -> AzureKms {
    azure_with(credentials())
}

fn local() -> LocalKms {
    LocalKms::new(LocalMasterKey::from_bytes(&[0x42; 96]).unwrap())
}

fn handle(client: &mongodb::Client, db: &str, kms: KmsProviders) -> ClientEncryption {
    ClientEncryption::builder(client.clone(), kms)
        .key_vault_namespace(Namespace::new(db, "__keyVault"))
        .build()
}

fn kms_kind<T: std::fmt::Debug>(result: encrypted::Result<T>) -> KmsErrorKind {
    match result {
        Err(Error::Kms { kind, message, .. }) => {
            assert!(!message.contains("secret~"), "{message}");
            kind
        }
        other => panic!("expected a KMS error, got {other:?}"),
    }
}

async fn round_trip(kms: &AzureKms, master_key: &MasterKey) {
    let key = DataKey::generate(bson::Uuid::new()).unwrap();
    let wrapped = kms.wrap(master_key, &key).await.unwrap();
    assert_eq!(wrapped.len(), 256, "an RSA-2048 OAEP ciphertext");
    let unwrapped = kms.unwrap(master_key, key.id(), &wrapped).await.unwrap();
    let value = Bson::Int32(7);
    assert_eq!(
        unwrapped.encrypt(&value, Algorithm::Deterministic).unwrap(),
        key.encrypt(&value, Algorithm::Deterministic).unwrap()
    );
}

#[tokio::test]
async fn creates_decrypts_and_rewraps_to_and_from_local() {
    let db = server::unique_db("azure");
    let client = server::client().await;
    let master_key = new_key("rewrap-both-ways");
    let both = || KmsProviders::new().with(local()).with(azure());
    let encryption = handle(&client, &db, both());
    let azure_key = encryption
        .create_data_key(master_key.clone())
        .key_alt_names(["medco-azure"])
        .await
        .unwrap();
    let local_key = encryption
        .create_data_key(MasterKey::local())
        .await
        .unwrap();
    let document = client
        .database(&db)
        .collection::<Document>("__keyVault")
        .find_one(doc! { "_id": azure_key })
        .await
        .unwrap()
        .unwrap();
    // libmongocrypt's shape and order.
    assert_eq!(
        document.get_document("masterKey").unwrap(),
        &doc! { "provider": "azure", "keyVaultEndpoint": endpoint(), "keyName": "rewrap-both-ways" }
    );
    let mut secrets = Vec::new();
    for key in [azure_key, local_key] {
        let value = Bson::String(format!("secret of {key}"));
        let ciphertext = encryption
            .encrypt(value.clone(), KeyRef::Id(key), Algorithm::Random)
            .await
            .unwrap();
        secrets.push((ciphertext, value));
    }
    // A fresh handle (empty key cache) unwraps through Key Vault.
    for (ciphertext, value) in &secrets {
        assert_eq!(
            &handle(&client, &db, both())
                .decrypt(ciphertext)
                .await
                .unwrap(),
            value
        );
    }

    // Everything to Azure: a handle with only Azure reads it all.
    let result = encryption
        .rewrap_many_data_key(doc! {}, Some(master_key.clone()))
        .await
        .unwrap();
    assert_eq!(result.rewrapped.len(), 2);
    let only_azure = handle(&client, &db, KmsProviders::new().with(azure()));
    for (ciphertext, value) in &secrets {
        assert_eq!(&only_azure.decrypt(ciphertext).await.unwrap(), value);
    }
    // Everything back to local: a handle with only the local key reads it all.
    encryption
        .rewrap_many_data_key(doc! {}, Some(MasterKey::local()))
        .await
        .unwrap();
    let only_local = handle(&client, &db, KmsProviders::new().with(local()));
    for (ciphertext, value) in &secrets {
        assert_eq!(&only_local.decrypt(ciphertext).await.unwrap(), value);
    }
    client.database(&db).drop().await.unwrap();
}

#[tokio::test]
async fn named_providers_and_key_versions_work() {
    let master_key = new_key("versioned");
    let version = control("/control/keys", &json!({ "name": "versioned" }))["version"]
        .as_str()
        .unwrap()
        .to_owned();
    let named = AzureKms::named("prod", credentials())
        .unwrap()
        .with_allowed_endpoint(&endpoint())
        .unwrap()
        .with_tls(tls())
        .unwrap();
    assert_eq!(named.name(), "azure:prod");
    let versioned = master_key
        .clone()
        .with_key_version(&version)
        .with_provider_name("prod");
    round_trip(&named, &versioned).await;
    let key = DataKey::generate(bson::Uuid::new()).unwrap();
    let wrapped = named.wrap(&versioned, &key).await.unwrap();
    // A newer version becomes the current one: the key wrapped by the named version
    // unwraps with that version, not with the current one (another RSA key).
    let newer = control("/control/keys", &json!({ "name": "versioned" }));
    assert_ne!(newer["version"].as_str().unwrap(), version);
    named.unwrap(&versioned, key.id(), &wrapped).await.unwrap();
    let current = master_key.clone().with_provider_name("prod");
    assert_eq!(
        kms_kind(named.unwrap(&current, key.id(), &wrapped).await),
        KmsErrorKind::HttpStatus {
            status: 400,
            code: Some("BadParameter".to_owned())
        }
    );
    // Unknown key: Key Vault's 404 with its code.
    let missing = MasterKey::azure(endpoint(), "no-such-key");
    assert_eq!(
        kms_kind(named.wrap(&missing, &key).await),
        KmsErrorKind::HttpStatus {
            status: 404,
            code: Some("KeyNotFound".to_owned())
        }
    );
}

#[tokio::test]
async fn a_given_access_token_is_used_as_it_is() {
    let master_key = new_key("access-token");
    let issued = control(
        "/control/tokens/issue",
        &json!({ "client": "access-token-test", "lifetime": 600 }),
    );
    let token = issued["access_token"].as_str().unwrap();
    let kms = azure_with(AzureCredentials::access_token(token));
    round_trip(&kms, &master_key).await;
    // Revoked: Key Vault's 401, not retried, no token fetched anywhere.
    control(
        "/control/tokens/expire",
        &json!({ "client": "access-token-test" }),
    );
    let key = DataKey::generate(bson::Uuid::new()).unwrap();
    assert_eq!(
        kms_kind(kms.wrap(&master_key, &key).await),
        KmsErrorKind::HttpStatus {
            status: 401,
            code: Some("Unauthorized".to_owned())
        }
    );
}

#[tokio::test]
async fn on_demand_tokens_come_from_the_instance_metadata_service() {
    let db = server::unique_db("azure_imds");
    let client = server::client().await;
    let master_key = new_key("imds");
    let before = count("token:imds");
    let kms = || {
        azure_with(AzureCredentials::instance_metadata())
            .with_imds_endpoint(&env("ENCRYPTED_TEST_AZURE_IMDS_ENDPOINT"))
            .unwrap()
    };
    let encryption = handle(&client, &db, KmsProviders::new().with(kms()));
    let id = encryption
        .create_data_key(master_key.clone())
        .await
        .unwrap();
    let ciphertext = encryption
        .encrypt(Bson::Int32(5), KeyRef::Id(id), Algorithm::Deterministic)
        .await
        .unwrap();
    let provider = kms();
    let key = DataKey::generate(bson::Uuid::new()).unwrap();
    for _ in 0..3 {
        provider.wrap(&master_key, &key).await.unwrap();
    }
    assert_eq!(
        handle(&client, &db, KmsProviders::new().with(provider))
            .decrypt(&ciphertext)
            .await
            .unwrap(),
        Bson::Int32(5)
    );
    // One token per provider (two here), whatever the number of calls; no other test
    // reaches this IMDS.
    assert_eq!(count("token:imds") - before, 2);
    client.database(&db).drop().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_imds_is_a_typed_error() {
    let master_key = new_key("imds-unreachable");
    let nothing = AzureKms::new(AzureCredentials::instance_metadata())
        .unwrap()
        .with_allowed_endpoint(&endpoint())
        .unwrap()
        .with_tls(tls())
        .unwrap()
        .with_retry(false)
        .with_imds_endpoint("127.0.0.1:9")
        .unwrap();
    let key = DataKey::generate(bson::Uuid::new()).unwrap();
    assert_eq!(
        kms_kind(nothing.wrap(&master_key, &key).await),
        KmsErrorKind::Unreachable
    );
    assert_eq!(count("wrapkey:imds-unreachable"), 0);
}

#[tokio::test]
async fn concurrent_callers_share_one_token_fetch() {
    let master_key = new_key("concurrent");
    let kms = Arc::new(azure_with(new_client("concurrent-client", 3600)));
    let key = Arc::new(DataKey::generate(bson::Uuid::new()).unwrap());
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (kms, key, master_key) = (kms.clone(), key.clone(), master_key.clone());
        tasks.push(tokio::spawn(async move {
            kms.wrap(&master_key, &key).await.unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(count("token:concurrent-client"), 1);
    assert_eq!(count("wrapkey:concurrent"), 8);
}

#[tokio::test]
async fn concurrent_callers_share_one_failed_token_fetch() {
    // The identity platform is down for this client: eight operations waiting for a
    // token make one fetch (three attempts), not eight in a row.
    let master_key = new_key("token-down");
    let kms = Arc::new(azure_with(new_client("token-down-client", 3600)));
    fault(
        "token:token-down-client",
        json!({ "status": 503, "count": 1000 }),
    );
    let key = Arc::new(DataKey::generate(bson::Uuid::new()).unwrap());
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (kms, key, master_key) = (kms.clone(), key.clone(), master_key.clone());
        tasks.push(tokio::spawn(
            async move { kms.wrap(&master_key, &key).await },
        ));
    }
    for task in tasks {
        assert_eq!(
            kms_kind(task.await.unwrap()),
            KmsErrorKind::HttpStatus {
                status: 503,
                code: Some("ServiceUnavailable".to_owned())
            }
        );
    }
    assert_eq!(count("fault:token:token-down-client"), 3);
    // Back up: the next operation fetches a token again.
    clear_faults("token:token-down-client");
    round_trip(&kms, &master_key).await;
    assert_eq!(count("token:token-down-client"), 1);
}

#[tokio::test]
async fn tokens_are_refreshed_before_they_expire() {
    // Tokens of 2 s: used for 1 s (half their life), then fetched again; nothing fails.
    let master_key = new_key("short-tokens");
    let kms = azure_with(new_client("short-lived-client", 2));
    round_trip(&kms, &master_key).await;
    assert_eq!(count("token:short-lived-client"), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    round_trip(&kms, &master_key).await;
    assert_eq!(count("token:short-lived-client"), 2);
}

#[tokio::test]
async fn a_token_revoked_mid_run_is_fetched_again_once() {
    let db = server::unique_db("azure_revoked");
    let client = server::client().await;
    let master_key = new_key("revoked");
    let encryption = handle(
        &client,
        &db,
        KmsProviders::new().with(azure_with(new_client("revoked-client", 3600))),
    );
    let id = encryption.create_data_key(master_key).await.unwrap();
    let ciphertext = encryption
        .encrypt(Bson::Int32(9), KeyRef::Id(id), Algorithm::Random)
        .await
        .unwrap();
    assert_eq!(count("token:revoked-client"), 1);
    // Expire every token of the client now; the provider's cached one is dead.
    control(
        "/control/tokens/expire",
        &json!({ "client": "revoked-client" }),
    );
    let fresh = handle(
        &client,
        &db,
        KmsProviders::new().with(azure_with(new_client("revoked-client", 3600))),
    );
    assert_eq!(fresh.decrypt(&ciphertext).await.unwrap(), Bson::Int32(9));
    // The same provider (the one with the revoked token cached) recovers too.
    control(
        "/control/tokens/expire",
        &json!({ "client": "revoked-client" }),
    );
    let second = encryption.create_data_key(MasterKey::azure(endpoint(), "revoked"));
    second.await.unwrap();
    assert_eq!(count("token:revoked-client"), 3);
    client.database(&db).drop().await.unwrap();
}

#[tokio::test]
async fn a_wrong_client_secret_is_a_credentials_error() {
    let master_key = new_key("wrong-secret");
    let kms = azure_with(
        AzureCredentials::client_credentials(
            env("ENCRYPTED_TEST_AZURE_TENANT_ID"),
            env("ENCRYPTED_TEST_AZURE_CLIENT_ID"),
            "not-the-secret~",
        )
        .with_identity_platform_endpoint(endpoint()),
    );
    let key = DataKey::generate(bson::Uuid::new()).unwrap();
    assert_eq!(
        kms_kind(kms.wrap(&master_key, &key).await),
        KmsErrorKind::Credentials
    );
    assert_eq!(count("wrapkey:wrong-secret"), 0);
}

#[tokio::test]
async fn a_503_twice_is_retried_and_succeeds() {
    let master_key = new_key("flaky");
    fault("key:flaky", json!({ "status": 503, "count": 2 }));
    round_trip(&azure(), &master_key).await;
    assert_eq!(count("fault:key:flaky"), 2);
    assert_eq!(count("wrapkey:flaky"), 1);
}

#[tokio::test]
async fn a_400_is_not_retried() {
    let master_key = new_key("bad-request");
    fault("key:bad-request", json!({ "status": 400, "count": 2 }));
    let key = DataKey::generate(bson::Uuid::new()).unwrap();
    let kms = azure();
    assert_eq!(
        kms_kind(kms.wrap(&master_key, &key).await),
        KmsErrorKind::HttpStatus {
            status: 400,
            code: Some("BadParameter".to_owned())
        }
    );
    assert_eq!(count("fault:key:bad-request"), 1, "one attempt only");
    clear_faults("key:bad-request");
    round_trip(&kms, &master_key).await;
}

#[tokio::test]
async fn provider_down_during_create_stores_nothing() {
    let db = server::unique_db("azure_down_create");
    let client = server::client().await;
    let master_key = new_key("down-create");
    fault("key:down-create", json!({ "drop": true, "count": 1000 }));
    let encryption = handle(&client, &db, KmsProviders::new().with(azure()));
    let outcome = encryption.create_data_key(master_key.clone()).await;
    let kind = kms_kind(outcome);
    assert!(kind.is_transient(), "{kind:?}");
    assert_eq!(count("fault:key:down-create"), 3, "three attempts");
    let keys: Vec<_> = encryption
        .get_keys()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(keys.is_empty(), "no key without its wrapped material");
    clear_faults("key:down-create");
    encryption.create_data_key(master_key).await.unwrap();
    client.database(&db).drop().await.unwrap();
}

#[tokio::test]
async fn provider_down_during_decrypt_is_a_typed_error_and_recovers() {
    let db = server::unique_db("azure_down_decrypt");
    let client = server::client().await;
    let master_key = new_key("down-decrypt");
    let setup = handle(&client, &db, KmsProviders::new().with(azure()));
    let id = setup.create_data_key(master_key).await.unwrap();
    let ciphertext = setup
        .encrypt(Bson::Int32(11), KeyRef::Id(id), Algorithm::Deterministic)
        .await
        .unwrap();
    fault("key:down-decrypt", json!({ "drop": true, "count": 1000 }));
    let reader = handle(&client, &db, KmsProviders::new().with(azure()));
    let kind = kms_kind(reader.decrypt(&ciphertext).await);
    assert!(kind.is_transient(), "{kind:?}");
    clear_faults("key:down-decrypt");
    assert_eq!(reader.decrypt(&ciphertext).await.unwrap(), Bson::Int32(11));
    client.database(&db).drop().await.unwrap();
}

#[tokio::test]
async fn provider_down_during_rewrap_loses_nothing_and_a_rerun_completes_it() {
    let db = server::unique_db("azure_down_rewrap");
    let client = server::client().await;
    let master_key = new_key("down-rewrap");
    let setup = handle(&client, &db, KmsProviders::new().with(local()));
    let mut secrets = Vec::new();
    for i in 0..5 {
        let id = setup.create_data_key(MasterKey::local()).await.unwrap();
        let value = Bson::Int64(i);
        let ciphertext = setup
            .encrypt(value.clone(), KeyRef::Id(id), Algorithm::Deterministic)
            .await
            .unwrap();
        secrets.push((ciphertext, value));
    }
    // Two wraps go through, then Key Vault goes down.
    fault(
        "key:down-rewrap",
        json!({ "drop": true, "count": 1000, "after": 2 }),
    );
    let both = || KmsProviders::new().with(local()).with(azure());
    let outcome = handle(&client, &db, both())
        .rewrap_many_data_key(doc! {}, Some(master_key.clone()))
        .await;
    assert!(kms_kind(outcome).is_transient());
    clear_faults("key:down-rewrap");

    let reader = handle(&client, &db, both());
    for (ciphertext, value) in &secrets {
        assert_eq!(&reader.decrypt(ciphertext).await.unwrap(), value);
    }
    let rerun = handle(&client, &db, both())
        .rewrap_many_data_key(doc! { "masterKey.provider": "local" }, Some(master_key))
        .await
        .unwrap();
    let only_azure = handle(&client, &db, KmsProviders::new().with(azure()));
    for (ciphertext, value) in &secrets {
        assert_eq!(&only_azure.decrypt(ciphertext).await.unwrap(), value);
    }
    assert!(rerun.rewrapped.len() >= 3 && rerun.rewrapped.len() < 5);
    client.database(&db).drop().await.unwrap();
}

#[tokio::test]
async fn refuses_endpoints_the_application_did_not_allow() {
    let master_key = new_key("refused");
    let key = DataKey::generate(bson::Uuid::new()).unwrap();
    let kms = azure_with(new_client("refused-client", 3600));
    // A key document naming another host (a key vault writer's choice): refused.
    let evil = MasterKey::azure("127.0.0.2:443", "refused");
    assert!(matches!(
        kms.wrap(&evil, &key).await,
        Err(Error::KmsEndpointRefused { .. })
    ));
    // Without `with_allowed_endpoint`, neither the test server's key vault nor its
    // identity platform may be reached.
    let not_allowed = AzureKms::new(new_client("refused-client", 3600))
        .unwrap()
        .with_tls(tls())
        .unwrap();
    assert!(matches!(
        not_allowed.wrap(&master_key, &key).await,
        Err(Error::KmsEndpointRefused { .. })
    ));
    let azure_vault = MasterKey::azure("my-kv.vault.azure.net", "refused");
    assert!(matches!(
        not_allowed.wrap(&azure_vault, &key).await,
        Err(Error::KmsEndpointRefused { ref endpoint, .. }) if *endpoint == self::endpoint()
    ));
    // Nothing was sent: no token asked for, no wrap done.
    assert_eq!(count("token:refused-client"), 0);
    assert_eq!(count("wrapkey:refused"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymongo_and_rust_share_azure_keys_on_the_same_server() {
    let db = server::unique_db("azure_pymongo");
    let client = server::client().await;
    let namespace = Namespace::new(db.as_str(), "__keyVault");
    let master_key = new_key("pymongo");
    let encryption = handle(&client, &db, KmsProviders::new().with(azure()));
    let id = encryption
        .create_data_key(master_key.clone())
        .key_alt_names(["rust-azure-key"])
        .await
        .unwrap();
    let value = Bson::String("shared".to_owned());
    let ours = encryption
        .encrypt(value.clone(), KeyRef::Id(id), Algorithm::Deterministic)
        .await
        .unwrap();
    let reply = python_peer::run(
        "azure_key_vault_peer.py",
        &json!({
            "uri": server::uri(),
            "keyVaultNamespace": namespace.to_string(),
            "caFile": env("ENCRYPTED_TEST_AZURE_CA_FILE"),
            "azure": {
                "tenantId": env("ENCRYPTED_TEST_AZURE_TENANT_ID"),
                "clientId": env("ENCRYPTED_TEST_AZURE_CLIENT_ID"),
                "clientSecret": env("ENCRYPTED_TEST_AZURE_CLIENT_SECRET"),
                "identityPlatformEndpoint": endpoint(),
            },
            "cases": [{
                "description": "rust-created azure key",
                "value": value.clone().into_canonical_extjson(),
                "ciphertext": Bson::Binary(ours.clone()).into_canonical_extjson(),
            }],
            "create": { "keyVaultEndpoint": endpoint(), "keyName": "pymongo" },
            "toEncrypt": [{
                "description": "python-created azure key",
                "algorithm": Algorithm::Deterministic.as_str(),
                "value": value.clone().into_canonical_extjson(),
            }],
        }),
    );
    // libmongocrypt's masterKey: the same fields in the same order as ours.
    assert_eq!(
        reply["masterKey"]["fields"],
        json!(["provider", "keyVaultEndpoint", "keyName"])
    );
    let python_key = encryption
        .get_key_by_alt_name("python-azure-key")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        python_key.master_key.to_document(),
        master_key.to_document()
    );
    let written = &reply["written"][0];
    let theirs = match Bson::try_from(written["ciphertext"].clone()).unwrap() {
        Bson::Binary(binary) => binary,
        other => panic!("not a binary: {other}"),
    };
    let fresh = handle(&client, &db, KmsProviders::new().with(azure()));
    assert_eq!(fresh.decrypt(&theirs).await.unwrap(), value);
    // Both sent the same requests: token, wrapkey and unwrapkey alike in path, query,
    // content type, form fields and their order, and body (the secrets set aside).
    let shapes = &control("/control/stats", &json!({}))["shapes"];
    for target in [
        "wrapkey:pymongo".to_owned(),
        "unwrapkey:pymongo".to_owned(),
        format!("token:{}", env("ENCRYPTED_TEST_AZURE_CLIENT_ID")),
    ] {
        assert_eq!(
            shapes[&target].as_array().map(Vec::len),
            Some(1),
            "{target}: {:#}",
            shapes[&target]
        );
    }
    // Same key, same deterministic ciphertext on both sides.
    assert_eq!(
        fresh
            .encrypt(value, KeyRef::Id(python_key.id), Algorithm::Deterministic)
            .await
            .unwrap(),
        theirs
    );
    client.database(&db).drop().await.unwrap();
}
