//! The spec's refusal of FLE1 and Queryable Encryption fields in one collection ("Why Is
//! It An Error To Have An FLE 1 And Queryable Encryption Field In The Same
//! Collection?"): a collection is either FLE1 (a `$jsonSchema` with `encrypt`) or QE
//! (`encryptedFields`), never both, since the server and query analysis handle the two
//! protocols apart.

// Called by the collection layer (encryptedFields, issue 15 items 4–5); tested here.
#![cfg_attr(not(test), allow(dead_code))]

use bson::{Bson, Document};

use crate::{Error, Result};

/// Whether a JSON schema (or a part of one) asks for FLE1 encryption anywhere.
fn has_fle1_encryption(schema: &Document, depth: usize) -> bool {
    if depth > 100 {
        // Deeper than any schema libmongocrypt accepts: treat as encrypting (refuse).
        return true;
    }
    schema.iter().any(|(key, value)| {
        key == "encrypt"
            || key == "encryptMetadata"
            || match value {
                Bson::Document(inner) => has_fle1_encryption(inner, depth + 1),
                Bson::Array(items) => items.iter().any(|item| match item {
                    Bson::Document(inner) => has_fle1_encryption(inner, depth + 1),
                    _ => false,
                }),
                _ => false,
            }
    })
}

/// Refuses a collection `namespace` configured with both an FLE1 `$jsonSchema` (from the
/// schema map or the server) and QE `encryptedFields` (from the encrypted fields map or
/// the server).
pub(crate) fn refuse_fle1_and_qe(
    namespace: &str,
    json_schema: Option<&Document>,
    encrypted_fields: Option<&Document>,
) -> Result<()> {
    let fle1 = json_schema.is_some_and(|schema| has_fle1_encryption(schema, 0));
    if fle1 && encrypted_fields.is_some() {
        return Err(Error::QueryableEncryption {
            payload: "collection configuration",
            problem: format!(
                "`{namespace}` has both encryptedFields and a $jsonSchema with encrypt: a collection is FLE1 or Queryable Encryption, not both"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;

    #[test]
    fn qe_collection_with_fle1_schema_and_encrypted_fields_is_refused() {
        let schema = doc! { "bsonType": "object", "properties": { "ssn": { "encrypt": { "bsonType": "string" } } } };
        let fields = doc! { "fields": [ { "path": "ssn", "bsonType": "string" } ] };
        let error = refuse_fle1_and_qe("db.patients", Some(&schema), Some(&fields)).unwrap_err();
        assert!(error.to_string().contains("db.patients"), "{error}");
    }

    #[test]
    fn qe_collection_with_only_one_protocol_or_a_plain_validator_is_accepted() {
        let fle1 = doc! { "properties": { "ssn": { "encrypt": {} } } };
        let plain = doc! { "properties": { "name": { "bsonType": "string" } } };
        let fields = doc! { "fields": [] };
        refuse_fle1_and_qe("db.c", Some(&fle1), None).unwrap();
        refuse_fle1_and_qe("db.c", None, Some(&fields)).unwrap();
        refuse_fle1_and_qe("db.c", Some(&plain), Some(&fields)).unwrap();
    }
}
