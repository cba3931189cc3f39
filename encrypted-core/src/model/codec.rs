//! The codecs: rewrite a serialized model so that its encrypted fields become FLE1
//! ciphertexts, and back.
//!
//! Both directions work on raw BSON: the model is serialized once by `bson`, then one
//! pass copies every element and replaces the encrypted ones. The bytes that are
//! encrypted are exactly the bytes the value occupies in that document, which is what
//! libmongocrypt encrypts, so the result is what any CSFLE driver writes and reads.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bson::raw::{CStr, RawBinaryRef};
use bson::spec::{BinarySubtype, ElementType};
use bson::{RawBsonRef, RawDocument, RawDocumentBuf, Uuid};
use zeroize::Zeroizing;

use super::spec::{EncryptedFieldSpec, FieldKind, KeySource, ModelSpec};
use crate::{Ciphertext, DataKey, Error, KeyRef, Result, plaintext};

/// The data keys a rewrite may use, resolved (asynchronously) beforehand.
#[derive(Default)]
pub(crate) struct KeyRing {
    by_ref: HashMap<KeyRef, Arc<DataKey>>,
    by_id: HashMap<Uuid, Arc<DataKey>>,
}

impl KeyRing {
    pub(crate) fn insert(&mut self, key_ref: KeyRef, key: Arc<DataKey>) {
        self.by_id.insert(key.id(), Arc::clone(&key));
        self.by_ref.insert(key_ref, key);
    }

    fn for_ref(&self, key_ref: &KeyRef) -> Option<&DataKey> {
        self.by_ref.get(key_ref).map(Arc::as_ref)
    }

    fn for_id(&self, id: Uuid) -> Option<&DataKey> {
        self.by_id.get(&id).map(Arc::as_ref)
    }
}

/// What to do with a ciphertext whose data key is not available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MissingKeys {
    /// Fail, naming the field.
    Fail,
    /// Leave the ciphertext in place (a view whose field stays sealed).
    Seal,
}

/// A dotted field path, built only when an error needs it.
#[derive(Clone, Copy)]
pub(crate) struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    name: &'a str,
}

impl<'a> Path<'a> {
    pub(crate) const ROOT: Path<'static> = Path {
        parent: None,
        name: "",
    };

    fn child(&'a self, name: &'a str) -> Path<'a> {
        Path {
            parent: Some(self),
            name,
        }
    }

    fn render(&self, separator: char) -> String {
        let mut names = Vec::new();
        let mut current = Some(self);
        while let Some(path) = current {
            if path.parent.is_some() {
                names.push(path.name);
            }
            current = path.parent;
        }
        names.reverse();
        names.join(&separator.to_string())
    }

    pub(crate) fn dotted(&self) -> String {
        self.render('.')
    }

    /// The RFC 6901 JSON pointer of a sibling of this path (for per-document keys).
    fn sibling_pointer(&self, sibling: &str) -> String {
        let parent = self
            .parent
            .map(|parent| parent.render('/'))
            .unwrap_or_default();
        let escaped = sibling.replace('~', "~0").replace('/', "~1");
        if parent.is_empty() {
            format!("/{escaped}")
        } else {
            format!("/{parent}/{escaped}")
        }
    }
}

pub(crate) fn in_field(path: &Path<'_>, error: Error) -> Error {
    match error {
        // Already names its field.
        Error::Field { .. } | Error::SchemaMismatch { .. } | Error::UnencryptedField { .. } => {
            error
        }
        other => Error::Field {
            path: path.dotted(),
            source: Box::new(other),
        },
    }
}

fn malformed(_: bson::error::Error) -> Error {
    Error::MalformedCiphertext {
        reason: "the document holding it is not valid BSON",
    }
}

/// The key reference of a field, given the default key inherited from its models.
fn key_ref(source: Option<KeySource>, siblings: &RawDocument, path: &Path<'_>) -> Result<KeyRef> {
    match source {
        Some(KeySource::Id(bytes)) => Ok(KeyRef::Id(Uuid::from_bytes(bytes))),
        Some(KeySource::AltName(name)) => Ok(KeyRef::AltName(name.to_owned())),
        Some(KeySource::AltNameField(field)) => match siblings.get(field) {
            Ok(Some(RawBsonRef::String(name))) => Ok(KeyRef::AltName(name.to_owned())),
            _ => Err(Error::Field {
                path: path.dotted(),
                source: Box::new(Error::KeyNotFound {
                    key: format!(
                        "named by field `{}` (it must be a string in the same document)",
                        path.sibling_pointer(field)
                    ),
                }),
            }),
        },
        None => Err(Error::Field {
            path: path.dotted(),
            source: Box::new(Error::KeyNotFound {
                key: "configured for this field (the model has no default key)".to_owned(),
            }),
        }),
    }
}

/// Collects the keys that encrypting `document` needs.
pub(crate) fn keys_to_encrypt(
    spec: &ModelSpec,
    document: &RawDocument,
    inherited: Option<KeySource>,
    path: &Path<'_>,
    keys: &mut HashSet<KeyRef>,
) -> Result<()> {
    let default_key = spec.key.or(inherited);
    for element in document {
        let (name, value) = element.map_err(malformed)?;
        let Some(field) = spec.field(name.as_str()) else {
            continue;
        };
        let path = path.child(name.as_str());
        match (field.kind, value) {
            (_, RawBsonRef::Null) => {}
            (FieldKind::Encrypted(encrypted), _) => {
                keys.insert(key_ref(encrypted.key.or(default_key), document, &path)?);
            }
            (FieldKind::Nested { model, .. }, RawBsonRef::Document(nested)) => {
                keys_to_encrypt(model, nested, default_key, &path, keys)?;
            }
            (FieldKind::Nested { .. }, _) => {}
        }
    }
    Ok(())
}

/// Rewrites a serialized model: every encrypted field becomes its ciphertext.
pub(crate) fn encrypt_document(
    spec: &ModelSpec,
    document: &RawDocument,
    inherited: Option<KeySource>,
    keys: &KeyRing,
    path: &Path<'_>,
) -> Result<RawDocumentBuf> {
    let default_key = spec.key.or(inherited);
    let mut out = RawDocumentBuf::new();
    for element in document {
        let (name, value) = element.map_err(malformed)?;
        let Some(field) = spec.field(name.as_str()) else {
            out.append(name, value);
            continue;
        };
        let path = path.child(name.as_str());
        match field.kind {
            FieldKind::Encrypted(encrypted) => {
                if value == RawBsonRef::Null && encrypted.optional {
                    // `None` is stored as an absent field: nothing to encrypt, nothing
                    // that tells a plaintext null from an encrypted value.
                    continue;
                }
                let key_ref = key_ref(encrypted.key.or(default_key), document, &path)?;
                let key = keys.for_ref(&key_ref).ok_or_else(|| {
                    in_field(
                        &path,
                        Error::KeyNotFound {
                            key: key_ref_name(&key_ref),
                        },
                    )
                })?;
                let ciphertext = encrypt_value(key, &encrypted, value, &path)?;
                out.append(
                    name,
                    RawBinaryRef {
                        subtype: BinarySubtype::Encrypted,
                        bytes: ciphertext.as_bytes(),
                    },
                );
            }
            FieldKind::Nested { model, optional } => match value {
                RawBsonRef::Document(nested) => {
                    let nested = encrypt_document(model, nested, default_key, keys, &path)?;
                    out.append(name, &nested);
                }
                RawBsonRef::Null if optional => {}
                other => {
                    return Err(Error::SchemaMismatch {
                        path: path.dotted(),
                        expected: "object",
                        found: plaintext::type_name(other.element_type()),
                    });
                }
            },
        }
    }
    Ok(out)
}

fn key_ref_name(key_ref: &KeyRef) -> String {
    match key_ref {
        KeyRef::Id(id) => id.to_string(),
        KeyRef::AltName(name) => format!("alt name `{name}`"),
    }
}

fn encrypt_value(
    key: &DataKey,
    field: &EncryptedFieldSpec,
    value: RawBsonRef<'_>,
    path: &Path<'_>,
) -> Result<Ciphertext> {
    let found = value.element_type();
    if let RawBsonRef::Binary(binary) = value
        && binary.subtype == BinarySubtype::Encrypted
    {
        return Err(in_field(path, Error::AlreadyEncrypted));
    }
    if found != field.bson_type {
        return Err(Error::SchemaMismatch {
            path: path.dotted(),
            expected: plaintext::type_name(field.bson_type),
            found: plaintext::type_name(found),
        });
    }
    let result = match value {
        RawBsonRef::Document(document) => {
            key.encrypt_value_bytes(found, document.as_bytes(), field.algorithm)
        }
        RawBsonRef::Array(array) => {
            key.encrypt_value_bytes(found, array.as_bytes(), field.algorithm)
        }
        other => {
            let bytes = value_bytes(other);
            key.encrypt_value_bytes(found, &bytes, field.algorithm)
        }
    };
    result.map_err(|error| in_field(path, error))
}

/// The bytes a scalar value occupies inside a document.
fn value_bytes(value: RawBsonRef<'_>) -> Zeroizing<Vec<u8>> {
    match value {
        RawBsonRef::Int32(int) => Zeroizing::new(int.to_le_bytes().to_vec()),
        RawBsonRef::Int64(int) => Zeroizing::new(int.to_le_bytes().to_vec()),
        RawBsonRef::String(string) => {
            let mut bytes = Vec::with_capacity(string.len() + 5);
            // A BSON string's length counts its NUL; a document's strings fit in i32.
            let length = u32::try_from(string.len() + 1).unwrap_or(u32::MAX);
            bytes.extend_from_slice(&length.to_le_bytes());
            bytes.extend_from_slice(string.as_bytes());
            bytes.push(0);
            Zeroizing::new(bytes)
        }
        other => {
            let mut wrapper = RawDocumentBuf::new();
            wrapper.append(VALUE_KEY, other);
            let bytes = Zeroizing::new(wrapper.into_bytes());
            // `{"v": value}`: length (4), type (1), "v\0" (2), value, NUL.
            let end = bytes.len().saturating_sub(1);
            Zeroizing::new(bytes.get(VALUE_OFFSET..end).unwrap_or_default().to_vec())
        }
    }
}

const VALUE_KEY: &CStr = bson::raw::cstr!("v");
const VALUE_OFFSET: usize = 7;

/// Collects the ids of the data keys of the ciphertexts in `document`'s encrypted fields.
pub(crate) fn keys_to_decrypt(
    spec: &ModelSpec,
    document: &RawDocument,
    keys: &mut HashSet<Uuid>,
) -> Result<()> {
    for element in document {
        let (name, value) = element.map_err(malformed)?;
        let Some(field) = spec.field(name.as_str()) else {
            continue;
        };
        match (field.kind, value) {
            (FieldKind::Encrypted(_), RawBsonRef::Binary(binary))
                if binary.subtype == BinarySubtype::Encrypted =>
            {
                if let Some(id) = binary.bytes.get(1..17)
                    && let Ok(id) = <[u8; 16]>::try_from(id)
                {
                    keys.insert(Uuid::from_bytes(id));
                }
            }
            (FieldKind::Nested { model, .. }, RawBsonRef::Document(nested)) => {
                keys_to_decrypt(model, nested, keys)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Rewrites a stored document: every encrypted field becomes its plaintext value.
///
/// A field the model encrypts that holds plaintext is an error: it was written by a
/// client without encryption, or replaced by someone with access to the database.
pub(crate) fn decrypt_document(
    spec: &ModelSpec,
    document: &RawDocument,
    keys: &KeyRing,
    missing: MissingKeys,
    path: &Path<'_>,
) -> Result<RawDocumentBuf> {
    let mut out = RawDocumentBuf::new();
    for element in document {
        let (name, value) = element.map_err(malformed)?;
        let Some(field) = spec.field(name.as_str()) else {
            out.append(name, value);
            continue;
        };
        let path = path.child(name.as_str());
        match (field.kind, value) {
            (FieldKind::Encrypted(_), RawBsonRef::Binary(binary))
                if binary.subtype == BinarySubtype::Encrypted =>
            {
                let ciphertext = Ciphertext::from_bytes(binary.bytes.to_vec())
                    .map_err(|error| in_field(&path, error))?;
                let Some(key) = keys.for_id(ciphertext.key_id()) else {
                    match missing {
                        MissingKeys::Seal => {
                            out.append(name, value);
                            continue;
                        }
                        MissingKeys::Fail => {
                            return Err(in_field(
                                &path,
                                Error::KeyNotFound {
                                    key: ciphertext.key_id().to_string(),
                                },
                            ));
                        }
                    }
                };
                let plaintext = key
                    .decrypt_value_bytes(&ciphertext)
                    .map_err(|error| in_field(&path, error))?;
                append_value(&mut out, name, ciphertext.original_type(), &plaintext)
                    .map_err(|error| in_field(&path, error))?;
            }
            (FieldKind::Encrypted(encrypted), RawBsonRef::Null) if encrypted.optional => {
                out.append(name, value);
            }
            (FieldKind::Encrypted(_), other) => {
                return Err(Error::UnencryptedField {
                    path: path.dotted(),
                    found: plaintext::type_name(other.element_type()),
                });
            }
            (FieldKind::Nested { model, .. }, RawBsonRef::Document(nested)) => {
                let nested = decrypt_document(model, nested, keys, missing, &path)?;
                out.append(name, &nested);
            }
            (FieldKind::Nested { .. }, other) => out.append(name, other),
        }
    }
    Ok(out)
}

/// Appends the element `name: value` where `value` is given as its type and bytes.
fn append_value(
    out: &mut RawDocumentBuf,
    name: &CStr,
    element_type: ElementType,
    value: &[u8],
) -> Result<()> {
    let total = VALUE_OFFSET + value.len() + 1;
    let length = i32::try_from(total).map_err(|_| Error::Decryption)?;
    let mut wrapper = Zeroizing::new(Vec::with_capacity(total));
    wrapper.extend_from_slice(&length.to_le_bytes());
    wrapper.push(element_type as u8);
    wrapper.extend_from_slice(b"v\0");
    wrapper.extend_from_slice(value);
    wrapper.push(0);
    let raw = RawDocument::from_bytes(&wrapper).map_err(|_| Error::Decryption)?;
    let mut elements = raw.iter();
    match (elements.next(), elements.next()) {
        (Some(Ok((_, decoded))), None) => {
            out.append(name, decoded);
            Ok(())
        }
        // Authenticated bytes that are not one value of their type: not a correct writer.
        _ => Err(Error::Decryption),
    }
}

#[cfg(test)]
mod tests;
