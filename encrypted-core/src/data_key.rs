//! Data keys: the 96-byte keys that encrypt field values.

use std::fmt;

use bson::spec::ElementType;
use bson::{Bson, Uuid};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::ciphertext::{self, Ciphertext, HEADER_LEN};
use crate::crypto::aead::{AeadKey, KEY_LEN};
use crate::{Algorithm, Error, Result, plaintext};

/// A decrypted data key: its id (the `_id` of its key vault document) and its 96 secret
/// bytes, with the AES key schedule and keyed HMAC states computed once.
///
/// The key bytes and every derived state are zeroized on drop. A `DataKey` is neither
/// `Clone` nor `Serialize`, and its `Debug` output is `DataKey { id: .., .. }`: share it
/// by reference (or `Arc`).
///
/// ```
/// use bson::Bson;
/// use encrypted_core::{Algorithm, DataKey};
///
/// let key = DataKey::generate(bson::Uuid::new())?;
/// let ssn = key.encrypt(&Bson::Int32(123_456_789), Algorithm::Deterministic)?;
/// // Deterministic: the same value under the same key gives the same ciphertext.
/// assert_eq!(ssn, key.encrypt(&Bson::Int32(123_456_789), Algorithm::Deterministic)?);
/// assert_eq!(key.decrypt(&ssn)?, Bson::Int32(123_456_789));
/// assert!(format!("{key:?}").starts_with("DataKey { id: "));
/// # Ok::<(), encrypted_core::Error>(())
/// ```
pub struct DataKey {
    id: Uuid,
    material: Box<KeyBytes>,
    aead: AeadKey,
}

/// The raw bytes of a key; boxed so that moving a `DataKey` does not copy them.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct KeyBytes(pub(crate) [u8; KEY_LEN]);

impl ZeroizeOnDrop for DataKey {}

impl DataKey {
    /// The length of a data key in bytes.
    pub const LEN: usize = KEY_LEN;

    /// Makes a data key from its id and its 96 bytes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKeyLength`] unless `material` is exactly 96 bytes long.
    pub fn from_bytes(id: Uuid, material: &[u8]) -> Result<Self> {
        let bytes: [u8; KEY_LEN] = material.try_into().map_err(|_| Error::InvalidKeyLength {
            what: "a data key",
            expected: KEY_LEN,
            actual: material.len(),
        })?;
        Ok(Self::from_key_bytes(id, Box::new(KeyBytes(bytes))))
    }

    /// Generates a new data key from the operating system's CSPRNG.
    ///
    /// # Errors
    ///
    /// [`Error::Randomness`] if the operating system's generator fails.
    pub fn generate(id: Uuid) -> Result<Self> {
        let mut bytes = Box::new(KeyBytes([0; KEY_LEN]));
        crate::crypto::random::fill(&mut bytes.0)?;
        Ok(Self::from_key_bytes(id, bytes))
    }

    pub(crate) fn from_key_bytes(id: Uuid, material: Box<KeyBytes>) -> Self {
        let aead = AeadKey::new(&material.0);
        Self { id, material, aead }
    }

    /// The key's id: the `_id` of its key vault document, written into every
    /// ciphertext it makes.
    pub fn id(&self) -> Uuid {
        self.id
    }

    pub(crate) fn material(&self) -> &[u8; KEY_LEN] {
        &self.material.0
    }

    /// Encrypts one BSON value.
    ///
    /// # Errors
    ///
    /// - [`Error::ProhibitedType`] for a type the spec forbids with this algorithm (null,
    ///   undefined, MinKey and MaxKey always; double, decimal128, bool, document, array
    ///   and code with scope deterministically);
    /// - [`Error::AlreadyEncrypted`] for a binary of subtype 6;
    /// - [`Error::UnencodableValue`] for a value BSON cannot encode (a document key
    ///   holding a NUL byte), saying why without quoting the value;
    /// - [`Error::Randomness`] if the OS generator fails (random algorithm).
    pub fn encrypt(&self, value: &Bson, algorithm: Algorithm) -> Result<Ciphertext> {
        plaintext::check_allowed(value, algorithm)?;
        let plaintext = plaintext::encode(value)?;
        self.seal(value.element_type(), &plaintext, algorithm)
    }

    /// Encrypts a value given as its BSON type and the bytes it occupies inside a
    /// document, appending the FLE1 bytes (header, IV, ciphertext, tag) to `out`. The
    /// caller has checked it is not already a subtype-6 binary.
    pub(crate) fn seal_value_into(
        &self,
        element_type: ElementType,
        value: &[u8],
        algorithm: Algorithm,
        ivs: &mut crate::crypto::random::Ivs,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        plaintext::check_allowed_type(element_type, algorithm)?;
        let header = ciphertext::header(algorithm, self.id, element_type);
        let iv = match algorithm {
            Algorithm::Deterministic => self.aead.deterministic_iv(&header, value),
            Algorithm::Random => ivs.next()?,
        };
        out.extend_from_slice(&header);
        self.aead.seal_into(&iv, &header, value, out);
        Ok(())
    }

    /// The length of the FLE1 bytes of a value of `len` bytes.
    pub(crate) const fn sealed_len(len: usize) -> usize {
        HEADER_LEN + AeadKey::ciphertext_len(len)
    }

    /// Authenticates and decrypts FLE1 bytes, appending the bytes the value occupies
    /// inside a document to `out`; returns the value's BSON type.
    pub(crate) fn open_value_into(&self, bytes: &[u8], out: &mut Vec<u8>) -> Result<ElementType> {
        let (_, original_type) = ciphertext::check(bytes)?;
        let key_id = ciphertext::key_id(bytes).ok_or(Error::Decryption)?;
        if key_id != self.id {
            return Err(Error::KeyMismatch {
                ciphertext_key_id: key_id,
                supplied_key_id: self.id,
            });
        }
        let (header, sealed) = bytes
            .split_at_checked(HEADER_LEN)
            .ok_or(Error::Decryption)?;
        self.aead.open_into(header, sealed, out)?;
        Ok(original_type)
    }

    fn seal(
        &self,
        original_type: ElementType,
        plaintext: &[u8],
        algorithm: Algorithm,
    ) -> Result<Ciphertext> {
        let header = ciphertext::header(algorithm, self.id, original_type);
        let iv = match algorithm {
            Algorithm::Deterministic => self.aead.deterministic_iv(&header, plaintext),
            Algorithm::Random => AeadKey::random_iv()?,
        };
        let mut bytes = Vec::with_capacity(HEADER_LEN + AeadKey::ciphertext_len(plaintext.len()));
        bytes.extend_from_slice(&header);
        self.aead.seal_into(&iv, &header, plaintext, &mut bytes);
        Ok(Ciphertext::new_unchecked(bytes, algorithm, original_type))
    }

    /// Authenticates and decrypts a ciphertext back to the exact BSON value that was
    /// encrypted.
    ///
    /// # Errors
    ///
    /// - [`Error::KeyMismatch`] when the ciphertext names another key id;
    /// - [`Error::Decryption`] when it is not authentic for this key (tampered, truncated,
    ///   other key bytes) — one opaque error whatever the cause.
    pub fn decrypt(&self, ciphertext: &Ciphertext) -> Result<Bson> {
        let plaintext = self.decrypt_value_bytes(ciphertext)?;
        plaintext::decode(ciphertext.original_type(), &plaintext)
    }

    /// Authenticates and decrypts a ciphertext to the bytes its value occupies inside a
    /// document (its BSON type is [`Ciphertext::original_type`]).
    pub(crate) fn decrypt_value_bytes(
        &self,
        ciphertext: &Ciphertext,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        if ciphertext.key_id() != self.id {
            return Err(Error::KeyMismatch {
                ciphertext_key_id: ciphertext.key_id(),
                supplied_key_id: self.id,
            });
        }
        self.aead.open(ciphertext.header(), ciphertext.sealed())
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_wrong_lengths() {
        for len in [0, 32, 64, 95, 97] {
            let err = DataKey::from_bytes(Uuid::new(), &vec![0; len]).unwrap_err();
            assert!(
                matches!(err, Error::InvalidKeyLength { expected: 96, actual, .. } if actual == len)
            );
        }
    }

    #[test]
    fn debug_shows_no_key_bytes() {
        let key = DataKey::from_bytes(Uuid::from_bytes([0; 16]), &[0xAB; 96]).unwrap();
        let shown = format!("{key:?}");
        assert_eq!(
            shown,
            "DataKey { id: 00000000-0000-0000-0000-000000000000, .. }"
        );
    }

    #[test]
    fn another_key_with_the_same_id_fails_opaquely() {
        let id = Uuid::new();
        let key = DataKey::from_bytes(id, &[1; 96]).unwrap();
        let other = DataKey::from_bytes(id, &[2; 96]).unwrap();
        let ciphertext = key
            .encrypt(&Bson::String("secret".into()), Algorithm::Random)
            .unwrap();
        assert!(matches!(other.decrypt(&ciphertext), Err(Error::Decryption)));
        let message = other.decrypt(&ciphertext).unwrap_err().to_string();
        assert!(!message.contains("secret"));
    }

    #[test]
    fn another_key_id_is_a_key_mismatch() {
        let key = DataKey::from_bytes(Uuid::new(), &[1; 96]).unwrap();
        let other = DataKey::from_bytes(Uuid::new(), &[1; 96]).unwrap();
        let ciphertext = key.encrypt(&Bson::Int32(1), Algorithm::Random).unwrap();
        assert!(matches!(
            other.decrypt(&ciphertext),
            Err(Error::KeyMismatch { .. })
        ));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_never_decrypt() {
        let key = DataKey::from_bytes(Uuid::from_bytes([3; 16]), &[5; 96]).unwrap();
        let valid = key
            .encrypt(&Bson::String("x".repeat(40)), Algorithm::Random)
            .unwrap();
        let mut noise = [0u8; 4096];
        crate::crypto::random::fill(&mut noise).unwrap();
        for round in 0..2000 {
            let len = round % 160;
            let start = (round * 7) % (noise.len() - len);
            // Random bytes behind a header naming this key, so they reach the AEAD.
            let mut bytes = valid.as_bytes()[..18.min(len)].to_vec();
            bytes.extend_from_slice(&noise[start..start + len.saturating_sub(18)]);
            if let Ok(ciphertext) = Ciphertext::from_bytes(bytes) {
                assert!(key.decrypt(&ciphertext).is_err());
            }
            // And every truncation of a valid ciphertext.
            let truncated = valid.as_bytes()[..len.min(valid.as_bytes().len() - 1)].to_vec();
            if let Ok(ciphertext) = Ciphertext::from_bytes(truncated) {
                assert!(key.decrypt(&ciphertext).is_err());
            }
        }
    }

    #[test]
    fn random_encryption_differs_each_time() {
        let key = DataKey::generate(Uuid::new()).unwrap();
        let a = key.encrypt(&Bson::Int32(7), Algorithm::Random).unwrap();
        let b = key.encrypt(&Bson::Int32(7), Algorithm::Random).unwrap();
        assert_ne!(a, b);
        assert_eq!(key.decrypt(&a).unwrap(), key.decrypt(&b).unwrap());
    }
}
