//! A rewrap to AWS KMS during which the KMS goes down: the emulator's process is stopped
//! (SIGSTOP) after two keys, so the next request times out for real. Every key must stay
//! readable with its old or its new master key, and a rerun after the KMS is back must
//! complete the job. Its own test binary, because it stops the shared emulator.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use test_support::server;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bson::{Bson, Uuid, doc};
use encrypted::kms::{
    AwsCredentials, AwsKms, BoxFuture, KmsProvider, KmsProviders, LocalKms, TlsOptions,
};
use encrypted::{
    Algorithm, ClientEncryption, DataKey, Error, KeyRef, LocalMasterKey, MasterKey, Namespace,
};
use futures_util::TryStreamExt;

use test_support::kms_emulator::env;

/// The emulator's credentials (`AWS_*`, set by `scripts/kms-emulator run`).
fn credentials() -> AwsCredentials {
    env("AWS_ACCESS_KEY_ID");
    AwsCredentials::from_env().unwrap()
}

fn aws(timeout: Duration) -> AwsKms {
    let ca = std::fs::read(env("ENCRYPTED_TEST_AWS_CA_FILE")).unwrap();
    AwsKms::new(credentials())
        .unwrap()
        .with_timeout(timeout)
        .unwrap()
        .with_allowed_endpoint(&env("ENCRYPTED_TEST_AWS_ENDPOINT"))
        .unwrap()
        .with_tls(TlsOptions::new().with_ca_pem(ca).unwrap())
        .unwrap()
}

fn master_key() -> MasterKey {
    MasterKey::aws(
        env("ENCRYPTED_TEST_AWS_REGION"),
        env("ENCRYPTED_TEST_AWS_KEY_ARN"),
    )
    .with_endpoint(env("ENCRYPTED_TEST_AWS_ENDPOINT"))
}

fn local() -> LocalKms {
    LocalKms::new(LocalMasterKey::from_bytes(&[0x42; 96]).unwrap())
}

fn signal(name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), env("ENCRYPTED_TEST_AWS_PID")])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name}");
}

/// Resumes the emulator however the test ends.
struct Resume;

impl Drop for Resume {
    fn drop(&mut self) {
        signal("CONT");
    }
}

/// The real AWS provider; before its third wrap, the emulator process is stopped.
#[derive(Debug)]
struct StopsTheKmsAfterTwo {
    inner: AwsKms,
    wraps: AtomicUsize,
}

impl KmsProvider for StopsTheKmsAfterTwo {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn wrap<'a>(
        &'a self,
        master_key: &'a MasterKey,
        key: &'a DataKey,
    ) -> BoxFuture<'a, encrypted::Result<Vec<u8>>> {
        if self.wraps.fetch_add(1, Ordering::SeqCst) == 2 {
            signal("STOP");
        }
        self.inner.wrap(master_key, key)
    }
    fn unwrap<'a>(
        &'a self,
        master_key: &'a MasterKey,
        key_id: Uuid,
        key_material: &'a [u8],
    ) -> BoxFuture<'a, encrypted::Result<DataKey>> {
        self.inner.unwrap(master_key, key_id, key_material)
    }
}

fn handle(client: &mongodb::Client, db: &str, kms: KmsProviders) -> ClientEncryption {
    ClientEncryption::builder(client.clone(), kms)
        .key_vault_namespace(Namespace::new(db, "__keyVault"))
        .build()
}

#[tokio::test]
async fn a_kms_outage_during_rewrap_loses_nothing_and_a_rerun_completes_it() {
    let db = server::unique_db("outage");
    let client = server::client().await;
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

    let stopping = KmsProviders::new().with(local()).with(StopsTheKmsAfterTwo {
        inner: aws(Duration::from_millis(500)),
        wraps: AtomicUsize::new(0),
    });
    let outcome = {
        let _resume = Resume;
        handle(&client, &db, stopping)
            .rewrap_many_data_key(doc! {}, Some(master_key()))
            .await
    };
    match outcome {
        Err(Error::Kms { ref message, .. }) => assert!(message.contains("in time"), "{message}"),
        other => panic!("expected the KMS to time out, got {other:?}"),
    }

    let both = || {
        KmsProviders::new()
            .with(local())
            .with(aws(Duration::from_secs(10)))
    };
    let reader = handle(&client, &db, both());
    let keys: Vec<_> = reader
        .get_keys()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        keys.iter()
            .filter(|k| k.master_key.provider() == "aws")
            .count(),
        2
    );
    for (ciphertext, value) in &secrets {
        assert_eq!(&reader.decrypt(ciphertext).await.unwrap(), value);
    }

    let rerun = handle(&client, &db, both())
        .rewrap_many_data_key(doc! { "masterKey.provider": "local" }, Some(master_key()))
        .await
        .unwrap();
    assert_eq!(rerun.rewrapped.len(), 3);
    let only_aws = handle(
        &client,
        &db,
        KmsProviders::new().with(aws(Duration::from_secs(10))),
    );
    for (ciphertext, value) in &secrets {
        assert_eq!(&only_aws.decrypt(ciphertext).await.unwrap(), value);
    }
    client.database(&db).drop().await.unwrap();
}
