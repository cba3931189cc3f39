//! Typed models: what `#[derive(Encrypted)]` generates code against.
//!
//! A model is a struct whose encrypted fields are described, at compile time, by a
//! [`ModelSpec`]. From it come the model's CSFLE JSON Schema ([`json_schema`]), the
//! server-side [`validator`], the codecs that encrypt a serialized model before it
//! reaches the driver and decrypt it after, the typed field paths that build
//! [`Filter`]s and [`Update`]s, and the model's *view*: the same struct with each
//! encrypted field a [`Protected`] value, for readers without the keys.

mod codec;
mod filter;
mod path;
mod protected;
mod schema;
mod spec;
mod update;

pub use filter::Filter;
pub use path::{
    AnyPath, Deterministic, DistinctPath, EqualityQuery, Nested, Plain, Random, RangeQuery,
    SetKind, SettablePath,
};
pub use protected::{Protected, Sealed};
pub use schema::{json_schema, schema_key_alt_names, validator};
pub use spec::{EncryptedFieldSpec, FieldKind, FieldSpec, KeySource, ModelSpec};
pub use update::Update;

pub(crate) use codec::{
    KeyRing, MissingKeys, Path, decrypt_document, encrypt_document, in_field, keys_to_decrypt,
    keys_to_encrypt,
};
pub(crate) use spec::Lookup;
pub(crate) use update::check_raw_update;

/// A struct whose fields `#[derive(Encrypted)]` marked for encryption.
///
/// Implemented by the derive, never by hand: the derive checks at compile time what the
/// implementation promises (deterministic encryption only of types that allow it, a key
/// for every encrypted field, field names as serde writes them).
///
/// ```ignore
/// #[derive(Serialize, Deserialize, Encrypted)]
/// #[serde(rename_all = "camelCase")]
/// #[encrypted(key_alt_name = "medco-key")]
/// struct Patient {
///     name: String,
///     #[encrypt(deterministic)]
///     ssn: i32,
///     #[encrypt(random)]
///     blood_type: String,
/// }
/// ```
pub trait Encrypted:
    serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static
{
    /// What is encrypted, how, and with which key.
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
