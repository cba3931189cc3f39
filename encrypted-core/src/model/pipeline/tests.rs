//! The pipeline's checks, stage by stage; and the model the sort and projection tests
//! share.

use std::sync::Arc;

use bson::spec::BinarySubtype;
use bson::{Bson, Document, doc};
use serde::{Deserialize, Serialize};

use super::Pipeline;
use crate::model::update::tests::ciphertext;
use crate::model::{Encrypted, Keys, ModelSpec};
use crate::{Algorithm, DataKey, Error, KeyRef};

#[derive(Serialize, Deserialize, encrypted_derive::Encrypted, Debug)]
#[encrypted(crate = "crate", inherit_key)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Insurance {
    pub(crate) provider: String,
    #[encrypt(deterministic)]
    pub(crate) policy_number: i32,
}

/// A model with every kind of field: plaintext, deterministic, random (a string and an
/// array), and a nested model with a deterministic field.
#[derive(Serialize, Deserialize, encrypted_derive::Encrypted, Debug)]
#[encrypted(crate = "crate", key_alt_name = "medco-key")]
#[serde(rename_all = "camelCase")]
pub(crate) struct Patient {
    pub(crate) name: String,
    pub(crate) city: String,
    pub(crate) visits: i32,
    pub(crate) tags: Vec<String>,
    #[encrypt(deterministic)]
    pub(crate) ssn: i32,
    #[encrypt(random)]
    pub(crate) blood_type: String,
    #[encrypt(random)]
    pub(crate) records: Vec<String>,
    #[encrypt(nested)]
    pub(crate) insurance: Insurance,
}

/// A model without encrypted fields.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) struct Plain {}

impl Encrypted for Plain {
    const SPEC: &'static ModelSpec = &ModelSpec {
        name: "Plain",
        key: None,
        inherits_key: false,
        fields: &[],
    };
    type View = Self;
    type Fields<R> = ();
    fn fields_at<R>(_prefix: &str) -> Self::Fields<R> {}
}

fn keys() -> (Keys, Arc<DataKey>) {
    let key = Arc::new(DataKey::generate(bson::Uuid::new()).unwrap());
    let keys = Keys::new().with(KeyRef::AltName("medco-key".into()), Arc::clone(&key));
    (keys, key)
}

fn check(stages: Vec<Document>) -> crate::Result<Vec<Document>> {
    Pipeline::<Patient>::from(stages).to_documents(&Keys::new())
}

/// The refusal of `stages`: the path and the operation named.
fn refused(stages: Vec<Document>) -> (String, String, &'static str) {
    match check(stages.clone()) {
        Err(Error::EncryptedPathRefused {
            path,
            operation,
            reason,
        }) => (path, operation, reason),
        other => panic!("{stages:?} was not refused: {other:?}"),
    }
}

fn refused_at(stages: Vec<Document>, path: &str, operation: &str) -> &'static str {
    let (refused_path, refused_operation, reason) = refused(stages);
    assert_eq!(
        (refused_path.as_str(), refused_operation.as_str()),
        (path, operation)
    );
    reason
}

#[test]
fn typed_match_operands_are_encrypted_like_filters() {
    let (keys, key) = keys();
    let pipeline = Pipeline::<Patient>::new()
        .filter(Patient::fields().ssn().eq(241014209))
        .filter(
            Patient::fields()
                .insurance()
                .fields()
                .policy_number()
                .is_in([1, 2]),
        )
        .filter(Patient::fields().name().eq("Jon"));
    let key_refs = pipeline.key_refs().unwrap();
    assert_eq!(
        key_refs,
        vec![
            ("ssn".to_owned(), KeyRef::AltName("medco-key".into())),
            (
                "insurance.policyNumber".to_owned(),
                KeyRef::AltName("medco-key".into())
            ),
        ]
    );
    let stages = pipeline.to_documents(&keys).unwrap();
    let expected = key
        .encrypt(&Bson::Int32(241014209), Algorithm::Deterministic)
        .unwrap();
    assert_eq!(
        stages[0],
        doc! { "$match": { "ssn": Bson::from(expected) } }
    );
    let policy = stages[1]
        .get_document("$match")
        .unwrap()
        .get_document("insurance.policyNumber")
        .unwrap()
        .get_array("$in")
        .unwrap();
    assert_eq!(policy.len(), 2);
    for value in policy {
        assert!(
            matches!(value, Bson::Binary(b) if b.subtype == BinarySubtype::Encrypted),
            "{value}"
        );
    }
    assert_eq!(stages[2], doc! { "$match": { "name": "Jon" } });
}

#[test]
fn a_typed_match_without_its_key_names_the_field() {
    let error = Pipeline::<Patient>::new()
        .filter(Patient::fields().ssn().eq(1))
        .to_documents(&Keys::new())
        .unwrap_err();
    assert!(
        matches!(&error, Error::Field { path, source } if path == "ssn" && matches!(**source, Error::KeyNotFound { .. })),
        "{error}"
    );
}

#[test]
fn raw_match_stages_follow_the_raw_filter_rules() {
    let good = ciphertext(Bson::Int32(1), Algorithm::Deterministic);
    check(vec![
        doc! { "$match": { "ssn": good.clone(), "visits": { "$gt": 3 } } },
    ])
    .unwrap();
    // A plaintext operand on an encrypted field would match nothing.
    let error = check(vec![doc! { "$match": { "ssn": 1 } }]).unwrap_err();
    assert!(
        matches!(&error, Error::UnencryptedField { path, .. } if path == "ssn"),
        "{error}"
    );
    let error = check(vec![doc! { "$match": { "ssn": { "$gt": good } } }]).unwrap_err();
    assert!(
        matches!(error, Error::UnsupportedOperator { .. }),
        "{error}"
    );
    let error = check(vec![doc! { "$match": { "bloodType": { "$regex": "A" } } }]).unwrap_err();
    assert!(
        matches!(error, Error::UnsupportedOperator { .. }),
        "{error}"
    );
    // Not only the leading one.
    let error = check(vec![
        doc! { "$limit": 5 },
        doc! { "$match": { "insurance.policyNumber": 7 } },
    ])
    .unwrap_err();
    assert!(
        matches!(&error, Error::UnencryptedField { path, .. } if path == "insurance.policyNumber"),
        "{error}"
    );
}

#[test]
fn plaintext_stages_pass_through_unchanged() {
    let stages = vec![
        doc! { "$match": { "city": "Springfield", "tags": { "$in": ["a"] } } },
        doc! { "$sort": { "name": 1, "insurance.provider": -1 } },
        doc! { "$skip": 10 },
        doc! { "$limit": 5 },
        doc! { "$sample": { "size": 3 } },
        doc! { "$project": { "name": 1, "ssn": 1, "insurance": 1, "bloodType": 1, "upper": { "$toUpper": "$name" } } },
        doc! { "$addFields": { "visitsPlusOne": { "$add": ["$visits", 1] }, "insurance.note": "x" } },
        doc! { "$set": { "tagCount": { "$size": "$tags" } } },
        doc! { "$unset": ["records", "tagCount"] },
        doc! { "$unwind": { "path": "$tags", "includeArrayIndex": "tagIndex" } },
        doc! { "$group": { "_id": "$city", "n": { "$sum": 1 }, "names": { "$push": "$name" }, "most": { "$max": "$visits" } } },
        doc! { "$match": { "n": { "$gt": 1 } } },
        doc! { "$sort": { "n": -1 } },
        doc! { "$count": "cities" },
    ];
    assert_eq!(check(stages.clone()).unwrap(), stages);
    let others = vec![
        doc! { "$sortByCount": "$city" },
        doc! { "$replaceWith": { "count": "$count" } },
    ];
    check(others).unwrap();
    check(vec![doc! { "$bucket": { "groupBy": "$visits", "boundaries": [0, 5, 10], "default": "many", "output": { "n": { "$sum": 1 } } } }]).unwrap();
    check(vec![
        doc! { "$bucketAuto": { "groupBy": "$visits", "buckets": 3 } },
    ])
    .unwrap();
    check(vec![
        doc! { "$replaceRoot": { "newRoot": "$insurance.provider" } },
    ])
    .unwrap();
}

#[test]
fn a_model_without_encrypted_fields_passes_every_stage() {
    let stages = vec![
        doc! { "$sort": { "ssn": 1 } },
        doc! { "$group": { "_id": null, "total": { "$sum": "$ssn" } } },
        doc! { "$lookup": { "from": "other", "localField": "a", "foreignField": "b", "as": "c" } },
    ];
    assert_eq!(
        Pipeline::<Plain>::from(stages.clone())
            .to_documents(&Keys::new())
            .unwrap(),
        stages
    );
}

const ENCRYPTED: [&str; 5] = [
    "ssn",
    "bloodType",
    "records",
    "insurance",
    "insurance.policyNumber",
];

#[test]
fn sort_stages_on_encrypted_paths_are_refused_deterministic_random_nested_and_arrays() {
    for path in ENCRYPTED {
        let reason = refused_at(
            vec![doc! { "$sort": { "name": 1, path: -1 } }],
            path,
            "$sort",
        );
        assert!(
            reason.contains("ciphertext order means nothing"),
            "{reason}"
        );
    }
    refused_at(
        vec![doc! { "$sort": { "records.0": 1 } }],
        "records.0",
        "$sort",
    );
    // Typed, from a raw sort.
    let error = Pipeline::<Patient>::new()
        .sort(doc! { "ssn": 1 })
        .to_documents(&Keys::new())
        .unwrap_err();
    assert!(
        matches!(error, Error::EncryptedPathRefused { .. }),
        "{error}"
    );
    for path in ENCRYPTED {
        refused_at(
            vec![doc! { "$sortByCount": format!("${path}") }],
            path,
            "$sortByCount",
        );
        refused_at(
            vec![doc! { "$bucket": { "groupBy": format!("${path}"), "boundaries": [0, 1] } }],
            path,
            "$bucket",
        );
        refused_at(
            vec![doc! { "$bucketAuto": { "groupBy": format!("${path}"), "buckets": 2 } }],
            path,
            "$bucketAuto",
        );
    }
}

#[test]
fn group_by_a_deterministic_field_is_equality_and_allowed() {
    let stages = vec![
        doc! { "$group": { "_id": "$ssn", "n": { "$sum": 1 }, "lastVisit": { "$max": "$visits" } } },
        doc! { "$group": { "_id": { "policy": "$insurance.policyNumber", "city": "$city" }, "n": { "$sum": 1 } } },
    ];
    for stage in stages {
        check(vec![stage]).unwrap();
    }
}

#[test]
fn group_keys_holding_ciphertexts_cannot_be_sorted_computed_on_or_matched_later() {
    let group =
        doc! { "$group": { "_id": { "ssn": "$ssn", "city": "$city" }, "n": { "$sum": 1 } } };
    check(vec![
        group.clone(),
        doc! { "$sort": { "n": -1, "_id.city": 1 } },
    ])
    .unwrap();
    refused_at(
        vec![group.clone(), doc! { "$sort": { "_id.ssn": 1 } }],
        "_id.ssn",
        "$sort",
    );
    refused_at(
        vec![group.clone(), doc! { "$sort": { "_id": 1 } }],
        "_id",
        "$sort",
    );
    refused_at(
        vec![group.clone(), doc! { "$match": { "_id.ssn": 5 } }],
        "_id.ssn",
        "$match",
    );
    refused_at(
        vec![
            group.clone(),
            doc! { "$project": { "x": { "$add": ["$_id.ssn", 1] } } },
        ],
        "_id.ssn",
        "$project",
    );
    refused_at(
        vec![group.clone(), doc! { "$match": { "$where": "true" } }],
        "",
        "$where in $match",
    );
    check(vec![group, doc! { "$match": { "n": { "$gt": 2 } } }]).unwrap();
}

#[test]
fn group_by_random_nested_or_computed_encrypted_keys_is_refused() {
    let reason = refused_at(
        vec![doc! { "$group": { "_id": "$bloodType" } }],
        "bloodType",
        "$group",
    );
    assert!(reason.contains("random"), "{reason}");
    refused_at(
        vec![doc! { "$group": { "_id": "$records" } }],
        "records",
        "$group",
    );
    refused_at(
        vec![doc! { "$group": { "_id": "$insurance" } }],
        "insurance",
        "$group",
    );
    refused_at(
        vec![doc! { "$group": { "_id": { "$mod": ["$ssn", 10] } } }],
        "ssn",
        "$group",
    );
    refused_at(
        vec![doc! { "$group": { "_id": { "k": { "$toString": "$ssn" } } } }],
        "ssn",
        "$group",
    );
    refused_at(
        vec![doc! { "$group": { "_id": "$$ROOT" } }],
        "$$ROOT",
        "$group",
    );
    refused_at(
        vec![doc! { "$group": { "_id": "$records.0" } }],
        "records.0",
        "$group",
    );
}

#[test]
fn accumulators_over_a_ciphertext_are_refused_computing_and_moving_alike() {
    for path in ENCRYPTED {
        for operator in ["$sum", "$avg", "$min", "$max", "$stdDevPop"] {
            let reason = refused_at(
                vec![doc! { "$group": { "_id": "$city", "x": { operator: format!("${path}") } } }],
                path,
                &format!("{operator} in $group"),
            );
            assert!(reason.contains("computes on ciphertexts"), "{reason}");
        }
        for operator in ["$push", "$addToSet", "$first", "$last"] {
            let reason = refused_at(
                vec![doc! { "$group": { "_id": "$city", "x": { operator: format!("${path}") } } }],
                path,
                &format!("{operator} in $group"),
            );
            assert!(reason.contains("copies the ciphertext"), "{reason}");
        }
    }
    // Also when grouping by the deterministic field itself.
    refused_at(
        vec![doc! { "$group": { "_id": "$ssn", "x": { "$sum": "$ssn" } } }],
        "ssn",
        "$sum in $group",
    );
    refused_at(
        vec![doc! { "$group": { "_id": "$city", "all": { "$push": "$$ROOT" } } }],
        "$$ROOT",
        "$push in $group",
    );
    refused_at(
        vec![
            doc! { "$bucket": { "groupBy": "$visits", "boundaries": [0, 5], "output": { "s": { "$addToSet": "$bloodType" } } } },
        ],
        "bloodType",
        "$addToSet in $bucket",
    );
}

#[test]
fn project_and_add_fields_may_not_compute_on_or_move_a_ciphertext() {
    for path in ENCRYPTED {
        for stage in ["$project", "$addFields", "$set"] {
            refused_at(
                vec![doc! { stage: { "copy": format!("${path}") } }],
                path,
                stage,
            );
            refused_at(
                vec![
                    doc! { stage: { "x": { "$concat": ["a", { "$toString": format!("${path}") }] } } },
                ],
                path,
                stage,
            );
            refused_at(
                vec![doc! { stage: { "x": { "$eq": [format!("${path}"), 1] } } }],
                path,
                stage,
            );
        }
        // `$addFields: { ssn: 1 }` writes the number 1 over the ciphertext.
        let reason = refused_at(vec![doc! { "$addFields": { path: 1 } }], path, "$addFields");
        assert!(reason.contains("computed value"), "{reason}");
        refused_at(
            vec![doc! { "$project": { path: { "$toUpper": "$name" } } }],
            path,
            "$project",
        );
    }
    refused_at(
        vec![doc! { "$project": { "whole": "$$ROOT" } }],
        "$$ROOT",
        "$project",
    );
    refused_at(
        vec![doc! { "$addFields": { "bloodType.group": "A" } }],
        "bloodType.group",
        "$addFields",
    );
    refused_at(
        vec![doc! { "$set": { "x": { "$getField": "ssn" } } }],
        "",
        "$getField in $set",
    );
    refused_at(
        vec![doc! { "$set": { "x": { "$function": { "body": "f", "args": [], "lang": "js" } } } }],
        "",
        "$function in $set",
    );
}

#[test]
fn stages_that_move_the_root_or_reach_elsewhere_are_refused() {
    for path in ["ssn", "insurance", "records"] {
        refused_at(
            vec![doc! { "$replaceWith": format!("${path}") }],
            path,
            "$replaceWith",
        );
        refused_at(
            vec![doc! { "$replaceRoot": { "newRoot": { "x": format!("${path}") } } }],
            path,
            "$replaceRoot",
        );
    }
    refused_at(
        vec![doc! { "$replaceWith": "$$ROOT" }],
        "$$ROOT",
        "$replaceWith",
    );
    for stage in [
        doc! { "$lookup": { "from": "other", "localField": "city", "foreignField": "city", "as": "x" } },
        doc! { "$unionWith": "other" },
        doc! { "$graphLookup": { "from": "other", "startWith": "$city", "connectFromField": "a", "connectToField": "b", "as": "x" } },
        doc! { "$facet": { "a": [{ "$match": {} }] } },
        doc! { "$out": "copy" },
        doc! { "$merge": { "into": "copy" } },
        doc! { "$redact": "$$KEEP" },
        doc! { "$setWindowFields": { "output": {} } },
        doc! { "$somethingNew": {} },
    ] {
        let name = stage.keys().next().unwrap().clone();
        let reason = refused_at(vec![stage], "", &name);
        assert!(reason.contains("fail closed"), "{reason}");
    }
}

#[test]
fn unwind_and_unset_are_checked() {
    for path in ENCRYPTED {
        refused_at(
            vec![doc! { "$unwind": format!("${path}") }],
            path,
            "$unwind",
        );
        check(vec![doc! { "$unset": path }]).unwrap();
    }
    refused_at(
        vec![doc! { "$unwind": { "path": "$tags", "includeArrayIndex": "ssn" } }],
        "ssn",
        "$unwind",
    );
    refused_at(
        vec![doc! { "$unset": ["name", "bloodType.x"] }],
        "bloodType.x",
        "$unset",
    );
}

#[test]
fn a_typed_filter_after_a_reshaping_stage_is_refused() {
    let error = Pipeline::<Patient>::new()
        .stage(doc! { "$group": { "_id": "$city" } })
        .filter(Patient::fields().name().eq("Jon"))
        .key_refs()
        .unwrap_err();
    assert!(
        matches!(&error, Error::EncryptedPathRefused { operation, .. } if operation == "$match of a typed filter"),
        "{error}"
    );
    // Filtering, sorting or projecting does not reshape.
    Pipeline::<Patient>::new()
        .project(doc! { "name": 1 })
        .sort(doc! { "name": 1 })
        .limit(3)
        .skip(1)
        .filter(Patient::fields().name().eq("Jon"))
        .key_refs()
        .unwrap();
}

#[test]
fn malformed_stages_are_refused_not_guessed() {
    for stage in [
        doc! {},
        doc! { "$match": {}, "$sort": { "a": 1 } },
        doc! { "$group": "x" },
        doc! { "$unwind": 5 },
        doc! { "$unwind": "tags" },
        doc! { "$unset": [1] },
    ] {
        let (_, _, reason) = refused(vec![stage]);
        assert!(reason.contains("cannot be checked"), "{reason}");
    }
}

#[test]
fn the_refusal_names_stage_path_and_reason_and_never_an_operand() {
    let error = check(vec![
        doc! { "$group": { "_id": null, "total": { "$sum": "$ssn" } } },
    ])
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "$sum in $group on the encrypted path `ssn` is refused: the accumulator computes on ciphertexts (random bytes), not on the values"
    );
    let error = check(vec![doc! { "$lookup": { "from": "secret-collection" } }]).unwrap_err();
    assert!(!error.to_string().contains("secret-collection"), "{error}");
    assert!(
        error
            .to_string()
            .starts_with("$lookup is refused on a model with encrypted fields"),
        "{error}"
    );
    let pipeline = Pipeline::<Patient>::new()
        .filter(Patient::fields().ssn().eq(241014209))
        .stage(doc! { "$project": { "name": "Jon Secret" } });
    let debug = format!("{pipeline:?}");
    assert!(
        !debug.contains("241014209") && !debug.contains("Secret"),
        "{debug}"
    );
    assert_eq!(pipeline.len(), 2);
}
