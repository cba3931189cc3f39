//! The rules a model must follow, each reported at the offending span with what to do.

use crate::ast::{Container, Field};
use crate::attr::{KeyAttr, Mode};
use crate::bson_type::{self, sequence_inner};
use crate::ctxt::Ctxt;

/// Checks everything; errors go to `cx`.
pub(crate) fn check(cx: &Ctxt, container: &Container<'_>) {
    check_container(cx, container);
    for field in &container.fields {
        check_field(cx, container, field);
    }
}

fn check_container(cx: &Ctxt, container: &Container<'_>) {
    let generics = &container.original.generics;
    if !generics.params.is_empty() {
        cx.error_spanned_by(
            generics,
            "Encrypted cannot be derived for generic structs: the schema and codecs are fixed at compile time, so every field type must be concrete",
        );
    }
    if let (Some(_), Some(span)) = (
        container.attrs.key.get(),
        container.attrs.inherit_key.span(),
    ) {
        cx.syn_error(syn::Error::new(
            span,
            "`inherit_key` contradicts the key given on this struct: keep one",
        ));
    }
    if let Some(KeyAttr::AltNameField(lit)) = container.attrs.key.get() {
        cx.error_spanned_by(lit, "key_alt_name_field belongs on a field");
    }
    let encrypts = container.fields.iter().any(|field| field.mode().is_some());
    if encrypts {
        for (name, span) in &container.attrs.shape_changing {
            cx.syn_error(syn::Error::new(
                *span,
                format!(
                    "#[serde({name})] changes how the struct is stored, so the encrypted fields would not be where the schema says: remove it or encrypt the fields of another struct"
                ),
            ));
        }
    }
}

fn check_field(cx: &Ctxt, container: &Container<'_>, field: &Field<'_>) {
    let Some(mode) = field.mode() else {
        if field.attrs.encrypt.is_some() {
            // `#[encrypt(key_alt_name = "..")]` without an algorithm.
            if let Some(attr) = &field.attrs.encrypt
                && !matches!(attr.meta, syn::Meta::Path(_))
            {
                cx.error_spanned_by(
                    attr,
                    "#[encrypt] needs an algorithm: `deterministic`, `random` or `nested`",
                );
            }
        }
        return;
    };
    let name = field.ident;

    if field.stored_name == "_id" {
        cx.error_spanned_by(
            field.ident,
            "`_id` cannot be encrypted: the server needs it to identify the document; encrypt another field and keep `_id` plaintext",
        );
    }
    if let Some((skip, span)) = field.attrs.skip {
        cx.syn_error(syn::Error::new(
            span,
            format!(
                "`{name}` is encrypted but #[serde({skip})] skips it, so it would never be stored (or read) encrypted: remove one of the two"
            ),
        ));
    }
    if let Some(span) = field.attrs.flatten {
        cx.syn_error(syn::Error::new(
            span,
            format!("`{name}` cannot be both encrypted and #[serde(flatten)]: a flattened field has no path of its own to encrypt"),
        ));
    }
    if let Some(span) = field.attrs.asymmetric_rename {
        cx.syn_error(syn::Error::new(
            span,
            format!("`{name}` is encrypted, so it must be stored and read under one name: use #[serde(rename = \"..\")]"),
        ));
    }
    if let Some((with, span)) = field.attrs.custom_serde {
        cx.syn_error(syn::Error::new(
            span,
            format!("#[serde({with})] is not supported on the encrypted field `{name}`: the codec encrypts what serde writes, and the view reads it back without your function"),
        ));
    }

    match mode {
        Mode::Nested => check_nested(cx, field),
        Mode::Deterministic | Mode::Random => check_encrypted(cx, container, field, mode),
    }
}

fn check_nested(cx: &Ctxt, field: &Field<'_>) {
    let name = field.ident;
    if let Some(span) = field.attrs.key.span() {
        cx.syn_error(syn::Error::new(
            span,
            format!("a nested model's keys are set on its own struct (#[encrypted(key_alt_name = \"..\")]), not on the field `{name}`"),
        ));
    }
    if let Some(span) = field.attrs.bson_type.span() {
        cx.syn_error(syn::Error::new(
            span,
            "a nested model is always a BSON object: remove bson_type",
        ));
    }
    if sequence_inner(&field.inferred.inner).is_some() {
        cx.error_spanned_by(
            field.ty,
            format!("CSFLE cannot encrypt fields inside array elements: encrypt the whole of `{name}` with #[encrypt(random)] instead of #[encrypt(nested)]"),
        );
    }
}

fn check_encrypted(cx: &Ctxt, container: &Container<'_>, field: &Field<'_>, mode: Mode) {
    let name = field.ident;
    let bson_type = match field.attrs.bson_type.get() {
        Some(lit) => match bson_type::by_name(&lit.value()) {
            Some(bson_type) => bson_type,
            None => {
                let names: Vec<&str> = bson_type::TYPES.iter().map(|t| t.name).collect();
                cx.error_spanned_by(
                    lit,
                    format!("unknown BSON type; expected one of {}", names.join(", ")),
                );
                return;
            }
        },
        None => field.inferred.bson_type,
    };
    if mode == Mode::Deterministic && !bson_type.allows_deterministic() {
        let what = if field.attrs.bson_type.get().is_none() && !field.inferred.recognised {
            format!(
                "`{}` is taken for a struct, stored as a BSON object",
                field.inferred.described
            )
        } else {
            format!(
                "`{}` is stored as BSON {}",
                field.inferred.described, bson_type.name
            )
        };
        cx.error_spanned_by(
            field.ty,
            format!(
                "`{name}` cannot be encrypted deterministically: {what}, and the CSFLE spec allows deterministic encryption only for types whose equality is byte equality (not double, decimal, bool, object, array or javascriptWithScope); use #[encrypt(random)]{}",
                if field.inferred.recognised { "" } else { ", or declare the type it serializes to with bson_type = \"..\"" }
            ),
        );
    }
    match field.attrs.key.get() {
        Some(KeyAttr::AltNameField(lit)) => {
            if mode == Mode::Deterministic {
                cx.error_spanned_by(
                    lit,
                    format!("`{name}` takes its key from a field of each document, which the spec allows only with random encryption (a query could not know which key to encrypt its operand with): use #[encrypt(random, ..)]"),
                );
            }
            check_key_field(cx, container, lit);
        }
        Some(_) => {}
        None => {
            if container.attrs.key.get().is_none() && container.attrs.inherit_key.get().is_none() {
                cx.error_spanned_by(
                    field.ident,
                    format!("no key configured for the encrypted field `{name}`: add #[encrypted(key_alt_name = \"..\")] or #[encrypted(key_id = \"..\")] to the struct, a key to this field, or #[encrypted(inherit_key)] to the struct if it is only used nested in a model that has a key"),
                );
            }
        }
    }
}

fn check_key_field(cx: &Ctxt, container: &Container<'_>, lit: &syn::LitStr) {
    let wanted = lit.value();
    let Some(key_field) = container.fields.iter().find(|other| other.ident == &wanted) else {
        cx.error_spanned_by(
            lit,
            format!("no field `{wanted}` in this struct to take the key alternate name from"),
        );
        return;
    };
    if key_field.mode().is_some() {
        cx.error_spanned_by(
            lit,
            format!("`{wanted}` is encrypted itself: the field naming a document's key must be plaintext so the key can be found before decrypting"),
        );
    }
    if key_field.attrs.skip.is_some() || key_field.attrs.flatten.is_some() {
        cx.error_spanned_by(
            lit,
            format!("`{wanted}` is not stored as a field of its own (skipped or flattened)"),
        );
    }
    if key_field.inferred.bson_type.name != "string" {
        cx.error_spanned_by(
            lit,
            format!(
                "`{wanted}` must be a string (the key's alternate name), not `{}`",
                key_field.inferred.described
            ),
        );
    }
}
