//! Local master key files as the library reads and writes them (issue 9, finding 13):
//! base64 with line breaks, the one ambiguous case of raw against base64, files that
//! are not regular files or are too long, replacing only regular files, errors that say
//! what failed, and key files others may read.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use encrypted::{
    DataKey, Error, LocalMasterKey, LocalMasterKeyFileOptions, LocalMasterKeyFormat,
    MasterKeyFileProblem,
};

/// A scratch folder of one test, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("master-key-file-{}", bson::Uuid::new()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes a file only its owner may read, as a master key file should be.
    fn private(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        set_mode(&path, 0o600);
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

/// Standard base64, as the `base64` command writes it before wrapping.
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

/// Whether `read` is the master key whose bytes are `bytes`: it unwraps what they wrap.
fn same_key(read: &LocalMasterKey, bytes: &[u8]) -> bool {
    let data_key = DataKey::generate(bson::Uuid::new()).unwrap();
    let wrapped = LocalMasterKey::from_bytes(bytes)
        .unwrap()
        .wrap(&data_key)
        .unwrap();
    read.unwrap(data_key.id(), &wrapped).is_ok()
}

fn with(format: LocalMasterKeyFormat) -> LocalMasterKeyFileOptions {
    LocalMasterKeyFileOptions::new().format(format)
}

fn problem(result: Result<LocalMasterKey, Error>) -> MasterKeyFileProblem {
    match result {
        Err(Error::MasterKeyFileRefused { problem, .. }) => problem,
        other => panic!("expected a refused file, got {other:?}"),
    }
}

#[test]
fn finding_13_base64_wrapped_at_76_columns_is_read() {
    let scratch = Scratch::new();
    let bytes = LocalMasterKey::generate_bytes().unwrap();
    let text = base64(bytes.as_ref());
    assert_eq!(text.len(), 128);
    // What `base64 master-key.txt` writes: lines of 76 characters.
    let wrapped = format!("{}\n{}\n", &text[..76], &text[76..]);
    let crlf = format!("  {}\r\n{}\r\n", &text[..64], &text[64..]);
    for (name, contents) in [("wrapped", wrapped.as_str()), ("crlf", crlf.as_str())] {
        let path = scratch.private(name, contents.as_bytes());
        for format in [LocalMasterKeyFormat::Auto, LocalMasterKeyFormat::Base64] {
            let key = LocalMasterKey::from_file_with(&path, &with(format))
                .unwrap_or_else(|error| panic!("{name} {format:?}: {error}"));
            assert!(same_key(&key, bytes.as_ref()), "{name} {format:?}");
        }
        assert!(same_key(
            &LocalMasterKey::from_base64(contents).unwrap(),
            bytes.as_ref()
        ));
    }
    // Base64 of a key of the wrong length names the decoded length, not the file's.
    let short = scratch.private("short", format!("{}\n", base64(&[1; 64])).as_bytes());
    let error = LocalMasterKey::from_file(&short).unwrap_err();
    assert!(
        matches!(error, Error::InvalidKeyLength { actual: 64, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("base64"), "{error}");
}

#[test]
fn finding_13_96_characters_of_base64_are_refused_as_ambiguous() {
    let scratch = Scratch::new();
    // The base64 of a 72-byte key is 96 characters: read raw, it is a valid (different)
    // master key; decoded, a key of the wrong length.
    let text = base64(&[0x42; 72]);
    assert_eq!(text.len(), 96);
    let path = scratch.private("ambiguous", text.as_bytes());

    let error = LocalMasterKey::from_file(&path).unwrap_err();
    let message = error.to_string();
    assert!(message.contains(path.to_str().unwrap()), "{message}");
    assert!(message.contains("state its format"), "{message}");
    assert_eq!(
        problem(LocalMasterKey::from_file(&path)),
        MasterKeyFileProblem::AmbiguousFormat
    );

    // Stated, each format reads it its own way.
    let raw = LocalMasterKey::from_file_with(&path, &with(LocalMasterKeyFormat::Raw)).unwrap();
    assert!(same_key(&raw, text.as_bytes()));
    assert!(matches!(
        LocalMasterKey::from_file_with(&path, &with(LocalMasterKeyFormat::Base64)),
        Err(Error::InvalidKeyLength { actual: 72, .. })
    ));

    // Files `create_file` wrote (this version and earlier ones: 96 raw random bytes)
    // still read in the default format, and raw bytes are not taken for base64.
    let created = scratch.path("created");
    LocalMasterKey::create_file(&created, false).unwrap();
    LocalMasterKey::from_file(&created).unwrap();
    let mut raw_bytes = [0x41_u8; 96];
    raw_bytes[95] = 0xff;
    let raw_file = scratch.private("raw", &raw_bytes);
    assert!(same_key(
        &LocalMasterKey::from_file(&raw_file).unwrap(),
        &raw_bytes
    ));
}

#[cfg(unix)]
#[test]
fn finding_13_devices_fifos_folders_and_long_files_are_refused_unread() {
    let scratch = Scratch::new();
    // A FIFO with no writer: opening it for reading would wait for ever.
    let fifo = scratch.path("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    set_mode(&fifo, 0o600);
    let (sender, receiver) = std::sync::mpsc::channel();
    let reader = fifo.clone();
    std::thread::spawn(move || sender.send(problem(LocalMasterKey::from_file(&reader))));
    let found = receiver
        .recv_timeout(Duration::from_secs(10))
        .expect("reading a FIFO master key file hangs");
    assert_eq!(
        found,
        MasterKeyFileProblem::NotRegularFile { found: "a FIFO" }
    );

    // /dev/zero never ends: it is refused, not read until memory runs out.
    let options = LocalMasterKeyFileOptions::new().allow_group_or_other_access(true);
    assert_eq!(
        problem(LocalMasterKey::from_file_with("/dev/zero", &options)),
        MasterKeyFileProblem::NotRegularFile {
            found: "a character device"
        }
    );
    assert_eq!(
        problem(LocalMasterKey::from_file_with(&scratch.0, &options)),
        MasterKeyFileProblem::NotRegularFile {
            found: "a directory"
        }
    );

    // A regular file longer than any key file: refused after at most 513 bytes.
    let long = scratch.private("long", &[b'A'; 4096]);
    assert_eq!(
        problem(LocalMasterKey::from_file(&long)),
        MasterKeyFileProblem::TooLong {
            limit: LocalMasterKey::MAX_FILE_LEN
        }
    );
    let longest = scratch.private(
        "longest",
        format!("{}{}", base64(&[3; 96]), " ".repeat(512 - 128)).as_bytes(),
    );
    LocalMasterKey::from_file(&longest).unwrap();

    // A link to a regular key file is followed.
    let target = scratch.path("target");
    LocalMasterKey::create_file(&target, false).unwrap();
    let link = scratch.path("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    LocalMasterKey::from_file(&link).unwrap();
}

#[test]
fn finding_13_a_missing_folder_is_a_write_error_naming_the_file() {
    let scratch = Scratch::new();
    let path = scratch.path("missing-folder").join("master-key.txt");
    for replace in [false, true] {
        let error = LocalMasterKey::create_file(&path, replace).unwrap_err();
        let message = error.to_string();
        assert!(
            matches!(&error, Error::MasterKeyFileWrite { path: p, source }
                if *p == path && source.kind() == std::io::ErrorKind::NotFound),
            "{error:?}"
        );
        assert!(message.contains("cannot write"), "{message}");
        assert!(!message.contains("cannot read"), "{message}");
        assert!(message.contains(path.to_str().unwrap()), "{message}");
    }
}

#[cfg(unix)]
#[test]
fn finding_13_replacing_refuses_links_fifos_and_folders() {
    let scratch = Scratch::new();
    let target = scratch.private("target", b"not a key, but someone's file");
    let link = scratch.path("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let fifo = scratch.path("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let folder = scratch.path("folder");
    std::fs::create_dir(&folder).unwrap();

    for (path, found) in [
        (&link, "a symbolic link"),
        (&fifo, "a FIFO"),
        (&folder, "a directory"),
    ] {
        let error = LocalMasterKey::create_file(path, true).unwrap_err();
        assert!(error.to_string().contains(found), "{error}");
        assert_eq!(
            problem(Err(error)),
            MasterKeyFileProblem::NotRegularFile { found }
        );
    }
    // Nothing was replaced, and no staging file is left behind.
    let link_meta = std::fs::symlink_metadata(&link).unwrap();
    assert!(link_meta.file_type().is_symlink());
    assert_eq!(
        std::fs::read(&target).unwrap(),
        b"not a key, but someone's file"
    );
    {
        use std::os::unix::fs::FileTypeExt;
        assert!(
            std::fs::symlink_metadata(&fifo)
                .unwrap()
                .file_type()
                .is_fifo()
        );
    }
    assert_eq!(std::fs::read_dir(&scratch.0).unwrap().count(), 4);

    // A regular file is still replaced.
    let regular = scratch.path("regular");
    LocalMasterKey::create_file(&regular, false).unwrap();
    LocalMasterKey::create_file(&regular, true).unwrap();
}

#[cfg(unix)]
#[test]
fn finding_13_a_key_file_group_or_others_may_read_is_refused() {
    let scratch = Scratch::new();
    let bytes = LocalMasterKey::generate_bytes().unwrap();
    let path = scratch.private("master-key.txt", bytes.as_ref());
    for mode in [0o644, 0o640, 0o604, 0o620, 0o660] {
        set_mode(&path, mode);
        let error = LocalMasterKey::from_file(&path).unwrap_err();
        let message = error.to_string();
        assert!(message.contains(path.to_str().unwrap()), "{message}");
        assert!(message.contains("chmod 600"), "{message}");
        assert!(message.contains(&format!("{mode:04o}")), "{message}");
        assert_eq!(
            problem(Err(error)),
            MasterKeyFileProblem::AccessibleByOthers { mode }
        );
        // Allowed on purpose (a group meant to read it), the key reads.
        let options = LocalMasterKeyFileOptions::new().allow_group_or_other_access(true);
        assert!(same_key(
            &LocalMasterKey::from_file_with(&path, &options).unwrap(),
            bytes.as_ref()
        ));
    }
    for mode in [0o600, 0o400] {
        set_mode(&path, mode);
        assert!(same_key(
            &LocalMasterKey::from_file(&path).unwrap(),
            bytes.as_ref()
        ));
    }
}
