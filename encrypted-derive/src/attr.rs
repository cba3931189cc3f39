//! Attribute parsing: `#[encrypted(..)]` on the struct, `#[encrypt(..)]` on fields, and
//! the `#[serde(..)]` attributes that decide what is stored under which name.
//!
//! Unknown and repeated keys are errors at their own span; parsing goes on so that
//! every mistake is reported.

use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Attribute, LitStr};

use crate::case::RenameRule;
use crate::ctxt::Ctxt;

/// Keywords of `#[encrypted(..)]`.
mod container_keyword {
    pub(crate) const KEY_ALT_NAME: &str = "key_alt_name";
    pub(crate) const KEY_ID: &str = "key_id";
    pub(crate) const INHERIT_KEY: &str = "inherit_key";
    pub(crate) const CRATE: &str = "crate";
}

/// Keywords of `#[encrypt(..)]`.
mod field_keyword {
    pub(crate) const DETERMINISTIC: &str = "deterministic";
    pub(crate) const RANDOM: &str = "random";
    pub(crate) const NESTED: &str = "nested";
    pub(crate) const KEY_ALT_NAME: &str = "key_alt_name";
    pub(crate) const KEY_ID: &str = "key_id";
    pub(crate) const KEY_ALT_NAME_FIELD: &str = "key_alt_name_field";
    pub(crate) const BSON_TYPE: &str = "bson_type";
}

/// A value set once, remembering where, so a second setting is an error there.
pub(crate) struct Once<T> {
    name: &'static str,
    value: Option<(proc_macro2::Span, T)>,
}

impl<T> Once<T> {
    fn new(name: &'static str) -> Self {
        Self { name, value: None }
    }

    fn set(&mut self, cx: &Ctxt, span: proc_macro2::Span, value: T) {
        if self.value.is_some() {
            cx.syn_error(syn::Error::new(
                span,
                format!("duplicate encrypt attribute `{}`", self.name),
            ));
        } else {
            self.value = Some((span, value));
        }
    }

    pub(crate) fn get(&self) -> Option<&T> {
        self.value.as_ref().map(|(_, value)| value)
    }

    pub(crate) fn span(&self) -> Option<proc_macro2::Span> {
        self.value.as_ref().map(|(span, _)| *span)
    }
}

/// A key named in an attribute.
#[derive(Clone)]
pub(crate) enum KeyAttr {
    /// `key_alt_name = ".."`.
    AltName(LitStr),
    /// `key_id = ".."`, parsed.
    Id([u8; 16]),
    /// `key_alt_name_field = ".."` (a Rust field name).
    AltNameField(LitStr),
}

/// `#[encrypted(..)]` and the container's `#[serde(..)]`.
pub(crate) struct Container {
    pub(crate) key: Once<KeyAttr>,
    pub(crate) inherit_key: Once<()>,
    pub(crate) krate: Once<syn::Path>,
    pub(crate) rename_all: Option<RenameRule>,
    /// serde container attributes that change the stored shape, by name, with span.
    pub(crate) shape_changing: Vec<(String, proc_macro2::Span)>,
    /// The container's `#[serde(..)]` attributes, copied onto the view.
    pub(crate) serde_attrs: Vec<Attribute>,
}

/// The algorithm or kind of an `#[encrypt(..)]` field.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    Deterministic,
    Random,
    Nested,
}

/// `#[encrypt(..)]` and the field's `#[serde(..)]`.
pub(crate) struct Field {
    /// The `#[encrypt]` attribute itself, when there is one.
    pub(crate) encrypt: Option<Attribute>,
    pub(crate) mode: Once<Mode>,
    pub(crate) key: Once<KeyAttr>,
    pub(crate) bson_type: Once<LitStr>,
    /// `rename = ".."` (or identical serialize/deserialize renames).
    pub(crate) rename: Option<String>,
    /// Different names for serializing and deserializing.
    pub(crate) asymmetric_rename: Option<proc_macro2::Span>,
    pub(crate) skip: Option<(&'static str, proc_macro2::Span)>,
    pub(crate) flatten: Option<proc_macro2::Span>,
    pub(crate) custom_serde: Option<(&'static str, proc_macro2::Span)>,
    /// The field's `#[serde(..)]` attributes, copied onto the view.
    pub(crate) serde_attrs: Vec<Attribute>,
}

fn lit_str(meta: &ParseNestedMeta<'_>) -> syn::Result<LitStr> {
    meta.value()?.parse()
}

/// Consumes whatever follows a key we do not interpret (`= value` or `(..)`).
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.parse_nested_meta(|nested| skip_value(&nested))?;
    }
    Ok(())
}

fn parse_uuid(lit: &LitStr) -> Option<[u8; 16]> {
    let hex: String = lit.value().chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || lit.value().len() != 36 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (index, byte) in bytes.iter_mut().enumerate() {
        let pair = hex.get(index * 2..index * 2 + 2)?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(bytes)
}

fn key_id(cx: &Ctxt, lit: LitStr) -> Option<KeyAttr> {
    match parse_uuid(&lit) {
        Some(bytes) => Some(KeyAttr::Id(bytes)),
        None => {
            cx.error_spanned_by(
                &lit,
                "key_id must be a UUID such as \"4c4f8fbb-1b37-4e14-9e4e-3f3a06c8c1ae\"",
            );
            // A key was given, if a bad one: no second error saying none was.
            Some(KeyAttr::Id([0; 16]))
        }
    }
}

/// `serialize = "..", deserialize = ".."` inside `rename(..)` / `rename_all(..)`.
fn both_names(meta: &ParseNestedMeta<'_>) -> syn::Result<(Option<LitStr>, Option<LitStr>)> {
    let (mut serialize, mut deserialize) = (None, None);
    meta.parse_nested_meta(|inner| {
        if inner.path.is_ident("serialize") {
            serialize = Some(lit_str(&inner)?);
        } else if inner.path.is_ident("deserialize") {
            deserialize = Some(lit_str(&inner)?);
        } else {
            skip_value(&inner)?;
        }
        Ok(())
    })?;
    Ok((serialize, deserialize))
}

impl Container {
    pub(crate) fn from_ast(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut container = Self {
            key: Once::new("key"),
            inherit_key: Once::new(container_keyword::INHERIT_KEY),
            krate: Once::new(container_keyword::CRATE),
            rename_all: None,
            shape_changing: Vec::new(),
            serde_attrs: Vec::new(),
        };
        for attr in attrs {
            if attr.path().is_ident("encrypted") {
                let result = attr.parse_nested_meta(|meta| {
                    let span = meta.path.span();
                    if meta.path.is_ident(container_keyword::KEY_ALT_NAME) {
                        let lit = lit_str(&meta)?;
                        container.key.set(cx, span, KeyAttr::AltName(lit));
                    } else if meta.path.is_ident(container_keyword::KEY_ID) {
                        if let Some(key) = key_id(cx, lit_str(&meta)?) {
                            container.key.set(cx, span, key);
                        }
                    } else if meta.path.is_ident(container_keyword::INHERIT_KEY) {
                        container.inherit_key.set(cx, span, ());
                    } else if meta.path.is_ident(container_keyword::CRATE) {
                        let path = lit_str(&meta)?.parse::<syn::Path>()?;
                        container.krate.set(cx, span, path);
                    } else {
                        let name = meta.path.to_token_stream_string();
                        skip_value(&meta)?;
                        cx.syn_error(meta.error(format!(
                            "unknown encrypted attribute `{name}`: expected `key_alt_name = \"..\"`, `key_id = \"..\"`, `inherit_key` or `crate = \"..\"`"
                        )));
                    }
                    Ok(())
                });
                if let Err(error) = result {
                    cx.syn_error(error);
                }
            } else if attr.path().is_ident("serde") {
                container.serde_attrs.push(attr.clone());
                let result = attr.parse_nested_meta(|meta| {
                    let span = meta.path.span();
                    if meta.path.is_ident("rename_all") {
                        if meta.input.peek(syn::token::Paren) {
                            let (serialize, deserialize) = both_names(&meta)?;
                            match (serialize, deserialize) {
                                (Some(s), Some(d)) if s.value() == d.value() => {
                                    container.rename_all = rule(cx, &s);
                                }
                                (s, d) => {
                                    let lit = s.or(d);
                                    container.shape_changing.push((
                                        "rename_all(serialize/deserialize differ)".to_owned(),
                                        span,
                                    ));
                                    if let Some(lit) = lit {
                                        container.rename_all = rule(cx, &lit);
                                    }
                                }
                            }
                        } else {
                            let lit = lit_str(&meta)?;
                            container.rename_all = rule(cx, &lit);
                        }
                    } else {
                        let name = meta.path.to_token_stream_string();
                        skip_value(&meta)?;
                        if matches!(
                            name.as_str(),
                            "transparent"
                                | "from"
                                | "try_from"
                                | "into"
                                | "remote"
                                | "untagged"
                                | "tag"
                                | "content"
                        ) {
                            container.shape_changing.push((name, span));
                        }
                    }
                    Ok(())
                });
                if let Err(error) = result {
                    cx.syn_error(error);
                }
            }
        }
        container
    }
}

fn rule(cx: &Ctxt, lit: &LitStr) -> Option<RenameRule> {
    let rule = RenameRule::from_name(&lit.value());
    if rule.is_none() {
        cx.error_spanned_by(
            lit,
            format!("unknown rename_all rule; serde knows {}", RenameRule::NAMES),
        );
    }
    rule
}

impl Field {
    pub(crate) fn from_ast(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut field = Self {
            encrypt: None,
            mode: Once::new("algorithm"),
            key: Once::new("key"),
            bson_type: Once::new(field_keyword::BSON_TYPE),
            rename: None,
            asymmetric_rename: None,
            skip: None,
            flatten: None,
            custom_serde: None,
            serde_attrs: Vec::new(),
        };
        for attr in attrs {
            if attr.path().is_ident("encrypt") {
                if field.encrypt.is_some() {
                    cx.error_spanned_by(
                        attr,
                        "duplicate #[encrypt] attribute: give all settings in one",
                    );
                    continue;
                }
                field.encrypt = Some(attr.clone());
                if matches!(attr.meta, syn::Meta::Path(_)) {
                    cx.error_spanned_by(
                        attr,
                        "#[encrypt] needs an algorithm: #[encrypt(deterministic)], #[encrypt(random)] or #[encrypt(nested)]",
                    );
                    continue;
                }
                let result = attr.parse_nested_meta(|meta| {
                    let span = meta.path.span();
                    if meta.path.is_ident(field_keyword::DETERMINISTIC) {
                        field.mode.set(cx, span, Mode::Deterministic);
                    } else if meta.path.is_ident(field_keyword::RANDOM) {
                        field.mode.set(cx, span, Mode::Random);
                    } else if meta.path.is_ident(field_keyword::NESTED) {
                        field.mode.set(cx, span, Mode::Nested);
                    } else if meta.path.is_ident(field_keyword::KEY_ALT_NAME) {
                        let lit = lit_str(&meta)?;
                        field.key.set(cx, span, KeyAttr::AltName(lit));
                    } else if meta.path.is_ident(field_keyword::KEY_ID) {
                        if let Some(key) = key_id(cx, lit_str(&meta)?) {
                            field.key.set(cx, span, key);
                        }
                    } else if meta.path.is_ident(field_keyword::KEY_ALT_NAME_FIELD) {
                        let lit = lit_str(&meta)?;
                        field.key.set(cx, span, KeyAttr::AltNameField(lit));
                    } else if meta.path.is_ident(field_keyword::BSON_TYPE) {
                        let lit = lit_str(&meta)?;
                        field.bson_type.set(cx, span, lit);
                    } else {
                        let name = meta.path.to_token_stream_string();
                        skip_value(&meta)?;
                        cx.syn_error(meta.error(format!(
                            "unknown encrypt attribute `{name}`: expected `deterministic`, `random`, `nested`, `key_alt_name`, `key_id`, `key_alt_name_field` or `bson_type`"
                        )));
                    }
                    Ok(())
                });
                if let Err(error) = result {
                    cx.syn_error(error);
                }
            } else if attr.path().is_ident("serde") {
                field.serde_attrs.push(attr.clone());
                let result = attr.parse_nested_meta(|meta| {
                    let span = meta.path.span();
                    let name = meta.path.to_token_stream_string();
                    match name.as_str() {
                        "rename" => {
                            if meta.input.peek(syn::token::Paren) {
                                let (s, d) = both_names(&meta)?;
                                match (s, d) {
                                    (Some(s), Some(d)) if s.value() == d.value() => {
                                        field.rename = Some(s.value());
                                    }
                                    _ => field.asymmetric_rename = Some(span),
                                }
                            } else {
                                field.rename = Some(lit_str(&meta)?.value());
                            }
                        }
                        "skip" => field.skip = Some(("skip", span)),
                        "skip_serializing" => field.skip = Some(("skip_serializing", span)),
                        "skip_deserializing" => field.skip = Some(("skip_deserializing", span)),
                        "flatten" => field.flatten = Some(span),
                        "with" | "serialize_with" | "deserialize_with" => {
                            skip_value(&meta)?;
                            field.custom_serde = Some((
                                match name.as_str() {
                                    "with" => "with",
                                    "serialize_with" => "serialize_with",
                                    _ => "deserialize_with",
                                },
                                span,
                            ));
                        }
                        _ => skip_value(&meta)?,
                    }
                    Ok(())
                });
                if let Err(error) = result {
                    cx.syn_error(error);
                }
            }
        }
        field
    }
}

/// A path as written, for messages.
trait PathName {
    fn to_token_stream_string(&self) -> String;
}

impl PathName for syn::Path {
    fn to_token_stream_string(&self) -> String {
        quote::ToTokens::to_token_stream(self)
            .to_string()
            .replace(' ', "")
    }
}
