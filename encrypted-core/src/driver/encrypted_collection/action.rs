//! Action builders: what [`EncryptedCollection`](crate::EncryptedCollection)'s methods
//! return, shaped like the `mongodb` driver's own (`mongodb::action`).
//!
//! A method takes the operation's required arguments and returns a `#[must_use]`
//! builder; setters configure it (each option of the driver's option struct, named as the
//! driver names it, or all at once with `with_options`), `.session(&mut session)` runs it
//! in a [`ClientSession`], and `.await` runs it:
//!
//! ```no_run
//! # use encrypted_core::{EncryptedCollection, model::Encrypted};
//! # use encrypted_derive::Encrypted;
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Serialize, Deserialize, Encrypted, Debug)]
//! # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
//! # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
//! # async fn run(patients: EncryptedCollection<Patient>, client: mongodb::Client) -> encrypted_core::Result<()> {
//! use std::time::Duration;
//!
//! let jon = patients
//!     .find_one(Patient::fields().ssn().eq(241014209))
//!     .max_time(Duration::from_secs(2))
//!     .await?;
//! let mut session = client.start_session().await.map_err(|error| {
//!     encrypted_core::Error::Collection { operation: "startSession", namespace: String::new(), source: Box::new(error) }
//! })?;
//! let named_jon = patients
//!     .count_documents(Patient::fields().name().eq("Jon Doe"))
//!     .session(&mut session)
//!     .await?;
//! # let _ = (jon, named_jon); Ok(()) }
//! ```
//!
//! The options are the driver's own structs ([`mongodb::options::FindOptions`], …), so
//! that code written for `mongodb::Collection` reads the same. Options that name fields
//! are checked against the model before anything is sent: a sort, an index bound (`min`,
//! `max`), an index hint or a projection that would work on ciphertext (whose order and
//! structure mean nothing) is refused by name ([`Error::UnsupportedOperator`]).
//!
//! The key vault reads an action needs run outside the session it is given (and so
//! outside its transaction), as the Client Side Encryption specification requires.

mod count;
mod distinct;
mod find;

// The write side, one file per action as well.
mod delete;
mod find_and_modify;
mod insert_many;
mod insert_one;
mod replace_one;
mod update;

use std::future::IntoFuture;

use bson::Document;
use mongodb::ClientSession;
use mongodb::options::Hint;

pub use count::*;
pub use distinct::*;
pub use find::*;
// The write side's builders (a file may hold none yet).
#[allow(unused_imports)]
pub use {delete::*, find_and_modify::*, insert_many::*, insert_one::*, replace_one::*, update::*};

use crate::model::{Lookup, ModelSpec};
use crate::{Error, Result};

/// The state of an action that runs without an explicit session (the driver uses an
/// implicit one): the default of every builder's session parameter.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImplicitSession;

/// The state of an action that runs in the explicit session it was given with
/// `.session(&mut session)`: cursor actions then return a session cursor, which needs the
/// same session to advance (as the driver's `SessionCursor` does).
#[derive(Debug)]
pub struct ExplicitSession<'s>(pub(crate) &'s mut ClientSession);

pub(crate) mod private {
    /// Only this crate's builders are actions.
    pub trait Sealed {}
}

/// A pending action on the server, configured with its methods and run by `.await`: every
/// builder of this module is one (as in the `mongodb` driver).
///
/// ```no_run
/// # use encrypted_core::{EncryptedCollection, model::{Encrypted, Filter}};
/// # use encrypted_derive::Encrypted;
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
/// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
/// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
/// # async fn run(patients: EncryptedCollection<Patient>, limit: Option<u64>) -> encrypted_core::Result<()> {
/// use encrypted_core::action::Action;
///
/// let counted = patients
///     .count_documents(Filter::all())
///     .optional(limit, |count, limit| count.limit(limit))
///     .await?;
/// # let _ = counted; Ok(()) }
/// ```
pub trait Action: private::Sealed + IntoFuture {
    /// Calls `f` on the action when `value` is `Some`: for options set conditionally in a
    /// chain.
    fn optional<Value>(self, value: Option<Value>, f: impl FnOnce(Self, Value) -> Self) -> Self
    where
        Self: Sized,
    {
        match value {
            Some(value) => f(self, value),
            None => self,
        }
    }
}

impl<A: private::Sealed + IntoFuture> Action for A {}

/// Writes, inside a builder's `impl` block, the setters of the driver's option struct the
/// builder keeps in `self.options: Option<Options>`: a private `options()` giving the
/// struct (created on first use), `with_options(..)` replacing them all, and one setter
/// per listed option, named as the driver names it.
///
/// ```ignore
/// impl<'a, T> CountDocuments<'a, T> {
///     option_setters!(CountOptions;
///         /// The most documents to count.
///         limit: u64,
///         /// A comment to help trace the operation.
///         comment: impl Into<Bson>,
///     );
/// }
/// ```
///
/// An option whose value names fields of the model (a sort, a projection, a hint) is not
/// listed here but has its own setter taking the typed value; it is checked when the
/// action runs (as is the same option given raw through `with_options`).
macro_rules! option_setters {
    ($options:ty; $($setters:tt)*) => {
        #[allow(dead_code)]
        fn options(&mut self) -> &mut $options {
            self.options.get_or_insert_with(<$options>::default)
        }

        /// Sets every option at once, replacing those set before. Options that name
        /// fields of the model are checked when the action runs.
        pub fn with_options(mut self, value: impl Into<Option<$options>>) -> Self {
            self.options = value.into();
            self
        }

        option_setters!(@setters $($setters)*);
    };
    (@setters) => {};
    (@setters $(#[$attr:meta])* $name:ident: impl Into<$type:ty>, $($rest:tt)*) => {
        $(#[$attr])*
        pub fn $name(mut self, value: impl Into<$type>) -> Self {
            self.options().$name = Some(value.into());
            self
        }

        option_setters!(@setters $($rest)*);
    };
    (@setters $(#[$attr:meta])* $name:ident: $type:ty, $($rest:tt)*) => {
        $(#[$attr])*
        pub fn $name(mut self, value: $type) -> Self {
            self.options().$name = Some(value);
            self
        }

        option_setters!(@setters $($rest)*);
    };
}

pub(crate) use option_setters;

/// Checks a sort: only plaintext paths can be sorted on, ciphertext order means nothing.
pub(crate) fn check_sort(spec: &ModelSpec, sort: Document) -> Result<Document> {
    for path in sort.keys() {
        if touches_ciphertext(spec, path) {
            return Err(refused(path, "sort"));
        }
    }
    Ok(sort)
}

/// Checks a projection: an encrypted field (or a nested model holding one) is kept or
/// dropped whole; an operator or an expression on it, or a path inside its ciphertext, is
/// refused.
pub(crate) fn check_projection(spec: &ModelSpec, projection: Document) -> Result<Document> {
    for (path, value) in &projection {
        let whole = matches!(
            value,
            bson::Bson::Boolean(_)
                | bson::Bson::Int32(_)
                | bson::Bson::Int64(_)
                | bson::Bson::Double(_)
        );
        match spec.lookup(path) {
            Lookup::Plain => {}
            Lookup::InsideEncrypted => return Err(refused(path, "projection")),
            Lookup::Encrypted(..) | Lookup::Nested(..) => {
                if !whole && touches_ciphertext(spec, path) {
                    return Err(refused(path, "projection"));
                }
            }
        }
    }
    Ok(projection)
}

/// Refuses the index bounds `min` / `max` (`option`) on encrypted paths: they are ranges,
/// and ciphertext order means nothing.
pub(crate) fn check_index_bounds(
    spec: &ModelSpec,
    bounds: Option<&Document>,
    option: &str,
) -> Result<()> {
    for path in bounds.into_iter().flat_map(Document::keys) {
        if touches_ciphertext(spec, path) {
            return Err(refused(path, option));
        }
    }
    Ok(())
}

/// Checks an index hint: an index given by its keys may include an encrypted field only
/// as an ordinary ascending, descending or hashed key (equality on ciphertexts works), not
/// as a text or geospatial one, nor a path inside an encrypted value. A hint by name
/// cannot be checked without the server's index list and is sent as it is.
pub(crate) fn check_hint(spec: &ModelSpec, hint: Option<&Hint>) -> Result<()> {
    let Some(Hint::Keys(keys)) = hint else {
        return Ok(());
    };
    for (path, kind) in keys {
        match spec.lookup(path) {
            Lookup::Plain => {}
            Lookup::InsideEncrypted => return Err(refused(path, "hint")),
            Lookup::Encrypted(..) | Lookup::Nested(..) => {
                let ordinary = kind.as_str().is_none_or(|kind| kind == "hashed");
                if !ordinary && touches_ciphertext(spec, path) {
                    return Err(refused(path, "hint"));
                }
            }
        }
    }
    Ok(())
}

/// Whether `path` is, or holds, something the model encrypts.
pub(crate) fn touches_ciphertext(spec: &ModelSpec, path: &str) -> bool {
    match spec.lookup(path) {
        Lookup::Plain => false,
        Lookup::Encrypted(..) | Lookup::InsideEncrypted => true,
        Lookup::Nested(model, _) => model.has_encrypted_fields(),
    }
}

/// The error refusing `option` on the encrypted `path`.
pub(crate) fn refused(path: &str, option: &str) -> Error {
    Error::UnsupportedOperator {
        path: path.to_owned(),
        operator: option.to_owned(),
    }
}

#[cfg(test)]
mod tests;
