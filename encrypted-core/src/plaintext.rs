//! The bytes that are encrypted: a BSON value without its type byte and field name,
//! exactly as it stands inside a document, and the spec's prohibitions on what may be
//! encrypted.

use bson::raw::{CString, RawBsonRef, RawRegexRef};
use bson::spec::{BinarySubtype, ElementType};
use bson::{Bson, Document, JavaScriptCodeWithScope, RawDocument, Regex};
use zeroize::{Zeroize, Zeroizing};

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

/// Why a value cannot be encoded; these reasons never quote the value.
const KEY_WITH_NUL: &str = "a document key contains a NUL byte";
const TOO_LARGE: &str = "the value is larger than BSON allows";
const REFUSED: &str = "the BSON encoder refused it";
const UNSIGNED_TOO_LARGE: &str = "an unsigned integer does not fit in a BSON integer";

fn unencodable(reason: &'static str) -> Error {
    Error::UnencodableValue { reason }
}

/// The [`Error::UnencodableValue`] for an error of the bson crate's encoder.
///
/// bson's messages quote keys and values (`cstring with interior null: "…"`), so only
/// the kind of the error is kept.
pub(crate) fn unencodable_bson(error: &bson::error::Error) -> Error {
    use bson::error::ErrorKind;
    let reason = match &error.kind {
        ErrorKind::MalformedBytes { .. }
            if error
                .message
                .as_deref()
                .is_some_and(|message| message.starts_with("cstring with interior null")) =>
        {
            KEY_WITH_NUL
        }
        ErrorKind::TooLargeUnsignedInteger { .. } => UNSIGNED_TOO_LARGE,
        _ => REFUSED,
    };
    unencodable(reason)
}

/// Serializes `value` to the bytes it occupies inside a document.
///
/// The bytes are written once, into one buffer sized exactly beforehand (so it never
/// regrows and leaves no partial copy behind) that is zeroized when dropped; `value` is
/// not cloned. The output is byte for byte what the bson crate writes.
///
/// # Errors
///
/// [`Error::UnencodableValue`] with a reason that never quotes the value: a document key
/// holding a NUL byte, or a value larger than BSON allows.
pub(crate) fn encode(value: &Bson) -> Result<Zeroizing<Vec<u8>>> {
    let len = value_len(value)?;
    let mut out = Zeroizing::new(Vec::with_capacity(len));
    write_value(value, &mut out)?;
    if out.len() != len {
        // A mismatch would be a bug of this encoder: refuse rather than emit it.
        return Err(unencodable(REFUSED));
    }
    Ok(out)
}

/// The length of a BSON string or code: length prefix, bytes, NUL.
fn string_len(text: &str) -> Result<usize> {
    checked_i32(4 + text.len() + 1)
}

/// `len` if a BSON length field can hold it.
fn checked_i32(len: usize) -> Result<usize> {
    if i32::try_from(len).is_ok() {
        Ok(len)
    } else {
        Err(unencodable(TOO_LARGE))
    }
}

/// The number of bytes `value` occupies inside a document.
fn value_len(value: &Bson) -> Result<usize> {
    Ok(match value {
        Bson::Double(_) | Bson::Int64(_) | Bson::DateTime(_) | Bson::Timestamp(_) => 8,
        Bson::Int32(_) => 4,
        Bson::Boolean(_) => 1,
        Bson::ObjectId(_) => 12,
        Bson::Decimal128(_) => 16,
        Bson::Null | Bson::Undefined | Bson::MinKey | Bson::MaxKey => 0,
        Bson::String(text) | Bson::JavaScriptCode(text) | Bson::Symbol(text) => string_len(text)?,
        Bson::Binary(binary) => {
            let old = usize::from(binary.subtype == BinarySubtype::BinaryOld) * 4;
            checked_i32(binary.bytes.len() + old)?;
            4 + 1 + old + binary.bytes.len()
        }
        Bson::RegularExpression(regex) => regex.pattern.len() + 1 + regex.options.len() + 1,
        Bson::Document(document) => document_len(document)?,
        Bson::Array(values) => {
            let mut len = 4 + 1;
            for (index, value) in values.iter().enumerate() {
                len += 1 + decimal_len(index) + 1 + value_len(value)?;
            }
            checked_i32(len)?
        }
        Bson::JavaScriptCodeWithScope(code) => {
            checked_i32(4 + string_len(&code.code)? + document_len(&code.scope)?)?
        }
        Bson::DbPointer(_) => db_pointer_bytes(value)?.len(),
    })
}

fn document_len(document: &Document) -> Result<usize> {
    let mut len = 4 + 1;
    for (key, value) in document {
        if key.as_bytes().contains(&0) {
            return Err(unencodable(KEY_WITH_NUL));
        }
        len += 1 + key.len() + 1 + value_len(value)?;
    }
    checked_i32(len)
}

/// The number of decimal digits of `index` (an array key).
fn decimal_len(mut index: usize) -> usize {
    let mut digits = 1;
    while index >= 10 {
        index /= 10;
        digits += 1;
    }
    digits
}

/// Writes the length of what was written since `start` (where a 4-byte placeholder
/// stands) into that placeholder.
fn patch_len(out: &mut [u8], start: usize) -> Result<()> {
    let len = i32::try_from(out.len() - start).map_err(|_| unencodable(TOO_LARGE))?;
    match out.get_mut(start..start + 4) {
        Some(prefix) => {
            prefix.copy_from_slice(&len.to_le_bytes());
            Ok(())
        }
        None => Err(unencodable(REFUSED)),
    }
}

fn write_string(text: &str, out: &mut Vec<u8>) -> Result<()> {
    let len = i32::try_from(text.len() + 1).map_err(|_| unencodable(TOO_LARGE))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out.push(0);
    Ok(())
}

fn write_element(key: &str, value: &Bson, out: &mut Vec<u8>) -> Result<()> {
    out.push(value.element_type() as u8);
    out.extend_from_slice(key.as_bytes());
    out.push(0);
    write_value(value, out)
}

fn write_document(document: &Document, out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    for (key, value) in document {
        if key.as_bytes().contains(&0) {
            return Err(unencodable(KEY_WITH_NUL));
        }
        write_element(key, value, out)?;
    }
    out.push(0);
    patch_len(out, start)
}

fn write_value(value: &Bson, out: &mut Vec<u8>) -> Result<()> {
    match value {
        Bson::Double(number) => out.extend_from_slice(&number.to_le_bytes()),
        Bson::Int32(number) => out.extend_from_slice(&number.to_le_bytes()),
        Bson::Int64(number) => out.extend_from_slice(&number.to_le_bytes()),
        Bson::DateTime(date) => out.extend_from_slice(&date.timestamp_millis().to_le_bytes()),
        Bson::Timestamp(timestamp) => {
            out.extend_from_slice(&timestamp.increment.to_le_bytes());
            out.extend_from_slice(&timestamp.time.to_le_bytes());
        }
        Bson::Boolean(flag) => out.push(u8::from(*flag)),
        Bson::ObjectId(id) => out.extend_from_slice(&id.bytes()),
        Bson::Decimal128(number) => out.extend_from_slice(&number.bytes()),
        Bson::Null | Bson::Undefined | Bson::MinKey | Bson::MaxKey => {}
        Bson::String(text) | Bson::JavaScriptCode(text) | Bson::Symbol(text) => {
            write_string(text, out)?;
        }
        Bson::Binary(binary) => {
            let old = binary.subtype == BinarySubtype::BinaryOld;
            let inner = i32::try_from(binary.bytes.len()).map_err(|_| unencodable(TOO_LARGE))?;
            let outer = if old {
                inner.checked_add(4).ok_or_else(|| unencodable(TOO_LARGE))?
            } else {
                inner
            };
            out.extend_from_slice(&outer.to_le_bytes());
            out.push(u8::from(binary.subtype));
            if old {
                out.extend_from_slice(&inner.to_le_bytes());
            }
            out.extend_from_slice(&binary.bytes);
        }
        Bson::RegularExpression(regex) => {
            out.extend_from_slice(regex.pattern.as_str().as_bytes());
            out.push(0);
            out.extend_from_slice(regex.options.as_str().as_bytes());
            out.push(0);
        }
        Bson::Document(document) => write_document(document, out)?,
        Bson::Array(values) => {
            let start = out.len();
            out.extend_from_slice(&[0; 4]);
            let mut key = [0; 20];
            for (index, value) in values.iter().enumerate() {
                write_element(decimal(index, &mut key), value, out)?;
            }
            out.push(0);
            patch_len(out, start)?;
        }
        Bson::JavaScriptCodeWithScope(code) => {
            let start = out.len();
            out.extend_from_slice(&[0; 4]);
            write_string(&code.code, out)?;
            write_document(&code.scope, out)?;
            patch_len(out, start)?;
        }
        Bson::DbPointer(_) => out.extend_from_slice(&db_pointer_bytes(value)?),
    }
    Ok(())
}

/// The decimal text of `index` (an array key; at most 20 digits for a 64-bit `usize`),
/// written at the end of `buffer` so that writing a key allocates nothing.
fn decimal(mut index: usize, buffer: &mut [u8; 20]) -> &str {
    let mut start = buffer.len();
    loop {
        start -= 1;
        if let Some(digit) = buffer.get_mut(start) {
            // `index % 10` is below 10.
            *digit = b'0' + (index % 10) as u8;
        }
        index /= 10;
        if index == 0 || start == 0 {
            break;
        }
    }
    buffer
        .get(start..)
        .and_then(|digits| std::str::from_utf8(digits).ok())
        .unwrap_or_default()
}

/// The bytes of a DbPointer value.
///
/// bson 3 keeps a DbPointer's namespace private, so this deprecated type alone is
/// encoded through bson (a clone whose namespace is freed without zeroization).
fn db_pointer_bytes(value: &Bson) -> Result<Zeroizing<Vec<u8>>> {
    let mut document = Document::new();
    document.insert(FIELD, value.clone());
    let bytes = Zeroizing::new(
        document
            .to_vec()
            .map_err(|error| unencodable_bson(&error))?,
    );
    let end = bytes.len().saturating_sub(1);
    bytes
        .get(VALUE_OFFSET..end)
        .map(|value| Zeroizing::new(value.to_vec()))
        .ok_or_else(|| unencodable(REFUSED))
}

/// Rebuilds the BSON value of type `element_type` from its bytes.
///
/// The one temporary buffer (the value wrapped in a one-field document) is zeroized
/// when dropped, and the value is converted without intermediate copies of its bytes:
/// every string and binary in the result is allocated once, and belongs to the caller.
///
/// Fails with [`Error::Decryption`] when the bytes are not a valid value of that type;
/// authenticated ciphertexts from a correct writer never do. The error never quotes
/// the bytes.
pub(crate) fn decode(element_type: ElementType, value: &[u8]) -> Result<Bson> {
    let total = VALUE_OFFSET + value.len() + 1;
    let length = i32::try_from(total).map_err(|_| Error::Decryption)?;
    let mut document = Zeroizing::new(Vec::with_capacity(total));
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
    to_bson(decoded).ok_or(Error::Decryption)
}

/// Converts a raw value, wiping whatever was built when a nested value is invalid.
fn to_bson(value: RawBsonRef<'_>) -> Option<Bson> {
    Some(match value {
        RawBsonRef::Document(document) => Bson::Document(to_document(document)?),
        RawBsonRef::Array(array) => {
            // Counted first so that the vector never regrows.
            let mut values = Vec::with_capacity(array.into_iter().count());
            for item in array {
                match item.ok().and_then(to_bson) {
                    Some(value) => values.push(value),
                    None => {
                        wipe(Bson::Array(values));
                        return None;
                    }
                }
            }
            Bson::Array(values)
        }
        RawBsonRef::JavaScriptCodeWithScope(code) => {
            let scope = to_document(code.scope)?;
            Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope {
                code: code.code.to_owned(),
                scope,
            })
        }
        RawBsonRef::RegularExpression(regex) => Bson::RegularExpression(to_regex(regex)?),
        // Scalars, strings and binaries: bson allocates each once, exactly sized.
        other => Bson::try_from(other).ok()?,
    })
}

fn to_document(raw: &RawDocument) -> Option<Document> {
    let mut document = Document::new();
    for element in raw {
        match element
            .ok()
            .and_then(|(key, value)| Some((key, to_bson(value)?)))
        {
            Some((key, value)) => {
                // A repeated key replaces the earlier value, as bson's own conversion does.
                if let Some(replaced) = document.insert(key.as_str(), value) {
                    wipe(replaced);
                }
            }
            None => {
                wipe(Bson::Document(document));
                return None;
            }
        }
    }
    Some(document)
}

/// A regex with its options sorted, as bson's own conversion does, through buffers
/// that are zeroized or handed over.
fn to_regex(regex: RawRegexRef<'_>) -> Option<Regex> {
    let options = regex.options.as_str();
    let mut chars = Zeroizing::new(Vec::with_capacity(options.chars().count()));
    chars.extend(options.chars());
    chars.sort_unstable();
    let mut sorted = String::with_capacity(options.len());
    sorted.extend(chars.iter());
    Some(Regex {
        pattern: regex.pattern.into(),
        options: CString::try_from(sorted).ok()?,
    })
}

/// Drops a value after zeroizing the bytes of its strings, binaries and keys.
///
/// For values this crate owns and no longer needs (a plaintext handed over by value).
/// Scalars are held inline and vanish with the value; a DbPointer's namespace is
/// private to bson and cannot be reached.
pub(crate) fn wipe(value: Bson) {
    match value {
        Bson::String(mut text) | Bson::JavaScriptCode(mut text) | Bson::Symbol(mut text) => {
            text.zeroize();
        }
        Bson::Binary(mut binary) => binary.bytes.zeroize(),
        Bson::Document(document) => wipe_document(document),
        Bson::Array(values) => values.into_iter().for_each(wipe),
        Bson::JavaScriptCodeWithScope(code) => {
            let JavaScriptCodeWithScope { mut code, scope } = code;
            code.zeroize();
            wipe_document(scope);
        }
        Bson::RegularExpression(regex) => {
            regex.pattern.into_string().zeroize();
            regex.options.into_string().zeroize();
        }
        _ => {}
    }
}

/// A plaintext this crate was handed by value: [`wipe`]d when dropped, also when the
/// future holding it is cancelled.
pub(crate) struct WipeOnDrop(pub(crate) Bson);

impl Drop for WipeOnDrop {
    fn drop(&mut self) {
        wipe(std::mem::replace(&mut self.0, Bson::Null));
    }
}

fn wipe_document(document: Document) {
    for (mut key, value) in document {
        key.zeroize();
        wipe(value);
    }
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
        assert_eq!(*encode(&Bson::Int32(1)).unwrap(), [1, 0, 0, 0]);
        assert_eq!(
            *encode(&Bson::String("ab".into())).unwrap(),
            [3, 0, 0, 0, b'a', b'b', 0]
        );
    }

    /// One value of every BSON type, nested in documents, arrays and code with scope.
    fn every_type() -> Vec<Bson> {
        use bson::{Binary, DateTime, Decimal128, Timestamp, oid::ObjectId};
        let binary = |subtype, bytes: &[u8]| {
            Bson::Binary(Binary {
                subtype,
                bytes: bytes.to_vec(),
            })
        };
        let regex = Bson::RegularExpression(Regex {
            pattern: CString::try_from("^a.c$").unwrap(),
            options: CString::try_from("imx").unwrap(),
        });
        let scalars = vec![
            Bson::Double(-1.5),
            Bson::Double(f64::NAN),
            Bson::String(String::new()),
            Bson::String("héllo \0 world".into()),
            Bson::Boolean(false),
            Bson::Boolean(true),
            Bson::Null,
            Bson::Undefined,
            Bson::MinKey,
            Bson::MaxKey,
            Bson::Int32(i32::MIN),
            Bson::Int64(i64::MAX),
            Bson::Timestamp(Timestamp {
                time: 0x0102_0304,
                increment: 0x0506_0708,
            }),
            Bson::DateTime(DateTime::from_millis(-62_135_596_800_000)),
            Bson::ObjectId(ObjectId::from_bytes([7; 12])),
            Bson::Decimal128(Decimal128::from_bytes([9; 16])),
            Bson::Symbol("sym".into()),
            Bson::JavaScriptCode("function () {}".into()),
            binary(BinarySubtype::Generic, b"bytes"),
            binary(BinarySubtype::BinaryOld, b"old"),
            binary(BinarySubtype::Uuid, &[1; 16]),
            binary(BinarySubtype::UserDefined(0x80), b""),
            regex,
        ];
        let mut values = scalars.clone();
        let document: Document = scalars
            .iter()
            .enumerate()
            .map(|(i, value)| (format!("k{i}"), value.clone()))
            .collect();
        values.push(Bson::Array(scalars.clone()));
        values.push(Bson::Array((0..123).map(Bson::Int32).collect()));
        values.push(Bson::Document(document.clone()));
        values.push(Bson::Document(
            doc! {"a": [document.clone(), [[]], {}], "": {"b": {}}},
        ));
        values.push(Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope {
            code: "x".into(),
            scope: document,
        }));
        values.push(Bson::Document(Document::new()));
        values.push(Bson::Array(Vec::new()));
        values
    }

    /// What bson itself writes for `value` inside a document.
    fn bson_encoding(value: &Bson) -> Vec<u8> {
        let mut document = Document::new();
        document.insert(FIELD, value.clone());
        let bytes = document.to_vec().unwrap();
        bytes[VALUE_OFFSET..bytes.len() - 1].to_vec()
    }

    #[test]
    fn encodes_every_type_as_bson_does_in_a_buffer_that_never_regrows() {
        for value in every_type() {
            let encoded = encode(&value).unwrap();
            assert_eq!(*encoded, bson_encoding(&value), "{value:?}");
            assert_eq!(encoded.capacity(), encoded.len(), "{value:?}");
            let decoded = decode(value.element_type(), &encoded).unwrap();
            // Bitwise: NaN is not equal to itself.
            assert_eq!(*encode(&decoded).unwrap(), *encoded, "{value:?}");
            let expected = Bson::try_from(
                RawDocument::from_bytes(&{
                    let mut document = Document::new();
                    document.insert(FIELD, value.clone());
                    document.to_vec().unwrap()
                })
                .unwrap()
                .get(FIELD)
                .unwrap()
                .unwrap(),
            )
            .unwrap();
            assert_eq!(format!("{decoded:?}"), format!("{expected:?}"));
        }
    }

    #[test]
    fn a_db_pointer_is_encoded_as_bson_does() {
        // bson offers no constructor: read one from its bytes.
        let mut bytes = vec![0, 0, 0, 0, 0x0C, b'v', 0, 3, 0, 0, 0, b'a', b'.', 0];
        bytes.extend_from_slice(&[4; 12]);
        bytes.push(0);
        let len = bytes.len() as i32;
        bytes[..4].copy_from_slice(&len.to_le_bytes());
        let value = decode(
            ElementType::DbPointer,
            &bytes[VALUE_OFFSET..bytes.len() - 1],
        )
        .unwrap();
        assert!(matches!(value, Bson::DbPointer(_)));
        assert_eq!(
            *encode(&value).unwrap(),
            bytes[VALUE_OFFSET..bytes.len() - 1]
        );
    }

    #[test]
    fn a_regex_is_decoded_with_sorted_options_as_bson_does() {
        let value = decode(ElementType::RegularExpression, b"a\0xmi\0").unwrap();
        assert_eq!(
            value,
            Bson::RegularExpression(Regex {
                pattern: CString::try_from("a").unwrap(),
                options: CString::try_from("imx").unwrap(),
            })
        );
    }

    #[test]
    fn a_repeated_key_keeps_the_last_value_as_bson_does() {
        let bytes = [
            19, 0, 0, 0, 0x10, b'a', 0, 1, 0, 0, 0, 0x10, b'a', 0, 2, 0, 0, 0, 0,
        ];
        let ours = decode(ElementType::EmbeddedDocument, &bytes).unwrap();
        let theirs = Document::try_from(RawDocument::from_bytes(&bytes).unwrap()).unwrap();
        assert_eq!(ours, Bson::Document(theirs));
    }

    #[test]
    fn finding_1_unencodable_values_are_refused_without_quoting_them() {
        let secret = "SSN 078-05-1120";
        for value in [
            Bson::Document(doc! { format!("{secret}\0"): 1 }),
            Bson::Array(vec![Bson::Document(doc! { format!("{secret}\0"): secret })]),
            Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope {
                code: secret.into(),
                scope: doc! { format!("\0{secret}"): 1 },
            }),
        ] {
            let error = encode(&value).unwrap_err();
            assert!(
                matches!(error, Error::UnencodableValue { reason } if reason == KEY_WITH_NUL),
                "{error:?}"
            );
            for shown in [error.to_string(), format!("{error:?}")] {
                assert!(!shown.contains("078-05"), "{shown}");
                assert!(shown.contains("NUL"), "{shown}");
            }
        }
        // bson's own error quotes the key; its classification does not.
        let mut document = Document::new();
        document.insert(FIELD, Bson::Document(doc! { format!("{secret}\0"): 1 }));
        let error = document.to_vec().unwrap_err();
        assert!(error.to_string().contains(secret));
        let error = unencodable_bson(&error);
        assert!(!format!("{error} {error:?}").contains(secret));
    }

    #[test]
    fn decode_failures_do_not_quote_the_bytes() {
        for (element_type, bytes) in [
            (ElementType::String, &b"\x09\0\0\0SSN 078-05-1120\0"[..]),
            (
                ElementType::EmbeddedDocument,
                b"\x14\0\0\0\x02SSN 078-05-1120\0",
            ),
            (ElementType::String, b"\x10\0\0\0SSN 078-05-1120\xff\0"),
        ] {
            let error = decode(element_type, bytes).unwrap_err();
            assert!(matches!(error, Error::Decryption));
            assert!(!format!("{error} {error:?}").contains("078-05"));
        }
    }

    #[cfg(feature = "driver")]
    #[test]
    fn wipe_on_drop_zeroizes_what_it_owns() {
        // Observable only through the allocator (tests/zeroization.rs); here: no panic on
        // any type.
        for value in every_type() {
            drop(WipeOnDrop(value));
        }
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
