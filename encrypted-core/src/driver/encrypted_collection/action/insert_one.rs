//! The `insertOne` action.

use std::borrow::Borrow;
use std::future::IntoFuture;

use bson::Bson;
use futures_util::future::BoxFuture;
use mongodb::ClientSession;
use mongodb::action::Action as _;
use mongodb::options::{InsertOneOptions, WriteConcern};
use mongodb::results::InsertOneResult;
use zeroize::Zeroizing;

use super::insert_many::serialize_models;
use super::{option_setters, private};
use crate::driver::encrypted_collection::EncryptedCollection;
use crate::model::Encrypted;
use crate::{Error, Result};

impl<T: Encrypted> EncryptedCollection<T> {
    /// Inserts one model (owned or borrowed), its encrypted fields encrypted before it
    /// is sent.
    ///
    /// ```no_run
    /// # use encrypted_core::{EncryptedCollection, model::Encrypted};
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
    /// # async fn run(patients: EncryptedCollection<Patient>, client: mongodb::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let jon = Patient { name: "Jon Doe".into(), ssn: 241014209 };
    /// patients.insert_one(&jon).comment("admission").await?;
    /// // In a session (and its transaction, if one is started): the key vault reads stay outside.
    /// let mut session = client.start_session().await?;
    /// patients.insert_one(jon).session(&mut session).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// Key, KMS and encryption errors naming the field; [`Error::Collection`] when the
    /// server refuses the write (its [`code`](Error::code) and
    /// [labels](Error::contains_label) are the driver's).
    pub fn insert_one(&self, value: impl Borrow<T>) -> InsertOne<'_, T> {
        InsertOne {
            collection: self,
            value: serialize_models::<T>([value]).and_then(|mut values| {
                values.pop().ok_or(Error::Serde {
                    model: T::SPEC.name,
                    direction: "serialize",
                })
            }),
            options: None,
            session: None,
        }
    }
}

/// Inserts one model: returned by [`EncryptedCollection::insert_one`], configured with
/// its methods (the driver's [`InsertOneOptions`]), run by awaiting it. The model is
/// serialized when the action is made (its plaintext is wiped when the action is
/// dropped), encrypted when it runs.
#[must_use = "an action does nothing until awaited"]
pub struct InsertOne<'a, T: Encrypted> {
    collection: &'a EncryptedCollection<T>,
    value: Result<Zeroizing<Vec<u8>>>,
    options: Option<InsertOneOptions>,
    session: Option<&'a mut ClientSession>,
}

impl<T: Encrypted> std::fmt::Debug for InsertOne<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InsertOne")
            .field("collection", self.collection)
            .finish_non_exhaustive()
    }
}

impl<'a, T: Encrypted> InsertOne<'a, T> {
    option_setters!(InsertOneOptions;
        /// Lets the write skip the collection's validator (which, made with
        /// [`create_with_validator`](EncryptedCollection::create_with_validator), checks
        /// that encrypted fields are ciphertexts; ours always are).
        bypass_document_validation: bool,
        /// The write concern of the operation.
        write_concern: WriteConcern,
        /// A comment to help trace the operation in the server's logs and profiler.
        comment: impl Into<Bson>,
    );

    /// Runs the operation in `session` (the key vault reads stay outside it).
    pub fn session(mut self, session: impl Into<&'a mut ClientSession>) -> Self {
        self.session = Some(session.into());
        self
    }
}

impl<T: Encrypted> private::Sealed for InsertOne<'_, T> {}

impl<'a, T: Encrypted> IntoFuture for InsertOne<'a, T> {
    type Output = Result<InsertOneResult>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let collection = self.collection;
            let plain = self.value?;
            let document = collection
                .encrypt_models(std::slice::from_ref(&plain))
                .await?
                .pop()
                .ok_or(Error::Serde {
                    model: T::SPEC.name,
                    direction: "serialize",
                })?;
            drop(plain);
            collection
                .collection
                .insert_one(document)
                .with_options(self.options)
                .optional(self.session, |insert, session| insert.session(session))
                .await
                .map_err(collection.driver_error("insertOne"))
        })
    }
}
