//! The syn tree of the deriving struct, read into what the derive works with. Every
//! piece keeps the syn node it came from, for error spans.

use crate::attr;
use crate::bson_type::{self, Inferred};
use crate::ctxt::Ctxt;

/// The struct being derived.
pub(crate) struct Container<'a> {
    pub(crate) ident: &'a syn::Ident,
    pub(crate) vis: &'a syn::Visibility,
    pub(crate) original: &'a syn::DeriveInput,
    pub(crate) attrs: attr::Container,
    pub(crate) fields: Vec<Field<'a>>,
}

/// One named field.
pub(crate) struct Field<'a> {
    pub(crate) ident: &'a syn::Ident,
    pub(crate) ty: &'a syn::Type,
    pub(crate) original: &'a syn::Field,
    pub(crate) attrs: attr::Field,
    /// The name serde stores it under.
    pub(crate) stored_name: String,
    /// What the field's type tells of its BSON type.
    pub(crate) inferred: Inferred,
}

impl<'a> Container<'a> {
    /// Reads the struct, or records why it cannot be derived and returns `None`.
    pub(crate) fn from_ast(cx: &Ctxt, input: &'a syn::DeriveInput) -> Option<Self> {
        let named = match &input.data {
            syn::Data::Struct(syn::DataStruct {
                fields: syn::Fields::Named(named),
                ..
            }) => named,
            syn::Data::Struct(data) => {
                cx.error_spanned_by(
                    &data.fields,
                    "Encrypted can only be derived for structs with named fields: a CSFLE schema names every encrypted field",
                );
                return None;
            }
            syn::Data::Enum(data) => {
                cx.error_spanned_by(
                    data.enum_token,
                    "Encrypted cannot be derived for enums: derive it for a struct and encrypt the enum as one of its fields",
                );
                return None;
            }
            syn::Data::Union(data) => {
                cx.error_spanned_by(data.union_token, "Encrypted cannot be derived for unions");
                return None;
            }
        };
        let attrs = attr::Container::from_ast(cx, &input.attrs);
        let rename_all = attrs.rename_all;
        let fields = named
            .named
            .iter()
            .filter_map(|field| {
                let ident = field.ident.as_ref()?;
                let attrs = attr::Field::from_ast(cx, &field.attrs);
                let rust_name = ident.to_string();
                let rust_name = rust_name
                    .strip_prefix("r#")
                    .unwrap_or(&rust_name)
                    .to_owned();
                let stored_name = match (&attrs.rename, rename_all) {
                    (Some(rename), _) => rename.clone(),
                    (None, Some(rule)) => rule.apply_to_field(&rust_name),
                    (None, None) => rust_name,
                };
                Some(Field {
                    ident,
                    ty: &field.ty,
                    original: field,
                    inferred: bson_type::infer(&field.ty),
                    attrs,
                    stored_name,
                })
            })
            .collect();
        Some(Container {
            ident: &input.ident,
            vis: &input.vis,
            original: input,
            attrs,
            fields,
        })
    }
}

impl Field<'_> {
    /// The field's `#[encrypt(..)]` mode.
    pub(crate) fn mode(&self) -> Option<attr::Mode> {
        self.attrs.mode.get().copied()
    }
}
