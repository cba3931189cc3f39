//! Encrypting the operands of typed filters and updates with a set of data keys: one
//! synchronous path shared by [`EncryptedCollection`](crate::EncryptedCollection) (which
//! first loads the keys [`PreparedUpdate::key_refs`] / [`Filter::key_refs`] name from the
//! key vault) and by [`Filter::to_document`] / [`Update::to_document`], which take the
//! keys directly and need no server.

use bson::{Bson, Document, RawDocumentBuf};

use super::Encrypted;
use super::codec::{Keys, Path, encrypt_document, keys_to_encrypt};
use super::filter::Filter;
use super::path::SetKind;
use super::size::serialize_zeroizing;
use super::spec::{KeySource, Lookup, ModelSpec};
use super::update::{Operation, Update};
use crate::plaintext::{self, WipeOnDrop};
use crate::{Algorithm, Error, KeyRef, Result};

/// The key a field names in the schema, for a filter or an update: per-document keys
/// depend on the document, which a filter or an update does not have.
pub(crate) fn static_key_ref(path: &str, source: Option<KeySource>) -> Result<KeyRef> {
    match source {
        Some(KeySource::Id(bytes)) => Ok(KeyRef::Id(bson::Uuid::from_bytes(bytes))),
        Some(KeySource::AltName(name)) => Ok(KeyRef::AltName(name.to_owned())),
        Some(KeySource::AltNameField(_)) => Err(Error::UnsupportedOperator {
            path: path.to_owned(),
            operator: "$set of a field with per-document keys (replace the document instead)"
                .to_owned(),
        }),
        None => Err(Error::Field {
            path: path.to_owned(),
            source: Box::new(Error::KeyNotFound {
                key: "configured for this field".to_owned(),
            }),
        }),
    }
}

/// Encrypts `value` for the encrypted field at `path` with the key the schema names,
/// after checking its BSON type against the schema.
pub(crate) fn encrypt_operand(
    spec: &ModelSpec,
    keys: &Keys,
    path: &str,
    value: &Bson,
    algorithm: Algorithm,
) -> Result<Bson> {
    let in_field = |source| Error::Field {
        path: path.to_owned(),
        source: Box::new(source),
    };
    let Lookup::Encrypted(field, source) = spec.lookup(path) else {
        return Err(in_field(Error::UnsupportedOperator {
            path: path.to_owned(),
            operator: "encryption of a field the model does not encrypt".to_owned(),
        }));
    };
    if value.element_type() != field.bson_type {
        return Err(Error::SchemaMismatch {
            path: path.to_owned(),
            expected: plaintext::type_name(field.bson_type),
            found: plaintext::type_name(value.element_type()),
        });
    }
    let key_ref = static_key_ref(path, source)?;
    let key = keys.get(&key_ref).ok_or_else(|| {
        in_field(Error::KeyNotFound {
            key: key_ref.describe(),
        })
    })?;
    key.encrypt(value, algorithm)
        .map(Bson::from)
        .map_err(in_field)
}

impl<R: Encrypted> Filter<R> {
    /// The keys this filter's encrypted operands need, each with the path that needs it.
    pub(crate) fn key_refs(&self) -> Result<Vec<(String, KeyRef)>> {
        self.keys(R::SPEC)
            .into_iter()
            .map(|(path, source)| static_key_ref(&path, source).map(|key_ref| (path, key_ref)))
            .collect()
    }

    /// The filter document the server gets, with the operands of deterministic fields
    /// encrypted with `keys` — what [`EncryptedCollection`](crate::EncryptedCollection)
    /// sends, made without a server (for the driver's own `Collection`, a change stream,
    /// an aggregation `$match`, or a test).
    ///
    /// ```
    /// # use encrypted_core::model::Encrypted;
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # #[serde(rename_all = "camelCase")]
    /// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
    /// use std::sync::Arc;
    /// use encrypted_core::model::Keys;
    /// use encrypted_core::{Algorithm, DataKey, KeyRef};
    ///
    /// let key = Arc::new(DataKey::generate(bson::Uuid::new())?);
    /// let keys = Keys::new().with(KeyRef::AltName("medco-key".into()), Arc::clone(&key));
    /// let filter = Patient::fields().ssn().eq(241014209).to_document(&keys)?;
    /// let expected = key.encrypt(&bson::Bson::Int32(241014209), Algorithm::Deterministic)?;
    /// assert_eq!(filter, bson::doc! { "ssn": expected });
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Field`] with [`Error::KeyNotFound`] when `keys` lacks a key the schema
    /// names; the checks of [`Filter::raw`] for hand-written parts.
    pub fn to_document(self, keys: &Keys) -> Result<Document> {
        self.into_document(R::SPEC, &|path, value| {
            encrypt_operand(R::SPEC, keys, path, &value, Algorithm::Deterministic)
        })
    }
}

/// A typed update with its values serialized, ready to be encrypted once the keys
/// [`PreparedUpdate::key_refs`] names are at hand. Plaintext it holds is wiped on drop.
pub(crate) struct PreparedUpdate {
    spec: &'static ModelSpec,
    operations: Vec<Prepared>,
    key_refs: Vec<(String, KeyRef)>,
}

struct Prepared {
    operator: &'static str,
    path: String,
    value: PreparedValue,
}

enum PreparedValue {
    Plain(Bson),
    Encrypted(WipeOnDrop, Algorithm),
    /// A nested model's serialized document (zeroized on drop) and the key it inherits.
    Nested(
        &'static ModelSpec,
        zeroize::Zeroizing<Vec<u8>>,
        Option<KeySource>,
    ),
}

impl<R: Encrypted> Update<R> {
    /// Serializes the update's values and collects the keys they need.
    pub(crate) fn prepare(self) -> Result<PreparedUpdate> {
        let spec = R::SPEC;
        let mut key_refs = Vec::new();
        let mut operations = Vec::new();
        for Operation {
            operator,
            path,
            value,
            kind,
        } in self.into_operations()
        {
            let value = value.map_err(|()| Error::Field {
                path: path.clone(),
                source: Box::new(Error::UnencodableValue {
                    reason: "the value cannot be serialized to BSON",
                }),
            })?;
            let value = match (kind, spec.lookup(&path)) {
                (SetKind::Encrypted, Lookup::Encrypted(field, source)) => {
                    let value = WipeOnDrop(value);
                    key_refs.push((path.clone(), static_key_ref(&path, source)?));
                    PreparedValue::Encrypted(value, field.algorithm)
                }
                (SetKind::Nested(nested), Lookup::Nested(_, inherited))
                    if matches!(value, Bson::Document(_)) =>
                {
                    // The plaintext document is wiped once serialized.
                    let document = WipeOnDrop(value);
                    let plain = serialize_zeroizing(&document.0)
                        .map_err(|error| plaintext::unencodable_bson(&error))?;
                    let mut needed = std::collections::HashSet::new();
                    keys_to_encrypt(nested, &plain, inherited, &Path::ROOT, &mut needed)
                        .map_err(|error| prefixed(&path, error))?;
                    key_refs.extend(needed.into_iter().map(|key_ref| (path.clone(), key_ref)));
                    PreparedValue::Nested(nested, plain, inherited)
                }
                _ => PreparedValue::Plain(value),
            };
            operations.push(Prepared {
                operator,
                path,
                value,
            });
        }
        Ok(PreparedUpdate {
            spec,
            operations,
            key_refs,
        })
    }

    /// The update document the server gets, with `$set` values of encrypted fields and
    /// of nested models encrypted with `keys` — what
    /// [`EncryptedCollection`](crate::EncryptedCollection) sends, made without a server.
    ///
    /// ```
    /// # use encrypted_core::model::Encrypted;
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # #[serde(rename_all = "camelCase")]
    /// # struct Patient { name: String, #[encrypt(random)] blood_type: String }
    /// use std::sync::Arc;
    /// use encrypted_core::model::{Keys, Update};
    /// use encrypted_core::{DataKey, KeyRef};
    ///
    /// let key = Arc::new(DataKey::generate(bson::Uuid::new())?);
    /// let keys = Keys::new().with(KeyRef::AltName("medco-key".into()), key);
    /// let update = Update::new()
    ///     .set(Patient::fields().blood_type(), "AB+")
    ///     .set(Patient::fields().name(), "Jon Doe")
    ///     .to_document(&keys)?;
    /// let set = update.get_document("$set").expect("a $set");
    /// assert_eq!(set.get_str("name").ok(), Some("Jon Doe"));
    /// let stored = set.get("bloodType");
    /// assert!(matches!(stored, Some(bson::Bson::Binary(b)) if b.subtype == bson::spec::BinarySubtype::Encrypted));
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Field`] naming the field when a value cannot be serialized or encrypted,
    /// or `keys` lacks a key the schema names.
    pub fn to_document(self, keys: &Keys) -> Result<Document> {
        self.prepare()?.into_document(keys)
    }
}

impl PreparedUpdate {
    /// The keys the update needs, each with the path that needs it.
    pub(crate) fn key_refs(&self) -> &[(String, KeyRef)] {
        &self.key_refs
    }

    /// The update document, its values encrypted with `keys`.
    pub(crate) fn into_document(self, keys: &Keys) -> Result<Document> {
        let mut document = Document::new();
        for Prepared {
            operator,
            path,
            value,
        } in self.operations
        {
            let value = match value {
                PreparedValue::Plain(value) => value,
                PreparedValue::Encrypted(value, algorithm) => {
                    encrypt_operand(self.spec, keys, &path, &value.0, algorithm)?
                }
                PreparedValue::Nested(nested, plain, inherited) => {
                    let encrypted = encrypt_document(nested, &plain, inherited, keys, &Path::ROOT)
                        .map_err(|error| prefixed(&path, error))?;
                    drop(plain);
                    let encrypted = RawDocumentBuf::from_bytes(encrypted)
                        .and_then(|raw| Document::try_from(raw.as_ref()))
                        .map_err(|error| plaintext::unencodable_bson(&error))?;
                    Bson::Document(encrypted)
                }
            };
            let entry = document
                .entry(operator.to_owned())
                .or_insert_with(|| Bson::Document(Document::new()));
            if let Bson::Document(fields) = entry {
                fields.insert(path, value);
            }
        }
        Ok(document)
    }
}

/// An error inside a nested model names the field from the root (`insurance.policyNumber`).
fn prefixed(path: &str, error: Error) -> Error {
    match error {
        Error::Field {
            path: inner,
            source,
        } => Error::Field {
            path: format!("{path}.{inner}"),
            source,
        },
        other => other,
    }
}
