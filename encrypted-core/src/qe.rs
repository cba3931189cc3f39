//! Queryable Encryption (protocol v2), sans I/O: the token chain, the ciphers, explicit
//! `Unindexed` and `Indexed` (equality) encryption, and the decryption of every QE value a
//! client reads back, byte for byte as libmongocrypt 1.21 does it.
//!
//! ```
//! use std::sync::Arc;
//! use encrypted_core::bson::{Bson, Uuid};
//! use encrypted_core::{DataKey, KeyRef, model::Keys, qe};
//!
//! let key = Arc::new(DataKey::generate(Uuid::new())?);
//! let ssn = Bson::String("457-55-5462".into());
//!
//! // What an insert sends (blob 11) and what an equality query sends (blob 12).
//! let insert = qe::encrypt_indexed(&key, &key, &ssn, 8)?;
//! let query = qe::encrypt_equality_query(&key, &ssn, 8)?;
//! assert_eq!((insert.bytes[0], query.bytes[0]), (11, 12));
//!
//! // The insert payload decrypts with the data key alone, as do the values the
//! // server stores (blobs 14, 15 and 16).
//! let keys = Keys::new().with(KeyRef::Id(key.id()), key);
//! assert_eq!(qe::decrypt(&insert.bytes, &keys)?, ssn);
//! # Ok::<(), encrypted_core::Error>(())
//! ```
//!
//! Not here yet: range payloads (edges, min-cover, blob 13), `encryptedFields` and the
//! collection helpers, which need the collection layer.

mod blob;
mod cipher;
mod explicit;
mod mixing;
pub mod tokens;

pub use blob::{decrypt, first_key_id, is_queryable_encryption};
pub use explicit::{encrypt_equality_query, encrypt_indexed, encrypt_unindexed};
#[allow(unused_imports)]
pub(crate) use mixing::refuse_fle1_and_qe;

#[cfg(test)]
mod vectors;

/// Reading the vendored libmongocrypt vectors (encrypted-core/tests/data/).
#[cfg(test)]
pub(crate) mod test_vectors {
    const DIR: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/libmongocrypt-3a65b40d-qe/"
    );

    /// The text of a vendored file.
    pub(crate) fn vector_text(file: &str) -> String {
        std::fs::read_to_string(format!("{DIR}{file}"))
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .trim()
            .to_owned()
    }

    /// A vendored JSON file.
    pub(crate) fn vector(file: &str) -> serde_json::Value {
        serde_json::from_str(&vector_text(file)).unwrap()
    }

    /// Hex to bytes.
    pub(crate) fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }
}
