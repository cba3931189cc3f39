//! Typed, compile-time-checked MongoDB client-side field level encryption (CSFLE),
//! byte-compatible with libmongocrypt and every official driver that uses it.
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

pub use encrypted_core::model::Encrypted;
pub use encrypted_core::*;
/// Derives [`Encrypted`] for a struct with named fields.
pub use encrypted_derive::Encrypted;
