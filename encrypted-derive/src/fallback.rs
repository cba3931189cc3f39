//! What is emitted when the derive found mistakes: the errors, plus (for a struct) a
//! stub implementation, so the user sees only the real errors and not a cascade of
//! "`Encrypted` is not implemented" at every use (thiserror's fallback).

use proc_macro2::TokenStream;
use quote::quote;

use crate::ast::Container;
use crate::expand::krate;

pub(crate) fn expand(
    input: &syn::DeriveInput,
    container: Option<&Container<'_>>,
    error: syn::Error,
) -> TokenStream {
    let errors = error.to_compile_error();
    let is_plain_struct =
        matches!(input.data, syn::Data::Struct(_)) && input.generics.params.is_empty();
    if !is_plain_struct {
        return errors;
    }
    let krate = krate(container);
    let ident = &input.ident;
    let name = ident.to_string();
    quote! {
        #errors
        const _: () = {
            #[automatically_derived]
            impl #krate::model::Encrypted for #ident {
                const SPEC: &'static #krate::model::ModelSpec = &#krate::model::ModelSpec {
                    name: #name,
                    key: ::core::option::Option::None,
                    inherits_key: false,
                    fields: &[],
                };
                type View = ();
                type Fields<R> = ();
                fn fields_at<R>(_prefix: &str) -> Self::Fields<R> {}
            }
            #[automatically_derived]
            impl #krate::model::RootModel for #ident {}
        };
    }
}
