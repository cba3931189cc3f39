//! The `encrypted-keys` command line, run as a process with no server to talk to:
//! local master key files (issue 9, finding 13) and a server that cannot be reached
//! (finding 14). A URI of a closed loopback port stands for a server that is down, so
//! a command that gets past its key files fails with "cannot reach".

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_encrypted-keys");

/// A scratch folder of one test, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("cli-offline-{}", bson::Uuid::new()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_owned()
    }

    /// Writes a file only its owner may read.
    fn private(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        set_mode(Path::new(&path), 0o600);
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) {}

/// A loopback port nothing listens on (it was free a moment ago).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs the binary with no `MONGODB_URI` from the environment; expects it to fail with
/// one line `error: …` on standard error and nothing on standard output. Returns that
/// line and how long the run took.
fn fails(args: &[&str]) -> (String, Duration) {
    let started = Instant::now();
    let output = Command::new(BINARY)
        .env_remove("MONGODB_URI")
        .args(args)
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(
        output.stdout.is_empty(),
        "{args:?} printed {:?}",
        output.stdout
    );
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    (stderr.trim_end().to_owned(), took)
}

/// Standard base64.
fn base64(bytes: &[u8]) -> String {
    let binary = bson::Bson::Binary(bson::Binary {
        subtype: bson::spec::BinarySubtype::Generic,
        bytes: bytes.to_vec(),
    });
    binary.into_canonical_extjson()["$binary"]["base64"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `keys create --provider local` with this master key file against a server that is
/// down: the error says what was wrong with the file, or else that the server cannot
/// be reached (the key was accepted).
fn create_key_with(key_file: &str, extra: &[&str]) -> String {
    let uri = format!("mongodb://127.0.0.1:{}/", closed_port());
    let args = [
        &[
            "--uri",
            &uri,
            "--server-selection-timeout",
            "1",
            "--local-master-key",
            key_file,
        ][..],
        extra,
        &["keys", "create", "--provider", "local"][..],
    ]
    .concat();
    fails(&args).0
}

#[test]
fn finding_13_cli_master_key_files_errors_and_format_flag() {
    let scratch = Scratch::new();

    // `master-key generate` into a missing folder says what failed: creating the file.
    let missing = scratch.path("no-such-folder/master-key.txt");
    let (error, _) = fails(&["master-key", "generate", &missing]);
    assert!(
        error.contains("cannot create the master key file"),
        "{error}"
    );
    assert!(error.contains(&missing), "{error}");
    assert!(error.contains("does not exist"), "{error}");
    assert!(!error.contains("cannot read"), "{error}");

    // `--force` replaces a regular file only, never a link (or what it points to).
    #[cfg(unix)]
    {
        let target = scratch.private("someone-else.txt", b"keep me");
        let link = scratch.path("link.key");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let (error, _) = fails(&["master-key", "generate", &link, "--force"]);
        assert!(error.contains("symbolic link"), "{error}");
        assert!(error.contains(&link), "{error}");
        assert_eq!(std::fs::read(&target).unwrap(), b"keep me");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    // 96 characters of base64 (of a 72-byte key): ambiguous, refused, and the error
    // says how to state the format; each stated format reads it its own way.
    let ambiguous = scratch.private("ambiguous.key", base64(&[0x42; 72]).as_bytes());
    let error = create_key_with(&ambiguous, &[]);
    assert!(error.contains("--local-master-key-format"), "{error}");
    assert!(error.contains(&ambiguous), "{error}");
    let error = create_key_with(&ambiguous, &["--local-master-key-format", "raw"]);
    assert!(error.contains("cannot reach"), "{error}");
    let error = create_key_with(&ambiguous, &["--local-master-key-format", "base64"]);
    assert!(error.contains("96") && error.contains("72"), "{error}");

    // Base64 wrapped at 76 columns, as the `base64` command writes it, is a key.
    let text = base64(&[0x42; 96]);
    let wrapped = scratch.private(
        "wrapped.key",
        format!("{}\n{}\n", &text[..76], &text[76..]).as_bytes(),
    );
    let error = create_key_with(&wrapped, &[]);
    assert!(error.contains("cannot reach"), "{error}");

    #[cfg(unix)]
    {
        // A key file others may read is refused, with the fix.
        let generated = scratch.path("shared.key");
        Command::new(BINARY)
            .args(["master-key", "generate", &generated])
            .output()
            .unwrap();
        set_mode(Path::new(&generated), 0o644);
        let error = create_key_with(&generated, &[]);
        assert!(error.contains("chmod 600"), "{error}");
        assert!(error.contains(&generated), "{error}");
        set_mode(Path::new(&generated), 0o600);
        let error = create_key_with(&generated, &[]);
        assert!(error.contains("cannot reach"), "{error}");

        // /dev/zero is refused at once, not read until memory runs out.
        let error = create_key_with("/dev/zero", &[]);
        assert!(error.contains("character device"), "{error}");
    }
}

#[test]
fn finding_14_unreachable_server_is_reported_quickly_with_its_host() {
    let port = closed_port();
    let uri = format!("mongodb://alice:s3cret-pw@127.0.0.1:{port}/?authSource=admin");
    let (error, took) = fails(&["--uri", &uri, "keys", "list"]);
    assert!(
        error.contains(&format!(
            "cannot reach the MongoDB server at 127.0.0.1:{port} (from the URI) within 5 s"
        )),
        "{error}"
    );
    assert!(!error.contains("s3cret-pw"), "{error}");
    // Well under the driver's default of 30 s of server selection.
    assert!(took < Duration::from_secs(20), "took {took:?}");

    // The flag sets the wait; the URI's serverSelectionTimeoutMS wins over it.
    let (error, _) = fails(&[
        "--uri",
        &format!("mongodb://127.0.0.1:{port}"),
        "--server-selection-timeout",
        "2",
        "keys",
        "list",
    ]);
    assert!(error.contains("within 2 s"), "{error}");
    let (error, _) = fails(&[
        "--uri",
        &format!("mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=1500"),
        "--server-selection-timeout",
        "9",
        "keys",
        "list",
    ]);
    assert!(error.contains("within 1.5 s"), "{error}");
}

/// An AWS key that the command never reaches.
const ARN: &str = "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000";

#[test]
fn finding_12_the_command_line_refuses_a_ca_file_that_is_not_one() {
    let not_a_ca = std::env::temp_dir().join(format!("not-a-ca-{}.pem", bson::Uuid::new()));
    std::fs::write(&not_a_ca, "my-hostname\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_encrypted-keys"))
        // Never reached: the CA file must be refused before connecting.
        .env(
            "MONGODB_URI",
            "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=300",
        )
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .args(["--aws-ca-file", not_a_ca.to_str().unwrap()])
        .args(["keys", "create", "--provider", "aws", "--aws-key-arn", ARN])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&not_a_ca);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("AWS CA file") && stderr.contains("no certificate"),
        "{stderr}"
    );
}
