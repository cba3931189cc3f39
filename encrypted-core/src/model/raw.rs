//! A minimal reader and writer of raw BSON elements, so the codecs copy every element
//! they do not touch as one slice, encrypt values straight from the serialized bytes,
//! and write ciphertexts straight into the output.
//!
//! The reader checks every length against the bytes it has; anything inconsistent is
//! an error, never a panic or an out-of-bounds read.

use crate::{Error, Result};

/// BSON element type bytes the codecs need by name.
pub(crate) mod tag {
    pub(crate) const DOCUMENT: u8 = 0x03;
    pub(crate) const BINARY: u8 = 0x05;
    pub(crate) const NULL: u8 = 0x0A;
}

/// The binary subtype of CSFLE ciphertexts.
pub(crate) const ENCRYPTED_SUBTYPE: u8 = 0x06;

/// One element of a document.
#[derive(Clone, Copy)]
pub(crate) struct Element<'a> {
    /// The type byte.
    pub(crate) element_type: u8,
    /// The field name, without its NUL.
    pub(crate) key: &'a str,
    /// The value's bytes, as they stand in the document.
    pub(crate) value: &'a [u8],
    /// Type byte, key, NUL and value: the whole element, to copy.
    pub(crate) whole: &'a [u8],
    /// Where the element starts in its document.
    pub(crate) offset: usize,
}

impl<'a> Element<'a> {
    /// The bytes of a subtype-6 binary's payload, if the element is one.
    pub(crate) fn ciphertext(&self) -> Option<&'a [u8]> {
        if self.element_type != tag::BINARY {
            return None;
        }
        match self.value.get(4) {
            Some(&ENCRYPTED_SUBTYPE) => self.value.get(5..),
            _ => None,
        }
    }

    /// Whether the element is an embedded document.
    pub(crate) fn is_document(&self) -> bool {
        self.element_type == tag::DOCUMENT
    }
}

fn malformed() -> Error {
    Error::MalformedCiphertext {
        reason: "the document holding it is not valid BSON",
    }
}

fn read_i32(bytes: &[u8], at: usize) -> Result<usize> {
    let slice = bytes.get(at..at + 4).ok_or_else(malformed)?;
    let value = i32::from_le_bytes(slice.try_into().map_err(|_| malformed())?);
    usize::try_from(value).map_err(|_| malformed())
}

fn cstring_len(bytes: &[u8], at: usize) -> Result<usize> {
    let rest = bytes.get(at..).ok_or_else(malformed)?;
    rest.iter()
        .position(|&b| b == 0)
        .map(|nul| nul + 1)
        .ok_or_else(malformed)
}

/// The length of a value of type `element_type` starting at `at`.
pub(crate) fn value_len(bytes: &[u8], element_type: u8, at: usize) -> Result<usize> {
    Ok(match element_type {
        0x06 | 0x0A | 0xFF | 0x7F => 0,
        0x08 => 1,
        0x10 => 4,
        0x01 | 0x09 | 0x11 | 0x12 => 8,
        0x07 => 12,
        0x13 => 16,
        // String, JavaScript code, symbol: length-prefixed, the length counting the NUL.
        0x02 | 0x0D | 0x0E => 4 + read_i32(bytes, at)?,
        // Document, array, code with scope: the length counts itself.
        0x03 | 0x04 | 0x0F => read_i32(bytes, at)?,
        0x05 => 5 + read_i32(bytes, at)?,
        0x0B => {
            let pattern = cstring_len(bytes, at)?;
            pattern + cstring_len(bytes, at + pattern)?
        }
        0x0C => 4 + read_i32(bytes, at)? + 12,
        _ => return Err(malformed()),
    })
}

/// The elements of the document `bytes` (which must be exactly one document), read
/// lazily; a malformed element ends the iteration with an error.
pub(crate) fn elements(bytes: &[u8]) -> Result<Elements<'_>> {
    let length = read_i32(bytes, 0)?;
    if length != bytes.len() || length < 5 || bytes.last() != Some(&0) {
        return Err(malformed());
    }
    Ok(Elements {
        bytes,
        at: 4,
        end: length - 1,
    })
}

/// The iterator of [`elements`].
pub(crate) struct Elements<'a> {
    bytes: &'a [u8],
    at: usize,
    end: usize,
}

impl<'a> Elements<'a> {
    fn read(&mut self) -> Result<Element<'a>> {
        let bytes = self.bytes;
        let start = self.at;
        let mut at = start;
        let element_type = *bytes.get(at).ok_or_else(malformed)?;
        at += 1;
        let key_len = cstring_len(bytes, at)?;
        let key = bytes.get(at..at + key_len - 1).ok_or_else(malformed)?;
        let key = std::str::from_utf8(key).map_err(|_| malformed())?;
        at += key_len;
        let len = value_len(bytes, element_type, at)?;
        let value_end = at
            .checked_add(len)
            .filter(|&e| e <= self.end)
            .ok_or_else(malformed)?;
        let value = bytes.get(at..value_end).ok_or_else(malformed)?;
        let whole = bytes.get(start..value_end).ok_or_else(malformed)?;
        self.at = value_end;
        Ok(Element {
            element_type,
            key,
            value,
            whole,
            offset: start,
        })
    }
}

impl<'a> Iterator for Elements<'a> {
    type Item = Result<Element<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.end {
            return None;
        }
        let element = self.read();
        if element.is_err() {
            // Nothing after a malformed element can be trusted.
            self.at = self.end;
        }
        Some(element)
    }
}

/// The element named `key` of the document `bytes`.
pub(crate) fn find<'a>(bytes: &'a [u8], key: &str) -> Result<Option<Element<'a>>> {
    for element in elements(bytes)? {
        let element = element?;
        if element.key == key {
            return Ok(Some(element));
        }
    }
    Ok(None)
}

/// The deepest nesting of embedded documents and arrays accepted in a stored document:
/// MongoDB's own limit.
pub(crate) const MAX_DEPTH: usize = 100;

/// Checks, without recursion, that the document `bytes` nests embedded documents,
/// arrays and code-with-scope scopes at most `limit` levels below its root, and that
/// the lengths on the way are consistent. `bson`'s deserializers recurse once per level:
/// this bounds their stack use before they see the bytes.
pub(crate) fn check_depth(bytes: &[u8], limit: usize) -> Result<()> {
    // Each level costs at least 7 bytes (type, empty name's NUL, length, NUL): a short
    // document cannot be too deep, and is left to the deserializer's own checks.
    if bytes.len() < 5 + 7 * (limit + 1) {
        return Ok(());
    }
    let length = read_i32(bytes, 0)?;
    if length != bytes.len() || length < 5 {
        return Err(malformed());
    }
    // The end (offset of the trailing NUL) of every document being walked, on the stack.
    let mut ends = [0_usize; MAX_DEPTH + 2];
    let limit = limit.min(ends.len());
    let mut depth = 0;
    let mut end = length - 1;
    let mut at = 4;
    loop {
        if at >= end {
            if at != end || bytes.get(end) != Some(&0) {
                return Err(malformed());
            }
            at = end + 1;
            if depth == 0 {
                return Ok(());
            }
            depth -= 1;
            end = ends.get(depth).copied().ok_or_else(malformed)?;
            continue;
        }
        let element_type = *bytes.get(at).ok_or_else(malformed)?;
        at += 1;
        at += cstring_len(bytes, at)?;
        let len = value_len(bytes, element_type, at)?;
        let value_end = at
            .checked_add(len)
            .filter(|&value_end| value_end <= end)
            .ok_or_else(malformed)?;
        // Where the embedded document starts, if the value holds one.
        let inner = match element_type {
            0x03 | 0x04 => Some(at),
            // Code with scope: total length, code string, then the scope document.
            0x0F => Some(at + 4 + 4 + read_i32(bytes, at + 4)?),
            _ => None,
        };
        let Some(start) = inner else {
            at = value_end;
            continue;
        };
        let inner_len = read_i32(bytes, start)?;
        let inner_end = start
            .checked_add(inner_len)
            .filter(|&inner_end| inner_len >= 5 && inner_end == value_end)
            .ok_or_else(malformed)?;
        if depth >= limit {
            return Err(Error::TooDeeplyNested { limit });
        }
        *ends.get_mut(depth).ok_or_else(malformed)? = end;
        depth += 1;
        end = inner_end - 1;
        at = start + 4;
    }
}

/// Writes a document element by element. What it holds is zeroized if it is dropped
/// unfinished (a decryption that failed half-way holds plaintext).
pub(crate) struct Writer {
    bytes: Vec<u8>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.bytes);
    }
}

impl Writer {
    /// A writer for a document of about `capacity` bytes.
    pub(crate) fn new(capacity: usize) -> Self {
        let mut bytes = Vec::with_capacity(capacity);
        bytes.extend_from_slice(&[0; 4]);
        Self { bytes }
    }

    /// Copies an element as it is.
    pub(crate) fn copy(&mut self, element: &Element<'_>) {
        self.bytes.extend_from_slice(element.whole);
    }

    /// Copies bytes as they are (a run of whole elements).
    pub(crate) fn copy_bytes(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }

    /// Starts an element of type `element_type` named `key`; its value follows.
    pub(crate) fn start(&mut self, element_type: u8, key: &str) {
        self.bytes.push(element_type);
        self.bytes.extend_from_slice(key.as_bytes());
        self.bytes.push(0);
    }

    /// Appends bytes to the element being written.
    pub(crate) fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }

    /// Starts a subtype-6 binary of `len` bytes named `key`; its payload follows.
    pub(crate) fn start_ciphertext(&mut self, key: &str, len: usize) -> Result<()> {
        let len = i32::try_from(len).map_err(|_| Error::UnencodableValue {
            reason: "a ciphertext larger than BSON allows",
        })?;
        self.start(tag::BINARY, key);
        self.bytes.extend_from_slice(&len.to_le_bytes());
        self.bytes.push(ENCRYPTED_SUBTYPE);
        Ok(())
    }

    /// Appends a finished embedded document as the element `key`.
    pub(crate) fn document(&mut self, key: &str, document: &[u8]) {
        self.start(tag::DOCUMENT, key);
        self.bytes.extend_from_slice(document);
    }

    /// Drops the element started last (after `start`), zeroizing it.
    pub(crate) fn truncate(&mut self, len: usize) {
        if let Some(tail) = self.bytes.get_mut(len..) {
            zeroize::Zeroize::zeroize(tail);
        }
        self.bytes.truncate(len);
    }

    /// The length written so far.
    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// The finished document's bytes.
    pub(crate) fn finish(mut self) -> Result<Vec<u8>> {
        self.bytes.push(0);
        let length = i32::try_from(self.bytes.len()).map_err(|_| Error::UnencodableValue {
            reason: "a document larger than BSON allows",
        })?;
        if let Some(prefix) = self.bytes.get_mut(..4) {
            prefix.copy_from_slice(&length.to_le_bytes());
        }
        Ok(std::mem::take(&mut self.bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_element_of_a_serialized_document_and_rewrites_it_identically() {
        let document = bson::doc! {
            "d": 1.5, "s": "x", "o": { "a": 1 }, "a": [1, 2], "b": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: vec![1, 2] },
            "oid": bson::oid::ObjectId::new(), "t": true, "dt": bson::DateTime::now(), "n": null,
            "re": bson::Regex { pattern: bson::raw::cstr!("a.*").into(), options: bson::raw::cstr!("i").into() },
            "js": bson::Bson::JavaScriptCode("f()".into()), "i": 1_i32, "ts": bson::Timestamp { time: 1, increment: 2 },
            "l": 2_i64, "dec": bson::Decimal128::from_bytes([1; 16]), "min": bson::Bson::MinKey, "max": bson::Bson::MaxKey,
        };
        let bytes = bson::serialize_to_vec(&document).unwrap();
        let elements: Vec<_> = elements(&bytes).unwrap().collect::<Result<_>>().unwrap();
        assert_eq!(elements.len(), document.len());
        let mut writer = Writer::new(bytes.len());
        for element in &elements {
            writer.copy(element);
        }
        assert_eq!(writer.finish().unwrap(), bytes);
    }

    #[test]
    fn depth_checks_never_panic_on_broken_documents() {
        let mut nested = bson::doc! { "a": 1 };
        for _ in 0..150 {
            nested = bson::doc! { "a": nested, "s": "x" };
        }
        let bytes = bson::serialize_to_vec(&nested).unwrap();
        assert!(matches!(
            check_depth(&bytes, MAX_DEPTH),
            Err(Error::TooDeeplyNested { limit: MAX_DEPTH })
        ));
        assert!(check_depth(&bytes, 200).is_err(), "the limit is capped");
        let shallow = bson::serialize_to_vec(
            &bson::doc! { "a": { "b": [1, { "c": "d" }] }, "pad": "x".repeat(800) },
        )
        .unwrap();
        check_depth(&shallow, MAX_DEPTH).unwrap();
        for cut in 0..bytes.len() {
            let _ = check_depth(&bytes[..cut], MAX_DEPTH);
        }
        for index in 0..bytes.len() {
            for value in [0x00, 0x04, 0x0F, 0x7F, 0xFF] {
                let mut broken = bytes.clone();
                broken[index] = value;
                let _ = check_depth(&broken, MAX_DEPTH);
            }
        }
    }

    #[test]
    fn inconsistent_lengths_are_errors_not_panics() {
        let bytes = bson::serialize_to_vec(&bson::doc! { "s": "hello", "o": { "a": 1 } }).unwrap();
        let parse = |bytes: &[u8]| -> Result<usize> {
            let mut count = 0;
            for element in elements(bytes)? {
                element?;
                count += 1;
            }
            Ok(count)
        };
        for cut in 0..bytes.len() {
            assert!(parse(&bytes[..cut]).is_err());
        }
        for index in 0..bytes.len() {
            for value in [0x00, 0x7F, 0xFF] {
                let mut broken = bytes.clone();
                broken[index] = value;
                // Must not panic; may or may not parse.
                let _ = parse(&broken);
            }
        }
    }
}
