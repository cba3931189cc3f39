//! FLE1 test-vector files shared with libmongocrypt, and the checks run on them.
//!
//! A vector file (written by `interop/python/generate_vectors.py` through libmongocrypt, or
//! by this crate's `fle1-vectors write`) holds a local master key, key vault documents
//! wrapped with it, encryption cases (a value, an algorithm, a key by id or by alt name,
//! and either the ciphertext or the writer's refusal) and tampered ciphertexts that must
//! fail to decrypt. Every BSON value is canonical Extended JSON.

#![forbid(unsafe_code)]

mod check;
mod file;
mod keys;
mod write;

pub use check::{Outcome, check};
pub use file::{Case, Tampered, VectorFile};

/// Parses an Extended JSON binary (for tests that edit a vector file).
///
/// # Panics
///
/// When `value` is not an Extended JSON binary: only for tests.
#[allow(clippy::panic)]
pub fn file_binary(value: &serde_json::Value) -> bson::Binary {
    file::to_binary(value).unwrap_or_else(|error| panic!("{error}"))
}
pub use keys::KeyRing;
pub use write::write_from_template;
