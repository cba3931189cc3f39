//! The runtime of [`encrypted`](https://docs.rs/encrypted): MongoDB client-side field
//! level encryption (CSFLE) done natively in Rust, byte for byte as libmongocrypt does it.
//!
//! ```
//! use bson::Bson;
//! use encrypted_core::{Algorithm, Ciphertext, DataKey, KeyDocument, LocalMasterKey, MasterKey};
//!
//! // A data key, wrapped by a local master key into a key vault document.
//! let master_key = LocalMasterKey::generate()?;
//! let data_key = DataKey::generate(bson::Uuid::new())?;
//! let key_document = KeyDocument::new(data_key.id(), master_key.wrap(&data_key)?, MasterKey::local())
//!     .with_key_alt_names(["medco-key"]);
//!
//! // Encrypt a field value: a BSON binary of subtype 6 that any CSFLE driver can read.
//! let ssn = data_key.encrypt(&Bson::Int32(123_456_789), Algorithm::Deterministic)?;
//! let stored: Bson = ssn.into();
//!
//! // Read it back: unwrap the key from its document, then decrypt.
//! let key = master_key.unwrap(key_document.id, &key_document.key_material)?;
//! let ciphertext = Ciphertext::from_bson(&stored)?;
//! assert_eq!(key.decrypt(&ciphertext)?, Bson::Int32(123_456_789));
//! # Ok::<(), encrypted_core::Error>(())
//! ```
//!
//! # What is stored
//!
//! Each encrypted value is a BSON binary of subtype 6 ("FLE1"): one byte for the
//! algorithm, the 16-byte UUID of the data key, the BSON type of the value, then the
//! AEAD_AES_256_CBC_HMAC_SHA_512 ciphertext of the value's BSON bytes (see
//! [`Ciphertext`]). The key id, the algorithm, the value's BSON type and its approximate
//! length (rounded up to 16 bytes) are visible to anyone who sees the ciphertext; the value
//! is not.
//!
//! # Security model
//!
//! - **Deterministic** encryption derives the IV from the key and the value, so equal
//!   values give equal ciphertexts. The server can match them (that is what makes
//!   equality queries work) and so can anyone who sees the data: it reveals which
//!   documents share a value, and the frequency of each. Use it only for fields of high
//!   cardinality that must be queried. The spec forbids it for doubles, decimals,
//!   booleans, documents, arrays and code with scope.
//! - **Random** encryption uses a fresh IV from the operating system's CSPRNG for every
//!   value: equal values are unlinkable; the field cannot be queried.
//! - Every ciphertext is authenticated (HMAC-SHA-512 over the header, IV and ciphertext,
//!   checked in constant time before anything is decrypted). A tampered, truncated or
//!   foreign ciphertext is [`Error::Decryption`], one opaque error with no padding oracle.
//! - Key bytes ([`DataKey`], [`LocalMasterKey`]) and the state derived from them are
//!   zeroized on drop, never printed and never cloned implicitly. Decrypted plaintext
//!   buffers are zeroized once decoded. Error messages never contain plaintext or key bytes.
//! - The server, a DBA, backups and the network see ciphertexts, key ids and the wrapped
//!   `keyMaterial` of the key vault; without the master key that is all they see.

#![forbid(unsafe_code)]
// Without the driver layer, the docs' links to it (`EncryptedCollection`, …) are plain text.
#![cfg_attr(not(feature = "driver"), allow(rustdoc::broken_intra_doc_links))]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod algorithm;
mod ciphertext;
mod crypto;
mod data_key;
#[cfg(feature = "driver")]
mod driver;
mod error;
mod key_document;
mod key_ref;
pub mod kms;
mod local_master_key;
mod master_key;
// Some model helpers serve only `EncryptedCollection` (the driver layer): the key lists
// it loads before encoding, `distinct` values, raw-update checks.
#[cfg_attr(not(feature = "driver"), allow(dead_code, unused_imports))]
pub mod model;
mod plaintext;
pub mod qe;

pub use algorithm::{Algorithm, UnknownAlgorithm};
pub use ciphertext::Ciphertext;
pub use data_key::DataKey;
#[cfg(feature = "driver")]
pub use driver::{
    ClientEncryption, ClientEncryptionBuilder, CreateDataKey, DEFAULT_KEY_CACHE_TTL,
    EncryptedChangeStream, EncryptedCollection, EncryptedCursor, EncryptedSessionChangeStream,
    EncryptedSessionCursor, EncryptedSessionCursorStream, KeyCache, MalformedKey, Namespace,
    RewrapManyDataKey, RewrapManyDataKeyResult, RewrapProgress, action,
};
pub use error::{Error, RandomnessError, Result};
pub use key_document::KeyDocument;
pub use key_ref::KeyRef;
pub use local_master_key::{
    LocalMasterKey, LocalMasterKeyFileOptions, LocalMasterKeyFormat, MasterKeyFileProblem,
};
pub use master_key::MasterKey;
pub use plaintext::allowed_deterministic;

pub use bson;
/// The `mongodb` driver this crate is built on (feature `driver`): name its types through
/// this re-export to use the same version.
#[cfg(feature = "driver")]
pub use mongodb;
/// The `zeroize` crate of [`Zeroizing`](zeroize::Zeroizing), which
/// [`LocalMasterKey::generate_bytes`] returns: re-exported so that you name the version
/// this crate uses.
pub use zeroize;

/// Used by the code `#[derive(Encrypted)]` generates; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use serde;

    /// Asks at compile time whether `T` is a model (`impls`' inherent-const technique:
    /// the inherent constant exists only when `T: Encrypted`, and wins over the trait's).
    pub struct Probe<T: ?Sized>(core::marker::PhantomData<T>);

    /// The answer for types that are not models.
    pub trait NotAModel {
        /// `false`: not a model.
        const IS_MODEL: bool = false;
    }

    impl<T: ?Sized> NotAModel for Probe<T> {}

    impl<T: crate::model::Encrypted> Probe<T> {
        /// `true`: a model.
        pub const IS_MODEL: bool = true;
    }
}

/// Entry points of the fuzz targets (`fuzz/`) into parsers that are not public; not a
/// public API.
#[doc(hidden)]
pub mod __fuzz {
    use crate::model::{Encrypted, Keys, MissingKeys, Path};

    /// What [`EncryptedCollection::decode_view`](crate::EncryptedCollection::decode_view)
    /// does with a stored document, given the keys instead of a key vault.
    ///
    /// # Errors
    ///
    /// As `decode_view`.
    pub fn decode_view<T: Encrypted>(stored: &[u8], keys: &Keys) -> crate::Result<T::View> {
        let mut ids = std::collections::HashSet::new();
        crate::model::keys_to_decrypt(T::SPEC, stored, &Path::ROOT, &mut ids)?;
        let plain =
            crate::model::decrypt_document(T::SPEC, stored, keys, MissingKeys::Seal, &Path::ROOT)?;
        crate::model::deserialize_decrypted(T::SPEC, &plain)
    }

    #[cfg(feature = "driver")]
    /// An AWS KMS reply (`status`, `body`) as the Encrypt and the Decrypt calls read it:
    /// their `CiphertextBlob` and `Plaintext`.
    pub fn aws_kms_reply(
        status: u16,
        body: &[u8],
    ) -> [crate::Result<zeroize::Zeroizing<Vec<u8>>>; 2] {
        use crate::driver::kms::aws::{Answer, parse_reply};
        [
            ("TrentService.Encrypt", Answer::CiphertextBlob),
            ("TrentService.Decrypt", Answer::Plaintext),
        ]
        .map(|(target, answer)| {
            parse_reply(status, body, target, answer)
                .map_err(|failure| failure.into_error("aws", status))
        })
    }
}
