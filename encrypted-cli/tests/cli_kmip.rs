//! `encrypted-keys` with the kmip provider, run as a process against a live key vault
//! (`MONGODB_URI`) and PyKMIP's server over mutual TLS (`scripts/kms-kmip run -- …`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;

use test_support::{fail, server};

const BINARY: &str = env!("CARGO_BIN_EXE_encrypted-keys");

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        fail(&format!(
            "this test needs PyKMIP's server and {name} is not set: run it under `bash scripts/kms-kmip run -- …`, or run `bash scripts/test`"
        ))
    })
}

#[tokio::test]
async fn kmip_master_keys_through_pykmip() {
    let db = server::unique_db("cli_kmip");
    let (endpoint, ca, cert, key) = (
        env("ENCRYPTED_TEST_KMIP_ENDPOINT"),
        env("ENCRYPTED_TEST_KMIP_CA_FILE"),
        env("ENCRYPTED_TEST_KMIP_CERT_FILE"),
        env("ENCRYPTED_TEST_KMIP_KEY_FILE"),
    );
    let run = |args: &[&str]| {
        let output = Command::new(BINARY)
            .env("MONGODB_URI", server::uri())
            .args(["--key-vault", &format!("{db}.__keyVault")])
            .args(["--kmip-endpoint", &endpoint, "--kmip-ca-file", &ca])
            .args(["--kmip-cert-file", &cert, "--kmip-key-file", &key])
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };

    for (alt_name, delegated) in [("on-kmip", false), ("delegated", true)] {
        let mut create = vec![
            "keys",
            "create",
            "--provider",
            "kmip",
            "--alt-name",
            alt_name,
        ];
        if delegated {
            create.push("--kmip-delegated");
        }
        let id = run(&create).trim().to_owned();
        assert!(id.parse::<bson::Uuid>().is_ok(), "not a UUID: {id}");
        let shown = run(&["keys", "show", alt_name]);
        assert!(shown.contains("provider:    kmip"), "{shown}");
        assert!(
            shown.contains(&format!("delegated:   {delegated}")),
            "{shown}"
        );
        let ciphertext = run(&["encrypt", "--key", &id, "--algorithm", "random", "\"B-\""]);
        assert_eq!(run(&["decrypt", ciphertext.trim()]), "\"B-\"\n");
    }
    // Both keys to one new delegated KMIP key each, and still readable.
    let rewrapped = run(&["keys", "rewrap", "--to", "kmip", "--kmip-delegated"]);
    assert_eq!(rewrapped, "rewrapped 2 of 2 data keys to kmip\n");

    // Without --kmip-endpoint, one line says what is missing.
    let output = Command::new(BINARY)
        .env("MONGODB_URI", server::uri())
        .args(["--key-vault", &format!("{db}.__keyVault")])
        .args(["keys", "create", "--provider", "kmip"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("--kmip-endpoint"), "{stderr}");
    server::client().await.database(&db).drop().await.unwrap();
}
