//! Typed models: what `#[derive(Encrypted)]` generates code against.
//!
//! A model is a struct whose encrypted fields are described, at compile time, by its
//! [`Encrypted::SPEC`]. From it come the model's CSFLE JSON Schema ([`json_schema`]), the
//! server-side [`validator`], the codecs that encrypt a serialized model before it
//! reaches the driver and decrypt it after, the typed field paths that build
//! [`Filter`]s and [`Update`]s, and the model's *view*: the same struct with each
//! encrypted field a [`Protected`] value, for readers without the keys.

mod array_filters;
mod codec;
mod filter;
mod operands;
mod path;
mod pipeline;
mod projection;
mod protected;
mod raw;
mod schema;
mod size;
mod sort;
mod spec;
mod update;

pub use filter::Filter;
pub use path::{
    AnyPath, Deterministic, DistinctPath, EqualityQuery, Nested, Plain, Random, RangeQuery,
    SetKind, SettablePath,
};
pub use pipeline::Pipeline;
pub use projection::Projection;
pub use protected::{Protected, Sealed};
pub use schema::{json_schema, schema_key_alt_names, validator};
pub use sort::{Sort, SortPath};
// Written by the derive's generated code; semver-exempt (see `spec`).
#[doc(hidden)]
pub use spec::{EncryptedFieldSpec, FieldKind, FieldSpec, KeySource, ModelSpec};
pub use update::Update;

pub(crate) use array_filters::check_array_filters;
pub use codec::Keys;
pub(crate) use codec::{
    MissingKeys, Path, decrypt_document, decrypt_values, encrypt_document, keys_to_decrypt,
    keys_to_decrypt_values, keys_to_encrypt,
};
pub(crate) use size::serialize_zeroizing;
// The checks behind `Sort` and `Projection`, for options given by a model's spec (the
// driver layer's `find`, `find_one_and_*` and `update` options).
pub(crate) use pipeline::shape::{
    ProjectionKind, Shape, check_projection as check_projection_shape,
    check_sort as check_sort_shape,
};
pub(crate) use spec::Lookup;
pub(crate) use update::check_raw_update;

/// A struct whose fields `#[derive(Encrypted)]` marked for encryption.
///
/// Implemented by the derive, never by hand: the derive checks at compile time what the
/// implementation promises (deterministic encryption only of types that allow it, a key
/// for every encrypted field, field names as serde writes them).
///
/// ```
/// use encrypted_core::model::Encrypted;
/// # use encrypted_derive::Encrypted;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, Encrypted, Debug)]
/// #[serde(rename_all = "camelCase")]
/// # #[encrypted(crate = "encrypted_core")]
/// #[encrypted(key_alt_name = "medco-key")]
/// struct Patient {
///     name: String,
///     #[encrypt(deterministic)]
///     ssn: i32,
///     #[encrypt(random)]
///     blood_type: String,
/// }
///
/// assert_eq!(Patient::fields().blood_type().path(), "bloodType");
/// ```
pub trait Encrypted:
    serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static
{
    /// What is encrypted, how, and with which key: what [`json_schema`],
    /// [`validator`] and the codecs read. Pass it along; its type is written by the
    /// derive and not part of the stable API (semver-exempt), so do not look inside.
    const SPEC: &'static ModelSpec;

    /// The model as a reader sees it: each encrypted field a [`Protected`] value (its
    /// plaintext when the reader could decrypt it, sealed otherwise), every other field
    /// as it is. `#[derive(Encrypted)]` names it `<Model>View`.
    type View: serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static;

    /// The typed paths of the model's fields, rooted at model `R`.
    type Fields<R>;

    /// The typed paths of the model's fields under `prefix` (empty at the root).
    fn fields_at<R>(prefix: &str) -> Self::Fields<R>;

    /// The typed paths of the model's fields: `Patient::fields().ssn().eq(241014209)`.
    fn fields() -> Self::Fields<Self>
    where
        Self: Sized,
    {
        Self::fields_at("")
    }
}

/// A model that can have a collection of its own: every `#[derive(Encrypted)]` struct
/// except those declared `#[encrypted(inherit_key)]`, whose encrypted fields take their
/// key from the model they are nested in.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is `#[encrypted(inherit_key)]`: its encrypted fields have no key of their own, so it can only be nested in a model that has one, not stored in a collection",
    label = "a model declared `#[encrypted(inherit_key)]`"
)]
pub trait RootModel: Encrypted {}

/// Serializes `value` and encrypts its encrypted fields with `keys`: the document a
/// CSFLE driver would store. [`EncryptedCollection`](crate::EncryptedCollection) does
/// this with keys from the key vault; this is for work without one.
///
/// # Errors
///
/// [`Error::Serde`](crate::Error::Serde) when `value` does not serialize to a document;
/// a missing key, a type that does not match the schema, or a value the spec forbids, each
/// naming its field.
pub fn encode<T: Encrypted>(value: &T, keys: &Keys) -> crate::Result<bson::RawDocumentBuf> {
    // Allocated once at its final size and zeroized when dropped.
    let plain = serialize_zeroizing(value).map_err(|_| crate::Error::Serde {
        model: T::SPEC.name,
        direction: "serialize",
    })?;
    let encrypted = encrypt_document(T::SPEC, &plain, None, keys, &Path::ROOT);
    drop(plain);
    bson::RawDocumentBuf::from_bytes(encrypted?).map_err(|_| crate::Error::Serde {
        model: T::SPEC.name,
        direction: "serialize",
    })
}

/// Decrypts a stored document's encrypted fields with `keys` and deserializes it.
///
/// # Errors
///
/// A missing key, a plaintext, tampered or malformed encrypted field, or a ciphertext of
/// another type or algorithm than the field's ([`Error::CiphertextMismatch`](crate::Error::CiphertextMismatch)),
/// each naming its field; a required field that is absent
/// ([`Error::MissingField`](crate::Error::MissingField), naming it);
/// [`Error::TooDeeplyNested`](crate::Error::TooDeeplyNested) beyond MongoDB's 100 levels;
/// [`Error::Serde`](crate::Error::Serde) when the document does not match `T` otherwise.
pub fn decode<T: Encrypted>(stored: &bson::RawDocument, keys: &Keys) -> crate::Result<T> {
    let plain = decrypt_document(
        T::SPEC,
        stored.as_bytes(),
        keys,
        MissingKeys::Fail,
        &Path::ROOT,
    )?;
    deserialize_decrypted(T::SPEC, &plain)
}

/// Deserializes a decrypted document (or a view) of the model `spec`, after bounding its
/// nesting depth; a failure names a required field that is absent when there is one.
pub(crate) fn deserialize_decrypted<D: serde::de::DeserializeOwned>(
    spec: &ModelSpec,
    plain: &[u8],
) -> crate::Result<D> {
    raw::check_depth(plain, raw::MAX_DEPTH)?;
    bson::deserialize_from_slice(plain).map_err(|_| {
        match codec::missing_field(spec, plain, &Path::ROOT) {
            Some(path) => crate::Error::Field {
                path,
                source: Box::new(crate::Error::MissingField),
            },
            None => crate::Error::Serde {
                model: spec.name,
                direction: "deserialize",
            },
        }
    })
}

/// Deserializes a decrypted document into a type of the user's (`model` names it in
/// errors), after bounding its nesting depth.
pub(crate) fn deserialize_plain<D: serde::de::DeserializeOwned>(
    model: &'static str,
    plain: &[u8],
) -> crate::Result<D> {
    raw::check_depth(plain, raw::MAX_DEPTH)?;
    bson::deserialize_from_slice(plain).map_err(|_| crate::Error::Serde {
        model,
        direction: "deserialize",
    })
}

/// Deserializes the decrypted values of `distinct` (a document whose elements are the
/// values, in order), after bounding their nesting depth.
pub(crate) fn deserialize_values<D: serde::de::DeserializeOwned>(
    model: &'static str,
    values: &[u8],
) -> crate::Result<Vec<D>> {
    #[derive(serde::Deserialize)]
    struct Values<D> {
        v: Vec<D>,
    }
    // `{ v: <values as an array> }`: an array's bytes are those of a document whose keys
    // are the indices, which is what `values` is.
    let len = values.len().checked_add(4 + 1 + 2 + 1);
    let len = len
        .and_then(|len| i32::try_from(len).ok())
        .ok_or(crate::Error::Serde {
            model,
            direction: "deserialize",
        })?;
    let mut wrapped = zeroize::Zeroizing::new(Vec::with_capacity(values.len() + 8));
    wrapped.extend_from_slice(&len.to_le_bytes());
    wrapped.extend_from_slice(&[0x04, b'v', 0]);
    wrapped.extend_from_slice(values);
    wrapped.push(0);
    raw::check_depth(&wrapped, raw::MAX_DEPTH + 1)?;
    bson::deserialize_from_slice::<Values<D>>(&wrapped)
        .map(|values| values.v)
        .map_err(|_| crate::Error::Serde {
            model,
            direction: "deserialize",
        })
}
