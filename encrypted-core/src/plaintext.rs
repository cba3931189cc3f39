//! The bytes that are encrypted: a BSON value without its type byte and field name,
//! exactly as it stands inside a document, and the spec's prohibitions on what may be
//! encrypted.

use bson::spec::{BinarySubtype, ElementType};
use bson::{Bson, Document, RawDocument};

use crate::{Algorithm, Error, Result};

/// The field name used to wrap a value in a one-field document, as libmongocrypt does.
const FIELD: &str = "v";
/// Bytes before the value in `{"v": value}`: length (4), type (1), `v\0` (2).
const VALUE_OFFSET: usize = 7;

/// Checks the prohibitions of the drivers' Client Side Encryption spec.
pub(crate) fn check_allowed(value: &Bson, algorithm: Algorithm) -> Result<()> {
    let bson_type = value.element_type();
    match value {
        Bson::Binary(binary) if binary.subtype == BinarySubtype::Encrypted => {
            return Err(Error::AlreadyEncrypted);
        }
        Bson::Null | Bson::Undefined | Bson::MinKey | Bson::MaxKey => {
            return Err(Error::ProhibitedType {
                bson_type,
                algorithm,
            });
        }
        _ => {}
    }
    check_allowed_type(bson_type, algorithm)
}

/// Checks the spec's prohibitions that depend on the BSON type alone.
pub(crate) fn check_allowed_type(bson_type: ElementType, algorithm: Algorithm) -> Result<()> {
    let allowed = match algorithm {
        Algorithm::Deterministic => allowed_deterministic(bson_type),
        Algorithm::Random => !matches!(
            bson_type,
            ElementType::Null | ElementType::Undefined | ElementType::MinKey | ElementType::MaxKey
        ),
    };
    if allowed {
        Ok(())
    } else {
        Err(Error::ProhibitedType {
            bson_type,
            algorithm,
        })
    }
}

/// Whether deterministic encryption of this type is allowed.
///
/// Floating point, decimal, boolean, documents, arrays and code with scope are not: their
/// equality in BSON bytes is not the equality a query expects, or (booleans) the
/// ciphertext would reveal the value outright.
pub const fn allowed_deterministic(bson_type: ElementType) -> bool {
    !matches!(
        bson_type,
        ElementType::Double
            | ElementType::Decimal128
            | ElementType::Boolean
            | ElementType::EmbeddedDocument
            | ElementType::Array
            | ElementType::JavaScriptCodeWithScope
            | ElementType::Null
            | ElementType::Undefined
            | ElementType::MinKey
            | ElementType::MaxKey
    )
}

/// Serializes `value` to the bytes it occupies inside a document.
pub(crate) fn encode(value: &Bson) -> Result<Vec<u8>> {
    let mut document = Document::new();
    document.insert(FIELD, value.clone());
    let mut bytes = Vec::new();
    document
        .to_writer(&mut bytes)
        .map_err(|error| Error::UnencodableValue {
            reason: error.to_string(),
        })?;
    // `{"v": value}` is length, type, "v\0", value, terminating NUL.
    bytes.pop();
    bytes.drain(..VALUE_OFFSET);
    Ok(bytes)
}

/// Rebuilds the BSON value of type `element_type` from its bytes.
///
/// Fails with [`Error::Decryption`] when the bytes are not a valid value of that type;
/// authenticated ciphertexts from a correct writer never do.
pub(crate) fn decode(element_type: ElementType, value: &[u8]) -> Result<Bson> {
    let total = VALUE_OFFSET + value.len() + 1;
    let length = i32::try_from(total).map_err(|_| Error::Decryption)?;
    let mut document = Vec::with_capacity(total);
    document.extend_from_slice(&length.to_le_bytes());
    document.push(element_type as u8);
    document.extend_from_slice(b"v\0");
    document.extend_from_slice(value);
    document.push(0);
    let raw = RawDocument::from_bytes(&document).map_err(|_| Error::Decryption)?;
    let mut elements = raw.iter();
    let decoded = match elements.next() {
        Some(Ok((_, value))) => value,
        _ => return Err(Error::Decryption),
    };
    // The value must span exactly the decrypted bytes: trailing garbage is an error.
    if elements.next().is_some() {
        return Err(Error::Decryption);
    }
    Bson::try_from(decoded).map_err(|_| Error::Decryption)
}

/// The name of a BSON type as the spec and `$type` write it.
pub(crate) const fn type_name(bson_type: ElementType) -> &'static str {
    match bson_type {
        ElementType::Double => "double",
        ElementType::String => "string",
        ElementType::EmbeddedDocument => "object",
        ElementType::Array => "array",
        ElementType::Binary => "binData",
        ElementType::Undefined => "undefined",
        ElementType::ObjectId => "objectId",
        ElementType::Boolean => "bool",
        ElementType::DateTime => "date",
        ElementType::Null => "null",
        ElementType::RegularExpression => "regex",
        ElementType::DbPointer => "dbPointer",
        ElementType::JavaScriptCode => "javascript",
        ElementType::Symbol => "symbol",
        ElementType::JavaScriptCodeWithScope => "javascriptWithScope",
        ElementType::Int32 => "int",
        ElementType::Timestamp => "timestamp",
        ElementType::Int64 => "long",
        ElementType::Decimal128 => "decimal",
        ElementType::MaxKey => "maxKey",
        ElementType::MinKey => "minKey",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn encodes_value_bytes_without_type_or_name() {
        assert_eq!(encode(&Bson::Int32(1)).unwrap(), [1, 0, 0, 0]);
        assert_eq!(
            encode(&Bson::String("ab".into())).unwrap(),
            [3, 0, 0, 0, b'a', b'b', 0]
        );
    }

    #[test]
    fn decodes_what_it_encodes() {
        for value in [
            Bson::Int32(-5),
            Bson::Int64(i64::MIN),
            Bson::String("héllo".into()),
            Bson::Document(doc! {"a": [1, 2, {"b": null}]}),
            Bson::Boolean(true),
        ] {
            let bytes = encode(&value).unwrap();
            assert_eq!(decode(value.element_type(), &bytes).unwrap(), value);
        }
    }

    #[test]
    fn rejects_bytes_that_are_not_a_value_of_the_type() {
        assert!(decode(ElementType::Int32, &[1, 0, 0]).is_err());
        assert!(decode(ElementType::Int32, &[1, 0, 0, 0, 0]).is_err());
        assert!(decode(ElementType::String, &[9, 0, 0, 0, b'a', 0]).is_err());
        assert!(decode(ElementType::Boolean, &[2]).is_err());
    }

    #[test]
    fn prohibitions_follow_the_spec() {
        use Algorithm::{Deterministic, Random};
        assert!(check_allowed(&Bson::Double(1.0), Random).is_ok());
        assert!(check_allowed(&Bson::Double(1.0), Deterministic).is_err());
        assert!(check_allowed(&Bson::Null, Random).is_err());
        assert!(check_allowed(&Bson::Int32(1), Deterministic).is_ok());
        let encrypted = Bson::Binary(bson::Binary {
            subtype: BinarySubtype::Encrypted,
            bytes: vec![1],
        });
        assert!(matches!(
            check_allowed(&encrypted, Random),
            Err(Error::AlreadyEncrypted)
        ));
    }
}
