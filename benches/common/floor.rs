//! The raw cost floor of AEAD_AES_256_CBC_HMAC_SHA_512: one AES-256-CBC pass and the
//! HMAC-SHA-512 passes over the same bytes, keys already expanded. Shared by the
//! benchmarks that compare against it.

#![allow(dead_code, clippy::unwrap_used, clippy::indexing_slicing)]

use std::hint::black_box;

use aes::Aes256;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, InnerIvInit, KeyInit};
use hmac::{Hmac, Mac};
use sha2::Sha512;

type HmacSha512 = Hmac<Sha512>;

/// The floor: what any implementation of the construction must at least do.
pub struct Floor {
    enc: Aes256,
    mac: HmacSha512,
    iv: HmacSha512,
}

impl Floor {
    pub fn new(key: &[u8; 96]) -> Self {
        Self {
            enc: Aes256::new_from_slice(&key[32..64]).unwrap(),
            mac: HmacSha512::new_from_slice(&key[..32]).unwrap(),
            iv: HmacSha512::new_from_slice(&key[64..]).unwrap(),
        }
    }

    /// IV (derived: one HMAC pass over the plaintext), CBC pass, HMAC pass: leaves
    /// `IV || C` in `buffer` and returns the tag.
    pub fn encrypt(&self, plaintext: &[u8], deterministic: bool, buffer: &mut Vec<u8>) -> [u8; 64] {
        let mut iv = [7u8; 16];
        if deterministic {
            let digest = self
                .iv
                .clone()
                .chain_update(plaintext)
                .finalize()
                .into_bytes();
            iv.copy_from_slice(&digest[..16]);
        }
        buffer.clear();
        buffer.extend_from_slice(&iv);
        buffer.extend_from_slice(plaintext);
        buffer.resize(16 + (plaintext.len() / 16 + 1) * 16, 0);
        cbc::Encryptor::<Aes256>::inner_iv_init(self.enc.clone(), (&iv).into())
            .encrypt_padded::<Pkcs7>(&mut buffer[16..], plaintext.len())
            .unwrap();
        self.mac
            .clone()
            .chain_update(&buffer[..])
            .finalize()
            .into_bytes()
            .into()
    }

    /// HMAC pass over `IV || C`, then the CBC pass.
    pub fn decrypt(&self, sealed: &[u8], buffer: &mut Vec<u8>) -> usize {
        black_box(
            self.mac
                .clone()
                .chain_update(sealed)
                .finalize()
                .into_bytes(),
        );
        let (iv, body) = sealed.split_at(16);
        buffer.clear();
        buffer.extend_from_slice(body);
        cbc::Decryptor::<Aes256>::inner_iv_init(self.enc.clone(), iv.try_into().unwrap())
            .decrypt_padded::<Pkcs7>(buffer)
            .unwrap()
            .len()
    }
}
