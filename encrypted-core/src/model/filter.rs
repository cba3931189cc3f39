//! Filters over a model's collection, built from typed paths (or raw, and then checked).

use std::marker::PhantomData;

use bson::{Bson, Document, doc};
use serde::Serialize;

use super::codec::check_operand;
use super::spec::{EncryptedFieldSpec, FieldKind, KeySource, Lookup, ModelSpec};
use crate::{Error, Result, plaintext};

/// A query filter on the collection of model `R`.
///
/// Built from the typed paths `#[derive(Encrypted)]` generates, so a query on a random
/// field, or a range on an encrypted one, does not compile; equality operands of
/// deterministic fields are encrypted when the filter is sent. [`Filter::raw`] takes a
/// hand-written document and checks it instead: a plaintext operand on an encrypted
/// field is an error, not a query that silently matches nothing.
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
/// use encrypted_core::model::Filter;
///
/// // Doctors find a patient by SSN (encrypted for the query) and name (plaintext).
/// let filter: Filter<Patient> = Patient::fields().ssn().eq(241014209)
///     .and(Patient::fields().name().eq("Jon Doe"));
/// // Anyone can filter on plaintext fields with any operator.
/// let regulars = Patient::fields().visits().gte(10);
/// # let _ = (filter, regulars);
/// ```
pub struct Filter<R> {
    node: Node,
    _model: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for Filter<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Operands may be secrets waiting to be encrypted: print the shape only.
        f.debug_struct("Filter").finish_non_exhaustive()
    }
}

enum Node {
    All,
    Field {
        path: String,
        operator: Option<&'static str>,
        operand: Operand,
    },
    And(Vec<Node>),
    Or(Vec<Node>),
    Raw(Document),
    Invalid {
        path: String,
    },
}

enum Operand {
    Plain(Bson),
    /// One value (`eq`, `$ne`) or a list (`$in`, `$nin`) to encrypt deterministically.
    Encrypt(Vec<Bson>),
}

impl<R> Default for Filter<R> {
    fn default() -> Self {
        Self::all()
    }
}

impl<R> Filter<R> {
    fn new(node: Node) -> Self {
        Self {
            node,
            _model: PhantomData,
        }
    }

    /// Matches every document (`{}`).
    pub fn all() -> Self {
        Self::new(Node::All)
    }

    /// A hand-written filter, checked when it is sent (on a model with encrypted fields):
    ///
    /// - an operand on an encrypted field must be a ciphertext (binary subtype 6) of the
    ///   field's BSON type and algorithm, or null, under an operator that compares
    ///   ciphertexts (`$eq`, `$ne`, `$in`, `$nin`; and `$exists`);
    /// - a document compared with a nested model's field (`insurance: {..}`, `$eq`, `$in`
    ///   of such) must hold ciphertexts in its encrypted fields;
    /// - `$expr`, `$where`, `$jsonSchema`, `$text`, paths inside an encrypted value and any
    ///   operator not listed here are refused (fail closed): they could compare plaintext
    ///   with ciphertexts, or silently match nothing.
    ///
    /// Otherwise the operation fails with [`Error::UnencryptedField`],
    /// [`Error::UnsupportedOperator`], or [`Error::Field`] wrapping
    /// [`Error::CiphertextMismatch`].
    pub fn raw(filter: Document) -> Self {
        Self::new(Node::Raw(filter))
    }

    /// Both filters (`$and`).
    pub fn and(self, other: Self) -> Self {
        Self::new(match (self.node, other.node) {
            (Node::All, node) | (node, Node::All) => node,
            (Node::And(mut nodes), Node::And(more)) => {
                nodes.extend(more);
                Node::And(nodes)
            }
            (Node::And(mut nodes), node) => {
                nodes.push(node);
                Node::And(nodes)
            }
            (a, b) => Node::And(vec![a, b]),
        })
    }

    /// Either filter (`$or`).
    pub fn or(self, other: Self) -> Self {
        Self::new(match (self.node, other.node) {
            (Node::Or(mut nodes), Node::Or(more)) => {
                nodes.extend(more);
                Node::Or(nodes)
            }
            (Node::Or(mut nodes), node) => {
                nodes.push(node);
                Node::Or(nodes)
            }
            (a, b) => Node::Or(vec![a, b]),
        })
    }

    pub(crate) fn plain(
        path: &str,
        operator: Option<&'static str>,
        value: &impl Serialize,
    ) -> Self {
        match bson::serialize_to_bson(value) {
            Ok(value) => Self::new(Node::Field {
                path: path.to_owned(),
                operator,
                operand: Operand::Plain(value),
            }),
            Err(_) => Self::new(Node::Invalid {
                path: path.to_owned(),
            }),
        }
    }

    pub(crate) fn encrypted<T: Serialize>(
        path: &str,
        operator: Option<&'static str>,
        values: &[T],
    ) -> Self {
        let values: Result<Vec<Bson>, _> = values.iter().map(bson::serialize_to_bson).collect();
        match values {
            Ok(values) => Self::new(Node::Field {
                path: path.to_owned(),
                operator,
                operand: Operand::Encrypt(values),
            }),
            Err(_) => Self::new(Node::Invalid {
                path: path.to_owned(),
            }),
        }
    }

    /// The keys the encrypted operands need, each with the path that needs it.
    pub(crate) fn keys(&self, spec: &ModelSpec) -> Vec<(String, Option<KeySource>)> {
        let mut keys = Vec::new();
        collect_keys(&self.node, spec, &mut keys);
        keys
    }

    /// The filter document, operands encrypted by `encrypt(path, value)`, raw parts
    /// checked against `spec`.
    pub(crate) fn into_document(
        self,
        spec: &ModelSpec,
        encrypt: &dyn Fn(&str, Bson) -> Result<Bson>,
    ) -> Result<Document> {
        node_document(self.node, spec, encrypt)
    }
}

fn collect_keys(node: &Node, spec: &ModelSpec, keys: &mut Vec<(String, Option<KeySource>)>) {
    match node {
        Node::Field {
            path,
            operand: Operand::Encrypt(_),
            ..
        } => {
            if let Lookup::Encrypted(_, key) = spec.lookup(path) {
                keys.push((path.clone(), key));
            }
        }
        Node::And(nodes) | Node::Or(nodes) => {
            for node in nodes {
                collect_keys(node, spec, keys);
            }
        }
        _ => {}
    }
}

fn node_document(
    node: Node,
    spec: &ModelSpec,
    encrypt: &dyn Fn(&str, Bson) -> Result<Bson>,
) -> Result<Document> {
    match node {
        Node::All => Ok(Document::new()),
        Node::Invalid { path } => Err(Error::Field {
            path,
            source: Box::new(Error::UnencodableValue {
                reason: "the operand cannot be serialized to BSON",
            }),
        }),
        Node::Field {
            path,
            operator,
            operand,
        } => {
            let operand = match operand {
                Operand::Plain(value) => value,
                Operand::Encrypt(values) => {
                    let mut encrypted = values
                        .into_iter()
                        .map(|value| encrypt(&path, value))
                        .collect::<Result<Vec<_>>>()?;
                    match operator {
                        Some("$in" | "$nin") => Bson::Array(encrypted),
                        _ => encrypted.pop().unwrap_or(Bson::Null),
                    }
                }
            };
            Ok(match operator {
                None => doc! { path: operand },
                Some(operator) => doc! { path: { operator: operand } },
            })
        }
        Node::And(nodes) | Node::Or(nodes) if nodes.is_empty() => Ok(Document::new()),
        Node::And(nodes) => combine("$and", nodes, spec, encrypt),
        Node::Or(nodes) => combine("$or", nodes, spec, encrypt),
        Node::Raw(document) => {
            check_raw_filter(spec, &document)?;
            Ok(document)
        }
    }
}

fn combine(
    operator: &str,
    nodes: Vec<Node>,
    spec: &ModelSpec,
    encrypt: &dyn Fn(&str, Bson) -> Result<Bson>,
) -> Result<Document> {
    let documents = nodes
        .into_iter()
        .map(|node| node_document(node, spec, encrypt).map(Bson::Document))
        .collect::<Result<Vec<_>>>()?;
    Ok(doc! { operator: documents })
}

pub(crate) fn unencrypted(path: &str, value: &Bson) -> Error {
    Error::UnencryptedField {
        path: path.to_owned(),
        found: plaintext::type_name(value.element_type()),
    }
}

pub(crate) fn refused(path: &str, operator: &str) -> Error {
    Error::UnsupportedOperator {
        path: path.to_owned(),
        operator: operator.to_owned(),
    }
}

/// Whether a document is a list of query operators (`{ $in: [...] }`) rather than a
/// document to compare with.
fn is_operators(document: &Document) -> bool {
    !document.is_empty() && document.keys().all(|key| key.starts_with('$'))
}

/// Checks a hand-written filter: what it says of an encrypted field must be said with
/// ciphertexts of the field's type and algorithm, under operators that compare
/// ciphertexts; what could reach an encrypted field unchecked (`$expr`, `$where`,
/// `$jsonSchema`, an unknown operator) is refused. Fails closed.
pub(crate) fn check_raw_filter(spec: &ModelSpec, filter: &Document) -> Result<()> {
    if !spec.has_encrypted_fields() {
        return Ok(());
    }
    check_clause(spec, filter)
}

fn check_clause(spec: &ModelSpec, filter: &Document) -> Result<()> {
    for (key, value) in filter {
        match key.as_str() {
            "$and" | "$or" | "$nor" => {
                let Bson::Array(clauses) = value else {
                    return Err(refused("", key));
                };
                for clause in clauses {
                    let Bson::Document(clause) = clause else {
                        return Err(refused("", key));
                    };
                    check_clause(spec, clause)?;
                }
            }
            "$comment" => {}
            operator if operator.starts_with('$') => return Err(refused("", operator)),
            path => check_field(spec, path, value)?,
        }
    }
    Ok(())
}

/// The operator a condition on a field applies (`$eq` for a bare value).
fn operator_of(value: &Bson) -> &str {
    match value {
        Bson::Document(document) if is_operators(document) => {
            document.keys().next().map_or("$eq", String::as_str)
        }
        _ => "$eq",
    }
}

fn check_field(spec: &ModelSpec, path: &str, value: &Bson) -> Result<()> {
    match spec.lookup(path) {
        Lookup::Plain => Ok(()),
        Lookup::InsideEncrypted => Err(refused(path, operator_of(value))),
        Lookup::Encrypted(field, _) => check_encrypted_condition(&field, path, value),
        Lookup::Nested(model, _) if !model.has_encrypted_fields() => Ok(()),
        Lookup::Nested(model, _) => check_nested_condition(model, path, value),
    }
}

/// A value compared with an encrypted field: a ciphertext of its type and algorithm, or
/// null (which matches an absent field).
fn check_encrypted_value(field: &EncryptedFieldSpec, path: &str, value: &Bson) -> Result<()> {
    match value {
        Bson::Null => Ok(()),
        value => check_operand(field, value, path),
    }
}

fn check_encrypted_condition(field: &EncryptedFieldSpec, path: &str, value: &Bson) -> Result<()> {
    let Bson::Document(operators) = value else {
        return check_encrypted_value(field, path, value);
    };
    if !is_operators(operators) {
        // A document compared with a ciphertext: never equal.
        return Err(unencrypted(path, value));
    }
    for (operator, operand) in operators {
        match operator.as_str() {
            "$exists" => {}
            "$eq" | "$ne" => check_encrypted_value(field, path, operand)?,
            "$in" | "$nin" => {
                let Bson::Array(values) = operand else {
                    return Err(refused(path, operator));
                };
                for value in values {
                    check_encrypted_value(field, path, value)?;
                }
            }
            // Ranges, regexes, `$type`, `$not`, `$elemMatch`, ... and what is unknown.
            other => return Err(refused(path, other)),
        }
    }
    Ok(())
}

fn check_nested_condition(model: &ModelSpec, path: &str, value: &Bson) -> Result<()> {
    let Bson::Document(operators) = value else {
        return check_nested_value(model, path, value);
    };
    if !is_operators(operators) {
        return check_nested_value(model, path, value);
    }
    for (operator, operand) in operators {
        match operator.as_str() {
            "$exists" | "$type" => {}
            "$eq" | "$ne" => check_nested_value(model, path, operand)?,
            "$in" | "$nin" => {
                let Bson::Array(values) = operand else {
                    return Err(refused(path, operator));
                };
                for value in values {
                    check_nested_value(model, path, value)?;
                }
            }
            other => return Err(refused(path, other)),
        }
    }
    Ok(())
}

/// A whole value of a nested model's field, as compared with or written over stored
/// documents: null, or a document whose encrypted fields (at any depth) are ciphertexts
/// of their type and algorithm. Errors name the full path (`insurance.policyNumber`).
pub(crate) fn check_nested_value(model: &ModelSpec, path: &str, value: &Bson) -> Result<()> {
    match value {
        Bson::Null => Ok(()),
        Bson::Document(document) => {
            for (name, value) in document {
                let Some(field) = model.field(name) else {
                    continue;
                };
                let path = format!("{path}.{name}");
                match field.kind {
                    FieldKind::Encrypted(encrypted) => check_operand(&encrypted, value, &path)?,
                    FieldKind::Nested { model, .. } => check_nested_value(model, &path, value)?,
                }
            }
            Ok(())
        }
        other => Err(Error::SchemaMismatch {
            path: path.to_owned(),
            expected: "object",
            found: plaintext::type_name(other.element_type()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;
    use crate::Algorithm;
    use crate::model::update::tests::{PATIENT, ciphertext};

    fn refused(filter: Document) -> Error {
        match check_raw_filter(&PATIENT, &filter) {
            Err(error) => error,
            Ok(()) => panic!("{filter} was not refused"),
        }
    }

    #[test]
    fn finding_11_document_operands_on_a_parent_of_an_encrypted_field_are_refused() {
        let plain = doc! { "provider": "MaestCare", "policyNumber": 123142 };
        for filter in [
            doc! { "insurance": plain.clone() },
            doc! { "insurance": { "$eq": plain.clone() } },
            doc! { "insurance": { "$ne": plain.clone() } },
            doc! { "insurance": { "$in": [plain.clone()] } },
            doc! { "$or": [ { "name": "x" }, { "insurance": { "$nin": [plain.clone()] } } ] },
        ] {
            let error = refused(filter);
            assert!(
                matches!(&error, Error::UnencryptedField { path, .. } if path == "insurance.policyNumber"),
                "{error}"
            );
        }
        let error = refused(doc! { "insurance": { "$elemMatch": { "policyNumber": 1 } } });
        assert!(
            matches!(error, Error::UnsupportedOperator { .. }),
            "{error}"
        );
        // A document whose encrypted field is a ciphertext of the right kind is fine.
        let encrypted = doc! { "provider": "MaestCare", "policyNumber": ciphertext(Bson::Int32(123142), Algorithm::Deterministic) };
        check_raw_filter(&PATIENT, &doc! { "insurance": { "$in": [encrypted] } }).unwrap();
        check_raw_filter(&PATIENT, &doc! { "insurance": { "$exists": true } }).unwrap();
    }

    #[test]
    fn finding_11_expr_type_and_unknown_operators_are_refused() {
        for filter in [
            doc! { "$expr": { "$eq": ["$ssn", 241014209] } },
            doc! { "$and": [ { "$expr": { "$eq": ["$insurance.policyNumber", 1] } } ] },
            doc! { "$where": "this.ssn == 1" },
            doc! { "$jsonSchema": { "properties": { "ssn": { "bsonType": "int" } } } },
            doc! { "$nonsense": 1 },
            doc! { "ssn": { "$type": "int" } },
            doc! { "insurance.policyNumber": { "$type": "binData" } },
            doc! { "bloodType": { "$regex": "^O" } },
            doc! { "ssn": { "$not": { "$eq": 1 } } },
            doc! { "ssn": { "$gt": ciphertext(Bson::Int32(1), Algorithm::Deterministic) } },
            doc! { "bloodType.x": 1 },
        ] {
            let error = refused(filter.clone());
            assert!(
                matches!(error, Error::UnsupportedOperator { .. }),
                "{filter}: {error}"
            );
        }
        assert_eq!(
            refused(doc! { "$expr": true }).to_string(),
            "operator `$expr` cannot be used on a model with encrypted fields (it could reach them unchecked)"
        );
        check_raw_filter(
            &PATIENT,
            &doc! { "ssn": { "$exists": false }, "name": { "$regex": "^J" } },
        )
        .unwrap();
    }

    #[test]
    fn finding_11_ciphertext_operands_must_have_the_fields_type_and_algorithm() {
        let good = ciphertext(Bson::Int32(1), Algorithm::Deterministic);
        check_raw_filter(&PATIENT, &doc! { "ssn": good.clone() }).unwrap();
        check_raw_filter(&PATIENT, &doc! { "ssn": { "$in": [good, Bson::Null] } }).unwrap();
        for wrong in [
            ciphertext(Bson::Int64(1), Algorithm::Deterministic),
            ciphertext(Bson::Int32(1), Algorithm::Random),
        ] {
            let error = refused(doc! { "ssn": { "$in": [wrong] } });
            assert!(
                matches!(&error, Error::Field { path, source } if path == "ssn" && matches!(**source, Error::CiphertextMismatch { .. })),
                "{error}"
            );
        }
        let error = refused(doc! { "ssn": { "$eq": { "a": 1 } } });
        assert!(matches!(error, Error::UnencryptedField { .. }), "{error}");
    }
}
