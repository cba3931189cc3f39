//! Rewrap between two cloud KMS providers: data keys move from Google Cloud KMS to AWS KMS
//! and back, and every ciphertext stays readable by a handle holding only the provider
//! the keys end under. Runs against the GCP test server and moto's AWS KMS:
//! `bash scripts/kms-emulator run -- bash scripts/kms-gcp run -- bash scripts/local-server run -- cargo test --test gcp_aws_rewrap`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bson::{Bson, doc};
use encrypted::kms::{AwsCredentials, AwsKms, GcpCredentials, GcpKms, KmsProviders, TlsOptions};
use encrypted::{Algorithm, ClientEncryption, KeyRef, MasterKey, Namespace};
use test_support::server;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        test_support::fail(&format!(
            "this test needs the AWS KMS emulator and the GCP test server, and {name} is not set: run it under `bash scripts/kms-emulator run -- bash scripts/kms-gcp run -- …`"
        ))
    })
}

fn tls(ca_file: &str) -> TlsOptions {
    TlsOptions::new()
        .with_ca_pem(std::fs::read(env(ca_file)).unwrap())
        .unwrap()
}

fn aws() -> AwsKms {
    env("AWS_ACCESS_KEY_ID");
    AwsKms::new(AwsCredentials::from_env().unwrap())
        .unwrap()
        .with_allowed_endpoint(&env("ENCRYPTED_TEST_AWS_ENDPOINT"))
        .unwrap()
        .with_tls(tls("ENCRYPTED_TEST_AWS_CA_FILE"))
        .unwrap()
}

fn gcp() -> GcpKms {
    let endpoint = env("ENCRYPTED_TEST_GCP_ENDPOINT");
    let credentials = GcpCredentials::service_account(
        env("ENCRYPTED_TEST_GCP_EMAIL"),
        std::fs::read(env("ENCRYPTED_TEST_GCP_PRIVATE_KEY_FILE")).unwrap(),
    )
    .unwrap();
    GcpKms::new(credentials)
        .unwrap()
        .with_allowed_endpoint(&endpoint)
        .unwrap()
        .with_oauth_endpoint(&endpoint)
        .unwrap()
        .with_tls(tls("ENCRYPTED_TEST_GCP_CA_FILE"))
        .unwrap()
}

fn aws_key() -> MasterKey {
    MasterKey::aws(
        env("ENCRYPTED_TEST_AWS_REGION"),
        env("ENCRYPTED_TEST_AWS_KEY_ARN"),
    )
    .with_endpoint(env("ENCRYPTED_TEST_AWS_ENDPOINT"))
}

fn gcp_key() -> MasterKey {
    MasterKey::gcp(
        env("ENCRYPTED_TEST_GCP_PROJECT_ID"),
        env("ENCRYPTED_TEST_GCP_LOCATION"),
        env("ENCRYPTED_TEST_GCP_KEY_RING"),
        env("ENCRYPTED_TEST_GCP_KEY_NAME"),
    )
    .with_endpoint(env("ENCRYPTED_TEST_GCP_ENDPOINT"))
}

async fn open_vault(db: &str, providers: KmsProviders) -> ClientEncryption {
    ClientEncryption::builder(server::client().await, providers)
        .key_vault_namespace(Namespace::new(db, "__keyVault"))
        .build()
}

#[tokio::test]
async fn data_keys_move_between_gcp_and_aws() {
    let db = server::unique_db("gcp_aws");
    let both = open_vault(&db, KmsProviders::new().with(gcp()).with(aws())).await;
    let mut secrets = Vec::new();
    for master_key in [gcp_key(), aws_key()] {
        let key = both.create_data_key(master_key).await.unwrap();
        let value = Bson::String(format!("secret of {key}"));
        let ciphertext = both
            .encrypt(value.clone(), KeyRef::Id(key), Algorithm::Random)
            .await
            .unwrap();
        secrets.push((ciphertext, value));
    }
    for (target, only) in [
        (aws_key(), KmsProviders::new().with(aws())),
        (gcp_key(), KmsProviders::new().with(gcp())),
    ] {
        let provider = target.provider();
        let result = both
            .rewrap_many_data_key(doc! {}, Some(target))
            .await
            .unwrap();
        assert_eq!(result.rewrapped.len(), 2, "to {provider}");
        let only = open_vault(&db, only).await;
        for (ciphertext, value) in &secrets {
            assert_eq!(
                &only.decrypt(ciphertext).await.unwrap(),
                value,
                "under {provider}"
            );
        }
    }
    server::client().await.database(&db).drop().await.unwrap();
}
