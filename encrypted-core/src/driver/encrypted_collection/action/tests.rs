use bson::doc;
use mongodb::options::Hint;

use bson::spec::ElementType;

use super::*;
use crate::Algorithm;
use crate::model::{EncryptedFieldSpec, FieldKind, FieldSpec, KeySource};

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

/// The MedcoMD patient: `ssn` deterministic, `bloodType` random, `insurance` nested with
/// a deterministic `policyNumber`; `name` and the rest plaintext.
const PATIENT: ModelSpec = ModelSpec {
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

fn refused_path(result: Result<impl std::fmt::Debug>) -> (String, String) {
    match result {
        Err(Error::UnsupportedOperator { path, operator }) => (path, operator),
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn a_sort_on_plaintext_fields_is_kept_as_it_is() {
    let sort = doc! { "name": 1, "visits": -1, "score": { "$meta": "textScore" } };
    assert_eq!(check_sort(&PATIENT, sort.clone()).unwrap(), sort);
}

#[test]
fn a_sort_on_an_encrypted_field_a_path_inside_one_or_a_nested_model_holding_one_is_refused_by_name()
{
    for (sort, path) in [
        (doc! { "name": 1, "ssn": 1 }, "ssn"),
        (doc! { "bloodType": -1 }, "bloodType"),
        (doc! { "bloodType.x": 1 }, "bloodType.x"),
        (doc! { "insurance": 1 }, "insurance"),
        (
            doc! { "insurance.policyNumber": 1 },
            "insurance.policyNumber",
        ),
    ] {
        assert_eq!(
            refused_path(check_sort(&PATIENT, sort)),
            (path.to_owned(), "sort".to_owned())
        );
    }
    // A plaintext field of a nested model sorts.
    check_sort(&PATIENT, doc! { "insurance.provider": 1 }).unwrap();
}

#[test]
fn a_projection_keeps_or_drops_encrypted_fields_whole() {
    for projection in [
        doc! { "ssn": 1, "name": 1 },
        doc! { "bloodType": 0 },
        doc! { "insurance": true, "_id": false },
        doc! { "insurance.policyNumber": 1 },
        doc! { "name": { "$toUpper": "$name" } },
    ] {
        assert_eq!(
            check_projection(&PATIENT, projection.clone()).unwrap(),
            projection
        );
    }
}

#[test]
fn a_projection_reaching_inside_or_computing_on_an_encrypted_field_is_refused_by_name() {
    for (projection, path) in [
        (doc! { "bloodType.x": 1 }, "bloodType.x"),
        (doc! { "ssn.$": 1 }, "ssn.$"),
        (doc! { "ssn": { "$slice": 1 } }, "ssn"),
        (
            doc! { "bloodType": { "$elemMatch": { "a": 1 } } },
            "bloodType",
        ),
        (doc! { "ssn": "$name" }, "ssn"),
        (doc! { "insurance": { "$literal": 1 } }, "insurance"),
    ] {
        assert_eq!(
            refused_path(check_projection(&PATIENT, projection)),
            (path.to_owned(), "projection".to_owned())
        );
    }
}

#[test]
fn index_bounds_on_encrypted_fields_are_refused_by_name() {
    check_index_bounds(&PATIENT, Some(&doc! { "name": "A" }), "min").unwrap();
    check_index_bounds(&PATIENT, None, "max").unwrap();
    assert_eq!(
        refused_path(check_index_bounds(
            &PATIENT,
            Some(&doc! { "ssn": 5 }),
            "max"
        )),
        ("ssn".to_owned(), "max".to_owned())
    );
}

#[test]
fn a_hint_may_use_an_encrypted_field_as_an_ordinary_key_only() {
    for hint in [
        Hint::Name("ssn_1".to_owned()),
        Hint::Keys(doc! { "ssn": 1 }),
        Hint::Keys(doc! { "ssn": "hashed", "name": "text" }),
        Hint::Keys(doc! { "insurance.policyNumber": -1 }),
    ] {
        check_hint(&PATIENT, Some(&hint)).unwrap();
    }
    for (hint, path) in [
        (doc! { "bloodType": "text" }, "bloodType"),
        (doc! { "ssn": "2dsphere" }, "ssn"),
        (doc! { "bloodType.x": 1 }, "bloodType.x"),
    ] {
        assert_eq!(
            refused_path(check_hint(&PATIENT, Some(&Hint::Keys(hint)))),
            (path.to_owned(), "hint".to_owned())
        );
    }
}

/// A builder of the shape the setters macro expects.
#[derive(Default)]
struct Probe {
    options: Option<mongodb::options::CountOptions>,
}

impl Probe {
    option_setters!(mongodb::options::CountOptions;
        /// A plain setter.
        limit: u64,
        /// A converting setter.
        comment: impl Into<bson::Bson>,
    );
}

#[test]
fn the_setters_macro_sets_one_option_or_replaces_them_all() {
    let probe = Probe::default().limit(3).comment("traced");
    let options = probe.options.as_ref().unwrap();
    assert_eq!(options.limit, Some(3));
    assert_eq!(options.comment, Some(bson::Bson::from("traced")));
    let replaced = probe.with_options(None);
    assert!(replaced.options.is_none());
}
