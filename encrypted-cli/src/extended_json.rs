//! MongoDB Extended JSON in and out: values to encrypt, ciphertexts, query filters.

use std::io::Read;

use encrypted::bson::spec::BinarySubtype;
use encrypted::bson::{Binary, Bson, Document};

use crate::failure::{Context, Failure};

/// The text of an argument, or standard input when it is `-`.
///
/// # Errors
///
/// When standard input cannot be read.
pub fn argument_or_stdin(argument: String) -> Result<String, Failure> {
    if argument != "-" {
        return Ok(argument);
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read standard input")?;
    Ok(text)
}

/// A value to encrypt.
///
/// The error never quotes the value: the JSON parser's message gives a position only,
/// and the Extended JSON decoder's (which may quote a field) is left out.
///
/// # Errors
///
/// When the text is not JSON, or not valid Extended JSON.
pub fn parse_plaintext(text: &str) -> Result<Bson, Failure> {
    let json: serde_json::Value = serde_json::from_str(text).map_err(|error| {
        Failure::new(format!(
            "the value is not valid Extended JSON: {error} (a string needs JSON quotes: '\"text\"')"
        ))
    })?;
    Bson::try_from(json).map_err(|_| {
        Failure::new(
            "the value is not valid Extended JSON: a `$` wrapper such as `$numberLong` or `$date` is malformed",
        )
    })
}

/// A ciphertext: a BSON binary of subtype 6.
///
/// # Errors
///
/// When the text is not Extended JSON of a binary of subtype 6.
pub fn parse_ciphertext(text: &str) -> Result<Binary, Failure> {
    const EXPECTED: &str = r#"{"$binary": {"base64": "…", "subType": "06"}}"#;
    let json: serde_json::Value = serde_json::from_str(text).context(format!(
        "the ciphertext is not Extended JSON like {EXPECTED}"
    ))?;
    match Bson::try_from(json).context(format!(
        "the ciphertext is not Extended JSON like {EXPECTED}"
    ))? {
        Bson::Binary(binary) if binary.subtype == BinarySubtype::Encrypted => Ok(binary),
        Bson::Binary(binary) => Err(Failure::new(format!(
            "the ciphertext must be a binary of subtype 6 (encrypted), not {:#04x}",
            u8::from(binary.subtype)
        ))),
        other => Err(Failure::new(format!(
            "the ciphertext must be a binary of subtype 6 like {EXPECTED}, not a {}",
            type_name(&other)
        ))),
    }
}

/// A query filter: an Extended JSON object.
///
/// # Errors
///
/// When the text is not an Extended JSON object.
pub fn parse_filter(text: &str) -> Result<Document, Failure> {
    let json: serde_json::Value =
        serde_json::from_str(text).context("the filter is not valid Extended JSON")?;
    match Bson::try_from(json).context("the filter is not valid Extended JSON")? {
        Bson::Document(document) => Ok(document),
        other => Err(Failure::new(format!(
            "the filter must be an Extended JSON object, not a {}",
            type_name(&other)
        ))),
    }
}

/// `value` as canonical Extended JSON, on one line.
pub fn canonical(value: Bson) -> String {
    value.into_canonical_extjson().to_string()
}

/// `value` as relaxed Extended JSON, on one line.
pub fn relaxed(value: Bson) -> String {
    value.into_relaxed_extjson().to_string()
}

fn type_name(value: &Bson) -> &'static str {
    match value {
        Bson::String(_) => "string",
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => "number",
        Bson::Boolean(_) => "boolean",
        Bson::Null => "null",
        Bson::Array(_) => "array",
        Bson::Document(_) => "document",
        Bson::Binary(_) => "binary",
        _ => "value of another BSON type",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn parses_relaxed_and_canonical_values() {
        assert_eq!(
            parse_plaintext(r#""O+""#).unwrap(),
            Bson::String("O+".into())
        );
        assert_eq!(parse_plaintext("42").unwrap(), Bson::Int32(42));
        assert_eq!(
            parse_plaintext(r#"{"$numberLong": "42"}"#).unwrap(),
            Bson::Int64(42)
        );
    }

    #[test]
    fn errors_do_not_quote_the_plaintext() {
        for text in [
            "secret-ssn",
            r#"{"$numberLong": "secret-ssn"}"#,
            r#"{"a": "secret-ssn""#,
        ] {
            let error = parse_plaintext(text).unwrap_err();
            assert!(
                !crate::failure::one_line(&error).contains("secret"),
                "{error}"
            );
        }
    }

    #[test]
    fn a_ciphertext_is_a_subtype_6_binary() {
        let binary =
            parse_ciphertext(r#"{"$binary": {"base64": "AQID", "subType": "06"}}"#).unwrap();
        assert_eq!(binary.bytes, [1, 2, 3]);
        assert!(parse_ciphertext(r#"{"$binary": {"base64": "AQID", "subType": "00"}}"#).is_err());
        assert!(parse_ciphertext(r#""AQID""#).is_err());
        assert!(parse_filter("[]").is_err());
        assert_eq!(
            parse_filter(r#"{"a": 1}"#).unwrap(),
            encrypted::bson::doc! { "a": 1 }
        );
    }
}
