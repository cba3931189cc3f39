//! KMIP's wire format: Tag-Type-Length-Value items (KMIP 1.x, "Message Encoding").
//!
//! Every item is a 3-byte tag, a 1-byte type, a 4-byte big-endian length and the value,
//! padded with zeros to a multiple of 8 bytes. A structure's value is its items.
//!
//! The decoder reads what a KMIP server sends, so it is strict and bounded: the input
//! must be exactly one item; lengths must match their type and their enclosing
//! structure; padding must be zeros; booleans 0 or 1; text UTF-8; structures at most
//! [`MAX_DEPTH`] deep. It never panics and allocates no more than the input's size.
//! Byte strings (key material, wrapped keys) are held in zeroizing buffers.

use std::fmt;

use zeroize::Zeroizing;

/// The deepest nesting of structures decoded. KMIP replies about keys nest 6 deep.
pub(crate) const MAX_DEPTH: usize = 16;

/// The longest message encoded or decoded, in bytes.
pub(crate) const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// The length of an item's header (tag, type, length).
pub(crate) const HEADER_LEN: usize = 8;

/// A KMIP tag (3 bytes on the wire).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tag(pub(crate) u32);

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#08x}", self.0)
    }
}

/// The tags this crate reads or writes (KMIP 1.2, "Tags").
#[allow(missing_docs)]
pub(crate) mod tag {
    use super::Tag;

    pub(crate) const ATTRIBUTE: Tag = Tag(0x42_0008);
    pub(crate) const ATTRIBUTE_NAME: Tag = Tag(0x42_000a);
    pub(crate) const ATTRIBUTE_VALUE: Tag = Tag(0x42_000b);
    pub(crate) const BATCH_COUNT: Tag = Tag(0x42_000d);
    pub(crate) const BATCH_ITEM: Tag = Tag(0x42_000f);
    pub(crate) const BLOCK_CIPHER_MODE: Tag = Tag(0x42_0011);
    pub(crate) const CRYPTOGRAPHIC_ALGORITHM: Tag = Tag(0x42_0028);
    pub(crate) const CRYPTOGRAPHIC_PARAMETERS: Tag = Tag(0x42_002b);
    pub(crate) const IV_COUNTER_NONCE: Tag = Tag(0x42_003d);
    pub(crate) const KEY_BLOCK: Tag = Tag(0x42_0040);
    pub(crate) const KEY_FORMAT_TYPE: Tag = Tag(0x42_0042);
    pub(crate) const KEY_MATERIAL: Tag = Tag(0x42_0043);
    pub(crate) const KEY_VALUE: Tag = Tag(0x42_0045);
    pub(crate) const OBJECT_TYPE: Tag = Tag(0x42_0057);
    pub(crate) const OPERATION: Tag = Tag(0x42_005c);
    pub(crate) const PADDING_METHOD: Tag = Tag(0x42_005f);
    pub(crate) const PROTOCOL_VERSION: Tag = Tag(0x42_0069);
    pub(crate) const PROTOCOL_VERSION_MAJOR: Tag = Tag(0x42_006a);
    pub(crate) const PROTOCOL_VERSION_MINOR: Tag = Tag(0x42_006b);
    pub(crate) const REQUEST_HEADER: Tag = Tag(0x42_0077);
    pub(crate) const REQUEST_MESSAGE: Tag = Tag(0x42_0078);
    pub(crate) const REQUEST_PAYLOAD: Tag = Tag(0x42_0079);
    pub(crate) const RESPONSE_MESSAGE: Tag = Tag(0x42_007b);
    pub(crate) const RESPONSE_PAYLOAD: Tag = Tag(0x42_007c);
    pub(crate) const RESULT_MESSAGE: Tag = Tag(0x42_007d);
    pub(crate) const RESULT_REASON: Tag = Tag(0x42_007e);
    pub(crate) const RESULT_STATUS: Tag = Tag(0x42_007f);
    pub(crate) const SECRET_DATA: Tag = Tag(0x42_0085);
    pub(crate) const SECRET_DATA_TYPE: Tag = Tag(0x42_0086);
    pub(crate) const TEMPLATE_ATTRIBUTE: Tag = Tag(0x42_0091);
    pub(crate) const UNIQUE_IDENTIFIER: Tag = Tag(0x42_0094);
    pub(crate) const DATA: Tag = Tag(0x42_00c2);
    pub(crate) const RANDOM_IV: Tag = Tag(0x42_00c5);
}

/// An item's value, by type.
pub(crate) enum Value {
    /// Type 0x01: the items it holds.
    Structure(Vec<Item>),
    /// Type 0x02: a signed 32-bit integer.
    Integer(i32),
    /// Type 0x03: a signed 64-bit integer.
    LongInteger(i64),
    /// Type 0x04: a two's-complement big-endian integer, a multiple of 8 bytes long.
    BigInteger(Vec<u8>),
    /// Type 0x05: an enumeration value.
    Enumeration(u32),
    /// Type 0x06.
    Boolean(bool),
    /// Type 0x07: UTF-8 text.
    TextString(String),
    /// Type 0x08: bytes, zeroized on drop (key material lives here).
    ByteString(Zeroizing<Vec<u8>>),
    /// Type 0x09: seconds since the Unix epoch.
    DateTime(i64),
    /// Type 0x0A: a duration in seconds.
    Interval(u32),
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Structure(items) => f.debug_list().entries(items).finish(),
            Self::Integer(value) => write!(f, "Integer({value})"),
            Self::LongInteger(value) => write!(f, "LongInteger({value})"),
            Self::BigInteger(bytes) => write!(f, "BigInteger({} bytes)", bytes.len()),
            Self::Enumeration(value) => write!(f, "Enumeration({value:#x})"),
            Self::Boolean(value) => write!(f, "Boolean({value})"),
            Self::TextString(text) => write!(f, "TextString({text:?})"),
            // Never the bytes: they may be a key.
            Self::ByteString(bytes) => write!(f, "ByteString({} bytes)", bytes.len()),
            Self::DateTime(value) => write!(f, "DateTime({value})"),
            Self::Interval(value) => write!(f, "Interval({value})"),
        }
    }
}

impl Value {
    fn type_code(&self) -> u8 {
        match self {
            Self::Structure(_) => 0x01,
            Self::Integer(_) => 0x02,
            Self::LongInteger(_) => 0x03,
            Self::BigInteger(_) => 0x04,
            Self::Enumeration(_) => 0x05,
            Self::Boolean(_) => 0x06,
            Self::TextString(_) => 0x07,
            Self::ByteString(_) => 0x08,
            Self::DateTime(_) => 0x09,
            Self::Interval(_) => 0x0a,
        }
    }

    /// The value's length as the length field gives it (without padding).
    fn value_len(&self) -> usize {
        match self {
            Self::Structure(items) => items.iter().map(Item::encoded_len).sum(),
            Self::Integer(_) | Self::Enumeration(_) | Self::Interval(_) => 4,
            Self::LongInteger(_) | Self::Boolean(_) | Self::DateTime(_) => 8,
            Self::BigInteger(bytes) => bytes.len(),
            Self::TextString(text) => text.len(),
            Self::ByteString(bytes) => bytes.len(),
        }
    }
}

/// One TTLV item.
#[derive(Debug)]
pub(crate) struct Item {
    /// Its tag.
    pub(crate) tag: Tag,
    /// Its value.
    pub(crate) value: Value,
}

/// Pads `len` to the next multiple of 8.
fn padded(len: usize) -> usize {
    len.div_ceil(8).saturating_mul(8)
}

impl Item {
    /// An item.
    pub(crate) fn new(tag: Tag, value: Value) -> Self {
        Self { tag, value }
    }

    /// A structure holding `items`.
    pub(crate) fn structure(tag: Tag, items: Vec<Item>) -> Self {
        Self::new(tag, Value::Structure(items))
    }

    /// The whole item's length on the wire.
    pub(crate) fn encoded_len(&self) -> usize {
        HEADER_LEN.saturating_add(padded(self.value.value_len()))
    }

    /// The item on the wire, in a buffer allocated once at its exact size (no regrowth
    /// leaves copies of a key behind) and zeroized on drop.
    ///
    /// # Errors
    ///
    /// When the message would be longer than [`MAX_MESSAGE_BYTES`], or a big integer is
    /// not a multiple of 8 bytes long.
    pub(crate) fn encode(&self) -> Result<Zeroizing<Vec<u8>>, String> {
        let len = self.encoded_len();
        if len > MAX_MESSAGE_BYTES {
            return Err(format!(
                "a KMIP message of {len} bytes is longer than {MAX_MESSAGE_BYTES}"
            ));
        }
        let mut out = Zeroizing::new(Vec::with_capacity(len));
        self.write(&mut out)?;
        Ok(out)
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<(), String> {
        let [_, tag @ ..] = self.tag.0.to_be_bytes();
        out.extend_from_slice(&tag);
        out.push(self.value.type_code());
        let len = self.value.value_len();
        // Bounded by MAX_MESSAGE_BYTES, checked by `encode`.
        let len32 = u32::try_from(len).map_err(|_| "a KMIP item is too long".to_owned())?;
        out.extend_from_slice(&len32.to_be_bytes());
        match &self.value {
            Value::Structure(items) => {
                for item in items {
                    item.write(out)?;
                }
            }
            Value::Integer(value) => out.extend_from_slice(&value.to_be_bytes()),
            Value::Enumeration(value) | Value::Interval(value) => {
                out.extend_from_slice(&value.to_be_bytes());
            }
            Value::LongInteger(value) | Value::DateTime(value) => {
                out.extend_from_slice(&value.to_be_bytes());
            }
            Value::Boolean(value) => out.extend_from_slice(&u64::from(*value).to_be_bytes()),
            Value::BigInteger(bytes) => {
                if bytes.len() % 8 != 0 {
                    return Err("a KMIP big integer must be a multiple of 8 bytes".to_owned());
                }
                out.extend_from_slice(bytes);
            }
            Value::TextString(text) => out.extend_from_slice(text.as_bytes()),
            Value::ByteString(bytes) => out.extend_from_slice(bytes),
        }
        out.resize(out.len() + (padded(len) - len), 0);
        Ok(())
    }

    /// The first item of this structure with `tag`, if this is a structure holding one.
    pub(crate) fn child(&self, tag: Tag) -> Option<&Item> {
        match &self.value {
            Value::Structure(items) => items.iter().find(|item| item.tag == tag),
            _ => None,
        }
    }

    /// The item at `path` below this one, each step the first child with that tag.
    pub(crate) fn find(&self, path: &[Tag]) -> Option<&Item> {
        path.iter().try_fold(self, |item, &tag| item.child(tag))
    }

    /// The enumeration value, if this is one.
    pub(crate) fn enumeration(&self) -> Option<u32> {
        match self.value {
            Value::Enumeration(value) => Some(value),
            _ => None,
        }
    }

    /// The text, if this is a text string.
    pub(crate) fn text(&self) -> Option<&str> {
        match &self.value {
            Value::TextString(text) => Some(text),
            _ => None,
        }
    }

    /// The bytes, if this is a byte string.
    pub(crate) fn bytes(&self) -> Option<&Zeroizing<Vec<u8>>> {
        match &self.value {
            Value::ByteString(bytes) => Some(bytes),
            _ => None,
        }
    }
}

/// What is wrong with a TTLV message, and where.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct DecodeError {
    /// The offset of the item at fault.
    pub(crate) offset: usize,
    /// What is wrong.
    pub(crate) reason: &'static str,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.reason, self.offset)
    }
}

/// The length of the message whose first [`HEADER_LEN`] bytes are `header`, header
/// included, if it may be read: a structure, at most [`MAX_MESSAGE_BYTES`] long.
pub(crate) fn message_len(header: &[u8; HEADER_LEN]) -> Result<usize, DecodeError> {
    let [_, _, _, kind, l0, l1, l2, l3] = *header;
    let error = |reason| DecodeError { offset: 0, reason };
    if kind != 0x01 {
        return Err(error("a KMIP message must be a structure"));
    }
    let len = usize::try_from(u32::from_be_bytes([l0, l1, l2, l3]))
        .map_err(|_| error("a KMIP message is too long"))?;
    if len > MAX_MESSAGE_BYTES - HEADER_LEN {
        return Err(error("a KMIP message is too long"));
    }
    if len % 8 != 0 {
        return Err(error("a KMIP structure's length must be a multiple of 8"));
    }
    Ok(HEADER_LEN + len)
}

/// Decodes one message: `input` must hold exactly one item.
pub(crate) fn decode(input: &[u8]) -> Result<Item, DecodeError> {
    if input.len() > MAX_MESSAGE_BYTES {
        return Err(DecodeError {
            offset: 0,
            reason: "a KMIP message is too long",
        });
    }
    let mut reader = Reader { input, offset: 0 };
    let item = reader.item(0)?;
    if reader.offset != input.len() {
        return Err(reader.error("bytes follow the message"));
    }
    Ok(item)
}

struct Reader<'a> {
    input: &'a [u8],
    offset: usize,
}

impl Reader<'_> {
    fn error(&self, reason: &'static str) -> DecodeError {
        DecodeError {
            offset: self.offset,
            reason,
        }
    }

    fn take(&mut self, len: usize) -> Result<&[u8], DecodeError> {
        let end = self
            .offset
            .checked_add(len)
            .filter(|&end| end <= self.input.len())
            .ok_or_else(|| self.error("the message is truncated"))?;
        let bytes = self
            .input
            .get(self.offset..end)
            .ok_or_else(|| self.error("the message is truncated"))?;
        self.offset = end;
        Ok(bytes)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N)?;
        <[u8; N]>::try_from(bytes).map_err(|_| self.error("the message is truncated"))
    }

    /// Reads one item, `depth` structures deep. Recursion is bounded by [`MAX_DEPTH`].
    fn item(&mut self, depth: usize) -> Result<Item, DecodeError> {
        let start = self.offset;
        let at = |reason| DecodeError {
            offset: start,
            reason,
        };
        let [t0, t1, t2, kind, l0, l1, l2, l3] = self.take_array::<HEADER_LEN>()?;
        if t0 != 0x42 && t0 != 0x54 {
            return Err(at("a tag must start with 0x42 (KMIP) or 0x54 (extension)"));
        }
        let tag = Tag(u32::from_be_bytes([0, t0, t1, t2]));
        let len = usize::try_from(u32::from_be_bytes([l0, l1, l2, l3]))
            .map_err(|_| at("an item is too long"))?;
        let fixed = |expected: usize| {
            if len == expected {
                Ok(())
            } else {
                Err(at("an item's length does not match its type"))
            }
        };
        let value = match kind {
            0x01 => {
                if depth >= MAX_DEPTH {
                    return Err(at("structures are nested too deep"));
                }
                if len % 8 != 0 {
                    return Err(at("a structure's length must be a multiple of 8"));
                }
                let end = start
                    .checked_add(HEADER_LEN)
                    .and_then(|body| body.checked_add(len))
                    .filter(|&end| end <= self.input.len())
                    .ok_or_else(|| at("the message is truncated"))?;
                let mut items = Vec::new();
                while self.offset < end {
                    items.push(self.item(depth + 1)?);
                }
                if self.offset != end {
                    return Err(at("a structure's items overrun its length"));
                }
                Value::Structure(items)
            }
            0x02 => {
                fixed(4)?;
                let value = i32::from_be_bytes(self.take_array()?);
                self.padding(4)?;
                Value::Integer(value)
            }
            0x03 => {
                fixed(8)?;
                Value::LongInteger(i64::from_be_bytes(self.take_array()?))
            }
            0x04 => {
                if len == 0 || len % 8 != 0 {
                    return Err(at("a big integer's length must be a multiple of 8"));
                }
                Value::BigInteger(self.take(len)?.to_vec())
            }
            0x05 => {
                fixed(4)?;
                let value = u32::from_be_bytes(self.take_array()?);
                self.padding(4)?;
                Value::Enumeration(value)
            }
            0x06 => {
                fixed(8)?;
                match u64::from_be_bytes(self.take_array()?) {
                    0 => Value::Boolean(false),
                    1 => Value::Boolean(true),
                    _ => return Err(at("a boolean must be 0 or 1")),
                }
            }
            0x07 => {
                let bytes = self.take(len)?;
                let text = std::str::from_utf8(bytes)
                    .map_err(|_| at("a text string is not UTF-8"))?
                    .to_owned();
                self.padding(padded(len) - len)?;
                Value::TextString(text)
            }
            0x08 => {
                let bytes = Zeroizing::new(self.take(len)?.to_vec());
                self.padding(padded(len) - len)?;
                Value::ByteString(bytes)
            }
            0x09 => {
                fixed(8)?;
                Value::DateTime(i64::from_be_bytes(self.take_array()?))
            }
            0x0a => {
                fixed(4)?;
                let value = u32::from_be_bytes(self.take_array()?);
                self.padding(4)?;
                Value::Interval(value)
            }
            _ => return Err(at("unknown item type")),
        };
        Ok(Item { tag, value })
    }

    fn padding(&mut self, len: usize) -> Result<(), DecodeError> {
        let at = self.offset;
        if self.take(len)?.iter().any(|&b| b != 0) {
            return Err(DecodeError {
                offset: at,
                reason: "padding must be zeros",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    /// The examples of the KMIP 1.0 specification, section 9.1.2 ("Examples"): each
    /// value with tag 0x420020, encoded.
    fn spec_examples() -> Vec<(Value, &'static str)> {
        vec![
            (Value::Integer(8), "420020 02 00000004 00000008 00000000"),
            (
                Value::LongInteger(123_456_789_000_000_000),
                "420020 03 00000008 01B69B4BA5749200",
            ),
            (
                Value::BigInteger(hex("0000000003FD35EB6BC2DF4618080000")),
                "420020 04 00000010 0000000003FD35EB6BC2DF4618080000",
            ),
            (
                Value::Enumeration(255),
                "420020 05 00000004 000000FF 00000000",
            ),
            (Value::Boolean(true), "420020 06 00000008 0000000000000001"),
            (
                Value::TextString("Hello World".to_owned()),
                "420020 07 0000000B 48656C6C6F20576F726C64 0000000000",
            ),
            (
                Value::ByteString(Zeroizing::new(vec![1, 2, 3])),
                "420020 08 00000003 010203 0000000000",
            ),
            // Friday, March 14, 2008, 11:56:40 GMT.
            (
                Value::DateTime(0x47DA_67F8),
                "420020 09 00000008 0000000047DA67F8",
            ),
            // Ten days.
            (
                Value::Interval(864_000),
                "420020 0A 00000004 000D2F00 00000000",
            ),
            (
                Value::Structure(vec![
                    Item::new(Tag(0x42_0004), Value::Enumeration(254)),
                    Item::new(Tag(0x42_0005), Value::Integer(255)),
                ]),
                "420020 01 00000020 420004 05 00000004 000000FE 00000000 \
                 420005 02 00000004 000000FF 00000000",
            ),
        ]
    }

    #[test]
    fn encodes_and_decodes_the_specification_examples() {
        for (value, expected) in spec_examples() {
            let expected = hex(expected);
            let item = Item::new(Tag(0x42_0020), value);
            assert_eq!(item.encode().unwrap().as_slice(), expected, "{item:?}");
            let decoded = decode(&expected).unwrap();
            assert_eq!(decoded.encode().unwrap().as_slice(), expected, "{item:?}");
        }
    }

    #[test]
    fn reads_the_values_back() {
        let message = Item::structure(
            tag::RESPONSE_MESSAGE,
            vec![
                Item::new(tag::UNIQUE_IDENTIFIER, Value::TextString("39".to_owned())),
                Item::new(tag::DATA, Value::ByteString(Zeroizing::new(vec![7; 9]))),
                Item::new(tag::RESULT_STATUS, Value::Enumeration(0)),
            ],
        );
        let decoded = decode(&message.encode().unwrap()).unwrap();
        assert_eq!(decoded.tag, tag::RESPONSE_MESSAGE);
        assert_eq!(
            decoded.child(tag::UNIQUE_IDENTIFIER).unwrap().text(),
            Some("39")
        );
        assert_eq!(
            decoded
                .child(tag::DATA)
                .unwrap()
                .bytes()
                .unwrap()
                .as_slice(),
            [7; 9]
        );
        assert_eq!(
            decoded.child(tag::RESULT_STATUS).unwrap().enumeration(),
            Some(0)
        );
        assert!(decoded.child(tag::BATCH_ITEM).is_none());
    }

    #[test]
    fn encodes_into_a_buffer_of_its_exact_size() {
        let item = Item::new(tag::DATA, Value::ByteString(Zeroizing::new(vec![1; 96])));
        let encoded = item.encode().unwrap();
        assert_eq!(encoded.len(), encoded.capacity());
        assert_eq!(encoded.len(), item.encoded_len());
    }

    #[test]
    fn never_prints_byte_strings() {
        let item = Item::new(tag::DATA, Value::ByteString(Zeroizing::new(vec![0xab; 4])));
        let shown = format!("{item:?}");
        assert!(shown.contains("4 bytes") && !shown.contains("171") && !shown.contains("ab"));
    }

    fn refused(bytes: &[u8]) -> &'static str {
        decode(bytes).unwrap_err().reason
    }

    #[test]
    fn refuses_malformed_items() {
        let cases: &[(&str, &str)] = &[
            ("", "the message is truncated"),
            ("420020 02 00000004 00000008", "the message is truncated"),
            (
                "420020 02 00000008 0000000800000000",
                "an item's length does not match its type",
            ),
            (
                "420020 02 00000004 00000008 00000001",
                "padding must be zeros",
            ),
            (
                "420020 07 00000002 4142 000000000001",
                "padding must be zeros",
            ),
            (
                "420020 07 00000002 FFFE 000000000000",
                "a text string is not UTF-8",
            ),
            (
                "420020 06 00000008 0000000000000002",
                "a boolean must be 0 or 1",
            ),
            ("420020 0B 00000004 00000008 00000000", "unknown item type"),
            (
                "430020 02 00000004 00000008 00000000",
                "a tag must start with 0x42 (KMIP) or 0x54 (extension)",
            ),
            (
                "420020 04 00000004 00000001 00000000",
                "a big integer's length must be a multiple of 8",
            ),
            ("420020 08 FFFFFFFF 00", "the message is truncated"),
            (
                "420020 01 00000004 00000000",
                "a structure's length must be a multiple of 8",
            ),
            // A structure claiming 8 bytes holding a 16-byte item.
            (
                "420020 01 00000008 420004 02 00000004 00000001 00000000",
                "a structure's items overrun its length",
            ),
            (
                "420020 02 00000004 00000008 00000000 00",
                "bytes follow the message",
            ),
        ];
        for (bytes, reason) in cases {
            assert_eq!(refused(&hex(bytes)), *reason, "{bytes}");
        }
    }

    #[test]
    fn refuses_structures_nested_too_deep() {
        let mut item = Item::new(tag::DATA, Value::Integer(1));
        for _ in 0..MAX_DEPTH {
            item = Item::structure(tag::KEY_VALUE, vec![item]);
        }
        assert!(decode(&item.encode().unwrap()).is_ok());
        let deeper = Item::structure(tag::KEY_VALUE, vec![item]);
        assert_eq!(
            refused(&deeper.encode().unwrap()),
            "structures are nested too deep"
        );
    }

    #[test]
    fn refuses_messages_longer_than_the_bound() {
        let long = Item::new(
            tag::DATA,
            Value::ByteString(Zeroizing::new(vec![0; MAX_MESSAGE_BYTES])),
        );
        assert!(long.encode().is_err());
        assert_eq!(
            refused(&vec![0; MAX_MESSAGE_BYTES + 1]),
            "a KMIP message is too long"
        );
        assert_eq!(
            message_len(&hex("42007B 01 00010000").try_into().unwrap()),
            Err(DecodeError {
                offset: 0,
                reason: "a KMIP message is too long"
            })
        );
        assert_eq!(
            message_len(&hex("42007B 01 00000010").try_into().unwrap()),
            Ok(24)
        );
        assert!(message_len(&hex("42007B 02 00000004").try_into().unwrap()).is_err());
    }

    #[test]
    fn never_panics_on_random_input() {
        let mut bytes = [0_u8; 4096];
        for round in 0..200 {
            getrandom::fill(&mut bytes).unwrap();
            // A plausible header now and then, so that decoding goes deeper.
            if round % 2 == 0 {
                bytes[..4].copy_from_slice(&[0x42, 0x00, 0x7b, 0x01]);
            }
            let len = usize::from(bytes[4]) * 16;
            let _ = decode(&bytes[..len]);
        }
    }

    #[test]
    fn never_panics_on_truncations_or_bit_flips() {
        let (_, example) = spec_examples().pop().unwrap();
        let bytes = hex(example);
        for len in 0..bytes.len() {
            let _ = decode(bytes.get(..len).unwrap());
        }
        for index in 0..bytes.len() {
            for bit in 0..8 {
                let mut flipped = bytes.clone();
                *flipped.get_mut(index).unwrap() ^= 1 << bit;
                let _ = decode(&flipped);
            }
        }
    }
}
