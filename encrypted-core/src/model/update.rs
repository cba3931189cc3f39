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

#[cfg(test)]
pub(crate) mod tests {
    use bson::doc;
    use bson::spec::ElementType;

    use super::*;
    use crate::model::{EncryptedFieldSpec, FieldKind, FieldSpec, KeySource};
    use crate::{Algorithm, DataKey, Error};

    const fn encrypted(algorithm: Algorithm, bson_type: ElementType) -> FieldKind {
        FieldKind::Encrypted(EncryptedFieldSpec {
            algorithm,
            bson_type,
            key: None,
            optional: false,
        })
    }

    const INSURANCE: ModelSpec = ModelSpec {
        name: "Insurance",
        key: None,
        inherits_key: true,
        fields: &[FieldSpec {
            name: "policyNumber",
            kind: encrypted(Algorithm::Deterministic, ElementType::Int32),
        }],
    };

    pub(crate) const PATIENT: ModelSpec = ModelSpec {
        name: "Patient",
        key: Some(KeySource::AltName("medco-key")),
        inherits_key: false,
        fields: &[
            FieldSpec {
                name: "ssn",
                kind: encrypted(Algorithm::Deterministic, ElementType::Int32),
            },
            FieldSpec {
                name: "bloodType",
                kind: encrypted(Algorithm::Random, ElementType::String),
            },
            FieldSpec {
                name: "insurance",
                kind: FieldKind::Nested {
                    model: &INSURANCE,
                    optional: false,
                },
            },
        ],
    };

    /// A ciphertext of `value` with `algorithm`.
    pub(crate) fn ciphertext(value: Bson, algorithm: Algorithm) -> Bson {
        let key = DataKey::generate(bson::Uuid::new()).unwrap();
        Bson::from(key.encrypt(&value, algorithm).unwrap())
    }

    fn refused_operator(update: Document) -> (String, String) {
        match check_raw_update(&PATIENT, &update) {
            Err(Error::UnsupportedOperator { path, operator }) => (path, operator),
            other => panic!("{update} was not refused: {other:?}"),
        }
    }

    #[test]
    fn finding_10_rename_onto_or_off_an_encrypted_path_is_refused() {
        let (path, operator) = refused_operator(doc! { "$rename": { "name": "ssn" } });
        assert_eq!((path.as_str(), operator.as_str()), ("ssn", "$rename"));
        refused_operator(doc! { "$rename": { "name": "insurance" } });
        refused_operator(doc! { "$rename": { "name": "insurance.policyNumber" } });
        refused_operator(doc! { "$rename": { "ssn": "name" } });
        refused_operator(doc! { "$rename": { "insurance": "old" } });
        check_raw_update(&PATIENT, &doc! { "$rename": { "name": "fullName" } }).unwrap();
        check_raw_update(
            &PATIENT,
            &doc! { "$rename": { "insurance.provider": "insurance.company" } },
        )
        .unwrap();
    }

    #[test]
    fn finding_10_every_operator_is_checked_and_unknown_ones_are_refused() {
        for operator in [
            "$inc",
            "$mul",
            "$min",
            "$max",
            "$bit",
            "$currentDate",
            "$push",
            "$addToSet",
            "$pull",
            "$pullAll",
            "$pop",
        ] {
            for path in ["ssn", "bloodType", "insurance", "insurance.policyNumber"] {
                let (refused_path, refused) = refused_operator(doc! { operator: { path: 1 } });
                assert_eq!((refused_path.as_str(), refused.as_str()), (path, operator));
            }
            check_raw_update(&PATIENT, &doc! { operator: { "visits": 1 } }).unwrap();
        }
        refused_operator(doc! { "$setOnInsertX": { "name": 1 } });
        refused_operator(doc! { "name": "a replacement" });
        refused_operator(
            doc! { "$set": { "bloodType.x": ciphertext(Bson::Int32(1), Algorithm::Random) } },
        );
        // $setOnInsert is $set.
        let error = check_raw_update(&PATIENT, &doc! { "$setOnInsert": { "ssn": 1 } }).unwrap_err();
        assert!(
            matches!(&error, Error::UnencryptedField { path, .. } if path == "ssn"),
            "{error}"
        );
        check_raw_update(&PATIENT, &doc! { "$unset": { "ssn": "" } }).unwrap();
    }

    #[test]
    fn finding_10_a_parent_set_to_plaintext_is_refused_with_the_full_path() {
        let error = check_raw_update(
            &PATIENT,
            &doc! { "$set": { "insurance": { "provider": "x", "policyNumber": 123142 } } },
        )
        .unwrap_err();
        assert!(
            matches!(&error, Error::UnencryptedField { path, found: "int" } if path == "insurance.policyNumber"),
            "{error}"
        );
        // With a ciphertext of the right type and algorithm it is accepted ...
        let good = ciphertext(Bson::Int32(123142), Algorithm::Deterministic);
        check_raw_update(
            &PATIENT,
            &doc! { "$set": { "insurance": { "provider": "x", "policyNumber": good.clone() } } },
        )
        .unwrap();
        check_raw_update(
            &PATIENT,
            &doc! { "$set": { "insurance.policyNumber": good } },
        )
        .unwrap();
        // ... and of another type or algorithm refused (finding 8 for updates).
        for wrong in [
            ciphertext(Bson::Int64(123142), Algorithm::Deterministic),
            ciphertext(Bson::Int32(123142), Algorithm::Random),
        ] {
            let error = check_raw_update(
                &PATIENT,
                &doc! { "$set": { "insurance": { "policyNumber": wrong } } },
            )
            .unwrap_err();
            assert!(
                matches!(&error, Error::Field { path, source } if path == "insurance.policyNumber" && matches!(**source, Error::CiphertextMismatch { .. })),
                "{error}"
            );
        }
        let error =
            check_raw_update(&PATIENT, &doc! { "$set": { "insurance": "plain" } }).unwrap_err();
        assert!(matches!(error, Error::SchemaMismatch { .. }), "{error}");
    }
}
