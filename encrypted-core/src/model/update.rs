//! Updates of a model's documents, built from typed paths.

use std::marker::PhantomData;

use bson::{Bson, Document};
use serde::Serialize;

use super::codec::check_operand;
use super::filter::{check_nested_value, refused};
use super::path::{AnyPath, Plain, SetKind, SettablePath};
use super::spec::{Lookup, ModelSpec};
use crate::Result;

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

/// Checks a hand-written update, every operator of it (fails closed):
///
/// - `$set` / `$setOnInsert` of an encrypted field: a ciphertext of the field's BSON type
///   and algorithm; of a nested model: null or a document whose encrypted fields are such
///   ciphertexts (errors name the full path, `insurance.policyNumber`);
/// - `$unset`: any field;
/// - `$rename` from or onto an encrypted field, a nested model with encrypted fields or
///   a path inside an encrypted value: refused (a plaintext field renamed onto an
///   encrypted path would store plaintext there);
/// - `$inc`, `$mul`, `$min`, `$max`, `$bit`, `$currentDate`, `$push`, `$addToSet`,
///   `$pull`, `$pullAll`, `$pop`: plaintext fields only;
/// - anything else (an unknown operator, a replacement document): refused.
pub(crate) fn check_raw_update(spec: &ModelSpec, update: &Document) -> Result<()> {
    if !spec.has_encrypted_fields() {
        return Ok(());
    }
    // Whether an update at `path` can write into something encrypted.
    let reaches_encrypted = |path: &str| match spec.lookup(path) {
        Lookup::Plain => false,
        Lookup::Nested(model, _) => model.has_encrypted_fields(),
        Lookup::Encrypted(..) | Lookup::InsideEncrypted => true,
    };
    for (operator, fields) in update {
        let Bson::Document(fields) = fields else {
            return Err(refused("", operator));
        };
        for (path, value) in fields {
            match operator.as_str() {
                "$unset" => {}
                "$set" | "$setOnInsert" => match spec.lookup(path) {
                    Lookup::Plain => {}
                    Lookup::Encrypted(field, _) => check_operand(&field, value, path)?,
                    Lookup::InsideEncrypted => return Err(refused(path, operator)),
                    Lookup::Nested(model, _) => check_nested_value(model, path, value)?,
                },
                "$rename" => {
                    if reaches_encrypted(path) {
                        return Err(refused(path, operator));
                    }
                    let Bson::String(target) = value else {
                        return Err(refused(path, operator));
                    };
                    if reaches_encrypted(target) {
                        return Err(refused(target, operator));
                    }
                }
                "$inc" | "$mul" | "$min" | "$max" | "$bit" | "$currentDate" | "$push"
                | "$addToSet" | "$pull" | "$pullAll" | "$pop" => {
                    if reaches_encrypted(path) {
                        return Err(refused(path, operator));
                    }
                }
                other => return Err(refused("", other)),
            }
        }
    }
    Ok(())
}
