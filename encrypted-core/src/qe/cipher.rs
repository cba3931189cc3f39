//! The ciphers of Queryable Encryption, as libmongocrypt defines them
//! (`mongocrypt-crypto.c`: `FLE2`, `FLE2AEAD`, `FLE2v2AEAD`).
//!
//! - **FLE2** (tokens, ESC payloads, the server-encrypted part of indexed values): a
//!   32-byte key, `IV || AES-256-CTR(key, IV, P)`, no authentication.
//! - **FLE2v2AEAD** (values, protocol v2): a 96-byte data key split as
//!   `Ke = key[0..32]`, `Km = key[32..64]` (FLE1 uses the opposite order:
//!   `Km = key[0..32]`, `Ke = key[32..64]`); `C = IV || AES-256-CBC(Ke, IV, P || PKCS#7)`,
//!   output `C || HMAC-SHA-256(Km, AAD || C)` (no AAD length, unlike FLE1).
//! - **FLE2AEAD** (values, protocol v1): as FLE2v2AEAD with AES-256-CTR and no padding.
//!
//! Tags are checked in constant time before anything is decrypted; every failure is the
//! one opaque [`Error::Decryption`]. The IV comes from the operating system's CSPRNG;
//! only the tests pass their own (the libmongocrypt vectors fix it).

use aes::Aes256;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, StreamCipher};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::tokens::{TOKEN_LEN, hmac_sha256};
use crate::{Error, Result};

/// Length of an IV (one AES block).
pub(crate) const IV_LEN: usize = 16;
const BLOCK_LEN: usize = 16;
/// Length of an HMAC-SHA-256 tag.
pub(crate) const TAG_LEN: usize = 32;
const SUBKEY_LEN: usize = 32;

type Aes256Ctr = ctr::Ctr128BE<Aes256>;

/// The value ciphers: which block mode runs under the HMAC-SHA-256 tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Aead {
    /// `FLE2v2AEAD`: AES-256-CBC with PKCS#7 padding.
    Cbc,
    /// `FLE2AEAD`: AES-256-CTR.
    #[cfg_attr(not(test), allow(dead_code))]
    Ctr,
}

fn ctr_apply(key: &[u8], iv: &[u8; IV_LEN], buf: &mut [u8]) -> Result<()> {
    let mut cipher = Aes256Ctr::new_from_slices(key, iv).map_err(|_| Error::Decryption)?;
    cipher.apply_keystream(buf);
    Ok(())
}

/// `FLE2` encryption: `IV || AES-256-CTR(key, IV, plaintext)`.
pub(crate) fn ctr_encrypt_with_iv(
    key: &[u8; TOKEN_LEN],
    iv: &[u8; IV_LEN],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(IV_LEN + plaintext.len());
    out.extend_from_slice(iv);
    out.extend_from_slice(plaintext);
    ctr_apply(key, iv, out.get_mut(IV_LEN..).unwrap_or_default())?;
    Ok(out)
}

/// `FLE2` decryption of `IV || C` (at least one byte of `C`, as libmongocrypt requires).
pub(crate) fn ctr_decrypt(key: &[u8; TOKEN_LEN], ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let (iv, body) = ciphertext
        .split_first_chunk::<IV_LEN>()
        .filter(|(_, body)| !body.is_empty())
        .ok_or(Error::Decryption)?;
    let mut out = Zeroizing::new(body.to_vec());
    ctr_apply(key, iv, &mut out)?;
    Ok(out)
}

fn split_key(key: &[u8; crate::DataKey::LEN]) -> (&[u8], &[u8]) {
    let (ke, rest) = key.split_at(SUBKEY_LEN);
    (ke, rest.get(..SUBKEY_LEN).unwrap_or_default())
}

impl Aead {
    /// Length of the output for a plaintext of `len` bytes.
    pub(crate) const fn ciphertext_len(self, len: usize) -> usize {
        match self {
            Self::Cbc => IV_LEN + (len / BLOCK_LEN + 1) * BLOCK_LEN + TAG_LEN,
            Self::Ctr => IV_LEN + len + TAG_LEN,
        }
    }

    /// Encrypts `plaintext` (not empty) under the data key with this IV, authenticating
    /// `aad`. The IV must be fresh from [`crate::crypto::random`] outside tests.
    pub(crate) fn seal_with_iv(
        self,
        key: &[u8; crate::DataKey::LEN],
        iv: &[u8; IV_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        let (ke, km) = split_key(key);
        let mut out = Vec::with_capacity(self.ciphertext_len(plaintext.len()));
        out.extend_from_slice(iv);
        out.extend_from_slice(plaintext);
        match self {
            Self::Cbc => {
                let padded = (plaintext.len() / BLOCK_LEN + 1) * BLOCK_LEN;
                out.resize(IV_LEN + padded, 0);
                let encryptor = cbc::Encryptor::<Aes256>::new_from_slices(ke, iv)
                    .map_err(|_| Error::Decryption)?;
                encryptor
                    .encrypt_padded::<Pkcs7>(
                        out.get_mut(IV_LEN..).unwrap_or_default(),
                        plaintext.len(),
                    )
                    .map_err(|_| Error::Decryption)?;
            }
            Self::Ctr => ctr_apply(ke, iv, out.get_mut(IV_LEN..).unwrap_or_default())?,
        }
        let tag = hmac_sha256(km, &[aad, &out]);
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Authenticates and decrypts `IV || C || T`. Any failure, including a length no
    /// writer produces, is [`Error::Decryption`].
    pub(crate) fn open(
        self,
        key: &[u8; crate::DataKey::LEN],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let min = self.ciphertext_len(0) - usize::from(self == Self::Cbc) * BLOCK_LEN;
        let body_len = ciphertext.len().saturating_sub(IV_LEN + TAG_LEN);
        let well_formed =
            ciphertext.len() > min && (self == Self::Ctr || body_len.is_multiple_of(BLOCK_LEN));
        if !well_formed {
            return Err(Error::Decryption);
        }
        let (ke, km) = split_key(key);
        let (authenticated, tag) = ciphertext.split_at(ciphertext.len() - TAG_LEN);
        let expected = hmac_sha256(km, &[aad, authenticated]);
        if !bool::from(expected.ct_eq(tag)) {
            return Err(Error::Decryption);
        }
        let (iv, body) = authenticated
            .split_first_chunk::<IV_LEN>()
            .ok_or(Error::Decryption)?;
        let mut out = Zeroizing::new(body.to_vec());
        match self {
            Self::Cbc => {
                let decryptor = cbc::Decryptor::<Aes256>::new_from_slices(ke, iv)
                    .map_err(|_| Error::Decryption)?;
                let len = decryptor
                    .decrypt_padded::<Pkcs7>(&mut out)
                    .map(<[u8]>::len)
                    .map_err(|_| Error::Decryption)?;
                if len == 0 {
                    return Err(Error::Decryption);
                }
                out.get_mut(len..).unwrap_or_default().zeroize();
                out.truncate(len);
            }
            Self::Ctr => ctr_apply(ke, iv, &mut out)?,
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> [u8; 96] {
        std::array::from_fn(|i| i as u8)
    }

    #[test]
    fn qe_value_ciphers_round_trip_around_block_boundaries() {
        for aead in [Aead::Cbc, Aead::Ctr] {
            for len in 1..=48 {
                let plaintext: Vec<u8> = (0..len as u8).collect();
                let sealed = aead
                    .seal_with_iv(&key(), &[9; 16], b"ad", &plaintext)
                    .unwrap();
                assert_eq!(sealed.len(), aead.ciphertext_len(len));
                assert_eq!(&*aead.open(&key(), b"ad", &sealed).unwrap(), &plaintext[..]);
            }
        }
    }

    #[test]
    fn qe_value_ciphers_refuse_tampering_truncation_wrong_aad_and_wrong_key() {
        for aead in [Aead::Cbc, Aead::Ctr] {
            let sealed = aead
                .seal_with_iv(&key(), &[9; 16], b"ad", b"secret")
                .unwrap();
            for i in 0..sealed.len() {
                let mut bad = sealed.clone();
                bad[i] ^= 1;
                assert!(matches!(
                    aead.open(&key(), b"ad", &bad),
                    Err(Error::Decryption)
                ));
            }
            for len in 0..sealed.len() {
                assert!(matches!(
                    aead.open(&key(), b"ad", &sealed[..len]),
                    Err(Error::Decryption)
                ));
            }
            assert!(matches!(
                aead.open(&key(), b"AD", &sealed),
                Err(Error::Decryption)
            ));
            let mut other = key();
            other[40] ^= 1;
            assert!(matches!(
                aead.open(&other, b"ad", &sealed),
                Err(Error::Decryption)
            ));
        }
    }

    #[test]
    fn qe_value_cipher_key_split_differs_from_fle1() {
        // Ke is the first 32 bytes: changing the last 32 (FLE1's IV key) changes nothing.
        let mut other = key();
        other[80] ^= 1;
        let a = Aead::Cbc.seal_with_iv(&key(), &[1; 16], b"", b"x").unwrap();
        let b = Aead::Cbc.seal_with_iv(&other, &[1; 16], b"", b"x").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn qe_ctr_cipher_round_trips_and_refuses_an_empty_body() {
        let k = [3; 32];
        let c = ctr_encrypt_with_iv(&k, &[5; 16], b"token bytes").unwrap();
        assert_eq!(&c[..16], &[5; 16]);
        assert_eq!(&*ctr_decrypt(&k, &c).unwrap(), b"token bytes");
        assert!(ctr_decrypt(&k, &c[..16]).is_err());
    }
}
