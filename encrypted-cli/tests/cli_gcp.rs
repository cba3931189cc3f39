//! `encrypted-keys` with Google Cloud KMS, run as a process against a real server
//! (`MONGODB_URI`) and the strict GCP test server (`scripts/kms-gcp run`): a service
//! account key file from GOOGLE_APPLICATION_CREDENTIALS, `keys create --provider gcp`,
//! encryption, rewrap to local and back, and the one-line error without credentials.

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
        test_support::fail(&format!(
            "{name} is not set: run this test under `bash scripts/kms-gcp run -- bash scripts/local-server run -- …`"
        ))
    })
}

struct Vault {
    db: String,
    dir: PathBuf,
}

impl Vault {
    fn run(&self, credentials: Option<&str>, args: &[&str]) -> Output {
        let mut command = Command::new(BINARY);
        command
            .env("MONGODB_URI", server::uri())
            .env_remove("GOOGLE_OAUTH_ACCESS_TOKEN")
            .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
            .args(["--key-vault", &format!("{}.__keyVault", self.db)]);
        if let Some(file) = credentials {
            command.env("GOOGLE_APPLICATION_CREDENTIALS", file);
        }
        command.args(args).output().unwrap()
    }

    fn ok(&self, credentials: Option<&str>, args: &[&str]) -> String {
        let output = self.run(credentials, args);
        assert!(
            output.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }
}

#[tokio::test]
async fn gcp_master_keys_through_the_test_server() {
    let db = server::unique_db("cli_gcp");
    let dir = std::env::temp_dir().join(format!("encrypted-keys-{db}"));
    std::fs::create_dir_all(&dir).unwrap();
    let vault = Vault { db, dir };
    // A service account key file as Google hands it out.
    let key_file = vault.dir.join("service-account.json");
    let private_key = std::fs::read_to_string(env("ENCRYPTED_TEST_GCP_PRIVATE_KEY_FILE")).unwrap();
    let json = serde_json::json!({
        "type": "service_account",
        "project_id": "encrypted-test",
        "private_key_id": "0",
        "private_key": private_key,
        "client_email": env("ENCRYPTED_TEST_GCP_EMAIL"),
        "token_uri": "https://oauth2.googleapis.com/token",
    });
    std::fs::write(&key_file, json.to_string()).unwrap();
    let key_file = key_file.to_str().unwrap().to_owned();
    let mk = vault
        .dir
        .join("master-key.txt")
        .to_str()
        .unwrap()
        .to_owned();
    vault.ok(None, &["master-key", "generate", &mk]);

    let endpoint = env("ENCRYPTED_TEST_GCP_ENDPOINT");
    let ca_file = env("ENCRYPTED_TEST_GCP_CA_FILE");
    let gcp = [
        "--local-master-key",
        mk.as_str(),
        "--gcp-endpoint",
        endpoint.as_str(),
        "--gcp-oauth-endpoint",
        endpoint.as_str(),
        "--gcp-ca-file",
        ca_file.as_str(),
    ];
    let with = |args: &[&str]| vault.ok(Some(&key_file), &[&gcp[..], args].concat());
    let resource = format!(
        "projects/{}/locations/{}/keyRings/{}/cryptoKeys/{}",
        env("ENCRYPTED_TEST_GCP_PROJECT_ID"),
        env("ENCRYPTED_TEST_GCP_LOCATION"),
        env("ENCRYPTED_TEST_GCP_KEY_RING"),
        env("ENCRYPTED_TEST_GCP_KEY_NAME")
    );

    let id = with(&[
        "keys",
        "create",
        "--provider",
        "gcp",
        "--gcp-key",
        &resource,
        "--alt-name",
        "cloud",
    ]);
    let id = id.trim();
    assert!(id.parse::<bson::Uuid>().is_ok(), "not a UUID: {id}");
    let shown = vault.ok(None, &["keys", "show", "cloud"]);
    assert!(
        shown.contains("gcp") && shown.contains("test-ring") && shown.contains(&endpoint),
        "{shown}"
    );
    let ciphertext = with(&["encrypt", "--key", id, "--algorithm", "random", "\"G+\""]);
    assert_eq!(with(&["decrypt", ciphertext.trim()]), "\"G+\"\n");

    // GCP to local, and back.
    assert_eq!(
        with(&["keys", "rewrap", "--to", "local"]),
        "rewrapped 1 of 1 data keys to local\n"
    );
    assert_eq!(
        vault.ok(
            None,
            &["--local-master-key", &mk, "decrypt", ciphertext.trim()]
        ),
        "\"G+\"\n"
    );
    assert_eq!(
        with(&["keys", "rewrap", "--to", "gcp", "--gcp-key", &resource]),
        "rewrapped 1 of 1 data keys to gcp\n"
    );
    assert_eq!(with(&["decrypt", ciphertext.trim()]), "\"G+\"\n");

    // Without credentials, one line says what to set.
    let output = vault.run(
        None,
        &[
            &gcp[..],
            &[
                "keys",
                "create",
                "--provider",
                "gcp",
                "--gcp-key",
                &resource,
            ],
        ]
        .concat(),
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("GOOGLE_APPLICATION_CREDENTIALS"),
        "{stderr}"
    );

    server::client()
        .await
        .database(&vault.db)
        .drop()
        .await
        .unwrap();
    std::fs::remove_dir_all(&vault.dir).unwrap();
}
