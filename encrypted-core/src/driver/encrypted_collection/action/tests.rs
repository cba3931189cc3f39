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
        Err(Error::EncryptedPathRefused {
            path, operation, ..
        }) => (path, operation),
        other => panic!("not refused: {other:?}"),
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
