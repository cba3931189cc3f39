//! The `encrypted-keys` command line, run as a process against a real server
//! (`MONGODB_URI`; `scripts/test` starts a local FerretDB) and, for AWS, the KMS emulator:
//! master key files, the data key lifecycle, explicit encryption, rewrap, and the
//! one-line errors of bad input.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use test_support::server;

use secrets::holds_no_key_bytes;
use test_support::secrets;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BINARY: &str = env!("CARGO_BIN_EXE_encrypted-keys");

/// One test's key vault (a database of its own) and scratch folder.
struct Vault {
    db: String,
    dir: PathBuf,
}

impl Vault {
    fn new(purpose: &str) -> Self {
        let db = server::unique_db(purpose);
        let dir = std::env::temp_dir().join(format!("encrypted-keys-{db}"));
        std::fs::create_dir_all(&dir).unwrap();
        Self { db, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn path_str(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_owned()
    }

    /// Runs the binary on this vault's key vault.
    fn run(&self, args: &[&str]) -> Output {
        Command::new(BINARY)
            .env("MONGODB_URI", server::uri())
            .args(["--key-vault", &format!("{}.__keyVault", self.db)])
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs it and expects success; returns standard output.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Runs it and expects failure with one line `error: …` on standard error and nothing
    /// on standard output; returns that line.
    fn fails(&self, args: &[&str]) -> String {
        let output = self.run(args);
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(!output.status.success(), "{args:?} succeeded");
        assert_ne!(output.status.code(), Some(0));
        assert!(
            output.stdout.is_empty(),
            "{args:?} printed {:?}",
            output.stdout
        );
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        stderr.trim_end().to_owned()
    }

    /// A new local master key file.
    fn master_key(&self, name: &str) -> String {
        let out = self.ok(&["master-key", "generate", &self.path_str(name)]);
        assert!(out.contains("96-byte"), "{out}");
        self.path_str(name)
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

fn uuid_line(out: &str) -> String {
    let id = out.trim().to_owned();
    assert!(id.parse::<bson::Uuid>().is_ok(), "not a UUID: {out}");
    id
}

#[tokio::test]
async fn master_key_files_are_private_and_never_overwritten_by_accident() {
    let vault = Vault::new("cli_mk");
    let path = vault.path("master-key.txt");
    let file = vault.master_key("master-key.txt");
    let first = std::fs::read(&path).unwrap();
    assert_eq!(first.len(), 96);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let error = vault.fails(&["master-key", "generate", &file]);
    assert!(
        error.contains("already exists") && error.contains("--force"),
        "{error}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), first);

    vault.ok(&["master-key", "generate", &file, "--force"]);
    let second = std::fs::read(&path).unwrap();
    assert_eq!(second.len(), 96);
    assert_ne!(second, first);
    assert_eq!(std::fs::read_dir(&vault.dir).unwrap().count(), 1); // no staging file left
    vault.drop().await;
}

#[tokio::test]
async fn data_keys_from_creation_to_deletion() {
    let vault = Vault::new("cli_keys");
    let mk = vault.master_key("master-key.txt");
    let local = ["--local-master-key", mk.as_str()];

    let id = uuid_line(
        &vault.ok(&[
            &local[..],
            &[
                "keys",
                "create",
                "--provider",
                "local",
                "--alt-name",
                "medco-key",
            ],
        ]
        .concat()),
    );
    let other =
        uuid_line(&vault.ok(&[&local[..], &["keys", "create", "--provider", "local"]].concat()));

    let list = vault.ok(&["keys", "list"]);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 3, "{list}");
    for column in [
        "ID",
        "ALT NAMES",
        "PROVIDER",
        "CREATED",
        "UPDATED",
        "STATUS",
    ] {
        assert!(lines[0].contains(column), "{list}");
    }
    let row = lines.iter().find(|line| line.starts_with(&id)).unwrap();
    assert!(row.contains("medco-key") && row.contains("local"), "{row}");
    assert!(lines.iter().any(|line| line.starts_with(&other)));
    holds_no_key_bytes(&list, Path::new(&mk));

    let shown = vault.ok(&["keys", "show", "medco-key"]);
    assert!(
        shown.contains(&id) && shown.contains("medco-key"),
        "{shown}"
    );
    assert_eq!(vault.ok(&["keys", "show", &id]), shown);
    let json = vault.ok(&["keys", "show", &id, "--json"]);
    assert!(
        json.contains("\"masterKey\"") && !json.contains("keyMaterial"),
        "{json}"
    );
    assert_eq!(vault.ok(&["keys", "list", "--json"]).lines().count(), 2);

    vault.ok(&["keys", "add-alt-name", &id, "billing"]);
    let shown = vault.ok(&["keys", "show", "billing"]);
    assert!(shown.contains("medco-key,billing"), "{shown}");
    let error = vault.fails(&["keys", "add-alt-name", &other, "billing"]);
    assert!(error.contains("billing"), "{error}");
    vault.ok(&["keys", "remove-alt-name", &id, "medco-key"]);
    assert!(!vault.ok(&["keys", "show", &id]).contains("medco-key"));
    vault.fails(&["keys", "show", "medco-key"]);
    let error = vault.fails(&["keys", "remove-alt-name", &id, "medco-key"]);
    assert!(error.contains("no alternate name"), "{error}");

    // Explicit encryption, by alt name and by id.
    let encrypt = |algorithm: &str, key: &str, value: &str| {
        vault.ok(&[
            &local[..],
            &["encrypt", "--key", key, "--algorithm", algorithm, value],
        ]
        .concat())
    };
    let once = encrypt("deterministic", "billing", r#""123-45-6789""#);
    let twice = encrypt("deterministic", &id, r#""123-45-6789""#);
    assert_eq!(once, twice);
    assert!(
        once.starts_with(r#"{"$binary":{"base64":""#)
            && once.trim_end().ends_with(r#""subType":"06"}}"#),
        "{once}"
    );
    assert_ne!(
        encrypt("random", "billing", r#""123-45-6789""#),
        encrypt("random", "billing", r#""123-45-6789""#)
    );
    let decrypt = |ciphertext: &str, extra: &[&str]| {
        vault.ok(&[&local[..], &["decrypt", ciphertext.trim()], extra].concat())
    };
    assert_eq!(decrypt(&once, &[]), "\"123-45-6789\"\n");
    let long = encrypt("random", &id, r#"{"$numberLong": "42"}"#);
    assert_eq!(decrypt(&long, &[]), "42\n");
    assert_eq!(
        decrypt(&long, &["--canonical"]),
        "{\"$numberLong\":\"42\"}\n"
    );
    let date = encrypt(
        "deterministic",
        &other,
        r#"{"$date": "2024-05-01T00:00:00Z"}"#,
    );
    assert!(decrypt(&date, &[]).contains("2024-05-01T00:00:00Z"));

    // Deletion shreds: what the key encrypted cannot be read any more.
    assert!(vault.ok(&["keys", "delete", "billing"]).contains(&id));
    vault.fails(&["keys", "show", &id]);
    let error = vault.fails(&[&local[..], &["decrypt", once.trim()]].concat());
    assert!(error.contains(&id), "{error}");
    let error = vault.fails(&["keys", "delete", &id]);
    assert!(error.contains(&id), "{error}");
    assert_eq!(vault.ok(&["keys", "list"]).lines().count(), 2);
    vault.drop().await;
}

#[tokio::test]
async fn rewrap_moves_keys_to_a_new_local_master_key() {
    let vault = Vault::new("cli_rewrap");
    let old = vault.master_key("old.key");
    let new = vault.master_key("new.key");
    let with =
        |mk: &str, args: &[&str]| vault.ok(&[&["--local-master-key", mk][..], args].concat());
    for name in ["a", "b", "c"] {
        with(
            &old,
            &["keys", "create", "--provider", "local", "--alt-name", name],
        );
    }
    let ciphertext = with(
        &old,
        &[
            "encrypt",
            "--key",
            "b",
            "--algorithm",
            "random",
            "[1, \"two\"]",
        ],
    );

    let summary = vault.ok(&[
        "--local-master-key",
        &old,
        "keys",
        "rewrap",
        "--to",
        "local",
        "--new-local-master-key",
        &new,
    ]);
    assert_eq!(summary, "rewrapped 3 of 3 data keys to local\n");
    holds_no_key_bytes(&summary, Path::new(&old));
    holds_no_key_bytes(&summary, Path::new(&new));

    // The data keys did not change: the ciphertext reads under the new master key only.
    assert_eq!(with(&new, &["decrypt", ciphertext.trim()]), "[1,\"two\"]\n");
    let error = vault.fails(&["--local-master-key", &old, "decrypt", ciphertext.trim()]);
    assert!(error.contains("cannot unwrap data key"), "{error}");
    holds_no_key_bytes(&error, Path::new(&old));
    holds_no_key_bytes(&error, Path::new(&new));

    // A rerun (as after an interruption) finds the keys already moved and rewraps them again.
    let again = vault.ok(&[
        "--local-master-key",
        &old,
        "keys",
        "rewrap",
        "--to",
        "local",
        "--new-local-master-key",
        &new,
    ]);
    assert_eq!(again, "rewrapped 3 of 3 data keys to local\n");

    // A filter limits the run.
    let filtered = vault.ok(&[
        "--local-master-key",
        &new,
        "keys",
        "rewrap",
        "--to",
        "local",
        "--filter",
        r#"{"keyAltNames": {"$in": ["a", "c"]}}"#,
    ]);
    assert_eq!(filtered, "rewrapped 2 of 2 data keys to local\n");
    assert_eq!(with(&new, &["decrypt", ciphertext.trim()]), "[1,\"two\"]\n");
    vault.drop().await;
}

#[tokio::test]
async fn bad_input_fails_with_one_line_and_no_secrets() {
    let vault = Vault::new("cli_bad");
    let mk = vault.master_key("master-key.txt");
    let local = ["--local-master-key", mk.as_str()];
    vault.ok(&[
        &local[..],
        &["keys", "create", "--provider", "local", "--alt-name", "k"],
    ]
    .concat());

    // Unknown keys.
    for args in [
        &["keys", "show", "nope"][..],
        &["keys", "delete", "nope"],
        &["keys", "add-alt-name", "nope", "x"],
        &["keys", "show", "00000000-0000-4000-8000-000000000000"],
    ] {
        let error = vault.fails(args);
        assert!(error.contains("no data key"), "{error}");
    }
    let error = vault.fails(
        &[
            &local[..],
            &["encrypt", "--key", "nope", "--algorithm", "random", "1"],
        ]
        .concat(),
    );
    assert!(error.contains("`nope`"), "{error}");

    // A master key file of the wrong length: its bytes are not quoted.
    let short = vault.path("short.key");
    std::fs::write(&short, [0x5a_u8; 95]).unwrap();
    // Private, as a key file must be: the length is what is wrong with it.
    #[cfg(unix)]
    std::fs::set_permissions(&short, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let short_str = short.to_str().unwrap();
    let error = vault.fails(&[
        "--local-master-key",
        short_str,
        "keys",
        "create",
        "--provider",
        "local",
    ]);
    assert!(
        error.contains("96 bytes") && error.contains("95"),
        "{error}"
    );
    assert!(
        !error.contains("ZZZZ") && !error.contains("5a5a"),
        "{error}"
    );
    let error = vault.fails(&[
        "--local-master-key",
        short_str,
        "encrypt",
        "--key",
        "k",
        "--algorithm",
        "random",
        "1",
    ]);
    assert!(error.contains("96 bytes"), "{error}");
    let error = vault.fails(&["keys", "create", "--provider", "local"]);
    assert!(error.contains("--local-master-key"), "{error}");

    // Malformed Extended JSON: the would-be plaintext is not echoed.
    for value in [
        "secret-ssn",
        r#"{"ssn": "secret-ssn""#,
        r#"{"$numberLong": "secret-ssn"}"#,
    ] {
        let error = vault.fails(
            &[
                &local[..],
                &["encrypt", "--key", "k", "--algorithm", "random", value],
            ]
            .concat(),
        );
        assert!(error.contains("Extended JSON"), "{error}");
        assert!(!error.contains("secret"), "{error}");
    }
    for ciphertext in [
        "not json",
        r#"{"$binary": {"base64": "AQID", "subType": "00"}}"#,
        "42",
    ] {
        let error = vault.fails(&[&local[..], &["decrypt", ciphertext]].concat());
        assert!(error.contains("ciphertext"), "{error}");
    }
    let error = vault.fails(
        &[
            &local[..],
            &[
                "decrypt",
                r#"{"$binary": {"base64": "AQID", "subType": "06"}}"#,
            ],
        ]
        .concat(),
    );
    assert!(error.contains("malformed ciphertext"), "{error}");
    let error = vault.fails(
        &[
            &local[..],
            &["keys", "rewrap", "--to", "local", "--filter", "[1]"],
        ]
        .concat(),
    );
    assert!(error.contains("filter"), "{error}");
    let error = vault.fails(
        &[
            &local[..],
            &["keys", "rewrap", "--to", "local", "--filter", "{"],
        ]
        .concat(),
    );
    assert!(error.contains("filter"), "{error}");

    // What the algorithm forbids, and a master key that does not fit.
    let error = vault.fails(
        &[
            &local[..],
            &[
                "encrypt",
                "--key",
                "k",
                "--algorithm",
                "deterministic",
                "1.5",
            ],
        ]
        .concat(),
    );
    assert!(
        error.contains("deterministically") && !error.contains("1.5"),
        "{error}"
    );
    let ciphertext = vault.ok(&[
        &local[..],
        &[
            "encrypt",
            "--key",
            "k",
            "--algorithm",
            "random",
            "\"secret-ssn\"",
        ],
    ]
    .concat());
    let wrong = vault.master_key("wrong.key");
    let error = vault.fails(&["--local-master-key", &wrong, "decrypt", ciphertext.trim()]);
    assert!(
        error.contains("cannot unwrap") && !error.contains("secret"),
        "{error}"
    );
    holds_no_key_bytes(&error, Path::new(&wrong));
    holds_no_key_bytes(&error, Path::new(&mk));

    // A bad namespace is a usage error (clap's), not a crash.
    let output = vault.run(&["--key-vault", "nodot", "keys", "list"]);
    assert_eq!(output.status.code(), Some(2));
    vault.drop().await;
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through `scripts/test`, or `scripts/kms-emulator run -- cargo test`")
    })
}

#[tokio::test]
async fn aws_master_keys_through_the_emulator() {
    let vault = Vault::new("cli_aws");
    let mk = vault.master_key("master-key.txt");
    let endpoint = env("ENCRYPTED_TEST_AWS_ENDPOINT");
    let ca_file = env("ENCRYPTED_TEST_AWS_CA_FILE");
    let arn = env("ENCRYPTED_TEST_AWS_KEY_ARN");
    let region = env("ENCRYPTED_TEST_AWS_REGION");
    let aws = [
        "--local-master-key",
        mk.as_str(),
        "--aws-endpoint",
        endpoint.as_str(),
        "--aws-ca-file",
        ca_file.as_str(),
        "--aws-region",
        region.as_str(),
    ];
    let with = |args: &[&str]| vault.ok(&[&aws[..], args].concat());

    let id = uuid_line(&with(&[
        "keys",
        "create",
        "--provider",
        "aws",
        "--aws-key-arn",
        &arn,
        "--alt-name",
        "cloud",
    ]));
    let shown = vault.ok(&["keys", "show", "cloud"]);
    assert!(
        shown.contains("aws") && shown.contains(&arn) && shown.contains(&endpoint),
        "{shown}"
    );
    let ciphertext = with(&[
        "encrypt",
        "--key",
        &id,
        "--algorithm",
        "deterministic",
        "\"O+\"",
    ]);
    assert_eq!(with(&["decrypt", ciphertext.trim()]), "\"O+\"\n");

    // AWS to local, and back.
    let to_local = with(&["keys", "rewrap", "--to", "local"]);
    assert_eq!(to_local, "rewrapped 1 of 1 data keys to local\n");
    assert!(vault.ok(&["keys", "list"]).contains("local"));
    assert_eq!(
        vault.ok(&["--local-master-key", &mk, "decrypt", ciphertext.trim()]),
        "\"O+\"\n"
    );
    let to_aws = with(&["keys", "rewrap", "--to", "aws", "--aws-key-arn", &arn]);
    assert_eq!(to_aws, "rewrapped 1 of 1 data keys to aws\n");
    assert_eq!(with(&["decrypt", ciphertext.trim()]), "\"O+\"\n");

    // Without credentials, the one line says which variable is missing.
    let output = Command::new(BINARY)
        .env("MONGODB_URI", server::uri())
        .env_remove("AWS_ACCESS_KEY_ID")
        .args(["--key-vault", &format!("{}.__keyVault", vault.db)])
        .args(["keys", "create", "--provider", "aws", "--aws-key-arn", &arn])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("AWS_ACCESS_KEY_ID"), "{stderr}");
    vault.drop().await;
}
