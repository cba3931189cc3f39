//! The two CSFLE encryption algorithms.

use std::fmt;
use std::str::FromStr;

/// A CSFLE encryption algorithm: both are AEAD_AES_256_CBC_HMAC_SHA_512; they differ in
/// how the IV is chosen.
///
/// ```
/// use encrypted_core::Algorithm;
///
/// let algorithm: Algorithm = "AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic".parse().unwrap();
/// assert_eq!(algorithm, Algorithm::Deterministic);
/// assert_eq!(Algorithm::Random.as_str(), "AEAD_AES_256_CBC_HMAC_SHA_512-Random");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// The IV is derived from the key and the plaintext, so equal values under the same
    /// key give equal ciphertexts: the field can be queried by equality, and equality of
    /// values is visible to whoever sees the ciphertexts.
    Deterministic,
    /// The IV is random: equal values give unrelated ciphertexts; the field cannot be
    /// queried.
    Random,
}

impl Algorithm {
    /// The name used in JSON Schemas and the drivers' `EncryptOpts`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Deterministic => "AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic",
            Self::Random => "AEAD_AES_256_CBC_HMAC_SHA_512-Random",
        }
    }

    /// The first byte of a ciphertext made with this algorithm (the FLE1 blob subtype).
    pub(crate) const fn blob_subtype(self) -> u8 {
        match self {
            Self::Deterministic => 1,
            Self::Random => 2,
        }
    }

    pub(crate) const fn from_blob_subtype(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::Deterministic),
            2 => Some(Self::Random),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an [`Algorithm`] name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown encryption algorithm `{0}`; expected AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic or AEAD_AES_256_CBC_HMAC_SHA_512-Random"
)]
pub struct UnknownAlgorithm(pub String);

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        [Self::Deterministic, Self::Random]
            .into_iter()
            .find(|algorithm| algorithm.as_str() == name)
            .ok_or_else(|| UnknownAlgorithm(name.to_owned()))
    }
}
