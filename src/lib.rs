//! Typed, compile-time-checked MongoDB client-side field level encryption (CSFLE),
//! byte-compatible with libmongocrypt and every official driver that uses it — with no
//! mongocryptd, no crypt_shared and no libmongocrypt, on any server (MongoDB Community
//! 4.2+, Atlas, FerretDB).
//!
#![doc = include_str!("quickstart.md")]
//!
//! # What it gives you
//!
//! - [`#[derive(Encrypted)]`](derive@Encrypted) generates, at compile time, a model's
//!   CSFLE JSON Schema ([`model::json_schema`], [`model::validator`]), the codecs that
//!   encrypt its marked fields before the document reaches the driver and decrypt them
//!   after, typed field paths for [`model::Filter`]s and [`model::Update`]s, and a *view*
//!   type (`PatientView`) whose encrypted fields are [`model::Protected`] values, for readers
//!   without the keys. Mistakes are compile errors at the offending span.
//! - [`EncryptedCollection`]: a typed collection over the official `mongodb` driver
//!   (insert, find, replace, update, delete, count, distinct).
//! - [`ClientEncryption`]: the key vault (data keys, alternate names, rewrap), explicit
//!   encryption, and the KMS providers ([`kms`]): local and AWS, behind a trait.
//!
//! # Without a server
//!
//! The model codecs work on documents alone, with the data keys at hand:
//!
//! ```
//! use std::sync::Arc;
//!
//! use encrypted::model::{self, Keys};
//! use encrypted::{DataKey, Encrypted, KeyRef};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Encrypted, Debug, PartialEq)]
//! #[serde(rename_all = "camelCase")]
//! #[encrypted(key_alt_name = "medco-key")]
//! struct Patient {
//!     name: String,
//!     #[encrypt(deterministic)]
//!     ssn: i32,
//!     #[encrypt(random)]
//!     blood_type: String,
//! }
//!
//! // Normally the key vault supplies the data key (see `EncryptedCollection`).
//! let key = Arc::new(DataKey::generate(encrypted::bson::Uuid::new())?);
//! let keys = Keys::new().with(KeyRef::AltName("medco-key".into()), key);
//!
//! let jon = Patient { name: "Jon Doe".into(), ssn: 241014209, blood_type: "AB+".into() };
//! let stored = model::encode(&jon, &keys)?; // what the server receives
//! assert!(stored.get_binary("ssn").is_ok()); // binary subtype 6, as libmongocrypt writes it
//! assert_eq!(stored.get_str("name").ok(), Some("Jon Doe"));
//! assert_eq!(model::decode::<Patient>(&stored, &keys)?, jon);
//!
//! // Typed paths: equality on deterministic fields (operands encrypted for you) ...
//! let by_ssn = Patient::fields().ssn().eq(241014209);
//! // ... while `Patient::fields().blood_type().eq("AB+")` does not compile: a randomly
//! // encrypted field cannot be queried.
//! # let _ = by_ssn;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Security model
//!
//! The server, a DBA, backups and the network see ciphertexts, key ids and the wrapped
//! key material; without the master key that is all. Deterministic encryption lets the
//! server match equal values, so it reveals which documents share a value (use it only
//! for queried fields of high cardinality); random encryption reveals nothing but the
//! length rounded to 16 bytes. See [`encrypted_core`] for the details.

#![forbid(unsafe_code)]

/// The `bson` crate (version 3) this crate's API uses: name its types through this
/// re-export to use the same version.
pub use encrypted_core::bson;
pub use encrypted_core::model::Encrypted;
/// The `mongodb` driver (feature `driver`) this crate is built on: name its types through
/// this re-export to use the same version.
#[cfg(feature = "driver")]
pub use encrypted_core::mongodb;
pub use encrypted_core::*;
/// Derives [`Encrypted`] for a struct with named fields.
///
/// # Container attributes: `#[encrypted(..)]`
///
/// - `key_alt_name = "name"` or `key_id = "uuid"`: the default data key of the struct's
///   encrypted fields (the schema's `encryptMetadata`).
/// - `inherit_key`: the struct has no key of its own; it is only used nested (with
///   `#[encrypt(nested)]`) in a model that has one, and cannot have a collection.
/// - `crate = "path"`: where the `encrypted` crate is, if renamed.
///
/// # Field attributes: `#[encrypt(..)]`
///
/// - `deterministic` or `random`: encrypt the field with this algorithm. Deterministic
///   encryption is refused at compile time for types the spec forbids (floats, decimals,
///   booleans, structs, arrays, maps).
/// - `nested`: the field holds another `#[derive(Encrypted)]` struct (or an `Option` of
///   one) whose own encrypted fields are encrypted in place. A field holding a model
///   without this attribute does not compile.
/// - `key_alt_name = "name"`, `key_id = "uuid"`: this field's own data key.
/// - `key_alt_name_field = "field"`: per-document keys (random only): the key's alternate
///   name is the value of another, plaintext, string field of the same document, so that
///   deleting one data key shreds one document's secrets.
/// - `bson_type = "string"`: the BSON type the field serializes to, when its Rust type
///   does not say (a unit enum is a string). Every write checks it.
///
/// The BSON type of each field comes from its Rust type (`i32` → `int`, `i64` → `long`,
/// `String` → `string`, `Vec<_>` → `array`, `ObjectId`, `DateTime`, `Binary`, `Uuid`, …;
/// any other type is taken for a struct, an `object`). `Option<T>` is encrypted as `T`;
/// `None` is stored as an absent field, never as an encrypted or plaintext null. serde's
/// `rename`, `rename_all`, `skip` and `default` are honoured; what cannot be honoured
/// (`flatten` or `skip` on an encrypted field, encrypting `_id`, generic structs, enums,
/// tuple structs) is a compile error.
pub use encrypted_derive::Encrypted;
