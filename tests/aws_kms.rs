//! The `aws` KMS provider against a real KMS emulator (moto's server over TLS on
//! loopback, started by `scripts/kms-emulator run`), and its faults: untrusted
//! certificate, unreachable and silent endpoints, unknown key.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use test_support::server;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bson::{Bson, Uuid, doc};
use encrypted::kms::{AwsCredentials, AwsKms, KmsProvider, KmsProviders, LocalKms, TlsOptions};
use encrypted::{
    Algorithm, ClientEncryption, DataKey, Error, KeyRef, LocalMasterKey, MasterKey, Namespace,
};

use test_support::kms_emulator::env;

/// The emulator's credentials (`AWS_*`, set by `scripts/kms-emulator run`).
fn credentials() -> AwsCredentials {
    env("AWS_ACCESS_KEY_ID");
    AwsCredentials::from_env().unwrap()
}

fn tls() -> TlsOptions {
    TlsOptions::new()
        .with_ca_pem(std::fs::read(env("ENCRYPTED_TEST_AWS_CA_FILE")).unwrap())
        .unwrap()
}

/// The provider, allowed to reach the emulator (not an AWS endpoint).
fn aws() -> AwsKms {
    AwsKms::new(credentials())
        .unwrap()
        .with_allowed_endpoint(&env("ENCRYPTED_TEST_AWS_ENDPOINT"))
        .unwrap()
        .with_tls(tls())
        .unwrap()
}

fn master_key() -> MasterKey {
    MasterKey::aws(
        env("ENCRYPTED_TEST_AWS_REGION"),
        env("ENCRYPTED_TEST_AWS_KEY_ARN"),
    )
    .with_endpoint(env("ENCRYPTED_TEST_AWS_ENDPOINT"))
}

fn kms_message(result: encrypted::Result<impl std::fmt::Debug>) -> String {
    match result {
        Err(Error::Kms {
            provider, message, ..
        }) => {
            assert_eq!(provider, "aws");
            message
        }
        other => panic!("expected a KMS error, got {other:?}"),
    }
}

#[tokio::test]
async fn wraps_and_unwraps_through_the_emulator() {
    let kms = aws();
    let key = DataKey::generate(Uuid::new()).unwrap();
    let wrapped = kms.wrap(&master_key(), &key).await.unwrap();
    assert_ne!(wrapped.len(), 0);
    let unwrapped = kms.unwrap(&master_key(), key.id(), &wrapped).await.unwrap();
    let value = Bson::Int32(7);
    assert_eq!(
        unwrapped.encrypt(&value, Algorithm::Deterministic).unwrap(),
        key.encrypt(&value, Algorithm::Deterministic).unwrap()
    );
}

#[tokio::test]
async fn data_keys_move_between_local_and_aws_master_keys() {
    let db = server::unique_db("aws");
    let kms = KmsProviders::new()
        .with(LocalKms::new(
            LocalMasterKey::from_bytes(&[0x42; 96]).unwrap(),
        ))
        .with(aws());
    let encryption = ClientEncryption::builder(server::client().await, kms)
        .key_vault_namespace(Namespace::new(db.as_str(), "__keyVault"))
        .build();
    let local_key = encryption
        .create_data_key(MasterKey::local())
        .await
        .unwrap();
    let aws_key = encryption
        .create_data_key(master_key())
        .key_alt_names(["medco-aws"])
        .await
        .unwrap();
    let mut secrets = Vec::new();
    for key in [local_key, aws_key] {
        let value = Bson::String(format!("secret of {key}"));
        secrets.push((
            encryption
                .encrypt(value.clone(), KeyRef::Id(key), Algorithm::Random)
                .await
                .unwrap(),
            value,
        ));
    }

    // Everything to AWS: afterwards a handle with only the AWS provider reads it all.
    let result = encryption
        .rewrap_many_data_key(doc! {}, Some(master_key()))
        .await
        .unwrap();
    assert_eq!(result.rewrapped.len(), 2);
    let only_aws =
        ClientEncryption::builder(server::client().await, KmsProviders::new().with(aws()))
            .key_vault_namespace(Namespace::new(db.as_str(), "__keyVault"))
            .build();
    for (ciphertext, value) in &secrets {
        assert_eq!(&only_aws.decrypt(ciphertext).await.unwrap(), value);
    }
    // And back to the local master key.
    encryption
        .rewrap_many_data_key(doc! {}, Some(MasterKey::local()))
        .await
        .unwrap();
    let only_local = ClientEncryption::builder(
        server::client().await,
        KmsProviders::new().with(LocalKms::new(
            LocalMasterKey::from_bytes(&[0x42; 96]).unwrap(),
        )),
    )
    .key_vault_namespace(Namespace::new(db.as_str(), "__keyVault"))
    .build();
    for (ciphertext, value) in &secrets {
        assert_eq!(&only_local.decrypt(ciphertext).await.unwrap(), value);
    }
    server::client().await.database(&db).drop().await.unwrap();
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused() {
    let kms = AwsKms::new(credentials()) // the web roots only
        .unwrap()
        .with_allowed_endpoint(&env("ENCRYPTED_TEST_AWS_ENDPOINT"))
        .unwrap();
    let key = DataKey::generate(Uuid::new()).unwrap();
    let message = kms_message(kms.wrap(&master_key(), &key).await);
    assert!(
        message.contains(&env("ENCRYPTED_TEST_AWS_ENDPOINT")),
        "{message}"
    );
}

#[tokio::test]
async fn an_unreachable_kms_is_a_typed_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = listener.local_addr().unwrap().to_string();
    drop(listener);
    let key = DataKey::generate(Uuid::new()).unwrap();
    let message = kms_message(
        aws()
            .with_allowed_endpoint(&endpoint)
            .unwrap()
            .wrap(&master_key().with_endpoint(endpoint.clone()), &key)
            .await,
    );
    assert!(
        message.contains("cannot connect") && message.contains(&endpoint),
        "{message}"
    );
}

#[tokio::test]
async fn a_silent_kms_times_out() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = listener.local_addr().unwrap().to_string();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            if let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        }
    });
    let kms = aws()
        .with_timeout(Duration::from_millis(300))
        .unwrap()
        .with_allowed_endpoint(&endpoint)
        .unwrap();
    let key = DataKey::generate(Uuid::new()).unwrap();
    let started = Instant::now();
    let message = kms_message(kms.wrap(&master_key().with_endpoint(endpoint), &key).await);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(message.contains("in time"), "{message}");
    silent.abort();
}

#[tokio::test]
async fn an_unknown_key_and_altered_key_material_are_typed_errors() {
    let kms = aws();
    let key = DataKey::generate(Uuid::new()).unwrap();
    let unknown = MasterKey::aws(
        env("ENCRYPTED_TEST_AWS_REGION"),
        "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000",
    )
    .with_endpoint(env("ENCRYPTED_TEST_AWS_ENDPOINT"));
    let message = kms_message(kms.wrap(&unknown, &key).await);
    assert!(message.contains("NotFound"), "{message}");

    let mut wrapped = kms.wrap(&master_key(), &key).await.unwrap();
    let last = wrapped.len() - 1;
    wrapped[last] ^= 1;
    let message = kms_message(kms.unwrap(&master_key(), key.id(), &wrapped).await);
    assert!(message.contains(&key.id().to_string()), "{message}");
    assert!(!message.contains("Plaintext"), "{message}");
}

/// Accepts and counts connections, never answers: where a key vault writer would like
/// the signed `Decrypt` to go.
async fn recorder() -> (String, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = listener.local_addr().unwrap().to_string();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    (endpoint, connections, task)
}

fn is_refused(error: &Error, endpoint: &str) -> bool {
    match error {
        Error::KmsEndpointRefused {
            endpoint: refused, ..
        } => refused == endpoint,
        Error::Field { source, .. } => is_refused(source, endpoint),
        _ => false,
    }
}

#[tokio::test]
async fn finding_2_a_key_vault_writer_cannot_redirect_an_aws_key() {
    let db = server::unique_db("aws_pin");
    let client = server::client().await;
    let vault = Namespace::new(db.as_str(), "__keyVault");
    let handle = || {
        ClientEncryption::builder(client.clone(), KmsProviders::new().with(aws()))
            .key_vault_namespace(vault.clone())
            .build()
    };
    let id = handle().create_data_key(master_key()).await.unwrap();
    let ciphertext = handle()
        .encrypt(Bson::Int32(42), KeyRef::Id(id), Algorithm::Deterministic)
        .await
        .unwrap();

    // Whoever can write the key vault points the key at their own server.
    let (attacker, connections, task) = recorder().await;
    client
        .database(&db)
        .collection::<bson::Document>("__keyVault")
        .update_one(
            doc! { "_id": id },
            doc! { "$set": { "masterKey.endpoint": &attacker } },
        )
        .await
        .unwrap();
    let error = handle().decrypt(&ciphertext).await.unwrap_err();
    assert!(is_refused(&error, &attacker), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&id.to_string()), "{message}");
    // Creating a key whose master key names it is refused the same way, and stores nothing.
    let error = handle()
        .create_data_key(master_key().with_endpoint(attacker.clone()))
        .key_alt_names(["redirected"])
        .await
        .unwrap_err();
    assert!(is_refused(&error, &attacker), "{error:?}");
    assert!(
        handle()
            .get_key_by_alt_name("redirected")
            .await
            .unwrap()
            .is_none()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "a request reached it"
    );
    task.abort();
    client.database(&db).drop().await.unwrap();
}
