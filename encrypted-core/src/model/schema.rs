//! The CSFLE JSON Schema of a model, and the server-side validator built from it.
//!
//! Everything in the schema is fixed at compile time by `#[derive(Encrypted)]` except
//! the UUIDs of keys named by alternate name, which only the key vault knows: they are
//! filled in here.

use bson::{Binary, Bson, Document, Uuid, doc};

use super::spec::{FieldKind, KeySource, ModelSpec};
use crate::{Error, Result, plaintext};

/// The alternate names of the keys a model's schema names (not the per-document ones),
/// each once, in the order they appear; `spec` is the model's
/// [`Encrypted::SPEC`](super::Encrypted::SPEC).
///
/// ```
/// use encrypted_core::model::{Encrypted, schema_key_alt_names};
/// # use encrypted_derive::Encrypted;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, Encrypted)]
/// # #[encrypted(crate = "encrypted_core")]
/// #[encrypted(key_alt_name = "medco-key")]
/// struct Patient {
///     #[encrypt(deterministic)]
///     ssn: i32,
///     #[encrypt(random, key_alt_name = "billing-key")]
///     card: String,
/// }
///
/// assert_eq!(schema_key_alt_names(Patient::SPEC), ["medco-key", "billing-key"]);
/// ```
pub fn schema_key_alt_names(spec: &ModelSpec) -> Vec<&'static str> {
    let mut names = Vec::new();
    collect_alt_names(spec, &mut names);
    names
}

fn collect_alt_names(spec: &ModelSpec, names: &mut Vec<&'static str>) {
    let mut push = |source: Option<KeySource>| {
        if let Some(KeySource::AltName(name)) = source
            && !names.contains(&name)
        {
            names.push(name);
        }
    };
    push(spec.key);
    let mut nested = Vec::new();
    for field in spec.fields {
        match field.kind {
            FieldKind::Encrypted(encrypted) => push(encrypted.key),
            FieldKind::Nested { model, .. } => nested.push(model),
        }
    }
    for model in nested {
        collect_alt_names(model, names);
    }
}

/// The CSFLE JSON Schema of a model (`spec` is its
/// [`Encrypted::SPEC`](super::Encrypted::SPEC)): the document a libmongocrypt-based
/// driver takes in its `schemaMap`, with each key alternate name replaced by the UUID
/// `key_id` gives.
///
/// # Errors
///
/// [`Error::KeyNotFound`] when `key_id` does not know an alternate name.
///
/// ```
/// use encrypted_core::bson::{doc, Uuid};
/// use encrypted_core::model::{json_schema, Encrypted};
/// # use encrypted_derive::Encrypted;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, Encrypted)]
/// # #[encrypted(crate = "encrypted_core")]
/// #[encrypted(key_alt_name = "medco-key")]
/// struct Patient {
///     #[encrypt(deterministic)]
///     ssn: i32,
/// }
///
/// let key_id = Uuid::new();
/// let schema = json_schema(Patient::SPEC, |_| Some(key_id))?;
/// assert_eq!(
///     schema.get_document("properties")?.get_document("ssn")?,
///     &doc! { "encrypt": {
///         "bsonType": "int",
///         "algorithm": "AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic",
///     } },
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn json_schema(spec: &ModelSpec, key_id: impl Fn(&str) -> Option<Uuid>) -> Result<Document> {
    object_schema(spec, &key_id, "")
}

/// The server-side validator `{ "$jsonSchema": schema }` that makes a MongoDB server
/// reject documents whose encrypted fields are not encrypted (binary subtype 6).
///
/// # Errors
///
/// As [`json_schema`].
pub fn validator(spec: &ModelSpec, key_id: impl Fn(&str) -> Option<Uuid>) -> Result<Document> {
    Ok(doc! { "$jsonSchema": json_schema(spec, key_id)? })
}

fn object_schema(
    spec: &ModelSpec,
    key_id: &impl Fn(&str) -> Option<Uuid>,
    pointer: &str,
) -> Result<Document> {
    let mut schema = doc! { "bsonType": "object" };
    if let Some(source) = spec.key {
        schema.insert(
            "encryptMetadata",
            doc! { "keyId": key_ids(source, key_id, pointer)? },
        );
    }
    let mut properties = Document::new();
    for field in spec.fields {
        let field_pointer = format!("{pointer}/{}", escape(field.name));
        match field.kind {
            FieldKind::Encrypted(encrypted) => {
                let mut encrypt = Document::new();
                if let Some(source) = encrypted.key {
                    encrypt.insert("keyId", key_ids(source, key_id, pointer)?);
                }
                encrypt.insert("bsonType", plaintext::type_name(encrypted.bson_type));
                encrypt.insert("algorithm", encrypted.algorithm.to_string());
                properties.insert(field.name, doc! { "encrypt": encrypt });
            }
            FieldKind::Nested { model, .. } => {
                if model.has_encrypted_fields() {
                    properties.insert(field.name, object_schema(model, key_id, &field_pointer)?);
                }
            }
        }
    }
    schema.insert("properties", properties);
    Ok(schema)
}

/// The `keyId` of `encrypt` / `encryptMetadata`: an array of UUIDs, or the JSON pointer
/// (from the document's root) of the field that holds the key's alternate name.
fn key_ids(
    source: KeySource,
    key_id: &impl Fn(&str) -> Option<Uuid>,
    pointer: &str,
) -> Result<Bson> {
    let uuid = match source {
        KeySource::Id(bytes) => Uuid::from_bytes(bytes),
        KeySource::AltName(name) => key_id(name).ok_or_else(|| Error::KeyNotFound {
            key: format!("alt name `{name}`"),
        })?,
        KeySource::AltNameField(field) => {
            return Ok(Bson::String(format!("{pointer}/{}", escape(field))));
        }
    };
    Ok(Bson::Array(vec![Bson::Binary(Binary::from_uuid(uuid))]))
}

/// Escapes a name for an RFC 6901 JSON pointer.
fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}
