//! The FLE1 ciphertext: what is stored in place of an encrypted field.
//!
//! A BSON binary of subtype 6 whose bytes are
//!
//! | bytes   | meaning                                               |
//! |---------|-------------------------------------------------------|
//! | 0       | algorithm: 1 deterministic, 2 random                  |
//! | 1..17   | UUID of the data key                                  |
//! | 17      | BSON type of the original value                       |
//! | 18..    | AEAD_AES_256_CBC_HMAC_SHA_512 output `IV \|\| C \|\| T` |
//!
//! The first 18 bytes are the associated data of the AEAD, so none of them can be
//! changed without the tag failing.

use bson::spec::{BinarySubtype, ElementType};
use bson::{Binary, Bson, Uuid};

use crate::crypto::aead::MIN_CIPHERTEXT_LEN;
use crate::{Algorithm, Error, Result};

/// Length of the header that is also the associated data.
pub(crate) const HEADER_LEN: usize = 18;

/// A parsed CSFLE ciphertext (BSON binary subtype 6, FLE1 random or deterministic).
///
/// Parsing checks the structure only; [`DataKey::decrypt`](crate::DataKey::decrypt)
/// authenticates it.
///
/// ```
/// use bson::Bson;
/// use encrypted_core::{Algorithm, Ciphertext, DataKey};
///
/// let key = DataKey::generate(bson::Uuid::new())?;
/// let ciphertext = key.encrypt(&Bson::Int32(42), Algorithm::Random)?;
/// let binary = ciphertext.to_binary();
///
/// let parsed = Ciphertext::from_binary(&binary)?;
/// assert_eq!(parsed.key_id(), key.id());
/// assert_eq!(parsed.algorithm(), Algorithm::Random);
/// assert_eq!(key.decrypt(&parsed)?, Bson::Int32(42));
/// # Ok::<(), encrypted_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Ciphertext {
    bytes: Vec<u8>,
    algorithm: Algorithm,
    original_type: ElementType,
}

impl Ciphertext {
    /// Parses the bytes of a subtype-6 binary.
    ///
    /// # Errors
    ///
    /// [`Error::MalformedCiphertext`] when the algorithm byte is not 1 or 2, the type
    /// byte is not a BSON type, or the length cannot hold an IV, a block and a tag.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        let (algorithm, original_type) = check(&bytes)?;
        Ok(Self {
            bytes,
            algorithm,
            original_type,
        })
    }

    /// Parses a BSON binary, which must be of subtype 6 (encrypted).
    ///
    /// # Errors
    ///
    /// [`Error::MalformedCiphertext`] for another subtype, and as [`Ciphertext::from_bytes`].
    pub fn from_binary(binary: &Binary) -> Result<Self> {
        if binary.subtype != BinarySubtype::Encrypted {
            return Err(malformed(
                "it is not a BSON binary of subtype 6 (encrypted)",
            ));
        }
        Self::from_bytes(binary.bytes.clone())
    }

    /// Parses a BSON value, which must be a binary of subtype 6.
    ///
    /// # Errors
    ///
    /// [`Error::MalformedCiphertext`] for any other value, and as [`Ciphertext::from_bytes`].
    pub fn from_bson(value: &Bson) -> Result<Self> {
        match value {
            Bson::Binary(binary) => Self::from_binary(binary),
            _ => Err(malformed("it is not a BSON binary")),
        }
    }

    pub(crate) fn new_unchecked(
        bytes: Vec<u8>,
        algorithm: Algorithm,
        original_type: ElementType,
    ) -> Self {
        Self {
            bytes,
            algorithm,
            original_type,
        }
    }

    /// The algorithm it was encrypted with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The id of the data key it was encrypted with.
    pub fn key_id(&self) -> Uuid {
        let mut id = [0; 16];
        id.copy_from_slice(self.bytes.get(1..17).unwrap_or(&[0; 16]));
        Uuid::from_bytes(id)
    }

    /// The BSON type of the encrypted value.
    pub fn original_type(&self) -> ElementType {
        self.original_type
    }

    /// The whole ciphertext, header included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The ciphertext as a BSON binary of subtype 6.
    pub fn to_binary(&self) -> Binary {
        Binary {
            subtype: BinarySubtype::Encrypted,
            bytes: self.bytes.clone(),
        }
    }

    /// Converts into a BSON binary of subtype 6 without copying.
    pub fn into_binary(self) -> Binary {
        Binary {
            subtype: BinarySubtype::Encrypted,
            bytes: self.bytes,
        }
    }

    pub(crate) fn header(&self) -> &[u8] {
        self.bytes.get(..HEADER_LEN).unwrap_or_default()
    }

    pub(crate) fn sealed(&self) -> &[u8] {
        self.bytes.get(HEADER_LEN..).unwrap_or_default()
    }
}

impl From<Ciphertext> for Bson {
    fn from(ciphertext: Ciphertext) -> Self {
        Bson::Binary(ciphertext.into_binary())
    }
}

impl std::fmt::Debug for Ciphertext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ciphertext")
            .field("algorithm", &self.algorithm)
            .field("key_id", &self.key_id())
            .field("original_type", &self.original_type)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// Checks the structure of FLE1 bytes (see [`Ciphertext::from_bytes`]); returns the
/// algorithm and the original BSON type.
pub(crate) fn check(bytes: &[u8]) -> Result<(Algorithm, ElementType)> {
    let Some((&algorithm, rest)) = bytes.split_first() else {
        return Err(malformed("it is empty"));
    };
    let algorithm = Algorithm::from_blob_subtype(algorithm)
        .ok_or_else(|| malformed("the first byte is not 1 (deterministic) or 2 (random)"))?;
    let type_byte = rest
        .get(HEADER_LEN - 2)
        .copied()
        .ok_or_else(|| malformed("it is shorter than its 18-byte header"))?;
    let original_type = ElementType::from(type_byte)
        .ok_or_else(|| malformed("the original-type byte is not a BSON type"))?;
    if bytes.len() < HEADER_LEN + MIN_CIPHERTEXT_LEN {
        return Err(malformed(
            "it is too short to hold an IV, one block and a tag",
        ));
    }
    Ok((algorithm, original_type))
}

/// The id of the data key named in checked FLE1 bytes.
pub(crate) fn key_id(bytes: &[u8]) -> Option<Uuid> {
    let id: [u8; 16] = bytes.get(1..17)?.try_into().ok()?;
    Some(Uuid::from_bytes(id))
}

/// The 18-byte header (= associated data) of a new ciphertext.
pub(crate) fn header(
    algorithm: Algorithm,
    key_id: Uuid,
    original_type: ElementType,
) -> [u8; HEADER_LEN] {
    let mut header = [0; HEADER_LEN];
    header[0] = algorithm.blob_subtype();
    header[1..17].copy_from_slice(&key_id.bytes());
    header[17] = original_type as u8;
    header
}

fn malformed(reason: &'static str) -> Error {
    Error::MalformedCiphertext { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_structurally_impossible_blobs() {
        let valid_header = header(
            Algorithm::Random,
            Uuid::from_bytes([9; 16]),
            ElementType::Int32,
        );
        let mut ok = valid_header.to_vec();
        ok.resize(HEADER_LEN + MIN_CIPHERTEXT_LEN, 0);
        assert!(Ciphertext::from_bytes(ok.clone()).is_ok());

        for len in [0, 1, 17, 18, HEADER_LEN + MIN_CIPHERTEXT_LEN - 1] {
            let mut short = ok.clone();
            short.truncate(len);
            assert!(Ciphertext::from_bytes(short).is_err(), "length {len}");
        }
        for algorithm in [0u8, 3, 255] {
            let mut bad = ok.clone();
            bad[0] = algorithm;
            assert!(Ciphertext::from_bytes(bad).is_err());
        }
        let mut bad_type = ok.clone();
        bad_type[17] = 0x20;
        assert!(Ciphertext::from_bytes(bad_type).is_err());

        let generic = Binary {
            subtype: BinarySubtype::Generic,
            bytes: ok,
        };
        assert!(Ciphertext::from_binary(&generic).is_err());
    }
}
