//! `encrypted-keys` with Azure Key Vault: keys created, shown, used and rewrapped to and
//! from local through the Azure test server (`scripts/kms-azure run`), with the client
//! credentials in the AZURE_* variables, against a real server (`MONGODB_URI`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::process::{Command, Output};

use test_support::server;

const BINARY: &str = env!("CARGO_BIN_EXE_encrypted-keys");

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through `scripts/kms-azure run -- bash scripts/local-server run -- cargo test`")
    })
}

/// Runs the binary on `db`'s key vault with the Azure options and credentials.
fn run(db: &str, args: &[&str]) -> Output {
    let endpoint = env("ENCRYPTED_TEST_AZURE_ENDPOINT");
    Command::new(BINARY)
        .env("MONGODB_URI", server::uri())
        .env("AZURE_TENANT_ID", env("ENCRYPTED_TEST_AZURE_TENANT_ID"))
        .env("AZURE_CLIENT_ID", env("ENCRYPTED_TEST_AZURE_CLIENT_ID"))
        .env(
            "AZURE_CLIENT_SECRET",
            env("ENCRYPTED_TEST_AZURE_CLIENT_SECRET"),
        )
        .env_remove("AZURE_ACCESS_TOKEN")
        .args(["--key-vault", &format!("{db}.__keyVault")])
        .args(["--azure-key-vault-endpoint", &endpoint])
        .args(["--azure-identity-platform-endpoint", &endpoint])
        .args(["--azure-ca-file", &env("ENCRYPTED_TEST_AZURE_CA_FILE")])
        .args(args)
        .output()
        .unwrap()
}

fn ok(db: &str, args: &[&str]) -> String {
    let output = run(db, args);
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn azure_master_keys_through_the_test_server() {
    let db = server::unique_db("cli_azure");
    let dir = std::env::temp_dir().join(format!("encrypted-keys-{db}"));
    std::fs::create_dir_all(&dir).unwrap();
    let master_key: PathBuf = dir.join("master-key.txt");
    let master_key = master_key.to_str().unwrap();
    ok(&db, &["master-key", "generate", master_key]);
    let key_name = env("ENCRYPTED_TEST_AZURE_KEY_NAME");

    // A key wrapped by Azure, shown with its vault and key name.
    let created = ok(
        &db,
        &[
            "keys",
            "create",
            "--provider",
            "azure",
            "--azure-key-name",
            &key_name,
            "--alt-name",
            "az",
        ],
    );
    let id = created.trim().to_owned();
    let shown = ok(&db, &["keys", "show", &id]);
    assert!(
        shown.contains("provider:    azure")
            && shown.contains(&env("ENCRYPTED_TEST_AZURE_ENDPOINT"))
            && shown.contains(&key_name),
        "{shown}"
    );
    let ciphertext = ok(
        &db,
        &[
            "encrypt",
            "--key",
            "az",
            "--algorithm",
            "random",
            "\"vault\"",
        ],
    );
    assert_eq!(ok(&db, &["decrypt", ciphertext.trim()]), "\"vault\"\n");

    // To local and back to Azure; the value stays readable all along.
    let to_local = ok(
        &db,
        &[
            "--local-master-key",
            master_key,
            "keys",
            "rewrap",
            "--to",
            "local",
        ],
    );
    assert_eq!(to_local, "rewrapped 1 of 1 data keys to local\n");
    assert_eq!(
        ok(
            &db,
            &[
                "--local-master-key",
                master_key,
                "decrypt",
                ciphertext.trim()
            ]
        ),
        "\"vault\"\n"
    );
    let to_azure = ok(
        &db,
        &[
            "--local-master-key",
            master_key,
            "keys",
            "rewrap",
            "--to",
            "azure",
            "--azure-key-name",
            &key_name,
        ],
    );
    assert_eq!(to_azure, "rewrapped 1 of 1 data keys to azure\n");
    assert_eq!(ok(&db, &["decrypt", ciphertext.trim()]), "\"vault\"\n");

    // Without the key name: one line saying what to pass.
    let output = run(&db, &["keys", "create", "--provider", "azure"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--azure-key-name"));

    server::client().await.database(&db).drop().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
