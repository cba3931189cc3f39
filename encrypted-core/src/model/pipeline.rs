//! Aggregation pipelines over a model's collection: `$match` stages encrypted like
//! filters, plaintext stages after, and every stage that would compute on, order by or
//! move a ciphertext refused by name.

pub(crate) mod shape;
mod stages;

use bson::{Document, doc};

use self::shape::Shape;
use self::stages::{check_stage, check_typed_filter};
use super::Encrypted;
use super::codec::Keys;
use super::filter::Filter;
use super::projection::Projection;
use super::sort::Sort;
use crate::{KeyRef, Result};

/// An aggregation pipeline on the collection of model `R`, for `aggregate`.
///
/// [`Pipeline::filter`] adds a `$match` stage from a typed [`Filter`], whose equality
/// operands on deterministic fields are encrypted when the pipeline is sent, as a
/// filter's are; [`sort`](Pipeline::sort), [`project`](Pipeline::project),
/// [`skip`](Pipeline::skip) and [`limit`](Pipeline::limit) add typed stages, and
/// [`stage`](Pipeline::stage) (or `Pipeline::from(vec![..])`) hand-written ones.
///
/// Encrypted fields support equality only, and results are decrypted by the model's
/// paths, so every stage is checked, in order, against the documents it sees, and a stage
/// that would compute on, order by or move a ciphertext is refused by name with
/// [`Error::EncryptedPathRefused`](crate::Error::EncryptedPathRefused) before anything is
/// sent:
///
/// - `$match`: checked as [`Filter::raw`] is (an encrypted field compared with
///   ciphertexts, under `$eq`, `$ne`, `$in`, `$nin`, `$exists`; no `$expr`); after a
///   stage that reshapes the documents (`$group`, `$count`, `$replaceRoot`, ...), no
///   condition may touch a ciphertext they still hold, and a typed filter is refused;
/// - `$sort`, `$sortByCount`, `$bucket`, `$bucketAuto`: on plaintext only;
/// - `$project`, `$addFields`, `$set`: keeping or dropping any field, and computing on
///   plaintext; no expression may read a ciphertext (`"$ssn"`, `"$insurance"`,
///   `"$$ROOT"`), no computed value may be written over one;
/// - `$group`: grouping by a deterministic field as it is (`_id: "$ssn"`, or a field of
///   a compound `_id`) is equality and allowed, and the group key comes back as the
///   field's ciphertext (not decrypted: it is no longer at the field's path; decrypt it
///   explicitly if needed). Grouping by a random field (each document its own group), a
///   nested model holding ciphertexts, or an expression of an encrypted field is refused;
///   so is every accumulator that reads a ciphertext: `$sum`, `$avg`, `$min`, `$max`, ...
///   compute on random bytes, and `$push`, `$addToSet`, `$first`, `$last`, ... copy the
///   ciphertext to a path where results are not decrypted;
/// - `$unwind`, `$unset`, `$limit`, `$skip`, `$sample`: plaintext arrays, any field;
/// - `$lookup`, `$unionWith`, `$graphLookup`, `$facet`, `$out`, `$merge`, `$redact`,
///   `$geoNear`, `$setWindowFields`, `$densify`, `$fill`, search stages and any stage
///   not listed here: refused whole (they reach what cannot be checked; fail closed).
///
/// A model without encrypted fields passes every stage as it is.
///
/// ```
/// # use encrypted_core::model::Encrypted;
/// # use encrypted_derive::Encrypted;
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
/// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
/// # #[serde(rename_all = "camelCase")]
/// # struct Patient {
/// #     name: String,
/// #     visits: i32,
/// #     #[encrypt(deterministic)] ssn: i32,
/// #     #[encrypt(random)] blood_type: String,
/// # }
/// use std::sync::Arc;
/// use encrypted_core::bson::doc;
/// use encrypted_core::model::{Keys, Pipeline};
/// use encrypted_core::{DataKey, KeyRef};
///
/// let pipeline = Pipeline::new()
///     .filter(Patient::fields().ssn().eq(241014209))
///     .sort(Patient::fields().name().ascending())
///     .stage(doc! { "$project": { "name": 1, "bloodType": 1 } });
///
/// let key = Arc::new(DataKey::generate(encrypted_core::bson::Uuid::new())?);
/// let keys = Keys::new().with(KeyRef::AltName("medco-key".into()), key);
/// let stages = pipeline.to_documents(&keys)?;
/// assert_eq!(stages.len(), 3);
/// let ssn = stages[0].get_document("$match")?.get("ssn");
/// assert!(matches!(ssn, Some(encrypted_core::bson::Bson::Binary(b))
///     if b.subtype == encrypted_core::bson::spec::BinarySubtype::Encrypted));
///
/// // Summing a ciphertext is refused by name.
/// let total = Pipeline::<Patient>::new()
///     .stage(doc! { "$group": { "_id": null, "total": { "$sum": "$ssn" } } });
/// assert!(matches!(
///     total.to_documents(&keys),
///     Err(encrypted_core::Error::EncryptedPathRefused { path, .. }) if path == "ssn"
/// ));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Pipeline<R> {
    stages: Vec<Stage<R>>,
}

enum Stage<R> {
    /// A typed filter, encrypted when sent.
    Filter(Filter<R>),
    /// A stage as written.
    Raw(Document),
}

impl<R> Pipeline<R> {
    /// An empty pipeline.
    pub fn new() -> Self {
        Self { stages: Vec::new() }
    }

    /// Adds a `$match` stage: the filter's operands on deterministic fields are
    /// encrypted when the pipeline is sent.
    #[must_use]
    pub fn filter(mut self, filter: Filter<R>) -> Self {
        self.stages.push(Stage::Filter(filter));
        self
    }

    /// Adds a `$sort` stage (plaintext paths only; see [`Sort`]).
    #[must_use]
    pub fn sort(self, sort: impl Into<Sort<R>>) -> Self {
        let sort = sort.into();
        self.stage(doc! { "$sort": sort.as_document().clone() })
    }

    /// Adds a `$project` stage (see [`Projection`]; a kept encrypted field stays
    /// decryptable at its path).
    #[must_use]
    pub fn project(self, projection: impl Into<Projection<R>>) -> Self {
        let projection = projection.into();
        self.stage(doc! { "$project": projection.as_document().clone() })
    }

    /// Adds a `$skip` stage.
    #[must_use]
    pub fn skip(self, skip: u64) -> Self {
        // Beyond i64::MAX there is nothing left to return either way.
        let skip = i64::try_from(skip).unwrap_or(i64::MAX);
        self.stage(doc! { "$skip": skip })
    }

    /// Adds a `$limit` stage.
    #[must_use]
    pub fn limit(self, limit: i64) -> Self {
        self.stage(doc! { "$limit": limit })
    }

    /// Adds a hand-written stage (`doc! { "$group": { .. } }`), checked when the pipeline
    /// is sent.
    #[must_use]
    pub fn stage(mut self, stage: Document) -> Self {
        self.stages.push(Stage::Raw(stage));
        self
    }

    /// The number of stages.
    pub fn len(&self) -> usize {
        self.stages.len()
    }

    /// Whether the pipeline has no stage.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }
}

impl<R: Encrypted> Pipeline<R> {
    /// Checks every stage, in order, against the documents it sees.
    fn check(&self) -> Result<()> {
        let encrypted = R::SPEC.has_encrypted_fields();
        let mut shape = Shape::Model(R::SPEC);
        for stage in &self.stages {
            shape = match stage {
                Stage::Filter(_) => {
                    check_typed_filter(&shape)?;
                    shape
                }
                Stage::Raw(stage) => check_stage(shape, stage, encrypted)?,
            };
        }
        Ok(())
    }

    /// The keys the `$match` stages' encrypted operands need, each with the path that
    /// needs it, after checking every stage (so that a refused pipeline costs no key
    /// vault read).
    #[allow(
        dead_code,
        reason = "called by the driver layer's `aggregate`, absent without the `driver` feature"
    )]
    pub(crate) fn key_refs(&self) -> Result<Vec<(String, KeyRef)>> {
        self.check()?;
        let mut key_refs = Vec::new();
        for stage in &self.stages {
            if let Stage::Filter(filter) = stage {
                key_refs.extend(filter.key_refs()?);
            }
        }
        Ok(key_refs)
    }

    /// The pipeline the server gets, with the operands of typed `$match` stages encrypted
    /// with `keys`: what [`EncryptedCollection`](crate::EncryptedCollection) sends, made
    /// without a server (for the driver's own `aggregate` or `watch`, or a test).
    ///
    /// ```
    /// # use encrypted_core::model::Encrypted;
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, city: String, #[encrypt(deterministic)] ssn: i32 }
    /// use encrypted_core::bson::doc;
    /// use encrypted_core::model::{Keys, Pipeline};
    ///
    /// // Plaintext stages need no key.
    /// let per_city = Pipeline::<Patient>::from(vec![
    ///     doc! { "$match": { "name": { "$regex": "^J" } } },
    ///     doc! { "$group": { "_id": "$city", "patients": { "$sum": 1 } } },
    ///     doc! { "$sort": { "patients": -1 } },
    /// ]);
    /// assert_eq!(per_city.to_documents(&Keys::new())?.len(), 3);
    /// # Ok::<(), encrypted_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::EncryptedPathRefused`](crate::Error::EncryptedPathRefused) naming the
    /// stage and the encrypted path when a stage would compute on, order by or move a
    /// ciphertext; the errors of [`Filter::raw`] for a hand-written `$match`;
    /// [`Error::Field`](crate::Error::Field) with
    /// [`Error::KeyNotFound`](crate::Error::KeyNotFound) when `keys` lacks a key the
    /// schema names.
    pub fn to_documents(self, keys: &Keys) -> Result<Vec<Document>> {
        self.check()?;
        self.stages
            .into_iter()
            .map(|stage| match stage {
                Stage::Filter(filter) => filter
                    .to_document(keys)
                    .map(|filter| doc! { "$match": filter }),
                Stage::Raw(stage) => Ok(stage),
            })
            .collect()
    }
}

impl<R> Default for Pipeline<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R> std::fmt::Debug for Pipeline<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Operands may be secrets waiting to be encrypted: print the stage names only.
        let names: Vec<&str> = self
            .stages
            .iter()
            .map(|stage| match stage {
                Stage::Filter(_) => "$match",
                Stage::Raw(stage) => stage.keys().next().map_or("?", String::as_str),
            })
            .collect();
        f.debug_tuple("Pipeline").field(&names).finish()
    }
}

/// A hand-written pipeline, checked stage by stage when it is sent.
impl<R> From<Vec<Document>> for Pipeline<R> {
    fn from(stages: Vec<Document>) -> Self {
        Self {
            stages: stages.into_iter().map(Stage::Raw).collect(),
        }
    }
}

/// A pipeline of one typed `$match` stage.
impl<R> From<Filter<R>> for Pipeline<R> {
    fn from(filter: Filter<R>) -> Self {
        Self::new().filter(filter)
    }
}

#[cfg(test)]
pub(crate) mod tests;
