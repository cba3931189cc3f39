//! Naming a data key.

use bson::Uuid;

/// A data key, by id or by alternate name.
///
/// ```
/// use encrypted_core::KeyRef;
///
/// let by_name = KeyRef::from("medco-key");
/// assert_eq!(by_name, KeyRef::AltName("medco-key".to_owned()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyRef {
    /// The key's `_id`.
    Id(Uuid),
    /// One of the key's `keyAltNames`.
    AltName(String),
}

impl From<Uuid> for KeyRef {
    fn from(id: Uuid) -> Self {
        Self::Id(id)
    }
}

impl From<&str> for KeyRef {
    fn from(name: &str) -> Self {
        Self::AltName(name.to_owned())
    }
}

impl From<String> for KeyRef {
    fn from(name: String) -> Self {
        Self::AltName(name)
    }
}
