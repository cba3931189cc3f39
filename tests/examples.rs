//! The small examples (`examples/quickstart.rs`, `explicit.rs`, `aws.rs`, `custom_kms.rs`) run as a user runs
//! them, `cargo run --example <name>`, against a real server (`MONGODB_URI`) and, for `aws`,
//! the AWS KMS emulator (`ENCRYPTED_TEST_AWS_*`): each succeeds, does what it says, and
//! prints no secret (no master key byte, no plaintext, no AWS secret key).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::process::Command;

use bson::{Document, doc, spec::BinarySubtype};
use test_support::secrets::holds_no_key_bytes;
use test_support::server;

/// The plaintexts the examples encrypt: never in their output.
const PLAINTEXTS: [&str; 3] = ["241014209", "AB+", "123-45-6789"];

/// One example run's database and master key file, shared with no other test.
struct Run {
    db: String,
    dir: PathBuf,
}

impl Run {
    fn new(example: &str) -> Self {
        server::uri();
        let db = server::unique_db(&format!("example_{example}"));
        let dir = std::env::temp_dir().join(format!("encrypted-{db}"));
        std::fs::create_dir_all(&dir).unwrap();
        Self { db, dir }
    }

    fn master_key_file(&self) -> PathBuf {
        self.dir.join("master-key.txt")
    }

    /// Runs the example through cargo (examples have no `CARGO_BIN_EXE_*`) with `envs`
    /// added, expects success and returns standard output and error together.
    fn ok(&self, example: &str, envs: &[(&str, String)]) -> String {
        let output = Command::new(env!("CARGO"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["run", "--quiet", "--locked", "--example", example])
            .env("MONGODB_URI", server::uri())
            .env("DATABASE", &self.db)
            .env("MASTER_KEY_FILE", self.master_key_file())
            .envs(envs.iter().map(|(name, value)| (name, value)))
            .output()
            .unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "example {example} failed: {stderr}\n{stdout}"
        );
        let text = format!("{stdout}\n{stderr}");
        for plaintext in PLAINTEXTS {
            assert!(
                !text.contains(plaintext),
                "example {example} printed `{plaintext}`:\n{text}"
            );
        }
        if self.master_key_file().exists() {
            holds_no_key_bytes(&text, &self.master_key_file());
        }
        stdout
    }

    async fn drop(self) {
        server::client()
            .await
            .database(&self.db)
            .drop()
            .await
            .unwrap();
        std::fs::remove_dir_all(&self.dir).unwrap();
    }
}

#[tokio::test]
async fn quickstart_example_stores_ciphertexts_and_finds_by_encrypted_field() {
    let run = Run::new("quickstart");
    let out = run.ok("quickstart", &[]);
    assert!(out.contains("found Jon Doe by SSN"), "{out}");
    assert!(
        out.contains("without keys: Jon Doe (blood type sealed: true)"),
        "{out}"
    );
    // The example made a private 96-byte master key file and one data key.
    assert_eq!(std::fs::read(run.master_key_file()).unwrap().len(), 96);
    let db = server::client().await.database(&run.db);
    let keys = db.collection::<Document>("__keyVault");
    assert_eq!(
        keys.count_documents(doc! { "keyAltNames": "medco-key" })
            .await
            .unwrap(),
        1
    );
    // What the server holds: the encrypted fields as binary subtype 6, the name in clear.
    let stored = db
        .collection::<Document>("patients")
        .find_one(doc! {})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.get_str("name").unwrap(), "Jon Doe");
    for field in ["ssn", "bloodType"] {
        let value = stored.get(field).unwrap();
        let bson::Bson::Binary(binary) = value else {
            panic!("{field} is stored as {value:?}, not a ciphertext");
        };
        assert_eq!(binary.subtype, BinarySubtype::Encrypted, "{field}");
    }

    // A second run reuses the key file and the data key (no duplicate alternate name).
    let again = run.ok("quickstart", &[]);
    assert!(again.contains("found Jon Doe by SSN"), "{again}");
    assert_eq!(
        keys.count_documents(doc! { "keyAltNames": "medco-key" })
            .await
            .unwrap(),
        1
    );
    run.drop().await;
}

#[tokio::test]
async fn explicit_example_encrypts_and_decrypts_a_value() {
    let run = Run::new("explicit");
    let out = run.ok("explicit", &[]);
    assert!(out.contains("created data key "), "{out}");
    assert!(out.contains("binary subtype 0x06"), "{out}");
    assert!(out.contains("same ciphertext again: true"), "{out}");
    assert!(out.contains("decrypted the value back"), "{out}");
    // It deleted the key it created.
    let keys = server::client()
        .await
        .database(&run.db)
        .collection::<Document>("__keyVault");
    assert_eq!(keys.count_documents(doc! {}).await.unwrap(), 0);
    run.drop().await;
}

#[tokio::test]
async fn aws_example_wraps_a_data_key_with_kms_through_an_allowed_endpoint() {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!(
                "{name} is not set: run the tests with `scripts/test`, or \
                 `scripts/kms-emulator run -- scripts/local-server run -- cargo test`"
            )
        })
    };
    let run = Run::new("aws");
    let arn = var("ENCRYPTED_TEST_AWS_KEY_ARN");
    // The emulator accepts any credentials: a secret of this run's own, to look for.
    let secret = format!("example-secret-{}", bson::Uuid::new());
    let out = run.ok(
        "aws",
        &[
            ("AWS_KMS_ENDPOINT", var("ENCRYPTED_TEST_AWS_ENDPOINT")),
            ("AWS_KMS_CA_FILE", var("ENCRYPTED_TEST_AWS_CA_FILE")),
            ("AWS_KMS_KEY_ARN", arn.clone()),
            ("AWS_REGION", var("ENCRYPTED_TEST_AWS_REGION")),
            ("AWS_ACCESS_KEY_ID", "example-id".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", secret.clone()),
        ],
    );
    assert!(out.contains(&format!("wrapped by {arn}")), "{out}");
    assert!(
        out.contains("decrypted the value back through AWS KMS"),
        "{out}"
    );
    assert!(!out.contains(&secret), "{out}");
    run.drop().await;
}

#[tokio::test]
async fn custom_kms_example_creates_a_key_with_its_own_provider_and_decrypts_through_it() {
    let run = Run::new("custom_kms");
    let out = run.ok("custom_kms", &[]);
    assert!(
        out.contains("decrypted the value back through vault:demo (1 unwrap)"),
        "{out}"
    );
    // The key document records the custom master key exactly as it was given.
    let stored = server::client()
        .await
        .database(&run.db)
        .collection::<Document>("__keyVault")
        .find_one(doc! {})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.get_document("masterKey").unwrap(),
        &doc! { "provider": "vault:demo", "keyName": "medco" }
    );
    run.drop().await;
}
