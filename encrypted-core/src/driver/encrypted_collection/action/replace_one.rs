//! The `replaceOne` action.

use std::borrow::Borrow;
use std::future::IntoFuture;

use bson::{Bson, Document};
use futures_util::future::BoxFuture;
use mongodb::ClientSession;
use mongodb::action::Action as _;
use mongodb::options::{Collation, Hint, ReplaceOptions, WriteConcern};
use mongodb::results::UpdateResult;
use zeroize::Zeroizing;

use super::insert_many::serialize_models;
use super::{check_hint, check_sort, option_setters, private};
use crate::driver::encrypted_collection::EncryptedCollection;
use crate::model::{Encrypted, Filter, Sort};
use crate::{Error, Result};

impl<T: Encrypted> EncryptedCollection<T> {
    /// Replaces the first model matching `filter` with `replacement` (owned or
    /// borrowed), encrypted as an insert is; with `upsert(true)` it is inserted when
    /// nothing matches.
    ///
    /// ```no_run
    /// # use encrypted_core::{EncryptedCollection, model::Encrypted};
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
    /// # async fn run(patients: EncryptedCollection<Patient>) -> encrypted_core::Result<()> {
    /// let jon = Patient { name: "Jon Doe".into(), ssn: 241014209 };
    /// patients
    ///     .replace_one(Patient::fields().ssn().eq(241014209), &jon)
    ///     .upsert(true)
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`insert_one`](Self::insert_one), and filter encryption errors;
    /// [`Error::UnsupportedOperator`] for a sort on an encrypted path, or a hint that
    /// uses one as other than an ordinary index key.
    pub fn replace_one(&self, filter: Filter<T>, replacement: impl Borrow<T>) -> ReplaceOne<'_, T> {
        ReplaceOne {
            collection: self,
            filter,
            replacement: serialize_models::<T>([replacement]).and_then(|mut values| {
                values.pop().ok_or(Error::Serde {
                    model: T::SPEC.name,
                    direction: "serialize",
                })
            }),
            options: None,
            sort: None,
            session: None,
        }
    }
}

/// Replaces a model: returned by [`EncryptedCollection::replace_one`], configured with its
/// methods (the driver's [`ReplaceOptions`]), run by awaiting it.
#[must_use = "an action does nothing until awaited"]
pub struct ReplaceOne<'a, T: Encrypted> {
    collection: &'a EncryptedCollection<T>,
    filter: Filter<T>,
    replacement: Result<Zeroizing<Vec<u8>>>,
    options: Option<ReplaceOptions>,
    sort: Option<Sort<T>>,
    session: Option<&'a mut ClientSession>,
}

impl<T: Encrypted> std::fmt::Debug for ReplaceOne<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplaceOne")
            .field("collection", self.collection)
            .finish_non_exhaustive()
    }
}

impl<'a, T: Encrypted> ReplaceOne<'a, T> {
    option_setters!(ReplaceOptions;
        /// Lets the write skip the collection's validator.
        bypass_document_validation: bool,
        /// Inserts the replacement when no model matches.
        upsert: bool,
        /// The collation for string comparisons of plaintext fields.
        collation: Collation,
        /// The write concern of the operation.
        write_concern: WriteConcern,
        /// Variables usable in the filter's aggregation expressions.
        let_vars: Document,
        /// A comment to help trace the operation in the server's logs and profiler.
        comment: impl Into<Bson>,
    );

    /// The index to use, by name or by keys (an encrypted field may be an ordinary or
    /// hashed key of it, not a text or geospatial one).
    pub fn hint(mut self, hint: Hint) -> Self {
        self.options().hint = Some(hint);
        self
    }

    /// Which matching model is replaced when several match (MongoDB 8.0+). Only
    /// plaintext fields can be sorted on: a key on an encrypted path is refused by name.
    ///
    /// A typed [`Sort`] (plaintext paths only: sorting on an encrypted field does not
    /// compile) or a raw `Document`.
    pub fn sort(mut self, sort: impl Into<Sort<T>>) -> Self {
        self.sort = Some(sort.into());
        self
    }

    /// Runs the operation in `session` (the key vault reads stay outside it).
    pub fn session(mut self, session: impl Into<&'a mut ClientSession>) -> Self {
        self.session = Some(session.into());
        self
    }
}

impl<T: Encrypted> private::Sealed for ReplaceOne<'_, T> {}

impl<'a, T: Encrypted> IntoFuture for ReplaceOne<'a, T> {
    type Output = Result<UpdateResult>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let collection = self.collection;
            let mut options = self.options;
            if self.sort.is_some() {
                options.get_or_insert_with(Default::default);
            }
            if let Some(options) = options.as_mut() {
                check_hint(T::SPEC, options.hint.as_ref())?;
                options.sort = match self.sort {
                    Some(typed) => Some(typed.to_document()?),
                    None => options
                        .sort
                        .take()
                        .map(|sort| check_sort(T::SPEC, sort))
                        .transpose()?,
                };
            }
            let plain = self.replacement?;
            let replacement = collection
                .encrypt_models(std::slice::from_ref(&plain))
                .await?
                .pop()
                .ok_or(Error::Serde {
                    model: T::SPEC.name,
                    direction: "serialize",
                })?;
            drop(plain);
            let filter = collection.encrypt_filter(self.filter).await?;
            collection
                .collection
                .replace_one(filter, replacement)
                .with_options(options)
                .optional(self.session, |replace, session| replace.session(session))
                .await
                .map_err(collection.driver_error("replaceOne"))
        })
    }
}
