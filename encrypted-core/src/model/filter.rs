//! Filters over a model's collection, built from typed paths (or raw, and then checked).

use std::marker::PhantomData;

use bson::spec::BinarySubtype;
use bson::{Bson, Document, doc};
use serde::Serialize;

use super::spec::{KeySource, Lookup, ModelSpec};
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

    /// A hand-written filter. When it is sent, every operand on an encrypted field must be
    /// a ciphertext (binary subtype 6) under an operator that works on ciphertexts
    /// (`$eq`, `$ne`, `$in`, `$nin`, `$exists`), or the operation fails with
    /// [`Error::UnencryptedField`] / [`Error::UnsupportedOperator`].
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

fn is_ciphertext(value: &Bson) -> bool {
    matches!(value, Bson::Binary(binary) if binary.subtype == BinarySubtype::Encrypted)
}

fn unencrypted(path: &str, value: &Bson) -> Error {
    Error::UnencryptedField {
        path: path.to_owned(),
        found: plaintext::type_name(value.element_type()),
    }
}

/// Checks a hand-written filter: what it says of an encrypted field must be said with
/// ciphertexts, under operators that compare ciphertexts.
pub(crate) fn check_raw_filter(spec: &ModelSpec, filter: &Document) -> Result<()> {
    for (key, value) in filter {
        if let Some(logical) = key.strip_prefix('$') {
            if matches!(logical, "and" | "or" | "nor")
                && let Bson::Array(clauses) = value
            {
                for clause in clauses {
                    if let Bson::Document(clause) = clause {
                        check_raw_filter(spec, clause)?;
                    }
                }
            }
            continue;
        }
        match spec.lookup(key) {
            Lookup::Plain => {}
            Lookup::Encrypted(..) => check_encrypted_operand(key, value)?,
            Lookup::Nested(model, _) => {
                if model.has_encrypted_fields()
                    && let Bson::Document(operand) = value
                    && !operand.keys().any(|k| k.starts_with('$'))
                {
                    // Matching a whole nested document compares its plaintext with
                    // stored ciphertexts: it can never match.
                    return Err(unencrypted(key, value));
                }
            }
        }
    }
    Ok(())
}

fn check_encrypted_operand(path: &str, value: &Bson) -> Result<()> {
    match value {
        value if is_ciphertext(value) => Ok(()),
        Bson::Document(operators) if operators.keys().all(|k| k.starts_with('$')) => {
            for (operator, operand) in operators {
                match operator.as_str() {
                    "$exists" | "$type" => {}
                    "$eq" | "$ne" if is_ciphertext(operand) => {}
                    "$in" | "$nin" => match operand {
                        Bson::Array(values) => {
                            if let Some(value) = values.iter().find(|v| !is_ciphertext(v)) {
                                return Err(unencrypted(path, value));
                            }
                        }
                        other => return Err(unencrypted(path, other)),
                    },
                    "$eq" | "$ne" => return Err(unencrypted(path, operand)),
                    other => {
                        return Err(Error::UnsupportedOperator {
                            path: path.to_owned(),
                            operator: other.to_owned(),
                        });
                    }
                }
            }
            Ok(())
        }
        other => Err(unencrypted(path, other)),
    }
}
