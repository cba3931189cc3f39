//! AEAD_AES_256_CBC_HMAC_SHA_512 with MongoDB's deterministic-IV extension.
//!
//! A 96-byte key is three 32-byte keys: `MAC_KEY || ENC_KEY || IV_KEY` (libmongocrypt,
//! `mongocrypt-crypto.c`). With `A` the associated data and `AL` its length in bits as a
//! 64-bit big-endian integer:
//!
//! - `C = AES-256-CBC(ENC_KEY, IV, P || PKCS#7 padding)`
//! - `T = HMAC-SHA-512(MAC_KEY, A || IV || C || AL)`, truncated to 32 bytes
//! - output `IV || C || T`
//! - deterministic IV: `HMAC-SHA-512(IV_KEY, A || AL || P)`, truncated to 16 bytes.
//!
//! The keyed AES schedule and the keyed HMAC states are computed once per key and cloned
//! per message; all of them are zeroized when dropped.

use aes::Aes256;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, InnerIvInit, KeyInit};
use hmac::{Hmac, Mac};
use sha2::Sha512;
use zeroize::{Zeroize, Zeroizing};

use crate::{Error, Result};

/// Length of the full key: encryption, MAC and IV keys.
pub(crate) const KEY_LEN: usize = 96;
const SUBKEY_LEN: usize = 32;
/// AES block length, which is also the IV length.
pub(crate) const BLOCK_LEN: usize = 16;
/// Length of the truncated HMAC-SHA-512 tag.
pub(crate) const TAG_LEN: usize = 32;
/// The shortest possible AEAD output: IV, one padding block, tag.
pub(crate) const MIN_CIPHERTEXT_LEN: usize = BLOCK_LEN + BLOCK_LEN + TAG_LEN;

type HmacSha512 = Hmac<Sha512>;

/// The per-key state of the AEAD: AES key schedule and keyed HMAC states.
///
/// Not `Clone`, not `Debug`: it is as secret as the key it was made from.
pub(crate) struct AeadKey {
    enc: Aes256,
    mac: HmacSha512,
    iv: HmacSha512,
}

impl zeroize::ZeroizeOnDrop for AeadKey {}

impl AeadKey {
    /// Expands a 96-byte key.
    pub(crate) fn new(key: &[u8; KEY_LEN]) -> Self {
        let (mac_key, rest) = key.split_at(SUBKEY_LEN);
        let (enc_key, iv_key) = rest.split_at(SUBKEY_LEN);
        // The three lengths are the constants above, so these cannot fail; a wrong split
        // would be caught by every test vector.
        let enc = Aes256::new_from_slice(enc_key).unwrap_or_else(|_| unreachable!());
        let mac = HmacSha512::new_from_slice(mac_key).unwrap_or_else(|_| unreachable!());
        let iv = HmacSha512::new_from_slice(iv_key).unwrap_or_else(|_| unreachable!());
        Self { enc, mac, iv }
    }

    /// The IV of deterministic encryption: a PRF of the associated data and plaintext.
    pub(crate) fn deterministic_iv(&self, aad: &[u8], plaintext: &[u8]) -> [u8; BLOCK_LEN] {
        let mut mac = self.iv.clone();
        mac.update(aad);
        mac.update(&aad_bit_length(aad));
        mac.update(plaintext);
        let digest = mac.finalize().into_bytes();
        let mut iv = [0; BLOCK_LEN];
        #[allow(clippy::indexing_slicing, reason = "16 of a 64-byte digest")]
        iv.copy_from_slice(&digest[..BLOCK_LEN]);
        iv
    }

    /// A fresh IV from the operating system's CSPRNG.
    pub(crate) fn random_iv() -> Result<[u8; BLOCK_LEN]> {
        crate::crypto::random::iv()
    }

    /// Length of the AEAD output for a plaintext of `plaintext_len` bytes.
    pub(crate) const fn ciphertext_len(plaintext_len: usize) -> usize {
        BLOCK_LEN + (plaintext_len / BLOCK_LEN + 1) * BLOCK_LEN + TAG_LEN
    }

    /// Appends `IV || C || T` to `out`.
    pub(crate) fn seal_into(
        &self,
        iv: &[u8; BLOCK_LEN],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) {
        let start = out.len();
        out.reserve(Self::ciphertext_len(plaintext.len()));
        out.extend_from_slice(iv);
        let body_start = out.len();
        out.extend_from_slice(plaintext);
        let padded_len = (plaintext.len() / BLOCK_LEN + 1) * BLOCK_LEN;
        out.resize(body_start + padded_len, 0);
        let encryptor = cbc::Encryptor::<Aes256>::inner_iv_init(self.enc.clone(), iv.into());
        let body = out.get_mut(body_start..).unwrap_or_default();
        // The buffer was sized for the padded message, so padding cannot fail.
        if encryptor
            .encrypt_padded::<Pkcs7>(body, plaintext.len())
            .is_err()
        {
            unreachable!("buffer sized for PKCS#7 padding");
        }
        let tag = self.tag(aad, out.get(start..).unwrap_or_default());
        #[allow(clippy::indexing_slicing, reason = "32 of a 64-byte digest")]
        out.extend_from_slice(&tag[..TAG_LEN]);
    }

    /// Verifies and decrypts `IV || C || T`. Any failure is the one opaque
    /// [`Error::Decryption`], checked tag first, so padding is never examined on
    /// unauthenticated bytes.
    pub(crate) fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let mut plaintext = Zeroizing::new(Vec::with_capacity(sealed.len()));
        self.open_into(aad, sealed, &mut plaintext)?;
        Ok(plaintext)
    }

    /// Verifies `IV || C || T` and appends the plaintext to `out`, decrypting in place
    /// there (no intermediate buffer). On failure `out` is left as it was, with anything
    /// written zeroized.
    pub(crate) fn open_into(&self, aad: &[u8], sealed: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if sealed.len() < MIN_CIPHERTEXT_LEN
            || !(sealed.len() - BLOCK_LEN - TAG_LEN).is_multiple_of(BLOCK_LEN)
        {
            return Err(Error::MalformedCiphertext {
                reason: "the encrypted part must be a 16-byte IV, whole AES blocks and a 32-byte tag",
            });
        }
        let (authenticated, tag) = sealed.split_at(sealed.len() - TAG_LEN);
        let mut mac = self.mac.clone();
        mac.update(aad);
        mac.update(authenticated);
        mac.update(&aad_bit_length(aad));
        mac.verify_truncated_left(tag)
            .map_err(|_| Error::Decryption)?;

        let (iv, body) = authenticated.split_at(BLOCK_LEN);
        let start = out.len();
        out.extend_from_slice(body);
        let decryptor = cbc::Decryptor::<Aes256>::inner_iv_init(
            self.enc.clone(),
            iv.try_into().map_err(|_| Error::Decryption)?,
        );
        let decrypted = decryptor
            .decrypt_padded::<Pkcs7>(out.get_mut(start..).unwrap_or_default())
            .map(<[u8]>::len);
        match decrypted {
            Ok(len) => {
                let end = start + len;
                out.get_mut(end..).unwrap_or_default().zeroize();
                out.truncate(end);
                Ok(())
            }
            Err(_) => {
                out.get_mut(start..).unwrap_or_default().zeroize();
                out.truncate(start);
                Err(Error::Decryption)
            }
        }
    }

    fn tag(&self, aad: &[u8], iv_and_ciphertext: &[u8]) -> hmac::digest::Output<HmacSha512> {
        let mut mac = self.mac.clone();
        mac.update(aad);
        mac.update(iv_and_ciphertext);
        mac.update(&aad_bit_length(aad));
        mac.finalize().into_bytes()
    }
}

/// `AL`: the associated data's length in bits, 64-bit big-endian.
fn aad_bit_length(aad: &[u8]) -> [u8; 8] {
    // An allocation cannot exceed isize::MAX bytes, so the bit count fits in 64 bits.
    (aad.len() as u64).wrapping_mul(8).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AeadKey {
        let mut bytes = [0u8; KEY_LEN];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = i as u8;
        }
        AeadKey::new(&bytes)
    }

    #[test]
    fn round_trips_every_length_around_block_boundaries() {
        let key = key();
        for len in 0..=48 {
            let plaintext: Vec<u8> = (0..len as u8).collect();
            let mut sealed = Vec::new();
            key.seal_into(&[7; 16], b"aad", &plaintext, &mut sealed);
            assert_eq!(sealed.len(), AeadKey::ciphertext_len(len));
            assert_eq!(&*key.open(b"aad", &sealed).unwrap(), &plaintext[..]);
        }
    }

    #[test]
    fn every_single_bit_flip_is_rejected() {
        let key = key();
        let mut sealed = Vec::new();
        key.seal_into(&[1; 16], b"aad", b"attack at dawn", &mut sealed);
        for byte in 0..sealed.len() {
            for bit in 0..8 {
                let mut tampered = sealed.clone();
                tampered[byte] ^= 1 << bit;
                assert!(matches!(
                    key.open(b"aad", &tampered),
                    Err(Error::Decryption)
                ));
            }
        }
    }

    #[test]
    fn other_associated_data_is_rejected() {
        let key = key();
        let mut sealed = Vec::new();
        key.seal_into(&[1; 16], b"aad", b"x", &mut sealed);
        assert!(matches!(key.open(b"aae", &sealed), Err(Error::Decryption)));
        assert!(matches!(key.open(b"", &sealed), Err(Error::Decryption)));
    }

    #[test]
    fn bad_lengths_are_malformed_not_decrypted() {
        let key = key();
        for len in [0, 1, 15, 16, 32, 63, 65, 79] {
            assert!(matches!(
                key.open(b"", &vec![0; len]),
                Err(Error::MalformedCiphertext { .. })
            ));
        }
    }

    #[test]
    fn deterministic_iv_depends_on_plaintext_and_aad() {
        let key = key();
        let a = key.deterministic_iv(b"aad", b"one");
        assert_eq!(a, key.deterministic_iv(b"aad", b"one"));
        assert_ne!(a, key.deterministic_iv(b"aad", b"two"));
        assert_ne!(a, key.deterministic_iv(b"aae", b"one"));
    }
}
