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

impl KeyRef {
    /// The key as error messages name it: its id, or ``alt name `name` ``.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Id(id) => id.to_string(),
            Self::AltName(name) => format!("alt name `{name}`"),
        }
    }
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
