//! The value of an encrypted field in a model's view: revealed when the reader holds
//! its data key, sealed (and printed as redacted) when it does not.

use std::fmt;

use bson::spec::BinarySubtype;
use bson::{Bson, Uuid};
use serde::de::{Deserialize, DeserializeOwned, Deserializer, Error as _};

use crate::{Algorithm, Ciphertext};

/// An encrypted field as a reader sees it: its value when the reader could decrypt it,
/// otherwise the sealed ciphertext, which prints as `<sealed>`.
///
/// A receptionist's handle (no key access) reads `Patient`'s view with every encrypted
/// field sealed; a doctor whose per-document key was deleted (shredded) sees that
/// document's fields sealed and every other document revealed.
///
/// ```
/// use encrypted_core::model::Protected;
///
/// let revealed: Protected<i32> = Protected::Revealed(241014209);
/// assert_eq!(revealed.revealed(), Some(&241014209));
/// assert_eq!(format!("{revealed:?}"), "241014209");
/// ```
pub enum Protected<T> {
    /// The decrypted value.
    Revealed(T),
    /// The ciphertext, whose data key the reader does not have.
    Sealed(Sealed),
}

/// A ciphertext left sealed: what anyone can see of it is its algorithm, the id of its
/// data key and the BSON type of the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    ciphertext: Ciphertext,
}

impl Sealed {
    /// The id of the data key that would decrypt it.
    pub fn key_id(&self) -> Uuid {
        self.ciphertext.key_id()
    }

    /// Deterministic or random.
    pub fn algorithm(&self) -> Algorithm {
        self.ciphertext.algorithm()
    }

    /// The ciphertext itself (to store it elsewhere, or decrypt it explicitly later).
    pub fn ciphertext(&self) -> &Ciphertext {
        &self.ciphertext
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<sealed>")
    }
}

impl fmt::Display for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<sealed>")
    }
}

impl<T> Protected<T> {
    /// The value, if it was revealed.
    pub fn revealed(&self) -> Option<&T> {
        match self {
            Self::Revealed(value) => Some(value),
            Self::Sealed(_) => None,
        }
    }

    /// The value, if it was revealed.
    pub fn into_revealed(self) -> Option<T> {
        match self {
            Self::Revealed(value) => Some(value),
            Self::Sealed(_) => None,
        }
    }

    /// Whether the value stayed sealed.
    pub fn is_sealed(&self) -> bool {
        matches!(self, Self::Sealed(_))
    }
}

impl<T: fmt::Debug> fmt::Debug for Protected<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Revealed(value) => value.fmt(f),
            Self::Sealed(sealed) => sealed.fmt(f),
        }
    }
}

impl<T: fmt::Display> fmt::Display for Protected<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Revealed(value) => value.fmt(f),
            Self::Sealed(sealed) => fmt::Display::fmt(sealed, f),
        }
    }
}

impl<T: Clone> Clone for Protected<T> {
    fn clone(&self) -> Self {
        match self {
            Self::Revealed(value) => Self::Revealed(value.clone()),
            Self::Sealed(sealed) => Self::Sealed(sealed.clone()),
        }
    }
}

impl<T: PartialEq> PartialEq for Protected<T> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Revealed(a), Self::Revealed(b)) => a == b,
            (Self::Sealed(a), Self::Sealed(b)) => a == b,
            _ => false,
        }
    }
}

impl<T: Default> Default for Protected<T> {
    fn default() -> Self {
        Self::Revealed(T::default())
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Protected<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Bson::deserialize(deserializer)? {
            Bson::Binary(binary) if binary.subtype == BinarySubtype::Encrypted => {
                let ciphertext = Ciphertext::from_bytes(binary.bytes).map_err(D::Error::custom)?;
                Ok(Self::Sealed(Sealed { ciphertext }))
            }
            plain => bson::deserialize_from_bson(plain)
                .map(Self::Revealed)
                // The reason could quote the value: withhold it.
                .map_err(|_| D::Error::custom("an encrypted field's value has the wrong type")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DataKey;

    #[test]
    fn sealed_values_print_redacted_and_revealed_ones_print_their_value() {
        let key = DataKey::generate(Uuid::new()).unwrap();
        let ciphertext = key
            .encrypt(&Bson::Int32(123142), Algorithm::Deterministic)
            .unwrap();
        let stored = bson::doc! { "v": Bson::from(ciphertext) };
        #[derive(serde::Deserialize)]
        struct View {
            v: Protected<i32>,
        }
        let view: View = bson::deserialize_from_document(stored).unwrap();
        assert!(view.v.is_sealed());
        assert_eq!(format!("{:?}", view.v), "<sealed>");
        assert_eq!(format!("{}", view.v), "<sealed>");
        assert!(!format!("{:?}", view.v).contains("123142"));
        let View { v } = bson::deserialize_from_document(bson::doc! { "v": 7 }).unwrap();
        assert_eq!(v.into_revealed(), Some(7));
    }
}
