//! Updates of a model's documents, built from typed paths.

use std::marker::PhantomData;

use bson::{Bson, Document};
use serde::Serialize;

use super::filter::check_raw_filter;
use super::path::{AnyPath, Plain, SetKind, SettablePath};
use super::spec::{Lookup, ModelSpec};
use crate::{Error, Result, plaintext};

/// An update of documents of model `R`.
///
/// `$set` of an encrypted field encrypts the value, `$set` of a nested model encrypts
/// its encrypted fields; `$inc`, `$push` and the other operators take only plaintext
/// paths, so applying them to an encrypted field does not compile.
///
/// ```
/// # use encrypted_core::model::Encrypted;
/// # use encrypted_derive::Encrypted;
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
/// # #[encrypted(crate = "encrypted_core", inherit_key)]
/// # #[serde(rename_all = "camelCase")]
/// # struct Insurance { provider: String, #[encrypt(deterministic)] policy_number: i32 }
/// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
/// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
/// # #[serde(rename_all = "camelCase")]
/// # struct Patient {
/// #     name: String,
/// #     visits: i32,
/// #     #[encrypt(deterministic)] ssn: i32,
/// #     #[encrypt(random)] blood_type: String,
/// #     #[encrypt(nested)] insurance: Insurance,
/// # }
/// use encrypted_core::model::Update;
///
/// let update = Update::<Patient>::new()
///     .set(Patient::fields().blood_type(), "O-") // encrypted when sent
///     .inc(Patient::fields().visits(), 1);
/// # let _ = update;
/// ```
pub struct Update<R> {
    operations: Vec<Operation>,
    _model: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for Update<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Update").finish_non_exhaustive()
    }
}

pub(crate) struct Operation {
    pub(crate) operator: &'static str,
    pub(crate) path: String,
    pub(crate) value: Result<Bson, ()>,
    pub(crate) kind: SetKind,
}

impl<R> Default for Update<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R> Update<R> {
    /// An empty update.
    pub fn new() -> Self {
        Self {
            operations: Vec::new(),
            _model: PhantomData,
        }
    }

    fn push(
        mut self,
        operator: &'static str,
        path: &str,
        value: Result<Bson, ()>,
        kind: SetKind,
    ) -> Self {
        self.operations.push(Operation {
            operator,
            path: path.to_owned(),
            value,
            kind,
        });
        self
    }

    /// `$set`: the value is encrypted when the field is.
    pub fn set<P: SettablePath<R>>(self, path: P, value: impl Into<P::Value>) -> Self {
        let value = bson::serialize_to_bson(&value.into()).map_err(|_| ());
        let kind = path.kind();
        self.push("$set", path.path(), value, kind)
    }

    /// `$unset`.
    pub fn unset(self, path: impl AnyPath<R>) -> Self {
        self.push(
            "$unset",
            path.path(),
            Ok(Bson::String(String::new())),
            SetKind::Plain,
        )
    }

    /// `$inc` of a plaintext number.
    pub fn inc<T: Serialize>(self, path: Plain<R, T>, by: impl Into<T>) -> Self {
        let value = bson::serialize_to_bson(&by.into()).map_err(|_| ());
        self.push("$inc", path.path(), value, SetKind::Plain)
    }

    /// `$push` onto a plaintext array.
    pub fn push_value<T: Serialize>(self, path: Plain<R, Vec<T>>, value: impl Into<T>) -> Self {
        let value = bson::serialize_to_bson(&value.into()).map_err(|_| ());
        self.push("$push", path.path(), value, SetKind::Plain)
    }

    pub(crate) fn operations(&self) -> &[Operation] {
        &self.operations
    }

    pub(crate) fn into_operations(self) -> Vec<Operation> {
        self.operations
    }
}

/// Checks a hand-written update: encrypted fields may only be `$set` to ciphertexts or
/// `$unset`.
pub(crate) fn check_raw_update(spec: &ModelSpec, update: &Document) -> Result<()> {
    for (operator, fields) in update {
        let Bson::Document(fields) = fields else {
            continue;
        };
        for (path, value) in fields {
            let encrypted = match spec.lookup(path) {
                Lookup::Plain => continue,
                Lookup::Encrypted(..) => true,
                Lookup::Nested(model, _) => {
                    if !model.has_encrypted_fields() {
                        continue;
                    }
                    false
                }
            };
            match operator.as_str() {
                "$unset" => {}
                "$set" | "$setOnInsert" if encrypted => {
                    if !matches!(value, Bson::Binary(b) if b.subtype == bson::spec::BinarySubtype::Encrypted)
                    {
                        return Err(Error::UnencryptedField {
                            path: path.clone(),
                            found: plaintext::type_name(value.element_type()),
                        });
                    }
                }
                "$set" | "$setOnInsert" => {
                    // A nested model written whole: check what it says of its fields.
                    if let Bson::Document(nested) = value
                        && let Lookup::Nested(model, _) = spec.lookup(path)
                    {
                        check_raw_filter(model, nested)?;
                    }
                }
                other => {
                    return Err(Error::UnsupportedOperator {
                        path: path.clone(),
                        operator: other.to_owned(),
                    });
                }
            }
        }
    }
    Ok(())
}
