//! The codecs: rewrite a serialized model so that its encrypted fields become FLE1
//! ciphertexts, and back.
//!
//! Both directions work on raw BSON: the model is serialized once by `bson`, then one
//! pass copies every element it does not touch as one slice and replaces the encrypted
//! ones. The bytes that are encrypted are exactly the bytes the value occupies in that
//! document, which is what libmongocrypt encrypts, so the result is what any CSFLE driver
//! writes and reads.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bson::Uuid;
use bson::spec::ElementType;
use zeroize::Zeroizing;

use super::raw::{self, Element};
use super::spec::{EncryptedFieldSpec, FieldKind, KeySource, ModelSpec};
use crate::crypto::random::Ivs;
use crate::{DataKey, Error, KeyRef, Result, ciphertext, plaintext};

/// The data keys the codecs may use, each under the name a model gives it (its id or an
/// alternate name). [`EncryptedCollection`](crate::EncryptedCollection) fills one from the
/// key vault for each operation; [`encode`](super::encode) and [`decode`](super::decode)
/// take one directly, for work without a key vault.
///
/// ```
/// use std::sync::Arc;
/// use encrypted_core::{DataKey, KeyRef, model::Keys};
///
/// let key = Arc::new(DataKey::generate(encrypted_core::bson::Uuid::new())?);
/// let keys = Keys::new().with(KeyRef::AltName("medco-key".into()), key);
/// # let _ = keys;
/// # Ok::<(), encrypted_core::Error>(())
/// ```
#[derive(Default, Clone)]
pub struct Keys {
    by_id: HashMap<Uuid, Arc<DataKey>>,
    by_alt_name: HashMap<String, Arc<DataKey>>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("ids", &self.by_id.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Keys {
    /// No keys.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key` under `key_ref` (and under its id, for decryption).
    #[must_use]
    pub fn with(mut self, key_ref: KeyRef, key: Arc<DataKey>) -> Self {
        self.insert(key_ref, key);
        self
    }

    /// Adds `key` under `key_ref` (and under its id, for decryption).
    pub fn insert(&mut self, key_ref: KeyRef, key: Arc<DataKey>) {
        if let KeyRef::AltName(name) = key_ref {
            self.by_alt_name.insert(name, Arc::clone(&key));
        }
        self.by_id.insert(key.id(), key);
    }

    /// The key added under `key_ref`.
    pub(crate) fn get(&self, key_ref: &KeyRef) -> Option<&DataKey> {
        match key_ref {
            KeyRef::Id(id) => self.for_id(*id),
            KeyRef::AltName(name) => self.for_alt_name(name),
        }
    }

    fn for_id(&self, id: Uuid) -> Option<&DataKey> {
        self.by_id.get(&id).map(Arc::as_ref)
    }

    fn for_alt_name(&self, name: &str) -> Option<&DataKey> {
        self.by_alt_name.get(name).map(Arc::as_ref)
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

/// The name of the data key of a field (an alternate name is borrowed from the spec or
/// from the document), given the default key inherited from its models.
enum KeyName<'a> {
    Id(Uuid),
    AltName(&'a str),
}

impl KeyName<'_> {
    fn to_key_ref(&self) -> KeyRef {
        match self {
            Self::Id(id) => KeyRef::Id(*id),
            Self::AltName(name) => KeyRef::AltName((*name).to_owned()),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Id(id) => id.to_string(),
            Self::AltName(name) => format!("alt name `{name}`"),
        }
    }
}

fn key_name<'a>(
    source: Option<KeySource>,
    siblings: &'a [u8],
    path: &Path<'_>,
) -> Result<KeyName<'a>> {
    match source {
        Some(KeySource::Id(bytes)) => Ok(KeyName::Id(Uuid::from_bytes(bytes))),
        Some(KeySource::AltName(name)) => Ok(KeyName::AltName(name)),
        Some(KeySource::AltNameField(field)) => {
            let name = raw::find(siblings, field)?.and_then(|element| string_value(&element));
            name.map(KeyName::AltName).ok_or_else(|| Error::Field {
                path: path.dotted(),
                source: Box::new(Error::KeyNotFound {
                    key: format!(
                        "named by field `{}` (it must be a string in the same document)",
                        path.sibling_pointer(field)
                    ),
                }),
            })
        }
        None => Err(Error::Field {
            path: path.dotted(),
            source: Box::new(Error::KeyNotFound {
                key: "configured for this field (the model has no default key)".to_owned(),
            }),
        }),
    }
}

/// The text of a BSON string element.
fn string_value<'a>(element: &Element<'a>) -> Option<&'a str> {
    if element.element_type != 0x02 {
        return None;
    }
    let text = element.value.get(4..element.value.len().checked_sub(1)?)?;
    std::str::from_utf8(text).ok()
}

/// Collects the keys that encrypting `document` (serialized) needs.
pub(crate) fn keys_to_encrypt(
    spec: &ModelSpec,
    document: &[u8],
    inherited: Option<KeySource>,
    path: &Path<'_>,
    keys: &mut HashSet<KeyRef>,
) -> Result<()> {
    let default_key = spec.key.or(inherited);
    let mask = spec.name_length_mask();
    for element in raw::elements(document)? {
        let element = element?;
        let Some(field) = spec.field_masked(mask, element.key) else {
            continue;
        };
        let path = path.child(element.key);
        match field.kind {
            _ if element.element_type == raw::tag::NULL => {}
            FieldKind::Encrypted(encrypted) => {
                let name = key_name(encrypted.key.or(default_key), document, &path)?;
                keys.insert(name.to_key_ref());
            }
            FieldKind::Nested { model, .. } if element.is_document() => {
                keys_to_encrypt(model, element.value, default_key, &path, keys)?;
            }
            FieldKind::Nested { .. } => {}
        }
    }
    Ok(())
}

/// Rewrites a serialized model: every encrypted field becomes its ciphertext.
pub(crate) fn encrypt_document(
    spec: &ModelSpec,
    document: &[u8],
    inherited: Option<KeySource>,
    keys: &Keys,
    path: &Path<'_>,
) -> Result<Vec<u8>> {
    encrypt_nested(spec, document, inherited, keys, &mut Ivs::new(), path)
}

fn encrypt_nested(
    spec: &ModelSpec,
    document: &[u8],
    inherited: Option<KeySource>,
    keys: &Keys,
    ivs: &mut Ivs,
    path: &Path<'_>,
) -> Result<Vec<u8>> {
    let default_key = spec.key.or(inherited);
    let mask = spec.name_length_mask();
    let mut out = raw::Writer::new(document.len() * 2 + 64);
    let mut memo: Option<&DataKey> = None;
    // Elements that are copied as they are, as one run of bytes.
    let mut run = Run::default();
    for element in raw::elements(document)? {
        let element = &element?;
        let Some(field) = spec.field_masked(mask, element.key) else {
            run.extend(element);
            continue;
        };
        run.flush(document, &mut out);
        let path = path.child(element.key);
        match field.kind {
            FieldKind::Encrypted(encrypted) => {
                if element.element_type == raw::tag::NULL && encrypted.optional {
                    // `None` is stored as an absent field: nothing to encrypt, nothing
                    // that tells a plaintext null from an encrypted value.
                    continue;
                }
                let source = encrypted.key.or(default_key);
                // Most fields use the model's default key: look it up once per document.
                let key = match (encrypted.key, memo) {
                    (None, Some(key)) => key,
                    _ => {
                        let name = key_name(source, document, &path)?;
                        let key = match &name {
                            KeyName::Id(id) => keys.for_id(*id),
                            KeyName::AltName(alt_name) => keys.for_alt_name(alt_name),
                        }
                        .ok_or_else(|| {
                            in_field(
                                &path,
                                Error::KeyNotFound {
                                    key: name.describe(),
                                },
                            )
                        })?;
                        if encrypted.key.is_none()
                            && !matches!(source, Some(KeySource::AltNameField(_)))
                        {
                            memo = Some(key);
                        }
                        key
                    }
                };
                encrypt_element(key, &encrypted, element, ivs, &mut out, &path)?;
            }
            FieldKind::Nested { model, optional } => {
                if element.is_document() {
                    let nested =
                        encrypt_nested(model, element.value, default_key, keys, ivs, &path)?;
                    out.document(element.key, &nested);
                } else if !(element.element_type == raw::tag::NULL && optional) {
                    return Err(Error::SchemaMismatch {
                        path: path.dotted(),
                        expected: "object",
                        found: type_name_of(element.element_type),
                    });
                }
            }
        }
    }
    run.flush(document, &mut out);
    out.finish()
}

/// A run of consecutive elements to copy unchanged.
#[derive(Default)]
struct Run {
    range: Option<(usize, usize)>,
}

impl Run {
    fn extend(&mut self, element: &Element<'_>) {
        let end = element.offset + element.whole.len();
        self.range = match self.range {
            Some((start, _)) => Some((start, end)),
            None => Some((element.offset, end)),
        };
    }

    fn flush(&mut self, document: &[u8], out: &mut raw::Writer) {
        if let Some((start, end)) = self.range.take() {
            out.copy_bytes(document.get(start..end).unwrap_or_default());
        }
    }
}

fn type_name_of(element_type: u8) -> &'static str {
    ElementType::from(element_type).map_or("unknown", plaintext::type_name)
}

fn encrypt_element(
    key: &DataKey,
    field: &EncryptedFieldSpec,
    element: &Element<'_>,
    ivs: &mut Ivs,
    out: &mut raw::Writer,
    path: &Path<'_>,
) -> Result<()> {
    if element.ciphertext().is_some() {
        return Err(in_field(path, Error::AlreadyEncrypted));
    }
    if element.element_type != field.bson_type as u8 {
        return Err(Error::SchemaMismatch {
            path: path.dotted(),
            expected: plaintext::type_name(field.bson_type),
            found: type_name_of(element.element_type),
        });
    }
    out.start_ciphertext(element.key, DataKey::sealed_len(element.value.len()))
        .map_err(|error| in_field(path, error))?;
    key.seal_value_into(
        field.bson_type,
        element.value,
        field.algorithm,
        ivs,
        out.buffer(),
    )
    .map_err(|error| in_field(path, error))
}

/// How a ciphertext found in an encrypted field compares with the field's spec.
enum Checked {
    /// Its algorithm and original type are the field's.
    Matches,
    /// Well-formed, but made for another type or with the other algorithm: an error, or
    /// sealed in a view.
    Mismatch(Error),
}

/// Checks the structure of a ciphertext and its header's algorithm and original BSON
/// type against the field's spec, before any key lookup or decryption.
fn check_ciphertext(field: &EncryptedFieldSpec, bytes: &[u8], path: &Path<'_>) -> Result<Checked> {
    let (algorithm, original_type) =
        ciphertext::check(bytes).map_err(|error| in_field(path, error))?;
    if algorithm == field.algorithm && original_type == field.bson_type {
        return Ok(Checked::Matches);
    }
    Ok(Checked::Mismatch(in_field(
        path,
        Error::CiphertextMismatch {
            expected_type: field.bson_type,
            found_type: original_type,
            expected_algorithm: field.algorithm,
            found_algorithm: algorithm,
        },
    )))
}

/// Checks an operand of a raw filter or update meant for the encrypted field at `path`:
/// a well-formed ciphertext of the algorithm and original BSON type the field declares.
///
/// # Errors
///
/// [`Error::UnencryptedField`] for anything that is not binary subtype 6; inside
/// [`Error::Field`], [`Error::MalformedCiphertext`] or [`Error::CiphertextMismatch`].
pub(crate) fn check_operand(
    field: &EncryptedFieldSpec,
    value: &bson::Bson,
    path: &str,
) -> Result<()> {
    let path = Path::ROOT.child(path);
    match value {
        bson::Bson::Binary(binary) if binary.subtype == bson::spec::BinarySubtype::Encrypted => {
            match check_ciphertext(field, &binary.bytes, &path)? {
                Checked::Matches => Ok(()),
                Checked::Mismatch(error) => Err(error),
            }
        }
        other => Err(Error::UnencryptedField {
            path: path.dotted(),
            found: plaintext::type_name(other.element_type()),
        }),
    }
}

/// Collects the ids of the data keys of the ciphertexts in `document`'s encrypted fields.
///
/// A ciphertext that is not well-formed is an error here, before any key is looked up
/// (its "key id" is garbage); one made for another type or algorithm needs no key (it
/// fails or stays sealed when decrypting).
pub(crate) fn keys_to_decrypt(
    spec: &ModelSpec,
    document: &[u8],
    path: &Path<'_>,
    keys: &mut HashSet<Uuid>,
) -> Result<()> {
    let mask = spec.name_length_mask();
    for element in raw::elements(document)? {
        let element = element?;
        let Some(field) = spec.field_masked(mask, element.key) else {
            continue;
        };
        match field.kind {
            FieldKind::Encrypted(encrypted) => {
                if let Some(bytes) = element.ciphertext() {
                    value_key(&encrypted, bytes, &path.child(element.key), keys)?;
                }
            }
            FieldKind::Nested { model, .. } if element.is_document() => {
                keys_to_decrypt(model, element.value, &path.child(element.key), keys)?;
            }
            FieldKind::Nested { .. } => {}
        }
    }
    Ok(())
}

fn value_key(
    field: &EncryptedFieldSpec,
    bytes: &[u8],
    path: &Path<'_>,
    keys: &mut HashSet<Uuid>,
) -> Result<()> {
    if let Checked::Matches = check_ciphertext(field, bytes, path)?
        && let Some(id) = ciphertext::key_id(bytes)
    {
        keys.insert(id);
    }
    Ok(())
}

/// Rewrites a stored document: every encrypted field becomes its plaintext value.
///
/// A field the model encrypts that holds plaintext is an error: it was written by a
/// client without encryption, or replaced by someone with access to the database.
pub(crate) fn decrypt_document(
    spec: &ModelSpec,
    document: &[u8],
    keys: &Keys,
    missing: MissingKeys,
    path: &Path<'_>,
) -> Result<Zeroizing<Vec<u8>>> {
    let mask = spec.name_length_mask();
    let mut out = raw::Writer::new(document.len());
    let mut run = Run::default();
    for element in raw::elements(document)? {
        let element = &element?;
        let Some(field) = spec.field_masked(mask, element.key) else {
            run.extend(element);
            continue;
        };
        run.flush(document, &mut out);
        let path = path.child(element.key);
        match field.kind {
            FieldKind::Encrypted(encrypted) => {
                decrypt_element(&encrypted, element, keys, missing, &path, &mut out)?;
            }
            FieldKind::Nested { model, .. } if element.is_document() => {
                let nested = decrypt_document(model, element.value, keys, missing, &path)?;
                out.document(element.key, &nested);
            }
            FieldKind::Nested { .. } => out.copy(element),
        }
    }
    run.flush(document, &mut out);
    Ok(Zeroizing::new(out.finish()?))
}

/// The ids of the data keys of the ciphertexts among `values` (a document whose every
/// element is a value of the encrypted field `field`, as `distinct` returns them).
pub(crate) fn keys_to_decrypt_values(
    field: &EncryptedFieldSpec,
    values: &[u8],
    path: &str,
    keys: &mut HashSet<Uuid>,
) -> Result<()> {
    let path = Path::ROOT.child(path);
    for element in raw::elements(values)? {
        if let Some(bytes) = element?.ciphertext() {
            value_key(field, bytes, &path, keys)?;
        }
    }
    Ok(())
}

/// Decrypts every element of `values` (a document whose every element is a value of the
/// encrypted field at `path`) under the same rules as a stored document's field.
pub(crate) fn decrypt_values(
    field: &EncryptedFieldSpec,
    values: &[u8],
    keys: &Keys,
    path: &str,
) -> Result<Zeroizing<Vec<u8>>> {
    let path = Path::ROOT.child(path);
    let mut out = raw::Writer::new(values.len());
    for element in raw::elements(values)? {
        decrypt_element(field, &element?, keys, MissingKeys::Fail, &path, &mut out)?;
    }
    Ok(Zeroizing::new(out.finish()?))
}

/// Decrypts one encrypted field's element into `out`: a well-formed ciphertext of the
/// field's type and algorithm whose key is in `keys` becomes its plaintext; anything else
/// is an error naming the field, or, in a view, a ciphertext that could not be opened
/// (no key, another type or algorithm, not authentic) is copied as it is, sealed.
fn decrypt_element(
    field: &EncryptedFieldSpec,
    element: &Element<'_>,
    keys: &Keys,
    missing: MissingKeys,
    path: &Path<'_>,
    out: &mut raw::Writer,
) -> Result<()> {
    let Some(bytes) = element.ciphertext() else {
        if element.element_type == raw::tag::NULL && field.optional {
            out.copy(element);
            return Ok(());
        }
        return Err(Error::UnencryptedField {
            path: path.dotted(),
            found: type_name_of(element.element_type),
        });
    };
    let sealed = |out: &mut raw::Writer, error: Error| match missing {
        MissingKeys::Seal => {
            out.copy(element);
            Ok(())
        }
        MissingKeys::Fail => Err(error),
    };
    if let Checked::Mismatch(error) = check_ciphertext(field, bytes, path)? {
        return sealed(out, error);
    }
    let Some(key) = ciphertext::key_id(bytes).and_then(|id| keys.for_id(id)) else {
        let id = ciphertext::key_id(bytes).map_or_else(String::new, |id| id.to_string());
        return sealed(out, in_field(path, Error::KeyNotFound { key: id }));
    };
    let mark = out.len();
    // The type byte is authenticated with the rest of the header; it is written first
    // and the value decrypted in place after the key.
    out.start(field.bson_type as u8, element.key);
    let value_start = out.len();
    let opened = key.open_value_into(bytes, out.buffer());
    // Authenticated bytes that are not one value of their type come from no correct
    // writer.
    let value = out.buffer().get(value_start..).unwrap_or_default();
    let whole = raw::value_len(value, field.bson_type as u8, 0).ok() == Some(value.len());
    match opened {
        Ok(_) if whole => Ok(()),
        Ok(_) => {
            out.truncate(mark);
            sealed(out, in_field(path, Error::Decryption))
        }
        Err(error) => {
            out.truncate(mark);
            sealed(out, in_field(path, error))
        }
    }
}

/// The path of a field the model requires (not an `Option`) that `document` lacks, to
/// say which when deserialization fails.
pub(crate) fn missing_field(spec: &ModelSpec, document: &[u8], path: &Path<'_>) -> Option<String> {
    for field in spec.fields {
        let found = raw::find(document, field.name).ok()?;
        let path = path.child(field.name);
        match (field.kind, found) {
            (FieldKind::Encrypted(encrypted), None) if !encrypted.optional => {
                return Some(path.dotted());
            }
            (FieldKind::Nested { optional, .. }, None) if !optional => {
                return Some(path.dotted());
            }
            (FieldKind::Nested { model, .. }, Some(element)) if element.is_document() => {
                if let Some(missing) = missing_field(model, element.value, &path) {
                    return Some(missing);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests;
