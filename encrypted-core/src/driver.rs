//! The driver layer (feature `driver`, on by default): everything that talks to a
//! server. The key vault ([`ClientEncryption`]), its cache of unwrapped data keys
//! ([`KeyCache`]), KMS providers over HTTPS ([`kms::AwsKms`](crate::kms::AwsKms)) and the
//! typed collection ([`EncryptedCollection`]) sit here, on top of the sans-I/O core (the
//! FLE1 format, the cipher, key documents, local wrapping, model codecs) that the rest of
//! the crate is and that builds without `mongodb`, `tokio` or an HTTP client.

mod client_encryption;
mod encrypted_collection;
mod key_cache;
pub(crate) mod kms;
mod trace;

pub use client_encryption::{
    ClientEncryption, ClientEncryptionBuilder, CreateDataKey, MalformedKey, Namespace,
    RewrapManyDataKey, RewrapManyDataKeyResult, RewrapProgress,
};
pub use encrypted_collection::{
    EncryptedCollection, EncryptedCursor, EncryptedSessionCursor, EncryptedSessionCursorStream,
    action,
};
pub use key_cache::{DEFAULT_KEY_CACHE_TTL, KeyCache};
