//! The MedcoMD example (`examples/medcomd`), run as a process end to end against a real
//! server (`MONGODB_URI`) and the AWS KMS emulator (`ENCRYPTED_TEST_AWS_*`), as
//! `scripts/medcomd` runs it: every step of the guide shows in its output, the
//! receptionist's part shows no secret, nothing shows key bytes, and a rerun works.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use test_support::server;

use secrets::holds_no_key_bytes;
use test_support::secrets;

use std::path::PathBuf;
use std::process::{Command, Output};

/// What the emulator run exports; a missing one fails the test (it never skips).
const AWS_VARS: [&str; 6] = [
    "ENCRYPTED_TEST_AWS_ENDPOINT",
    "ENCRYPTED_TEST_AWS_CA_FILE",
    "ENCRYPTED_TEST_AWS_KEY_ARN",
    "ENCRYPTED_TEST_AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
];

/// Jon Doe's and the others' sensitive values, which a receptionist must never see.
const SECRETS: [&str; 8] = [
    "241014209",
    "AB+",
    "120/80",
    "123142",
    "118/79",
    "318552071",
    "654321",
    "O-",
];

/// One run's database, key vault and master key file, none shared with another test.
struct Demo {
    db: String,
    dir: PathBuf,
}

impl Demo {
    fn new() -> Self {
        server::uri();
        for name in AWS_VARS {
            assert!(
                std::env::var_os(name).is_some(),
                "{name} is not set: run the tests with `scripts/test`, or \
                 `scripts/kms-emulator run -- scripts/local-server run -- cargo test`"
            );
        }
        let db = server::unique_db("medcomd");
        let dir = std::env::temp_dir().join(format!("medcomd-{db}"));
        std::fs::create_dir_all(&dir).unwrap();
        Self { db, dir }
    }

    fn master_key_file(&self) -> PathBuf {
        self.dir.join("master-key.txt")
    }

    /// Runs the example through cargo (examples have no `CARGO_BIN_EXE_*`), with
    /// `extra` arguments and without the environment variables in `unset`.
    fn run(&self, extra: &[&str], unset: &[&str]) -> Output {
        self.run_with(extra, unset, &[])
    }

    /// As [`Demo::run`], with these environment variables set (and `RUST_LOG` unset
    /// unless it is one of them).
    fn run_with(&self, extra: &[&str], unset: &[&str], set: &[(&str, &str)]) -> Output {
        let mut command = Command::new(env!("CARGO"));
        command.env_remove("RUST_LOG");
        for (name, value) in set {
            command.env(name, value);
        }
        command
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["run", "--quiet", "--locked", "--example", "medcomd", "--"])
            .args(["--database", &self.db])
            .args(["--key-vault", &format!("{}.__keyVault", self.db)])
            .arg("--master-key-file")
            .arg(self.master_key_file())
            .args(extra)
            .env("MONGODB_URI", server::uri());
        for name in unset {
            command.env_remove(name);
        }
        command.output().unwrap()
    }

    /// Runs it and expects success; returns standard output.
    fn ok(&self, extra: &[&str]) -> String {
        let output = self.run(extra, &[]);
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(
            output.status.success(),
            "medcomd {extra:?} failed: {}\n{stdout}",
            String::from_utf8_lossy(&output.stderr)
        );
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

/// The text between the line holding `from` and the next line holding `to`.
fn section<'a>(out: &'a str, from: &str, to: &str) -> &'a str {
    let start = out
        .find(from)
        .unwrap_or_else(|| panic!("no `{from}` in:\n{out}"));
    let end = out[start..]
        .find(to)
        .map(|end| start + end)
        .unwrap_or_else(|| panic!("no `{to}` after `{from}` in:\n{out}"));
    &out[start..end]
}

#[tokio::test]
async fn the_medcomd_example_follows_the_guide_from_a_to_f() {
    let demo = Demo::new();
    let out = demo.ok(&[]);

    // Every step, in the guide's order, then the summary.
    let headings = [
        "A. Create a master key",
        "B. Create a data encryption key",
        "C. Define a JSON schema",
        "D. Create the MongoDB clients",
        "E. Perform encrypted read and write operations",
        "F. Convert to a remote master key",
        "Summary: ",
    ];
    let mut at = 0;
    for heading in headings {
        let found = out[at..]
            .find(heading)
            .unwrap_or_else(|| panic!("no `{heading}` after byte {at} of:\n{out}"));
        at += found + heading.len();
    }

    // A: a new, private, 96-byte master key file.
    assert!(
        out.contains("wrote a new 96-byte local master key"),
        "{out}"
    );
    let key = demo.master_key_file();
    assert_eq!(std::fs::read(&key).unwrap().len(), 96);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    holds_no_key_bytes(&out, &key);

    // B and C: the data key and the schema that names it.
    let steps_b_c = section(&out, "B. Create", "D. Create");
    assert!(
        steps_b_c.contains("created the data key `medco-key`"),
        "{steps_b_c}"
    );
    assert!(!steps_b_c.contains("keyMaterial\":"), "{steps_b_c}");
    for field in [
        "\"encryptMetadata\"",
        "AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic",
        "AEAD_AES_256_CBC_HMAC_SHA_512-Random",
        "\"policyNumber\"",
    ] {
        assert!(steps_b_c.contains(field), "no {field} in:\n{steps_b_c}");
    }

    // E, the doctor: Jon Doe found by SSN and decrypted.
    let doctor = section(&out, "As a doctor", "As a receptionist");
    assert!(doctor.contains("\"ssn\": 241014209"), "{doctor}");
    assert!(doctor.contains("\"bloodType\": \"AB+\""), "{doctor}");
    assert!(doctor.contains("\"policyNumber\": 123142"), "{doctor}");
    assert!(
        doctor.contains("tests/ui/query-on-random-field.rs"),
        "{doctor}"
    );

    // E, the receptionist: names and providers, everything else sealed, no secret.
    let receptionist = section(&out, "As a receptionist", "F. Convert");
    assert!(
        receptionist.contains("SSN ending 4209: verified"),
        "{receptionist}"
    );
    assert!(receptionist.contains("name: \"Jon Doe\""), "{receptionist}");
    assert!(
        receptionist.contains("provider: \"MaestCare\""),
        "{receptionist}"
    );
    assert!(receptionist.contains("ssn: <sealed>"), "{receptionist}");
    // The patient list is paged (sorted by name, skip + limit).
    assert!(receptionist.contains("page 2:"), "{receptionist}");
    assert!(
        receptionist.contains("policy_number: <sealed>"),
        "{receptionist}"
    );
    assert!(
        receptionist.contains("medical_records: <sealed>"),
        "{receptionist}"
    );
    for secret in SECRETS {
        assert!(
            !receptionist.contains(secret),
            "the receptionist saw {secret}:\n{receptionist}"
        );
    }

    // F: the AWS key alone reads everything; the local master key alone nothing.
    let step_f = section(&out, "F. Convert", "Summary: ");
    assert!(
        step_f.contains("only the AWS KMS key reads every patient back"),
        "{step_f}"
    );
    assert!(
        step_f.contains("the local master key alone no longer decrypts it: "),
        "{step_f}"
    );
    assert!(step_f.contains("\"provider\": \"aws\""), "{step_f}");

    // A rerun keeps the master key file and starts over from a new data key.
    let before = std::fs::read(&key).unwrap();
    let again = demo.ok(&[]);
    assert_eq!(std::fs::read(&key).unwrap(), before);
    assert!(
        again.contains("reusing the 96-byte local master key"),
        "{again}"
    );
    assert!(again.contains("deleted `medco-key`"), "{again}");
    assert!(
        again.contains("created the data key `medco-key`"),
        "{again}"
    );
    assert!(again.contains("Summary: "), "{again}");
    holds_no_key_bytes(&again, &key);
    demo.drop().await;
}

#[tokio::test]
async fn without_an_aws_key_the_example_stops_with_one_readable_line() {
    let demo = Demo::new();
    let output = demo.run(&[], &["ENCRYPTED_TEST_AWS_KEY_ARN"]);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!output.status.success());
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--aws-key-arn"), "{stderr}");
    assert!(output.stdout.is_empty(), "it started anyway");
    assert!(
        !demo.master_key_file().exists(),
        "it wrote a master key before checking its settings"
    );
    demo.drop().await;
}

/// `RUST_LOG=encrypted_core=debug` makes the example log, on standard error, its key
/// vault reads and KMS calls (the local provider's and AWS KMS's, with the emulator's
/// host), and never a secret: no master key bytes, no AWS secret or session token, no
/// patient's sensitive value.
#[tokio::test]
async fn rust_log_shows_key_vault_and_kms_spans_of_the_medcomd_run_and_no_secret() {
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/medcomd+SECRET+r4Vt";
    const TOKEN: &str = "FwoGZXIvYXdzEmedcomdSESSIONtoken/9Kp3";
    let demo = Demo::new();
    // The emulator checks no credentials: these, unlike its own (`test`), appear
    // nowhere else.
    let output = demo.run_with(
        &[],
        &[],
        &[
            ("RUST_LOG", "encrypted_core=debug"),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_SESSION_TOKEN", TOKEN),
        ],
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}\n{stdout}");
    assert!(stdout.contains("Summary: "), "{stdout}");

    let endpoint = std::env::var("ENCRYPTED_TEST_AWS_ENDPOINT").unwrap();
    let (host, _) = endpoint.rsplit_once(':').unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    let has = |needles: &[&str]| {
        lines
            .iter()
            .any(|line| needles.iter().all(|needle| line.contains(needle)))
    };
    for needles in [
        &[
            "encrypted_core::key_vault",
            "key_vault_read",
            "db.operation=\"getKeyByAltName\"",
            "key vault read",
            "found=true",
        ][..],
        &[
            "encrypted_core::key_vault",
            "data key created",
            "kms.provider=local",
        ],
        &[
            "encrypted_core::kms",
            "kms.provider=\"local\"",
            "kms.operation=\"wrap\"",
            "kms call",
            "outcome=\"ok\"",
        ],
        &[
            "encrypted_core::kms",
            "kms.provider=\"aws\"",
            "kms.operation=\"wrap\"",
            "kms call",
        ],
        &[
            "encrypted_core::kms",
            "kms_request",
            &format!("server.address=\"{host}\""),
            "rpc.method=\"TrentService.Encrypt\"",
            "http.response.status_code=200",
        ],
        &["encrypted_core::key_cache", "key cache miss"],
        &["encrypted_core::rewrap", "rewrap done", "rewrapped=1"],
    ] {
        assert!(
            has(needles),
            "no line with all of {needles:?} in:\n{stderr}"
        );
    }

    holds_no_key_bytes(&stderr, &demo.master_key_file());
    for secret in [SECRET, TOKEN, "medcomd+SECRET", "SESSIONtoken"] {
        assert!(!stderr.contains(secret), "an AWS secret was logged");
    }
    for secret in SECRETS.iter().chain(&["keyMaterial", "medco-key"]) {
        assert!(!stderr.contains(secret), "`{secret}` was logged:\n{stderr}");
    }
    demo.drop().await;
}
