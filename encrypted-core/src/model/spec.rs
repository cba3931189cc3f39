//! The compile-time description of a model: which fields are encrypted, how, with
//! which key. `#[derive(Encrypted)]` writes one as a `const`; the schema, the codecs and
//! the typed paths all read it.
//!
//! These types are written by generated code only: they are `#[doc(hidden)]` and not
//! part of the stable API (their fields may change in any release), so that the
//! derive and the runtime can evolve together. Applications pass `Model::SPEC` along
//! (to [`json_schema`](super::json_schema), say) without looking inside.

use bson::spec::ElementType;

use crate::Algorithm;

/// What `#[derive(Encrypted)]` knows about a struct.
///
/// Built at compile time by the derive; read by [`json_schema`](super::json_schema), the codecs
/// and [`EncryptedCollection`](crate::EncryptedCollection).
///
/// Used by the code `#[derive(Encrypted)]` generates; not part of the stable API: it
/// may change in any release (semver-exempt), which is why it is hidden from the docs.
///
/// ```
/// use encrypted_core::model::{KeySource, ModelSpec};
///
/// const EMPTY: ModelSpec = ModelSpec {
///     name: "Empty",
///     key: Some(KeySource::AltName("medco-key")),
///     inherits_key: false,
///     fields: &[],
/// };
/// assert!(!EMPTY.has_encrypted_fields());
/// ```
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSpec {
    /// The Rust name of the struct (for messages).
    pub name: &'static str,
    /// The default key of the struct's encrypted fields (`#[encrypted(key_alt_name = ..)]`
    /// or `key_id`), written as the schema's `encryptMetadata`.
    pub key: Option<KeySource>,
    /// `#[encrypted(inherit_key)]`: the struct has fields without a key of their own and
    /// is only usable nested inside a model that provides one.
    pub inherits_key: bool,
    /// The fields that are encrypted or hold a nested model, in declaration order.
    pub fields: &'static [FieldSpec],
}

/// One field of a [`ModelSpec`].
///
/// Used by the code `#[derive(Encrypted)]` generates; not part of the stable API: it
/// may change in any release (semver-exempt), which is why it is hidden from the docs.
///
/// ```
/// use encrypted_core::Algorithm;
/// use encrypted_core::bson::spec::ElementType;
/// use encrypted_core::model::{EncryptedFieldSpec, FieldKind, FieldSpec};
///
/// let ssn = FieldSpec {
///     name: "ssn",
///     kind: FieldKind::Encrypted(EncryptedFieldSpec {
///         algorithm: Algorithm::Deterministic,
///         bson_type: ElementType::Int32,
///         key: None,
///         optional: false,
///     }),
/// };
/// assert_eq!(ssn.name, "ssn");
/// ```
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// The field's name as stored (after serde's `rename` / `rename_all`).
    pub name: &'static str,
    /// Encrypted, or a nested model.
    pub kind: FieldKind,
}

/// Whether a field is encrypted itself or holds a model with encrypted fields.
///
/// Used by the code `#[derive(Encrypted)]` generates; not part of the stable API: it
/// may change in any release (semver-exempt), which is why it is hidden from the docs.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldKind {
    /// `#[encrypt(deterministic)]` or `#[encrypt(random)]`.
    Encrypted(EncryptedFieldSpec),
    /// `#[encrypt(nested)]`: the field holds another `#[derive(Encrypted)]` struct (or an
    /// `Option` of one) whose own encrypted fields are encrypted in place.
    Nested {
        /// The nested model.
        model: &'static ModelSpec,
        /// The field is an `Option`: `None` is stored as an absent field.
        optional: bool,
    },
}

/// How one field is encrypted.
///
/// Used by the code `#[derive(Encrypted)]` generates; not part of the stable API: it
/// may change in any release (semver-exempt), which is why it is hidden from the docs.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptedFieldSpec {
    /// Deterministic or random.
    pub algorithm: Algorithm,
    /// The BSON type the field's Rust type serializes to (checked on every write).
    pub bson_type: ElementType,
    /// The field's own key, if it overrides the model's.
    pub key: Option<KeySource>,
    /// The field is an `Option`: `None` is stored as an absent field, never as an
    /// encrypted or plaintext null.
    pub optional: bool,
}

/// Where the data key of a field comes from.
///
/// Used by the code `#[derive(Encrypted)]` generates; not part of the stable API: it
/// may change in any release (semver-exempt), which is why it is hidden from the docs.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeySource {
    /// A data key named by its UUID (`key_id = "..."`).
    Id([u8; 16]),
    /// A data key named by one of its alternate names (`key_alt_name = "..."`).
    AltName(&'static str),
    /// Per-document keys: the key's alternate name is the value of another, plaintext,
    /// string field of the same document (`key_alt_name_field = "..."`): the spec's JSON
    /// pointer `keyId`. Random encryption only. Deleting that key shreds the document.
    AltNameField(&'static str),
}

impl ModelSpec {
    /// Whether the model, or a model nested in it, has an encrypted field.
    pub const fn has_encrypted_fields(&self) -> bool {
        let mut rest = self.fields;
        while let [field, tail @ ..] = rest {
            match field.kind {
                FieldKind::Encrypted(_) => return true,
                FieldKind::Nested { model, .. } => {
                    if model.has_encrypted_fields() {
                        return true;
                    }
                }
            }
            rest = tail;
        }
        false
    }

    /// Whether some encrypted field, here or in a nested model, has no key of its own and
    /// no default key on its way up to this model.
    pub const fn needs_key(&self) -> bool {
        if self.key.is_some() {
            return false;
        }
        let mut rest = self.fields;
        while let [field, tail @ ..] = rest {
            match field.kind {
                FieldKind::Encrypted(field) => {
                    if field.key.is_none() {
                        return true;
                    }
                }
                FieldKind::Nested { model, .. } => {
                    if model.needs_key() {
                        return true;
                    }
                }
            }
            rest = tail;
        }
        false
    }

    /// A filter on name lengths: a name whose length (mod 64) has no bit here is not a
    /// field of this spec. Codecs compute it once per document and skip the search for
    /// most plaintext fields.
    pub(crate) const fn name_length_mask(&self) -> u64 {
        let mut mask = 0;
        let mut rest = self.fields;
        while let [field, tail @ ..] = rest {
            mask |= 1 << (field.name.len() % 64);
            rest = tail;
        }
        mask
    }

    /// The field stored under `name`, if it is encrypted or nested, given this spec's
    /// [`name_length_mask`](Self::name_length_mask).
    pub(crate) fn field_masked(&self, mask: u64, name: &str) -> Option<&'static FieldSpec> {
        if mask & (1 << (name.len() % 64)) == 0 {
            return None;
        }
        self.field(name)
    }

    /// The field stored under `name`, if it is encrypted or nested.
    pub fn field(&self, name: &str) -> Option<&'static FieldSpec> {
        self.fields.iter().find(|field| field.name == name)
    }
}

/// What a dotted path names in a model.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lookup {
    /// A plaintext field (or one the model does not know).
    Plain,
    /// An encrypted field, with the key it is encrypted with.
    Encrypted(EncryptedFieldSpec, Option<KeySource>),
    /// A path inside an encrypted field's value (`bloodType.x`, `medicalRecords.0`): part
    /// of a ciphertext, which no query or update can reach.
    InsideEncrypted,
    /// A nested model, with the default key it inherits.
    Nested(&'static ModelSpec, Option<KeySource>),
}

impl ModelSpec {
    /// What `path` (`insurance.policyNumber`) names.
    pub(crate) fn lookup(&self, path: &str) -> Lookup {
        let mut model = self;
        let mut default_key = self.key;
        let mut segments = path.split('.').peekable();
        while let Some(segment) = segments.next() {
            let Some(field) = model.field(segment) else {
                return Lookup::Plain;
            };
            match field.kind {
                FieldKind::Encrypted(_) if segments.peek().is_some() => {
                    // A path inside an encrypted value names part of the ciphertext: the
                    // whole field is what the server sees.
                    return Lookup::InsideEncrypted;
                }
                FieldKind::Encrypted(encrypted) => {
                    return Lookup::Encrypted(encrypted, encrypted.key.or(default_key));
                }
                FieldKind::Nested { model: nested, .. } => {
                    default_key = nested.key.or(default_key);
                    model = nested;
                    if segments.peek().is_none() {
                        return Lookup::Nested(nested, default_key);
                    }
                }
            }
        }
        Lookup::Plain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSURANCE: ModelSpec = ModelSpec {
        name: "Insurance",
        key: None,
        inherits_key: true,
        fields: &[FieldSpec {
            name: "policyNumber",
            kind: FieldKind::Encrypted(EncryptedFieldSpec {
                algorithm: Algorithm::Deterministic,
                bson_type: ElementType::Int32,
                key: None,
                optional: false,
            }),
        }],
    };

    const PATIENT: ModelSpec = ModelSpec {
        name: "Patient",
        key: Some(KeySource::AltName("medco-key")),
        inherits_key: false,
        fields: &[FieldSpec {
            name: "insurance",
            kind: FieldKind::Nested {
                model: &INSURANCE,
                optional: false,
            },
        }],
    };

    #[test]
    fn a_key_on_the_way_up_satisfies_nested_fields() {
        assert!(INSURANCE.needs_key());
        assert!(!PATIENT.needs_key());
        assert!(PATIENT.has_encrypted_fields());
        assert!(PATIENT.field("insurance").is_some());
        assert!(PATIENT.field("name").is_none());
    }

    #[test]
    fn lookup_follows_nested_models_and_their_inherited_key() {
        assert!(matches!(
            PATIENT.lookup("insurance.policyNumber"),
            Lookup::Encrypted(_, Some(KeySource::AltName("medco-key")))
        ));
        assert!(matches!(PATIENT.lookup("insurance"), Lookup::Nested(..)));
        assert!(matches!(
            PATIENT.lookup("insurance.provider"),
            Lookup::Plain
        ));
        assert!(matches!(PATIENT.lookup("name"), Lookup::Plain));
        assert!(matches!(
            PATIENT.lookup("insurance.policyNumber.x"),
            Lookup::InsideEncrypted
        ));
    }
}
