//! The Queryable Encryption (protocol v2) token chain, as libmongocrypt 1.21 derives it
//! (`src/mc-tokens.c`).
//!
//! Every token is 32 bytes: `HMAC-SHA-256(parent, input)`, where the input is either a
//! counter written as a 64-bit little-endian integer, or the BSON bytes of a value (the
//! "derived from data" tokens). The root is the last 32 bytes of the index data key (its
//! "token key").
//!
//! Tokens are secrets (some of them are sent to the server, which needs them to maintain
//! its indexes, but never to anyone else): each is zeroized on drop, prints as
//! `EdcToken(..)`, and is neither `Clone` nor `Serialize`.
//!
//! ```
//! use encrypted_core::bson::Uuid;
//! use encrypted_core::DataKey;
//! use encrypted_core::qe::tokens::{
//!     CollectionsLevel1Token, EdcDerivedFromDataToken, EdcDerivedFromDataTokenAndContentionFactor,
//!     EdcToken,
//! };
//!
//! let index_key = DataKey::generate(Uuid::new())?;
//! let edc = EdcToken::derive(&CollectionsLevel1Token::from_data_key(&index_key));
//! // The BSON bytes of the string "value123": length, bytes, NUL.
//! let value = b"\x09\x00\x00\x00value123\x00";
//! let from_data = EdcDerivedFromDataToken::derive(&edc, value);
//! let with_contention = EdcDerivedFromDataTokenAndContentionFactor::derive(&from_data, 0);
//! assert_eq!(with_contention.as_bytes().len(), 32);
//! # Ok::<(), encrypted_core::Error>(())
//! ```

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::DataKey;

/// Length of every token (an HMAC-SHA-256 output).
pub const TOKEN_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// `HMAC-SHA-256(key, parts[0] || parts[1] || ...)`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; TOKEN_LEN] {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for part in parts {
        mac.update(part);
    }
    let mut out = [0; TOKEN_LEN];
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

/// The root of the chain: the last 32 bytes of a 96-byte data key.
pub(crate) fn token_key(key: &DataKey) -> &[u8] {
    key.material()
        .get(DataKey::LEN - TOKEN_LEN..)
        .unwrap_or_default()
}

macro_rules! token_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Zeroized on drop; `Debug` prints no bytes.
        #[derive(Zeroize, ZeroizeOnDrop)]
        pub struct $name([u8; TOKEN_LEN]);

        impl $name {
            /// Wraps 32 token bytes (for instance a token computed elsewhere).
            pub fn from_bytes(bytes: [u8; TOKEN_LEN]) -> Self {
                Self(bytes)
            }

            /// The token's 32 bytes.
            pub fn as_bytes(&self) -> &[u8; TOKEN_LEN] {
                &self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(..)"))
            }
        }
    };
}

/// A token derived from the root key with a counter.
macro_rules! root_token {
    ($(#[$doc:meta])* $name:ident = $counter:expr) => {
        token_type!($(#[$doc])* $name);

        impl $name {
            #[doc = concat!("`HMAC-SHA-256(root, ", stringify!($counter), ")`, from a 32-byte root.")]
            pub fn from_root(root: &[u8; TOKEN_LEN]) -> Self {
                Self(hmac_sha256(root, &[&u64::to_le_bytes($counter)]))
            }

            /// The token of an index data key (its root is the key's last 32 bytes).
            pub fn from_data_key(key: &DataKey) -> Self {
                Self(hmac_sha256(token_key(key), &[&u64::to_le_bytes($counter)]))
            }
        }
    };
}

/// A token derived from its parent with a constant counter.
macro_rules! const_token {
    ($(#[$doc:meta])* $name:ident = $parent:ident, $counter:expr) => {
        token_type!($(#[$doc])* $name);

        impl $name {
            #[doc = concat!("`HMAC-SHA-256(", stringify!($parent), ", ", stringify!($counter), ")`.")]
            pub fn derive(parent: &$parent) -> Self {
                Self(hmac_sha256(&parent.0, &[&u64::to_le_bytes($counter)]))
            }
        }
    };
}

/// A token derived from its parent and a value's BSON bytes.
macro_rules! data_token {
    ($(#[$doc:meta])* $name:ident = $parent:ident) => {
        token_type!($(#[$doc])* $name);

        impl $name {
            #[doc = concat!("`HMAC-SHA-256(", stringify!($parent), ", value)`, with `value` the bytes a BSON value occupies in a document (for a string: its length, bytes and NUL).")]
            pub fn derive(parent: &$parent, value: &[u8]) -> Self {
                Self(hmac_sha256(&parent.0, &[value]))
            }
        }
    };
}

/// A token derived from its parent and a contention factor.
macro_rules! contention_token {
    ($(#[$doc:meta])* $name:ident = $parent:ident) => {
        token_type!($(#[$doc])* $name);

        impl $name {
            #[doc = concat!("`HMAC-SHA-256(", stringify!($parent), ", contention_factor)`.")]
            pub fn derive(parent: &$parent, contention_factor: u64) -> Self {
                Self(hmac_sha256(&parent.0, &[&contention_factor.to_le_bytes()]))
            }
        }
    };
}

root_token!(
    /// `CollectionsLevel1Token`: the parent of the EDC, ESC, ECC and ECOC tokens.
    ///
    /// ```
    /// use encrypted_core::qe::tokens::{CollectionsLevel1Token, EdcToken};
    ///
    /// let level1 = CollectionsLevel1Token::from_root(&[7; 32]);
    /// let edc = EdcToken::derive(&level1);
    /// assert_eq!(format!("{edc:?}"), "EdcToken(..)");
    /// ```
    CollectionsLevel1Token = 1
);
root_token!(
    /// `ServerTokenDerivationLevel1Token`: the parent of the server-derived-from-data token.
    ServerTokenDerivationLevel1Token = 2
);
root_token!(
    /// `ServerDataEncryptionLevel1Token`: encrypts (AES-256-CTR) the user key id and the
    /// client-encrypted value inside indexed values.
    ServerDataEncryptionLevel1Token = 3
);

const_token!(
    /// `EDCToken` (encrypted data collection).
    EdcToken = CollectionsLevel1Token, 1
);
const_token!(
    /// `ESCToken` (encrypted state collection).
    EscToken = CollectionsLevel1Token, 2
);
const_token!(
    /// `ECCToken` (encrypted cache collection, protocol v1).
    EccToken = CollectionsLevel1Token, 3
);
const_token!(
    /// `ECOCToken` (encrypted compaction collection): encrypts the ESC token of an insert.
    EcocToken = CollectionsLevel1Token, 4
);

data_token!(
    /// `EDCDerivedFromDataToken`.
    EdcDerivedFromDataToken = EdcToken
);
data_token!(
    /// `ESCDerivedFromDataToken`.
    EscDerivedFromDataToken = EscToken
);
data_token!(
    /// `ECCDerivedFromDataToken`.
    EccDerivedFromDataToken = EccToken
);
data_token!(
    /// `ServerDerivedFromDataToken`.
    ServerDerivedFromDataToken = ServerTokenDerivationLevel1Token
);

contention_token!(
    /// `EDCDerivedFromDataTokenAndContentionFactor`.
    EdcDerivedFromDataTokenAndContentionFactor = EdcDerivedFromDataToken
);
contention_token!(
    /// `ESCDerivedFromDataTokenAndContentionFactor`.
    EscDerivedFromDataTokenAndContentionFactor = EscDerivedFromDataToken
);
contention_token!(
    /// `ECCDerivedFromDataTokenAndContentionFactor`.
    EccDerivedFromDataTokenAndContentionFactor = EccDerivedFromDataToken
);

const_token!(
    /// `EDCTwiceDerivedToken`.
    EdcTwiceDerivedToken = EdcDerivedFromDataTokenAndContentionFactor, 1
);
const_token!(
    /// `ESCTwiceDerivedTagToken`.
    EscTwiceDerivedTagToken = EscDerivedFromDataTokenAndContentionFactor, 1
);
const_token!(
    /// `ESCTwiceDerivedValueToken`.
    EscTwiceDerivedValueToken = EscDerivedFromDataTokenAndContentionFactor, 2
);
const_token!(
    /// `ServerCountAndContentionFactorEncryptionToken`.
    ServerCountAndContentionFactorEncryptionToken = ServerDerivedFromDataToken, 1
);
const_token!(
    /// `ServerZerosEncryptionToken`.
    ServerZerosEncryptionToken = ServerDerivedFromDataToken, 2
);

token_type!(
    /// `AnchorPaddingTokenRoot`: `HMAC-SHA-256(ESCToken, 17 zero bytes)` (compaction's
    /// anchor padding).
    AnchorPaddingTokenRoot
);

impl AnchorPaddingTokenRoot {
    /// `HMAC-SHA-256(ESCToken, [0; 17])`.
    pub fn derive(parent: &EscToken) -> Self {
        Self(hmac_sha256(&parent.0, &[&[0; 17]]))
    }
}

const_token!(
    /// `AnchorPaddingKeyToken`.
    AnchorPaddingKeyToken = AnchorPaddingTokenRoot, 1
);
const_token!(
    /// `AnchorPaddingValueToken`.
    AnchorPaddingValueToken = AnchorPaddingTokenRoot, 2
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qe::test_vectors::{hex, vector};

    fn check(file: &str) -> usize {
        let v = vector(file);
        let field = |name: &str| -> [u8; 32] { hex(v[name].as_str().unwrap()).try_into().unwrap() };
        let root = field("root");
        let value = hex(v["value"].as_str().unwrap());
        let cf = v["contentionFactor"].as_u64().unwrap();

        let level1 = CollectionsLevel1Token::from_root(&root);
        let server_level1 = ServerTokenDerivationLevel1Token::from_root(&root);
        let edc = EdcToken::derive(&level1);
        let esc = EscToken::derive(&level1);
        let ecc = EccToken::derive(&level1);
        let edc_data = EdcDerivedFromDataToken::derive(&edc, &value);
        let esc_data = EscDerivedFromDataToken::derive(&esc, &value);
        let ecc_data = EccDerivedFromDataToken::derive(&ecc, &value);
        let server_data = ServerDerivedFromDataToken::derive(&server_level1, &value);
        let edc_cf = EdcDerivedFromDataTokenAndContentionFactor::derive(&edc_data, cf);
        let esc_cf = EscDerivedFromDataTokenAndContentionFactor::derive(&esc_data, cf);
        let ecc_cf = EccDerivedFromDataTokenAndContentionFactor::derive(&ecc_data, cf);
        let anchor = AnchorPaddingTokenRoot::derive(&esc);

        let got: Vec<(&str, [u8; 32])> = vec![
            ("collectionsLevel1Token", *level1.as_bytes()),
            (
                "ServerTokenDerivationLevel1Token",
                *server_level1.as_bytes(),
            ),
            (
                "serverDataEncryptionLevel1Token",
                *ServerDataEncryptionLevel1Token::from_root(&root).as_bytes(),
            ),
            ("EDCToken", *edc.as_bytes()),
            ("ESCToken", *esc.as_bytes()),
            ("ECCToken", *ecc.as_bytes()),
            ("ECOCToken", *EcocToken::derive(&level1).as_bytes()),
            ("EDCDerivedFromDataToken", *edc_data.as_bytes()),
            ("ESCDerivedFromDataToken", *esc_data.as_bytes()),
            ("ECCDerivedFromDataToken", *ecc_data.as_bytes()),
            ("serverDerivedFromDataToken", *server_data.as_bytes()),
            (
                "EDCDerivedFromDataTokenAndContentionFactor",
                *edc_cf.as_bytes(),
            ),
            (
                "ESCDerivedFromDataTokenAndContentionFactor",
                *esc_cf.as_bytes(),
            ),
            (
                "ECCDerivedFromDataTokenAndContentionFactor",
                *ecc_cf.as_bytes(),
            ),
            (
                "EDCTwiceDerivedToken",
                *EdcTwiceDerivedToken::derive(&edc_cf).as_bytes(),
            ),
            (
                "ESCTwiceDerivedTagToken",
                *EscTwiceDerivedTagToken::derive(&esc_cf).as_bytes(),
            ),
            (
                "ESCTwiceDerivedValueToken",
                *EscTwiceDerivedValueToken::derive(&esc_cf).as_bytes(),
            ),
            (
                "serverCountAndContentionFactorEncryptionToken",
                *ServerCountAndContentionFactorEncryptionToken::derive(&server_data).as_bytes(),
            ),
            (
                "serverZerosEncryptionToken",
                *ServerZerosEncryptionToken::derive(&server_data).as_bytes(),
            ),
            ("AnchorPaddingTokenRoot", *anchor.as_bytes()),
            (
                "AnchorPaddingKeyToken",
                *AnchorPaddingKeyToken::derive(&anchor).as_bytes(),
            ),
            (
                "AnchorPaddingValueToken",
                *AnchorPaddingValueToken::derive(&anchor).as_bytes(),
            ),
        ];
        for (name, bytes) in &got {
            assert_eq!(bytes, &field(name), "{file}: {name}");
        }
        got.len()
    }

    #[test]
    fn qe_tokens_match_libmongocrypt_mc_json_vectors() {
        assert_eq!(check("tokens/mc.json"), 22);
    }

    #[test]
    fn qe_tokens_match_mongodb_server_json_vectors() {
        assert_eq!(check("tokens/server.json"), 22);
    }

    #[test]
    fn qe_tokens_of_a_data_key_use_its_last_32_bytes() {
        let material = hex(&vector_text(
            "keys/12345678123498761234123456789012-key-material.txt",
        ));
        let key = DataKey::from_bytes(bson::Uuid::from_bytes([1; 16]), &material).unwrap();
        let root: [u8; 32] = material[64..].try_into().unwrap();
        assert_eq!(
            CollectionsLevel1Token::from_data_key(&key).as_bytes(),
            CollectionsLevel1Token::from_root(&root).as_bytes()
        );
    }

    #[test]
    fn qe_token_debug_prints_no_bytes() {
        let token = EscToken::from_bytes([0xab; 32]);
        assert_eq!(format!("{token:?}"), "EscToken(..)");
    }

    use crate::qe::test_vectors::vector_text;
}
