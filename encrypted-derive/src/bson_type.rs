//! The BSON type a field's Rust type serializes to, as far as the type's name tells.
//!
//! The derive only sees tokens, so this is a reading of well-known names (`i32`,
//! `String`, `Vec`, `ObjectId`, ...); anything else is taken for a struct (a BSON
//! object). `#[encrypt(bson_type = "..")]` overrides it, and every write checks the
//! actual type, so a wrong guess is a typed error, never a wrong ciphertext.

use syn::{GenericArgument, PathArguments, Type};

/// A BSON type: its name in the spec and `$type`, and its `ElementType` variant.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct BsonType {
    pub(crate) name: &'static str,
    pub(crate) variant: &'static str,
}

/// Every type that can be encrypted, by its spec name.
pub(crate) const TYPES: &[BsonType] = &[
    BsonType {
        name: "double",
        variant: "Double",
    },
    BsonType {
        name: "string",
        variant: "String",
    },
    BsonType {
        name: "object",
        variant: "EmbeddedDocument",
    },
    BsonType {
        name: "array",
        variant: "Array",
    },
    BsonType {
        name: "binData",
        variant: "Binary",
    },
    BsonType {
        name: "objectId",
        variant: "ObjectId",
    },
    BsonType {
        name: "bool",
        variant: "Boolean",
    },
    BsonType {
        name: "date",
        variant: "DateTime",
    },
    BsonType {
        name: "regex",
        variant: "RegularExpression",
    },
    BsonType {
        name: "dbPointer",
        variant: "DbPointer",
    },
    BsonType {
        name: "javascript",
        variant: "JavaScriptCode",
    },
    BsonType {
        name: "symbol",
        variant: "Symbol",
    },
    BsonType {
        name: "javascriptWithScope",
        variant: "JavaScriptCodeWithScope",
    },
    BsonType {
        name: "int",
        variant: "Int32",
    },
    BsonType {
        name: "timestamp",
        variant: "Timestamp",
    },
    BsonType {
        name: "long",
        variant: "Int64",
    },
    BsonType {
        name: "decimal",
        variant: "Decimal128",
    },
];

pub(crate) fn by_name(name: &str) -> Option<BsonType> {
    TYPES
        .iter()
        .copied()
        .find(|bson_type| bson_type.name == name)
}

fn named(name: &str) -> BsonType {
    // Only called with names from the table above.
    by_name(name).unwrap_or(BsonType {
        name: "object",
        variant: "EmbeddedDocument",
    })
}

impl BsonType {
    /// Whether the spec allows deterministic encryption of this type.
    pub(crate) fn allows_deterministic(self) -> bool {
        !matches!(
            self.name,
            "double" | "decimal" | "bool" | "object" | "array" | "javascriptWithScope"
        )
    }
}

/// What the derive reads from a field's type.
pub(crate) struct Inferred {
    /// The BSON type, and whether it was recognised (rather than assumed a struct).
    pub(crate) bson_type: BsonType,
    pub(crate) recognised: bool,
    /// The type is `Option<T>`: `inner` is `T`.
    pub(crate) optional: bool,
    /// The type without `Option`.
    pub(crate) inner: Type,
    /// What to call the type in messages (`f64`, `Vec<_>`).
    pub(crate) described: String,
}

/// The last segment of a path type, with its generic arguments.
pub(crate) fn last_segment(ty: &Type) -> Option<(&syn::Ident, Vec<&Type>)> {
    match ty {
        Type::Path(path) if path.qself.is_none() => {
            let segment = path.path.segments.last()?;
            let arguments = match &segment.arguments {
                PathArguments::AngleBracketed(arguments) => arguments
                    .args
                    .iter()
                    .filter_map(|argument| match argument {
                        GenericArgument::Type(ty) => Some(ty),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            Some((&segment.ident, arguments))
        }
        Type::Group(group) => last_segment(&group.elem),
        Type::Paren(paren) => last_segment(&paren.elem),
        _ => None,
    }
}

/// `T` when `ty` is `Option<T>`.
pub(crate) fn option_inner(ty: &Type) -> Option<&Type> {
    match last_segment(ty) {
        Some((ident, arguments)) if ident == "Option" && arguments.len() == 1 => {
            arguments.first().copied()
        }
        _ => None,
    }
}

/// `T` when `ty` is `Vec<T>`, `VecDeque<T>`, a set, an array or a slice of `T`.
pub(crate) fn sequence_inner(ty: &Type) -> Option<&Type> {
    match ty {
        Type::Array(array) => Some(&array.elem),
        Type::Slice(slice) => Some(&slice.elem),
        Type::Reference(reference) => sequence_inner(&reference.elem),
        _ => match last_segment(ty) {
            Some((ident, arguments))
                if matches!(
                    ident.to_string().as_str(),
                    "Vec" | "VecDeque" | "HashSet" | "BTreeSet" | "LinkedList" | "BinaryHeap"
                ) && arguments.len() == 1 =>
            {
                arguments.first().copied()
            }
            _ => None,
        },
    }
}

pub(crate) fn infer(ty: &Type) -> Inferred {
    if let Some(inner) = option_inner(ty) {
        let mut inferred = infer(inner);
        inferred.optional = true;
        return inferred;
    }
    let described = quote::ToTokens::to_token_stream(ty)
        .to_string()
        .replace(' ', "");
    let (bson_type, recognised) = recognise(ty);
    Inferred {
        bson_type,
        recognised,
        optional: false,
        inner: ty.clone(),
        described,
    }
}

fn recognise(ty: &Type) -> (BsonType, bool) {
    match ty {
        Type::Reference(reference) => return recognise(&reference.elem),
        Type::Array(_) | Type::Slice(_) | Type::Tuple(_) => return (named("array"), true),
        _ => {}
    }
    let Some((ident, arguments)) = last_segment(ty) else {
        return (named("object"), false);
    };
    let name = match ident.to_string().as_str() {
        "i8" | "i16" | "i32" | "u8" | "u16" => "int",
        "i64" | "u32" | "u64" | "isize" | "usize" => "long",
        "f32" | "f64" => "double",
        "bool" => "bool",
        "String" | "str" | "char" => "string",
        "Cow" if arguments.first().is_some_and(|arg| is_ident(arg, "str")) => "string",
        "Box" | "Arc" | "Rc" => match arguments.first() {
            Some(inner) => return recognise(inner),
            None => return (named("object"), false),
        },
        "Vec" | "VecDeque" | "HashSet" | "BTreeSet" | "LinkedList" | "BinaryHeap" => "array",
        "HashMap" | "BTreeMap" | "IndexMap" | "Document" => "object",
        "ObjectId" => "objectId",
        // bson::DateTime has no generic arguments; chrono's DateTime<Tz> serializes as
        // an RFC 3339 string.
        "DateTime" if arguments.is_empty() => "date",
        "DateTime" => "string",
        "Binary" | "Uuid" => "binData",
        "Decimal128" => "decimal",
        "Timestamp" => "timestamp",
        "Regex" => "regex",
        "JavaScriptCodeWithScope" => "javascriptWithScope",
        _ => return (named("object"), false),
    };
    (named(name), true)
}

fn is_ident(ty: &Type, name: &str) -> bool {
    matches!(last_segment(ty), Some((ident, _)) if ident == name)
}
