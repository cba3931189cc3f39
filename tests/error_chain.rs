//! Errors print as `std::error::Error` intends: each error says only what it adds, its
//! cause is its `source()`, so a reporter (`anyhow`'s `{:#}`) shows every cause once.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::PathBuf;

use encrypted::{Error, LocalMasterKey};

/// How often `needle` occurs in `haystack`.
fn occurrences(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// Formats `error` as an application using `anyhow` would, and checks that the chain
/// holds each of `causes`, in order, exactly once.
fn assert_each_cause_once(error: Error, causes: &[&str]) {
    let shown = format!(
        "{:#}",
        anyhow::Error::new(error).context("cannot do the thing")
    );
    let mut rest = shown.as_str();
    for cause in causes {
        assert_eq!(occurrences(&shown, cause), 1, "`{cause}` in `{shown}`");
        let at = rest.find(cause).unwrap();
        rest = &rest[at + cause.len()..];
    }
    assert!(shown.starts_with("cannot do the thing: "), "{shown}");
}

fn field(path: &str, source: Error) -> Error {
    Error::Field {
        path: path.to_owned(),
        source: Box::new(source),
    }
}

#[test]
fn a_field_error_shows_its_path_and_its_cause_once() {
    let error = field("insurance.policyNumber", Error::Decryption);
    assert_each_cause_once(
        error,
        &[
            "field `insurance.policyNumber`",
            "decryption failed: the ciphertext is not authentic for this key",
        ],
    );
}

#[test]
fn nested_field_errors_show_each_level_and_the_cause_once() {
    let error = field(
        "insurance",
        field(
            "policyNumber",
            Error::KeyNotFound {
                key: "alt name `billing-key`".to_owned(),
            },
        ),
    );
    assert_each_cause_once(
        error,
        &[
            "field `insurance`",
            "field `policyNumber`",
            "no data key alt name `billing-key` in the key vault",
        ],
    );
    // As thiserror intends, the outer message alone says only what it adds.
    let error = field("insurance", Error::MissingField);
    assert_eq!(error.to_string(), "field `insurance`");
}

#[test]
fn a_key_vault_error_shows_the_drivers_error_once() {
    let driver = mongodb::error::Error::from(std::io::Error::other("connection reset by peer"));
    let driver_text = driver.to_string();
    let error = Error::KeyVault {
        operation: "getKey",
        source: Box::new(driver),
    };
    assert_each_cause_once(error, &["key vault getKey failed", &driver_text]);
    assert_eq!(
        occurrences(&driver_text, "connection reset by peer"),
        1,
        "{driver_text}"
    );
}

#[test]
fn a_collection_error_shows_the_drivers_error_once() {
    let driver = || mongodb::error::Error::from(std::io::Error::other("connection reset by peer"));
    let driver_text = driver().to_string();
    let error = Error::Collection {
        operation: "find",
        namespace: "medco.patients".to_owned(),
        source: Box::new(driver()),
    };
    assert_each_cause_once(error, &["find on `medco.patients` failed", &driver_text]);
    let error = Error::PartialInsert {
        namespace: "medco.patients".to_owned(),
        inserted: Some(3),
        total: 5,
        source: Box::new(driver()),
    };
    assert_each_cause_once(
        error,
        &[
            "insertMany on `medco.patients` failed after storing 3 of 5 documents",
            &driver_text,
        ],
    );
}

#[test]
fn a_master_key_file_error_shows_the_io_error_once() {
    let path: PathBuf = std::env::temp_dir()
        .join(format!("encrypted-error-chain-{}", std::process::id()))
        .join("master-key.txt");
    let read = LocalMasterKey::from_file(&path).unwrap_err();
    let Error::MasterKeyFile { source, .. } = &read else {
        panic!("{read:?}");
    };
    let io_text = source.to_string();
    assert_each_cause_once(
        read,
        &[
            &format!("cannot read the master key file {}", path.display()),
            &io_text,
        ],
    );

    // Its folder does not exist, so it cannot be written either.
    let write = LocalMasterKey::create_file(&path, false).unwrap_err();
    let Error::MasterKeyFileWrite { source, .. } = &write else {
        panic!("{write:?}");
    };
    let io_text = source.to_string();
    assert_each_cause_once(
        write,
        &[
            &format!("cannot write the master key file {}", path.display()),
            &io_text,
        ],
    );
}
