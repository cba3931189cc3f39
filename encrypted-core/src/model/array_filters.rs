//! The `arrayFilters` of an update: conditions on the elements of the arrays an update
//! names with `$[identifier]`. They compare plaintext, so they may only reach arrays
//! the model does not encrypt.

use bson::{Bson, Document};

use super::filter::refused;
use super::spec::{Lookup, ModelSpec};
use crate::Result;

/// The operator named in refusals.
const ARRAY_FILTERS: &str = "arrayFilters";

/// Checks `filters` against the (encrypted) update document `update` they go with
/// (fails closed): every identifier a filter uses must be one the update uses
/// (`scores.$[low]`), and the array it stands for must be a plaintext field, outside
/// every encrypted field and every nested model with encrypted fields. A filter on
/// anything else (`notes.$[n]` where `notes` is encrypted) is refused naming that field;
/// an identifier the update does not use, or a top-level operator other than `$and`,
/// `$or` and `$nor`, is refused naming the filter's key.
pub(crate) fn check_array_filters(
    spec: &ModelSpec,
    update: &Document,
    filters: &[Document],
) -> Result<()> {
    if filters.is_empty() || !spec.has_encrypted_fields() {
        return Ok(());
    }
    let arrays = identified_arrays(update);
    for filter in filters {
        check_filter(spec, &arrays, filter)?;
    }
    Ok(())
}

/// Every `(identifier, array path)` of the update's `$[identifier]` segments: the path
/// is what precedes the segment (`scores` for `scores.$[low]`).
fn identified_arrays(update: &Document) -> Vec<(String, String)> {
    let mut arrays = Vec::new();
    for fields in update.values() {
        let Bson::Document(fields) = fields else {
            continue;
        };
        for path in fields.keys() {
            let mut prefix: Vec<&str> = Vec::new();
            for segment in path.split('.') {
                if let Some(identifier) = segment
                    .strip_prefix("$[")
                    .and_then(|rest| rest.strip_suffix(']'))
                    .filter(|identifier| !identifier.is_empty())
                {
                    arrays.push((identifier.to_owned(), prefix.join(".")));
                }
                prefix.push(segment);
            }
        }
    }
    arrays
}

fn check_filter(spec: &ModelSpec, arrays: &[(String, String)], filter: &Document) -> Result<()> {
    for (key, value) in filter {
        if let Some(operator) = key.strip_prefix('$') {
            let ("and" | "or" | "nor", Bson::Array(clauses)) = (operator, value) else {
                return Err(refused(key, ARRAY_FILTERS));
            };
            for clause in clauses {
                let Bson::Document(clause) = clause else {
                    return Err(refused(key, ARRAY_FILTERS));
                };
                check_filter(spec, arrays, clause)?;
            }
            continue;
        }
        let identifier = key.split('.').next().unwrap_or_default();
        let mut used = false;
        for (_, array) in arrays.iter().filter(|(name, _)| name == identifier) {
            used = true;
            check_array(spec, array)?;
        }
        if !used {
            return Err(refused(key, ARRAY_FILTERS));
        }
    }
    Ok(())
}

/// Refuses an array path that is, or is inside, something encrypted. The leading
/// segments up to the first positional one (`$`, `$[]`, `$[x]`, an index) name a field
/// of the model; below a plaintext field nothing is encrypted.
fn check_array(spec: &ModelSpec, array: &str) -> Result<()> {
    let field: Vec<&str> = array
        .split('.')
        .take_while(|segment| {
            !segment.starts_with('$') && !segment.bytes().all(|byte| byte.is_ascii_digit())
        })
        .collect();
    let field = field.join(".");
    match spec.lookup(&field) {
        Lookup::Plain => Ok(()),
        Lookup::Nested(model, _) if !model.has_encrypted_fields() => Ok(()),
        Lookup::Nested(..) | Lookup::Encrypted(..) | Lookup::InsideEncrypted => {
            Err(refused(&field, ARRAY_FILTERS))
        }
    }
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;
    use crate::Error;
    use crate::model::update::tests::PATIENT;

    fn refused_at(update: Document, filters: &[Document]) -> String {
        match check_array_filters(&PATIENT, &update, filters) {
            Err(Error::UnsupportedOperator { path, operator }) if operator == ARRAY_FILTERS => path,
            other => panic!("{filters:?} on {update} was not refused: {other:?}"),
        }
    }

    #[test]
    fn array_filters_on_plaintext_arrays_pass() {
        let update = doc! { "$set": { "scores.$[low]": 0, "visits.$[v].weight": 1 } };
        let filters = [
            doc! { "low": { "$lt": 50 } },
            doc! { "v.weight": { "$gt": 10 }, "$or": [{ "v.kind": "a" }, { "v.kind": "b" }] },
        ];
        check_array_filters(&PATIENT, &update, &filters).unwrap();
        // Nested positional arrays below a plaintext field.
        let update = doc! { "$inc": { "wards.$[].beds.$[free].count": 1 } };
        check_array_filters(&PATIENT, &update, &[doc! { "free.count": 0 }]).unwrap();
    }

    #[test]
    fn array_filters_reaching_an_encrypted_field_are_refused_by_name() {
        let update = doc! { "$unset": { "bloodType.$[b]": "" } };
        assert_eq!(refused_at(update, &[doc! { "b": "A" }]), "bloodType");
        let update = doc! { "$set": { "insurance.policyNumber.$[p]": 1 } };
        assert_eq!(
            refused_at(update, &[doc! { "p": 1 }]),
            "insurance.policyNumber"
        );
        let update = doc! { "$set": { "insurance.$[p]": 1 } };
        assert_eq!(refused_at(update, &[doc! { "p": 1 }]), "insurance");
    }

    #[test]
    fn unused_identifiers_and_other_operators_are_refused() {
        let update = doc! { "$set": { "scores.$[low]": 0 } };
        assert_eq!(refused_at(update.clone(), &[doc! { "ssn": 1 }]), "ssn");
        assert_eq!(
            refused_at(update.clone(), &[doc! { "$expr": { "$eq": ["$ssn", 1] } }]),
            "$expr"
        );
        assert_eq!(
            refused_at(update, &[doc! { "$or": [{ "low": 1 }, { "high": 2 }] }]),
            "high"
        );
    }

    #[test]
    fn a_model_without_encrypted_fields_is_not_checked() {
        const PLAIN: ModelSpec = ModelSpec {
            name: "Plain",
            key: None,
            inherits_key: false,
            fields: &[],
        };
        check_array_filters(&PLAIN, &doc! {}, &[doc! { "anything": 1 }]).unwrap();
    }
}
