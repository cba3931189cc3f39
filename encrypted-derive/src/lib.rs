//! `#[derive(Encrypted)]`, re-exported by the [`encrypted`](https://docs.rs/encrypted)
//! crate: read the documentation there.
//!
//! The derive works in phases, one file each: `ast` turns the syn tree into a
//! `Container` (reading `#[encrypted]`, `#[encrypt]` and the `#[serde]` attributes that
//! change stored names, in `attr`), `check` applies the rules, and `expand` generates
//! code. Every mistake is collected with its span by `ctxt` and reported at once; when
//! there are any, `fallback` emits a stub implementation so that only the real errors are
//! shown. It never panics.

#![forbid(unsafe_code)]

mod ast;
mod attr;
mod bson_type;
mod case;
mod check;
mod ctxt;
mod expand;
mod fallback;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derives `encrypted::Encrypted` for a struct with named fields.
///
/// See the `encrypted` crate for the attributes it takes.
#[proc_macro_derive(Encrypted, attributes(encrypt, encrypted))]
pub fn derive_encrypted(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input).into()
}
