//! The checks of raw aggregation stages, in order: each stage is checked against the
//! documents it sees ([`Shape`]), and says what documents it passes on.

use bson::{Bson, Document};

use super::shape::{
    ACCUMULATE, DOCUMENT_GROUP, EXPRESSION, INSIDE, MALFORMED, MOVE, OVERWRITE, ProjectionKind,
    RANDOM_GROUP, RESHAPED, Reach, Shape, UNCHECKABLE, UNWIND, check_expression, check_projection,
    check_sort, is_operator_document, join, refused,
};
use crate::model::filter::check_raw_filter;
use crate::model::raw::MAX_DEPTH;
use crate::{Algorithm, Error, Result};

/// Accumulators that copy their argument into the result rather than compute on it.
const MOVING_ACCUMULATORS: &[&str] = &[
    "$push",
    "$addToSet",
    "$first",
    "$last",
    "$firstN",
    "$lastN",
    "$top",
    "$bottom",
    "$topN",
    "$bottomN",
    "$mergeObjects",
];

/// Checks a raw stage against `shape`, and returns the shape of the documents it passes
/// on. `spec_has_ciphertexts` says whether the model has encrypted fields at all: if it
/// has none, every stage is plaintext and passes.
pub(crate) fn check_stage(
    shape: Shape,
    stage: &Document,
    spec_has_ciphertexts: bool,
) -> Result<Shape> {
    if !spec_has_ciphertexts {
        return Ok(shape);
    }
    let mut entries = stage.iter();
    let (Some((name, body)), None) = (entries.next(), entries.next()) else {
        return Err(refused("", "an aggregation stage", MALFORMED));
    };
    let name = name.as_str();
    match name {
        "$match" => {
            let filter = document(body, name)?;
            match &shape {
                Shape::Model(spec) => check_raw_filter(spec, filter)?,
                Shape::Derived(_) => check_derived_match(&shape, filter, 0)?,
            }
            Ok(shape)
        }
        "$sort" => {
            check_sort(&shape, document(body, name)?, name)?;
            Ok(shape)
        }
        "$limit" | "$skip" | "$sample" => Ok(shape),
        "$project" => {
            check_projection(&shape, document(body, name)?, ProjectionKind::Project, name)?;
            Ok(shape)
        }
        "$addFields" | "$set" => {
            check_projection(
                &shape,
                document(body, name)?,
                ProjectionKind::AddFields,
                name,
            )?;
            Ok(shape)
        }
        "$unset" => {
            check_unset(&shape, body)?;
            Ok(shape)
        }
        "$unwind" => {
            check_unwind(&shape, body)?;
            Ok(shape)
        }
        "$group" => check_group(&shape, document(body, name)?),
        "$count" => Ok(Shape::Derived(Vec::new())),
        "$sortByCount" => {
            check_expression(&shape, body, name, EXPRESSION)?;
            Ok(Shape::Derived(Vec::new()))
        }
        "$bucket" | "$bucketAuto" => {
            let bucket = document(body, name)?;
            for (key, value) in bucket {
                match key.as_str() {
                    "groupBy" => check_expression(&shape, value, name, EXPRESSION)?,
                    "output" => check_accumulators(&shape, document(value, name)?, name)?,
                    // Boundaries, default, buckets, granularity: constants.
                    _ => {}
                }
            }
            Ok(Shape::Derived(Vec::new()))
        }
        "$replaceRoot" | "$replaceWith" => {
            check_expression(&shape, body, name, EXPRESSION)?;
            Ok(Shape::Derived(Vec::new()))
        }
        // `$lookup`, `$unionWith`, `$graphLookup`, `$facet` (other collections,
        // sub-pipelines), `$out`, `$merge` (writes elsewhere), `$redact`, `$geoNear`,
        // `$setWindowFields`, `$densify`, `$fill`, search stages, and every stage this
        // list does not know: refused (fail closed).
        other => Err(refused("", other, UNCHECKABLE)),
    }
}

/// A typed filter is a `$match` on the model's paths: only where the documents are
/// still the model's.
pub(crate) fn check_typed_filter(shape: &Shape) -> Result<()> {
    match shape {
        Shape::Model(_) => Ok(()),
        Shape::Derived(_) => Err(refused("", "$match of a typed filter", RESHAPED)),
    }
}

fn document<'a>(body: &'a Bson, stage: &str) -> Result<&'a Document> {
    match body {
        Bson::Document(document) => Ok(document),
        _ => Err(refused("", stage, MALFORMED)),
    }
}

fn check_unset(shape: &Shape, body: &Bson) -> Result<()> {
    let paths: Vec<&Bson> = match body {
        Bson::Array(paths) => paths.iter().collect(),
        other => vec![other],
    };
    for path in paths {
        let Bson::String(path) = path else {
            return Err(refused("", "$unset", MALFORMED));
        };
        // Removing a ciphertext is fine; a part of one names nothing.
        if shape.reach(path) == Reach::Inside {
            return Err(refused(path, "$unset", INSIDE));
        }
    }
    Ok(())
}

fn check_unwind(shape: &Shape, body: &Bson) -> Result<()> {
    let (path, index) = match body {
        Bson::String(path) => (path.as_str(), None),
        Bson::Document(options) => (
            options
                .get_str("path")
                .map_err(|_| refused("", "$unwind", MALFORMED))?,
            options.get_str("includeArrayIndex").ok(),
        ),
        _ => return Err(refused("", "$unwind", MALFORMED)),
    };
    let Some(path) = path.strip_prefix('$') else {
        return Err(refused("", "$unwind", MALFORMED));
    };
    if shape.reach(path) != Reach::Plain {
        return Err(refused(path, "$unwind", UNWIND));
    }
    if let Some(index) = index
        && shape.reach(index) != Reach::Plain
    {
        return Err(refused(index, "$unwind", OVERWRITE));
    }
    Ok(())
}

/// `$group`: its key may hold deterministic ciphertexts as they are (equality: equal
/// values have equal ciphertexts, so the groups are those of the values); nothing else
/// may read a ciphertext. The documents it passes on hold ciphertexts only in its key.
fn check_group(shape: &Shape, group: &Document) -> Result<Shape> {
    let mut ciphertexts = Vec::new();
    let mut accumulators = Document::new();
    for (key, value) in group {
        if key == "_id" {
            check_group_key(shape, value, "_id", &mut ciphertexts, true)?;
        } else {
            accumulators.insert(key.clone(), value.clone());
        }
    }
    check_accumulators(shape, &accumulators, "$group")?;
    Ok(Shape::Derived(ciphertexts))
}

fn check_group_key(
    shape: &Shape,
    key: &Bson,
    at: &str,
    ciphertexts: &mut Vec<(String, Algorithm)>,
    compound_allowed: bool,
) -> Result<()> {
    match key {
        Bson::String(text) if text.starts_with('$') && !text.starts_with("$$") => {
            let path = text.get(1..).unwrap_or_default();
            match shape.reach(path) {
                Reach::Plain => Ok(()),
                Reach::Encrypted(Algorithm::Deterministic) => {
                    ciphertexts.push((at.to_owned(), Algorithm::Deterministic));
                    Ok(())
                }
                Reach::Encrypted(Algorithm::Random) => Err(refused(path, "$group", RANDOM_GROUP)),
                Reach::Inside => Err(refused(path, "$group", INSIDE)),
                Reach::Holds => Err(refused(path, "$group", DOCUMENT_GROUP)),
            }
        }
        Bson::Document(fields)
            if compound_allowed && !fields.is_empty() && !is_operator_document(fields) =>
        {
            // `_id: { ssn: "$ssn", city: "$city" }`.
            for (name, value) in fields {
                check_group_key(shape, value, &join(at, name), ciphertexts, false)?;
            }
            Ok(())
        }
        expression => check_expression(shape, expression, "$group", EXPRESSION),
    }
}

/// `{ total: { $sum: "$visits" } }`: no accumulator may read a ciphertext.
fn check_accumulators(shape: &Shape, accumulators: &Document, stage: &str) -> Result<()> {
    for value in accumulators.values() {
        let Bson::Document(accumulator) = value else {
            return Err(refused("", stage, MALFORMED));
        };
        for (operator, argument) in accumulator {
            let reason = if MOVING_ACCUMULATORS.contains(&operator.as_str()) {
                MOVE
            } else {
                ACCUMULATE
            };
            let operation = format!("{operator} in {stage}");
            if operator == "$accumulator" || operator == "$function" {
                return Err(refused("", &operation, UNCHECKABLE));
            }
            check_expression(shape, argument, &operation, reason)?;
        }
    }
    Ok(())
}

/// A `$match` after a reshaping stage: the model's schema no longer says which operand
/// a path needs, so no condition may touch a ciphertext the documents still hold.
fn check_derived_match(shape: &Shape, filter: &Document, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(Error::TooDeeplyNested { limit: MAX_DEPTH });
    }
    for (key, value) in filter {
        match key.as_str() {
            "$and" | "$or" | "$nor" => {
                let Bson::Array(clauses) = value else {
                    return Err(refused("", "$match", MALFORMED));
                };
                for clause in clauses {
                    let Bson::Document(clause) = clause else {
                        return Err(refused("", "$match", MALFORMED));
                    };
                    check_derived_match(shape, clause, depth + 1)?;
                }
            }
            "$comment" => {}
            "$expr" => check_expression(shape, value, "$match", EXPRESSION)?,
            operator if operator.starts_with('$') => {
                if shape.has_ciphertexts() {
                    return Err(refused("", &format!("{operator} in $match"), UNCHECKABLE));
                }
            }
            path => {
                if shape.reach(path) != Reach::Plain {
                    return Err(refused(path, "$match", RESHAPED));
                }
            }
        }
    }
    Ok(())
}
