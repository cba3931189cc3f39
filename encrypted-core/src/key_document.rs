//! Key vault documents: how a wrapped data key is stored.

use bson::spec::BinarySubtype;
use bson::{Binary, Bson, DateTime, Document, Uuid};

use crate::{Error, MasterKey, Result};

/// A document of the key vault collection (`encryption.__keyVault` by default), in the
/// schema of the drivers' Client Side Encryption spec:
///
/// ```json
/// { "_id": UUID, "keyAltNames": [string], "keyMaterial": BinData(0),
///   "creationDate": Date, "updateDate": Date, "status": 0, "masterKey": {…} }
/// ```
///
/// ```
/// use encrypted_core::{DataKey, KeyDocument, LocalMasterKey, MasterKey};
///
/// let master_key = LocalMasterKey::generate()?;
/// let data_key = DataKey::generate(bson::Uuid::new())?;
/// let key_document = KeyDocument::new(
///     data_key.id(),
///     master_key.wrap(&data_key)?,
///     MasterKey::local(),
/// )
/// .with_key_alt_names(["medco-key"]);
///
/// let stored = key_document.to_document();
/// let parsed = KeyDocument::from_document(&stored)?;
/// assert_eq!(parsed, key_document);
/// let unwrapped = master_key.unwrap(parsed.id, &parsed.key_material)?;
/// assert_eq!(unwrapped.id(), data_key.id());
/// # Ok::<(), encrypted_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct KeyDocument {
    /// The key's id (`_id`, BSON binary subtype 4).
    pub id: Uuid,
    /// Alternate names by which the key can be found (`keyAltNames`; absent when empty).
    pub key_alt_names: Vec<String>,
    /// The data key wrapped by its master key (`keyMaterial`). Not secret without the
    /// master key.
    pub key_material: Vec<u8>,
    /// When the key was created (`creationDate`).
    pub creation_date: DateTime,
    /// When the key document last changed (`updateDate`).
    pub update_date: DateTime,
    /// `status`; the spec reserves it and writes 0.
    pub status: i32,
    /// Which master key wrapped `key_material` (`masterKey`).
    pub master_key: MasterKey,
}

impl KeyDocument {
    /// A new key document created now, with no alternate names and status 0.
    pub fn new(id: Uuid, key_material: Vec<u8>, master_key: MasterKey) -> Self {
        let now = DateTime::now();
        Self {
            id,
            key_alt_names: Vec::new(),
            key_material,
            creation_date: now,
            update_date: now,
            status: 0,
            master_key,
        }
    }

    /// Sets the alternate names.
    #[must_use]
    pub fn with_key_alt_names<S: Into<String>>(
        mut self,
        names: impl IntoIterator<Item = S>,
    ) -> Self {
        self.key_alt_names = names.into_iter().map(Into::into).collect();
        self
    }

    /// The BSON document to store, with fields in libmongocrypt's order.
    pub fn to_document(&self) -> Document {
        let mut document = Document::new();
        document.insert("_id", self.id);
        if !self.key_alt_names.is_empty() {
            document.insert("keyAltNames", self.key_alt_names.clone());
        }
        document.insert(
            "keyMaterial",
            Binary {
                subtype: BinarySubtype::Generic,
                bytes: self.key_material.clone(),
            },
        );
        document.insert("creationDate", self.creation_date);
        document.insert("updateDate", self.update_date);
        document.insert("status", self.status);
        document.insert("masterKey", self.master_key.to_document());
        document
    }

    /// Parses a key vault document.
    ///
    /// Fields outside the schema are ignored, as libmongocrypt does.
    ///
    /// # Errors
    ///
    /// [`Error::MalformedKeyDocument`] naming the first field that is missing or of the
    /// wrong type: `_id` must be a UUID (binary subtype 4), `keyMaterial` a binary of
    /// subtype 0, `keyAltNames` (when present) an array of distinct strings,
    /// `creationDate` and `updateDate` dates, `status` an integer that fits an int32
    /// (when present), and
    /// `masterKey` a document with a `provider` string.
    pub fn from_document(document: &Document) -> Result<Self> {
        let id = match document.get("_id") {
            Some(Bson::Binary(Binary {
                subtype: BinarySubtype::Uuid,
                bytes,
            })) => <[u8; 16]>::try_from(bytes.as_slice())
                .map(Uuid::from_bytes)
                .map_err(|_| malformed(None, "_id", "must be a 16-byte UUID"))?,
            Some(_) => return Err(malformed(None, "_id", "must be a UUID (binary subtype 4)")),
            None => return Err(malformed(None, "_id", "is missing")),
        };
        let key_id = Some(id);

        let key_material = match document.get("keyMaterial") {
            Some(Bson::Binary(Binary {
                subtype: BinarySubtype::Generic,
                bytes,
            })) => bytes.clone(),
            Some(_) => {
                return Err(malformed(
                    key_id,
                    "keyMaterial",
                    "must be a binary of subtype 0",
                ));
            }
            None => return Err(malformed(key_id, "keyMaterial", "is missing")),
        };

        let key_alt_names = match document.get("keyAltNames") {
            None => Vec::new(),
            Some(Bson::Array(names)) => {
                let mut parsed: Vec<String> = Vec::with_capacity(names.len());
                for name in names {
                    let Bson::String(name) = name else {
                        return Err(malformed(key_id, "keyAltNames", "must hold only strings"));
                    };
                    if parsed.contains(name) {
                        return Err(malformed(key_id, "keyAltNames", "must not repeat a name"));
                    }
                    parsed.push(name.clone());
                }
                parsed
            }
            Some(_) => {
                return Err(malformed(
                    key_id,
                    "keyAltNames",
                    "must be an array of strings",
                ));
            }
        };

        let date = |field: &'static str| match document.get(field) {
            Some(Bson::DateTime(date)) => Ok(*date),
            Some(_) => Err(malformed(key_id, field, "must be a date")),
            None => Err(malformed(key_id, field, "is missing")),
        };
        let creation_date = date("creationDate")?;
        let update_date = date("updateDate")?;

        // libmongocrypt does not read `status` at all; other drivers and tools write it
        // as an int64 or a double. Any integer that fits is taken.
        let status = match document.get("status") {
            None => 0,
            Some(Bson::Int32(status)) => *status,
            Some(Bson::Int64(status)) => i32::try_from(*status)
                .map_err(|_| malformed(key_id, "status", "is out of range"))?,
            Some(Bson::Double(status))
                if status.fract() == 0.0
                    && *status >= f64::from(i32::MIN)
                    && *status <= f64::from(i32::MAX) =>
            {
                #[allow(clippy::cast_possible_truncation)] // integral and in range
                let status = *status as i32;
                status
            }
            Some(_) => return Err(malformed(key_id, "status", "must be an integer")),
        };

        let master_key = match document.get("masterKey") {
            Some(Bson::Document(master_key)) => MasterKey::from_document(master_key)
                .map_err(|(field, problem)| malformed(key_id, field, problem))?,
            Some(_) => return Err(malformed(key_id, "masterKey", "must be a document")),
            None => return Err(malformed(key_id, "masterKey", "is missing")),
        };

        Ok(Self {
            id,
            key_alt_names,
            key_material,
            creation_date,
            update_date,
            status,
            master_key,
        })
    }
}

fn malformed(key_id: Option<Uuid>, field: &'static str, problem: impl Into<String>) -> Error {
    Error::MalformedKeyDocument {
        key_id,
        field,
        problem: problem.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn valid() -> Document {
        KeyDocument::new(Uuid::new(), vec![1; 160], MasterKey::local())
            .with_key_alt_names(["a", "b"])
            .to_document()
    }

    #[test]
    fn writes_fields_in_libmongocrypt_order() {
        let document = valid();
        let keys: Vec<&str> = document.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "_id",
                "keyAltNames",
                "keyMaterial",
                "creationDate",
                "updateDate",
                "status",
                "masterKey"
            ]
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: [(&str, Option<Bson>, &str); 10] = [
            ("_id", None, "_id"),
            ("_id", Some(Bson::String("x".into())), "_id"),
            ("keyMaterial", None, "keyMaterial"),
            ("keyMaterial", Some(Bson::Int32(1)), "keyMaterial"),
            ("keyAltNames", Some(Bson::String("a".into())), "keyAltNames"),
            ("keyAltNames", Some(bson::bson!(["a", 1])), "keyAltNames"),
            ("keyAltNames", Some(bson::bson!(["a", "a"])), "keyAltNames"),
            ("creationDate", Some(Bson::Int64(0)), "creationDate"),
            ("masterKey", None, "masterKey"),
            (
                "masterKey",
                Some(Bson::Document(doc! {"provider": 1})),
                "masterKey.provider",
            ),
        ];
        for (field, value, named) in cases {
            let mut document = valid();
            match value {
                Some(value) => document.insert(field, value),
                None => document.remove(field),
            };
            match KeyDocument::from_document(&document) {
                Err(Error::MalformedKeyDocument { field, .. }) => assert_eq!(field, named),
                other => panic!("{field}: expected an error naming {named}, got {other:?}"),
            }
        }
    }

    #[test]
    fn finding_7_status_of_any_integer_type_is_read() {
        for (status, expected) in [
            (Bson::Int64(0), Some(0)),
            (Bson::Int64(3), Some(3)),
            (Bson::Double(1.0), Some(1)),
            (Bson::Int64(i64::MAX), None),
            (Bson::Double(0.5), None),
            (Bson::String("0".into()), None),
        ] {
            let mut document = valid();
            document.insert("status", status.clone());
            match (KeyDocument::from_document(&document), expected) {
                (Ok(key), Some(expected)) => assert_eq!(key.status, expected),
                (
                    Err(Error::MalformedKeyDocument {
                        field: "status", ..
                    }),
                    None,
                ) => {}
                (other, _) => panic!("status {status:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn ignores_unknown_fields_and_absent_alt_names() {
        let mut document = valid();
        document.remove("keyAltNames");
        document.insert("comment", "kept by the server, ignored here");
        assert!(
            KeyDocument::from_document(&document)
                .unwrap()
                .key_alt_names
                .is_empty()
        );
    }
}
