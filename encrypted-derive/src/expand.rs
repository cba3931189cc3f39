//! Code generation. Everything here assumes [`check`](crate::check) passed; the
//! generated code uses absolute paths only, and its trait implementation sits in a
//! `const _: () = { .. };` block.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::{Container, Field};
use crate::attr::{KeyAttr, Mode};
use crate::bson_type::{self, option_inner, sequence_inner};
use crate::check::check;
use crate::ctxt::Ctxt;
use crate::fallback;

/// The derive's entry point.
pub(crate) fn derive(input: &syn::DeriveInput) -> TokenStream {
    let cx = Ctxt::default();
    let container = Container::from_ast(&cx, input);
    if let Some(container) = &container {
        check(&cx, container);
    }
    match (cx.check(), container) {
        (Ok(()), Some(container)) => generate(&container),
        (Err(error), container) => fallback::expand(input, container.as_ref(), error),
        (Ok(()), None) => TokenStream::new(),
    }
}

pub(crate) fn krate(container: Option<&Container<'_>>) -> syn::Path {
    container
        .and_then(|container| container.attrs.krate.get().cloned())
        .unwrap_or_else(|| syn::parse_quote!(::encrypted))
}

fn key_tokens(krate: &syn::Path, container: &Container<'_>, key: Option<&KeyAttr>) -> TokenStream {
    match key {
        None => quote!(::core::option::Option::None),
        Some(KeyAttr::AltName(lit)) => {
            quote!(::core::option::Option::Some(#krate::model::KeySource::AltName(#lit)))
        }
        Some(KeyAttr::Id(bytes)) => {
            quote!(::core::option::Option::Some(#krate::model::KeySource::Id([#(#bytes),*])))
        }
        Some(KeyAttr::AltNameField(lit)) => {
            let wanted = lit.value();
            let stored = container
                .fields
                .iter()
                .find(|field| field.ident == &wanted)
                .map_or(wanted.clone(), |field| field.stored_name.clone());
            quote!(::core::option::Option::Some(#krate::model::KeySource::AltNameField(#stored)))
        }
    }
}

fn field_spec(
    krate: &syn::Path,
    container: &Container<'_>,
    field: &Field<'_>,
) -> Option<TokenStream> {
    let name = &field.stored_name;
    let optional = field.inferred.optional;
    let kind = match field.mode()? {
        mode @ (Mode::Deterministic | Mode::Random) => {
            let algorithm = if mode == Mode::Deterministic {
                quote!(Deterministic)
            } else {
                quote!(Random)
            };
            let bson_type = field
                .attrs
                .bson_type
                .get()
                .and_then(|lit| bson_type::by_name(&lit.value()))
                .unwrap_or(field.inferred.bson_type);
            let variant = format_ident!("{}", bson_type.variant);
            let key = key_tokens(krate, container, field.attrs.key.get());
            quote! {
                #krate::model::FieldKind::Encrypted(#krate::model::EncryptedFieldSpec {
                    algorithm: #krate::Algorithm::#algorithm,
                    bson_type: #krate::bson::spec::ElementType::#variant,
                    key: #key,
                    optional: #optional,
                })
            }
        }
        Mode::Nested => {
            let inner = &field.inferred.inner;
            quote! {
                #krate::model::FieldKind::Nested {
                    model: <#inner as #krate::model::Encrypted>::SPEC,
                    optional: #optional,
                }
            }
        }
    };
    Some(quote!(#krate::model::FieldSpec { name: #name, kind: #kind }))
}

fn view_field(krate: &syn::Path, container: &Container<'_>, field: &Field<'_>) -> TokenStream {
    let ident = field.ident;
    let vis = &field.original.vis;
    let ty = field.ty;
    let serde_attrs = &field.attrs.serde_attrs;
    let inner = &field.inferred.inner;
    let view_ty = match field.mode() {
        None => quote!(#ty),
        Some(Mode::Deterministic | Mode::Random) if field.inferred.optional => {
            quote!(::core::option::Option<#krate::model::Protected<#inner>>)
        }
        Some(Mode::Deterministic | Mode::Random) => quote!(#krate::model::Protected<#ty>),
        Some(Mode::Nested) if field.inferred.optional => {
            quote!(::core::option::Option<<#inner as #krate::model::Encrypted>::View>)
        }
        Some(Mode::Nested) => quote!(<#ty as #krate::model::Encrypted>::View),
    };
    let doc = format!("`{}.{ident}`, as this reader sees it.", container.ident);
    quote! {
        #[doc = #doc]
        #(#serde_attrs)*
        #vis #ident: #view_ty
    }
}

fn path_method(krate: &syn::Path, container: &Container<'_>, field: &Field<'_>) -> TokenStream {
    let ident = field.ident;
    let vis = &field.original.vis;
    let ty = field.ty;
    let inner = &field.inferred.inner;
    let name = &field.stored_name;
    let (path_ty, what) = match field.mode() {
        None => (quote!(#krate::model::Plain<R, #ty>), "plaintext"),
        Some(Mode::Deterministic) => (
            quote!(#krate::model::Deterministic<R, #inner>),
            "deterministically encrypted",
        ),
        Some(Mode::Random) => (
            quote!(#krate::model::Random<R, #inner>),
            "randomly encrypted",
        ),
        Some(Mode::Nested) => (quote!(#krate::model::Nested<R, #inner>), "nested model"),
    };
    let doc = format!(
        "The path of `{}.{ident}` (stored as `{name}`, {what}).",
        container.ident
    );
    let constructor = match field.mode() {
        None => quote!(#krate::model::Plain),
        Some(Mode::Deterministic) => quote!(#krate::model::Deterministic),
        Some(Mode::Random) => quote!(#krate::model::Random),
        Some(Mode::Nested) => quote!(#krate::model::Nested),
    };
    quote! {
        #[doc = #doc]
        #[must_use]
        #vis fn #ident(&self) -> #path_ty {
            #constructor::__at(&self.prefix, #name)
        }
    }
}

/// Compile-time guards on fields the derive cannot see into: a plaintext field holding
/// a model (its encrypted fields would be stored in plaintext) and a nested model whose
/// fields need a key this struct does not give.
fn guards(krate: &syn::Path, container: &Container<'_>, field: &Field<'_>) -> TokenStream {
    let ident = field.ident;
    let model = container.ident;
    match field.mode() {
        None => {
            let ty = &field.inferred.inner;
            let (probed, message) = match sequence_inner(ty) {
                Some(element) => (
                    option_inner(element).unwrap_or(element),
                    format!(
                        "`{model}.{ident}` holds #[derive(Encrypted)] models inside an array, where CSFLE cannot encrypt their fields: encrypt the whole field with #[encrypt(random)]"
                    ),
                ),
                None => (
                    ty,
                    format!(
                        "`{model}.{ident}` holds a #[derive(Encrypted)] model: mark it #[encrypt(nested)] so that its encrypted fields are encrypted, or #[encrypt(random)] to encrypt it whole"
                    ),
                ),
            };
            quote_spanned! {field.ty.span()=>
                const _: () = {
                    #[allow(unused_imports)]
                    use #krate::__private::NotAModel as _;
                    ::core::assert!(!<#krate::__private::Probe<#probed>>::IS_MODEL, #message);
                };
            }
        }
        Some(Mode::Nested)
            if container.attrs.key.get().is_none()
                && container.attrs.inherit_key.get().is_none() =>
        {
            let inner = &field.inferred.inner;
            let message = format!(
                "`{model}.{ident}` holds a model with encrypted fields that inherit their key, and `{model}` has none to give: add #[encrypted(key_alt_name = \"..\")] to `{model}`"
            );
            quote_spanned! {field.ty.span()=>
                const _: () = ::core::assert!(
                    !<#inner as #krate::model::Encrypted>::SPEC.needs_key(),
                    #message
                );
            }
        }
        _ => TokenStream::new(),
    }
}

fn generate(container: &Container<'_>) -> TokenStream {
    let krate = krate(Some(container));
    let ident = container.ident;
    let vis = container.vis;
    let name = ident.to_string();
    let view = format_ident!("{}View", ident);
    let fields_ty = format_ident!("{}Fields", ident);
    let key = key_tokens(&krate, container, container.attrs.key.get());
    let inherits_key = container.attrs.inherit_key.get().is_some();
    let spec_fields = container
        .fields
        .iter()
        .filter_map(|field| field_spec(&krate, container, field));
    let view_fields = container
        .fields
        .iter()
        .map(|field| view_field(&krate, container, field));
    let path_methods = container
        .fields
        .iter()
        .map(|field| path_method(&krate, container, field));
    let guards = container
        .fields
        .iter()
        .map(|field| guards(&krate, container, field));
    let container_serde = &container.attrs.serde_attrs;
    let root_model = if inherits_key {
        TokenStream::new()
    } else {
        quote! {
            #[automatically_derived]
            impl #krate::model::RootModel for #ident {}
        }
    };
    let serde_crate = format!(
        "{}::__private::serde",
        quote!(#krate).to_string().replace(' ', "")
    );
    let view_doc = format!(
        "[`{name}`] as a reader sees it: each encrypted field a [`Protected`]({}::model::Protected) value, revealed when the reader holds its key and sealed otherwise. Generated by `#[derive(Encrypted)]`.",
        quote!(#krate).to_string().replace(' ', "")
    );
    let fields_doc = format!(
        "The typed field paths of [`{name}`], for filters and updates. Generated by `#[derive(Encrypted)]`."
    );

    quote! {
        #[doc = #view_doc]
        #[derive(::core::fmt::Debug, #krate::__private::serde::Deserialize)]
        #[serde(crate = #serde_crate)]
        #(#container_serde)*
        #vis struct #view {
            #(#view_fields,)*
        }

        #[doc = #fields_doc]
        #vis struct #fields_ty<R> {
            prefix: ::std::string::String,
            _root: ::core::marker::PhantomData<fn() -> R>,
        }

        impl<R> #fields_ty<R> {
            #(#path_methods)*
        }

        const _: () = {
            #[automatically_derived]
            impl #krate::model::Encrypted for #ident {
                const SPEC: &'static #krate::model::ModelSpec = &#krate::model::ModelSpec {
                    name: #name,
                    key: #key,
                    inherits_key: #inherits_key,
                    fields: &[#(#spec_fields),*],
                };
                type View = #view;
                type Fields<R> = #fields_ty<R>;
                fn fields_at<R>(prefix: &str) -> #fields_ty<R> {
                    #fields_ty {
                        prefix: ::std::borrow::ToOwned::to_owned(prefix),
                        _root: ::core::marker::PhantomData,
                    }
                }
            }
            #root_model
            #(#guards)*
        };
    }
}
