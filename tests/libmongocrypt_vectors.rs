//! The FLE1 vectors libmongocrypt produced (`tests/data/libmongocrypt-*-fle1-vectors.json`,
//! written by `interop/python/generate_vectors.py`), checked without Python: every
//! ciphertext decrypts to its value, deterministic ciphertexts are byte-identical,
//! libmongocrypt's refusals are refusals here, and every tampered ciphertext fails.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

use fle1_vectors::{VectorFile, check, write_from_template};

fn vector_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with("libmongocrypt-") && name.ends_with("-fle1-vectors.json")
        })
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no libmongocrypt vector file in {}",
        dir.display()
    );
    files
}

fn read(path: &Path) -> VectorFile {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn assert_all_pass(file: &VectorFile, name: &str) {
    let outcomes = check(file).unwrap();
    let failures: Vec<String> = outcomes
        .iter()
        .filter_map(|o| {
            o.failure
                .as_ref()
                .map(|f| format!("{}: {f}", o.description))
        })
        .collect();
    assert!(failures.is_empty(), "{name}:\n{}", failures.join("\n"));
}

#[test]
fn libmongocrypt_vectors_decrypt_and_match() {
    for path in vector_files() {
        let file = read(&path);
        assert!(
            file.cases.iter().any(|c| c.ciphertext.is_some()),
            "no ciphertexts"
        );
        assert!(file.cases.iter().any(|c| c.error.is_some()), "no refusals");
        assert!(!file.tampered.is_empty(), "no tampered cases");
        assert_all_pass(&file, &path.display().to_string());
    }
}

#[test]
fn vectors_written_here_pass_the_same_checks() {
    for path in vector_files() {
        let ours = write_from_template(&read(&path), "test".to_owned()).unwrap();
        assert_eq!(ours.cases.len(), read(&path).cases.len());
        assert_all_pass(&ours, "written here");
    }
}

#[test]
fn a_checker_that_cannot_fail_is_caught() {
    // Guard against a vacuous check: altering one deterministic ciphertext must fail.
    let path = &vector_files()[0];
    let mut file = read(path);
    let case = file
        .cases
        .iter_mut()
        .find(|c| c.algorithm.ends_with("Deterministic") && c.ciphertext.is_some())
        .unwrap();
    let mut binary = fle1_vectors::file_binary(case.ciphertext.as_ref().unwrap());
    let last = binary.bytes.len() - 1;
    binary.bytes[last] ^= 1;
    case.ciphertext = Some(bson::Bson::Binary(binary).into_canonical_extjson());
    let failed = check(&file)
        .unwrap()
        .into_iter()
        .filter(|o| o.failure.is_some())
        .count();
    assert_eq!(failed, 1);
}
