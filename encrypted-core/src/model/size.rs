//! An upper bound of the size of a value's BSON serialization, computed without writing
//! it, so that the buffer a model is serialized into is allocated once, at its final
//! size, and zeroized when dropped: a `Vec` that `bson` grows would free the earlier
//! copies of the plaintext unzeroized.
//!
//! The bound counts every value as `bson`'s serializer writes it, and the special BSON
//! types (`ObjectId`, `DateTime`, `Binary`, ...) as the Extended JSON documents they
//! serialize through (`{ "$oid": .. }`), which are never smaller than the raw values
//! `bson` writes for them.

use std::fmt;

use serde::ser::{self, Serialize};

/// The name of `bson`'s `HumanReadable` newtype: what is inside serializes as for a
/// human-readable format.
const HUMAN_READABLE_NEWTYPE: &str = "$__bson_private_human_readable";

/// An upper bound of the length of `value` serialized as a BSON document, or `None` when
/// it cannot be serialized.
pub(crate) fn document_upper_bound<T: Serialize + ?Sized>(value: &T) -> Option<usize> {
    value
        .serialize(Size {
            human_readable: false,
        })
        .ok()
}

#[derive(Debug)]
pub(crate) struct Unsized;

impl fmt::Display for Unsized {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the value cannot be sized")
    }
}

impl std::error::Error for Unsized {}

impl ser::Error for Unsized {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Self
    }
}

#[derive(Clone, Copy)]
struct Size {
    human_readable: bool,
}

/// Length prefix and trailing NUL of a document, an array or a string.
const FRAME: usize = 5;

/// A document, array or variant being sized.
struct Compound {
    size: Size,
    total: usize,
}

impl Compound {
    fn new(size: Size, extra: usize) -> Self {
        Self {
            size,
            total: FRAME + extra,
        }
    }

    /// An element: type byte, name, NUL, value.
    fn element<T: Serialize + ?Sized>(
        &mut self,
        name_len: usize,
        value: &T,
    ) -> Result<(), Unsized> {
        let value = value.serialize(self.size)?;
        self.total = self
            .total
            .checked_add(2 + name_len)
            .and_then(|total| total.checked_add(value))
            .ok_or(Unsized)?;
        Ok(())
    }

    /// An array element: its name is its index, at most 20 digits.
    fn indexed<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsized> {
        self.element(20, value)
    }
}

/// A variant as `bson` writes it: `{ variant: <value> }`.
fn variant_frame(variant: &str) -> usize {
    FRAME + 2 + variant.len()
}

impl ser::Serializer for Size {
    type Ok = usize;
    type Error = Unsized;
    type SerializeSeq = Compound;
    type SerializeTuple = Compound;
    type SerializeTupleStruct = Compound;
    type SerializeTupleVariant = Compound;
    type SerializeMap = Compound;
    type SerializeStruct = Compound;
    type SerializeStructVariant = Compound;

    fn is_human_readable(&self) -> bool {
        self.human_readable
    }

    fn serialize_bool(self, _: bool) -> Result<usize, Unsized> {
        Ok(1)
    }
    fn serialize_i8(self, _: i8) -> Result<usize, Unsized> {
        Ok(4)
    }
    fn serialize_i16(self, _: i16) -> Result<usize, Unsized> {
        Ok(4)
    }
    fn serialize_i32(self, _: i32) -> Result<usize, Unsized> {
        Ok(4)
    }
    fn serialize_i64(self, _: i64) -> Result<usize, Unsized> {
        Ok(8)
    }
    fn serialize_u8(self, _: u8) -> Result<usize, Unsized> {
        Ok(4)
    }
    fn serialize_u16(self, _: u16) -> Result<usize, Unsized> {
        Ok(4)
    }
    fn serialize_u32(self, _: u32) -> Result<usize, Unsized> {
        Ok(8)
    }
    fn serialize_u64(self, _: u64) -> Result<usize, Unsized> {
        Ok(8)
    }
    fn serialize_f32(self, _: f32) -> Result<usize, Unsized> {
        Ok(8)
    }
    fn serialize_f64(self, _: f64) -> Result<usize, Unsized> {
        Ok(8)
    }
    fn serialize_char(self, _: char) -> Result<usize, Unsized> {
        Ok(FRAME + 4)
    }
    fn serialize_str(self, v: &str) -> Result<usize, Unsized> {
        v.len().checked_add(FRAME).ok_or(Unsized)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<usize, Unsized> {
        // A binary (length, subtype, bytes), or an embedded raw document.
        v.len().checked_add(FRAME).ok_or(Unsized)
    }
    fn serialize_none(self) -> Result<usize, Unsized> {
        Ok(0)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<usize, Unsized> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<usize, Unsized> {
        Ok(0)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<usize, Unsized> {
        Ok(0)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<usize, Unsized> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<usize, Unsized> {
        let human_readable = self.human_readable || name == HUMAN_READABLE_NEWTYPE;
        value.serialize(Size { human_readable })
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<usize, Unsized> {
        variant_frame(variant)
            .checked_add(value.serialize(self)?)
            .ok_or(Unsized)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound, Unsized> {
        Ok(Compound::new(self, 0))
    }
    fn serialize_tuple(self, _: usize) -> Result<Compound, Unsized> {
        Ok(Compound::new(self, 0))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Compound, Unsized> {
        Ok(Compound::new(self, 0))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound, Unsized> {
        Ok(Compound::new(self, variant_frame(variant)))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound, Unsized> {
        Ok(Compound::new(self, 0))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound, Unsized> {
        Ok(Compound::new(self, 0))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound, Unsized> {
        Ok(Compound::new(self, variant_frame(variant)))
    }
}

macro_rules! sequence {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Compound {
            type Ok = usize;
            type Error = Unsized;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsized> {
                self.indexed(value)
            }
            fn end(self) -> Result<usize, Unsized> {
                Ok(self.total)
            }
        }
    )*};
}
sequence!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

macro_rules! fields {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Compound {
            type Ok = usize;
            type Error = Unsized;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), Unsized> {
                self.element(key.len(), value)
            }
            fn end(self) -> Result<usize, Unsized> {
                Ok(self.total)
            }
        }
    )*};
}
fields!(SerializeStruct, SerializeStructVariant);

impl ser::SerializeMap for Compound {
    type Ok = usize;
    type Error = Unsized;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Unsized> {
        // A key is written as a C string: at most its string's size.
        let key = key.serialize(self.size)?;
        self.total = self.total.checked_add(key).ok_or(Unsized)?;
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsized> {
        self.element(0, value)
    }
    fn end(self) -> Result<usize, Unsized> {
        Ok(self.total)
    }
}

/// Serializes `value` into a buffer allocated once at an upper bound of its size: no
/// copy of it is left behind in freed memory, and the buffer is zeroized when dropped.
pub(crate) fn serialize_zeroizing<T: Serialize>(
    value: &T,
) -> bson::error::Result<zeroize::Zeroizing<Vec<u8>>> {
    let capacity = document_upper_bound(value).unwrap_or(0);
    let mut buffer = zeroize::Zeroizing::new(Vec::with_capacity(capacity));
    bson::serialize_to_buffer(value, &mut buffer)?;
    Ok(buffer)
}

#[cfg(test)]
mod tests {
    use bson::{Bson, doc};

    use super::*;

    #[derive(serde::Serialize)]
    enum Shape {
        Unit,
        Newtype(String),
        Tuple(i32, String),
        Struct { side: f64, name: String },
    }

    #[derive(serde::Serialize)]
    struct Everything {
        text: String,
        numbers: Vec<u64>,
        small: (u8, i16, u32, char, bool, Option<i64>, Option<String>),
        shapes: Vec<Shape>,
        map: std::collections::HashMap<String, Vec<u8>>,
        #[serde(with = "serde_bytes_like")]
        bytes: Vec<u8>,
        bson: bson::Document,
    }

    mod serde_bytes_like {
        pub(super) fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }
    }

    fn everything(n: usize) -> Everything {
        let text = "é".repeat(n);
        Everything {
            text: text.clone(),
            numbers: (0..n as u64).collect(),
            small: (1, -2, 3, 'ß', true, Some(5), None),
            shapes: vec![
                Shape::Unit,
                Shape::Newtype(text.clone()),
                Shape::Tuple(1, text.clone()),
                Shape::Struct {
                    side: 1.5,
                    name: text,
                },
            ],
            map: (0..n)
                .map(|i| (format!("k{i}"), vec![i as u8; i]))
                .collect(),
            bytes: vec![7; n],
            bson: doc! {
                "oid": bson::oid::ObjectId::new(),
                "date": bson::DateTime::now(),
                "binary": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: vec![1; n] },
                "uuid": bson::Uuid::new(),
                "decimal": bson::Decimal128::from_bytes([1; 16]),
                "ts": bson::Timestamp { time: 1, increment: 2 },
                "re": bson::Regex { pattern: bson::raw::cstr!("a.*").into(), options: bson::raw::cstr!("i").into() },
                "code": Bson::JavaScriptCode("f()".into()),
                "scope": Bson::JavaScriptCodeWithScope(bson::JavaScriptCodeWithScope { code: "g()".into(), scope: doc! { "x": 1 } }),
                "symbol": Bson::Symbol("s".into()),
                "min": Bson::MinKey, "max": Bson::MaxKey, "undefined": Bson::Undefined, "null": Bson::Null,
                "long": 5_i64, "double": 0.5, "nested": { "a": [1, { "b": "c" }] },
            },
        }
    }

    #[test]
    fn finding_4_model_encode_serializes_into_one_buffer_that_is_never_regrown() {
        for n in [0, 1, 7, 100, 1000] {
            let value = everything(n);
            let bound = document_upper_bound(&value).unwrap();
            let exact = bson::serialize_to_vec(&value).unwrap();
            assert!(bound >= exact.len(), "{bound} < {}", exact.len());
            // The growth path: serializing into the bound never reallocates, so no copy
            // of the plaintext is freed unzeroized.
            let mut buffer = Vec::with_capacity(bound);
            let (pointer, capacity) = (buffer.as_ptr(), buffer.capacity());
            bson::serialize_to_buffer(&value, &mut buffer).unwrap();
            assert_eq!((buffer.as_ptr(), buffer.capacity()), (pointer, capacity));
            assert_eq!(buffer, exact);
            assert_eq!(*serialize_zeroizing(&value).unwrap(), exact);
        }
    }
}
