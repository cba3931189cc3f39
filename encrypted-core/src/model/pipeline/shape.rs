//! What a path names in the documents a sort, a projection or a stage sees, and the
//! checks that share it: sort keys, projections and aggregation expressions.
//!
//! The rule everywhere is the same: the server holds only ciphertexts, and results are
//! decrypted by the model's paths. So a ciphertext may be kept where it is, removed, or
//! compared for equality (deterministic only); it may not be ordered, computed on, or
//! moved to another path. What cannot be proven to follow that rule is refused.

use bson::{Bson, Document};

use crate::model::raw::MAX_DEPTH;
use crate::model::spec::{Lookup, ModelSpec};
use crate::{Algorithm, Error, Result};

/// Sorting by a ciphertext.
pub(crate) const SORT: &str =
    "ciphertext order means nothing (it is not the order of the plaintexts)";
/// A path below an encrypted field.
pub(crate) const INSIDE: &str =
    "a ciphertext is one opaque value: the path names a part of it, which the server cannot reach";
/// An expression that reads a ciphertext.
pub(crate) const EXPRESSION: &str = "an expression on a ciphertext computes on random bytes, and a ciphertext it copies elsewhere is no longer decrypted (results are decrypted by the model's paths)";
/// A computed value written at an encrypted path.
pub(crate) const OVERWRITE: &str = "a computed value written over an encrypted field would not be a ciphertext, and the result would not decode";
/// An accumulator that copies a ciphertext out of its path.
pub(crate) const MOVE: &str = "the accumulator copies the ciphertext to another path, where results are not decrypted (results are decrypted by the model's paths)";
/// An accumulator that computes on a ciphertext.
pub(crate) const ACCUMULATE: &str =
    "the accumulator computes on ciphertexts (random bytes), not on the values";
/// Grouping by a randomly encrypted field.
pub(crate) const RANDOM_GROUP: &str =
    "random ciphertexts of equal values differ: every document would be a group of its own";
/// Grouping by a document holding ciphertexts.
pub(crate) const DOCUMENT_GROUP: &str = "grouping by a document that holds ciphertexts cannot be checked: group by its deterministic fields one by one";
/// Unwinding a ciphertext.
pub(crate) const UNWIND: &str = "a ciphertext is one opaque value, not an array to unwind";
/// A stage, operator or variable whose reach cannot be checked.
pub(crate) const UNCHECKABLE: &str = "what it reads or writes cannot be checked against the model's encrypted paths (other collections, sub-pipelines, JavaScript, fields named at run time), so it is refused (fail closed)";
/// A typed filter after a reshaping stage.
pub(crate) const RESHAPED: &str =
    "an earlier stage reshaped the documents, so the model's paths no longer name their fields";
/// A stage that is not a document with one key.
pub(crate) const MALFORMED: &str =
    "the stage is not a document with one stage operator, so it cannot be checked";

/// What a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// Plaintext (or a field the model does not know).
    Plain,
    /// A ciphertext.
    Encrypted(Algorithm),
    /// A part of a ciphertext (`bloodType.x`).
    Inside,
    /// A document holding ciphertexts (a nested model, the whole document).
    Holds,
}

/// The documents a stage sees.
#[derive(Debug, Clone)]
pub(crate) enum Shape {
    /// Documents of the model, ciphertexts at the model's paths (possibly filtered,
    /// sorted, projected or with plaintext fields added).
    Model(&'static ModelSpec),
    /// Documents an earlier stage built (`$group`, `$count`, `$replaceRoot`, ...): the
    /// only ciphertexts in them are at these paths (group keys by deterministic fields).
    Derived(Vec<(String, Algorithm)>),
}

impl Shape {
    /// What `path` names.
    pub(crate) fn reach(&self, path: &str) -> Reach {
        match self {
            Self::Model(spec) => match spec.lookup(path) {
                Lookup::Plain => Reach::Plain,
                Lookup::Encrypted(field, _) => Reach::Encrypted(field.algorithm),
                Lookup::InsideEncrypted => Reach::Inside,
                Lookup::Nested(model, _) if model.has_encrypted_fields() => Reach::Holds,
                Lookup::Nested(..) => Reach::Plain,
            },
            Self::Derived(ciphertexts) => {
                for (at, algorithm) in ciphertexts {
                    if path == at {
                        return Reach::Encrypted(*algorithm);
                    }
                    if is_below(path, at) {
                        return Reach::Inside;
                    }
                    if is_below(at, path) {
                        return Reach::Holds;
                    }
                }
                Reach::Plain
            }
        }
    }

    /// Whether the documents hold ciphertexts anywhere.
    pub(crate) fn has_ciphertexts(&self) -> bool {
        match self {
            Self::Model(spec) => spec.has_encrypted_fields(),
            Self::Derived(ciphertexts) => !ciphertexts.is_empty(),
        }
    }
}

/// Whether `path` is strictly below `parent` (`a.b` below `a`).
fn is_below(path: &str, parent: &str) -> bool {
    path.strip_prefix(parent)
        .is_some_and(|rest| rest.starts_with('.'))
}

/// `prefix.name`, or `name` at the root.
pub(crate) fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

/// The refusal.
pub(crate) fn refused(path: &str, operation: &str, reason: &'static str) -> Error {
    Error::EncryptedPathRefused {
        path: path.to_owned(),
        operation: operation.to_owned(),
        reason,
    }
}

fn too_deep() -> Error {
    Error::TooDeeplyNested { limit: MAX_DEPTH }
}

/// Checks the keys of a sort (`find`'s `sort`, a `$sort` stage): plaintext paths only.
pub(crate) fn check_sort(shape: &Shape, sort: &Document, operation: &str) -> Result<()> {
    for key in sort.keys() {
        match shape.reach(key) {
            Reach::Plain => {}
            Reach::Inside => return Err(refused(key, operation, INSIDE)),
            Reach::Encrypted(_) | Reach::Holds => return Err(refused(key, operation, SORT)),
        }
    }
    Ok(())
}

/// Which projection a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProjectionKind {
    /// `find`'s projection: inclusion, exclusion, `$slice`, `$elemMatch`, `$meta`, and
    /// (since MongoDB 4.4) aggregation expressions.
    Find,
    /// A `$project` stage: inclusion, exclusion, expressions.
    Project,
    /// `$addFields` / `$set`: every value is an expression (`1` is the number one).
    AddFields,
}

/// Checks a projection: keeping or dropping any field is fine (a kept ciphertext stays
/// at its path, decryptable); a computed value may neither read a ciphertext nor be
/// written over one; a path inside a ciphertext names nothing the server can reach.
pub(crate) fn check_projection(
    shape: &Shape,
    projection: &Document,
    kind: ProjectionKind,
    operation: &str,
) -> Result<()> {
    check_projection_at(shape, projection, kind, operation, "", 0)
}

fn check_projection_at(
    shape: &Shape,
    projection: &Document,
    kind: ProjectionKind,
    operation: &str,
    prefix: &str,
    depth: usize,
) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    for (key, value) in projection {
        let path = join(prefix, key);
        let reach = shape.reach(&path);
        match value {
            Bson::Boolean(_) | Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_)
                if kind != ProjectionKind::AddFields =>
            {
                // Inclusion or exclusion.
                if reach == Reach::Inside {
                    return Err(refused(&path, operation, INSIDE));
                }
            }
            Bson::Document(inner) if !inner.is_empty() && !is_operator_document(inner) => {
                // `{ insurance: { provider: 1 } }` is `{ "insurance.provider": 1 }`.
                check_projection_at(shape, inner, kind, operation, &path, depth + 1)?;
            }
            Bson::Document(inner)
                if kind == ProjectionKind::Find
                    && inner.len() == 1
                    && inner
                        .keys()
                        .all(|op| matches!(op.as_str(), "$slice" | "$elemMatch" | "$meta")) =>
            {
                if reach != Reach::Plain {
                    let op = inner.keys().next().map_or("", String::as_str);
                    return Err(refused(&path, &format!("{op} in {operation}"), EXPRESSION));
                }
            }
            computed => {
                if reach != Reach::Plain {
                    return Err(refused(&path, operation, OVERWRITE));
                }
                check_expression(shape, computed, operation, EXPRESSION)?;
            }
        }
    }
    Ok(())
}

/// Whether a document's first key is an operator (`{ $toUpper: .. }`) rather than a
/// field name.
pub(crate) fn is_operator_document(document: &Document) -> bool {
    document
        .keys()
        .next()
        .is_some_and(|key| key.starts_with('$'))
}

/// Operators that read fields named at run time, or run code: what they read cannot be
/// checked.
const OPAQUE_OPERATORS: &[&str] = &[
    "$getField",
    "$setField",
    "$unsetField",
    "$function",
    "$accumulator",
    "$where",
];

/// Checks an aggregation expression reads no ciphertext: no field path (`"$ssn"`) or
/// variable (`"$$ROOT"`) that reaches one, and no operator whose reach cannot be checked.
/// `reason` says why a reference is refused where it stands.
pub(crate) fn check_expression(
    shape: &Shape,
    expression: &Bson,
    operation: &str,
    reason: &'static str,
) -> Result<()> {
    check_expression_at(shape, expression, operation, reason, 0)
}

fn check_expression_at(
    shape: &Shape,
    expression: &Bson,
    operation: &str,
    reason: &'static str,
    depth: usize,
) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    match expression {
        Bson::String(text) => {
            if let Some(path) = field_reference(shape, text) {
                return Err(refused(&path, operation, reason));
            }
            Ok(())
        }
        Bson::Array(items) => items
            .iter()
            .try_for_each(|item| check_expression_at(shape, item, operation, reason, depth + 1)),
        Bson::Document(document) => {
            for (key, value) in document {
                if key == "$literal" {
                    // A literal is never a field path.
                    continue;
                }
                if shape.has_ciphertexts() && OPAQUE_OPERATORS.contains(&key.as_str()) {
                    return Err(refused("", &format!("{key} in {operation}"), UNCHECKABLE));
                }
                check_expression_at(shape, value, operation, reason, depth + 1)?;
            }
            Ok(())
        }
        // JavaScript could read anything.
        Bson::JavaScriptCode(_) | Bson::JavaScriptCodeWithScope(_) if shape.has_ciphertexts() => {
            Err(refused("", operation, UNCHECKABLE))
        }
        _ => Ok(()),
    }
}

/// The path a string of an expression reads, if it reads a ciphertext (or a document
/// holding one): `"$ssn"`, `"$insurance"`, `"$$ROOT"`, `"$$CURRENT.ssn"`.
fn field_reference(shape: &Shape, text: &str) -> Option<String> {
    let path = if let Some(variable) = text.strip_prefix("$$") {
        let (name, rest) = variable.split_once('.').unwrap_or((variable, ""));
        if name != "ROOT" && name != "CURRENT" {
            // `$$this`, `$$NOW`, a `$let` variable: what they hold was read from a
            // field path checked where it was read.
            return None;
        }
        if rest.is_empty() {
            return shape.has_ciphertexts().then(|| text.to_owned());
        }
        rest
    } else {
        text.strip_prefix('$')?
    };
    (shape.reach(path) != Reach::Plain).then(|| path.to_owned())
}
