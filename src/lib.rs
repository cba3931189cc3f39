//! Typed, compile-time-checked MongoDB client-side field level encryption (CSFLE),
//! byte-compatible with libmongocrypt and every official driver that uses it.
//!
//! This is the user-facing crate. Today it re-exports the runtime,
//! [`encrypted_core`]: the CSFLE ciphertext format, data keys, the local master key, key
//! vault documents, KMS providers and [`ClientEncryption`] (the key vault and explicit
//! encryption over the official `mongodb` driver).
//!
//! ```
//! use encrypted::bson::Bson;
//! use encrypted::{Algorithm, DataKey};
//!
//! let key = DataKey::generate(encrypted::bson::Uuid::new())?;
//! let ciphertext = key.encrypt(&Bson::String("O+".into()), Algorithm::Random)?;
//! assert_eq!(key.decrypt(&ciphertext)?, Bson::String("O+".into()));
//! # Ok::<(), encrypted::Error>(())
//! ```

#![forbid(unsafe_code)]

pub use encrypted_core::*;
