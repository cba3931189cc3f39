//! AEAD_AES_256_CBC_HMAC_SHA_512 as MongoDB's CSFLE uses it, and the randomness it needs.
//!
//! Only the construction lives here; the primitives (AES-256, CBC, HMAC-SHA-512) are the
//! RustCrypto crates'.

pub(crate) mod aead;
pub(crate) mod random;
