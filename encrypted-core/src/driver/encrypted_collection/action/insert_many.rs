//! The `insertMany` action, and the encryption of whole models it shares with
//! `insertOne`, `replaceOne` and `findOneAndReplace`.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::future::IntoFuture;

use bson::{Bson, RawDocumentBuf};
use futures_util::future::BoxFuture;
use mongodb::ClientSession;
use mongodb::action::Action as _;
use mongodb::options::{InsertManyOptions, WriteConcern};
use mongodb::results::InsertManyResult;
use zeroize::Zeroizing;

use super::{option_setters, private};
use crate::driver::encrypted_collection::EncryptedCollection;
use crate::model::{self, Encrypted, Path};
use crate::{Error, Result};

/// Serializes models (plaintext, allocated once at its final size and wiped when
/// dropped), for the encryption an action does when it runs.
pub(super) fn serialize_models<T: Encrypted>(
    values: impl IntoIterator<Item = impl Borrow<T>>,
) -> Result<Vec<Zeroizing<Vec<u8>>>> {
    values
        .into_iter()
        .map(|value| {
            model::serialize_zeroizing(value.borrow()).map_err(|_| Error::Serde {
                model: T::SPEC.name,
                direction: "serialize",
            })
        })
        .collect()
}

impl<T: Encrypted> EncryptedCollection<T> {
    /// Encrypts serialized models, loading the keys they need once (before anything is
    /// encrypted, so that nothing is sent when one of them cannot be).
    pub(super) async fn encrypt_models(
        &self,
        plain: &[Zeroizing<Vec<u8>>],
    ) -> Result<Vec<RawDocumentBuf>> {
        let mut needed = HashSet::new();
        for bytes in plain {
            model::keys_to_encrypt(T::SPEC, bytes, None, &Path::ROOT, &mut needed)?;
        }
        let keys = self.keys_for_refs(needed).await?;
        plain
            .iter()
            .map(|bytes| {
                let encrypted = model::encrypt_document(T::SPEC, bytes, None, &keys, &Path::ROOT)?;
                RawDocumentBuf::from_bytes(encrypted).map_err(|_| serialize_error::<T>())
            })
            .collect()
    }

    /// Inserts many models (owned or borrowed), as one `insertMany`.
    ///
    /// Every model is encrypted (the keys they need loaded once) before anything is sent:
    /// if one cannot be encrypted, nothing is inserted. A model without an `_id` is given
    /// an `ObjectId` here, so that a failure part-way can say how many were stored.
    ///
    /// ```no_run
    /// # use encrypted_core::{EncryptedCollection, model::Encrypted};
    /// # use encrypted_derive::Encrypted;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
    /// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
    /// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
    /// # async fn run(patients: EncryptedCollection<Patient>, ward: Vec<Patient>) -> encrypted_core::Result<()> {
    /// // Unordered: the server goes on after a failed document.
    /// let stored = patients.insert_many(&ward).ordered(false).await?;
    /// # let _ = stored; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`EncryptedCollection::insert_one`]; [`Error::PartialInsert`], saying how many
    /// documents are stored (counted in the session, if one is given), when the server
    /// fails part-way.
    pub fn insert_many(
        &self,
        values: impl IntoIterator<Item = impl Borrow<T>>,
    ) -> InsertMany<'_, T> {
        InsertMany {
            collection: self,
            values: serialize_models::<T>(values),
            options: None,
            session: None,
        }
    }
}

fn serialize_error<T: Encrypted>() -> Error {
    Error::Serde {
        model: T::SPEC.name,
        direction: "serialize",
    }
}

/// Inserts many models: returned by [`EncryptedCollection::insert_many`], configured with
/// its methods (the driver's [`InsertManyOptions`]), run by awaiting it. The models are
/// serialized when the action is made (their plaintext is wiped when the action is
/// dropped), encrypted when it runs.
#[must_use = "an action does nothing until awaited"]
pub struct InsertMany<'a, T: Encrypted> {
    collection: &'a EncryptedCollection<T>,
    values: Result<Vec<Zeroizing<Vec<u8>>>>,
    options: Option<InsertManyOptions>,
    session: Option<&'a mut ClientSession>,
}

impl<T: Encrypted> std::fmt::Debug for InsertMany<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InsertMany")
            .field("collection", self.collection)
            .finish_non_exhaustive()
    }
}

impl<'a, T: Encrypted> InsertMany<'a, T> {
    option_setters!(InsertManyOptions;
        /// Lets the write skip the collection's validator.
        bypass_document_validation: bool,
        /// Whether the server stops at the first failed document (`true`, the default)
        /// or goes on with the others.
        ordered: bool,
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

impl<T: Encrypted> private::Sealed for InsertMany<'_, T> {}

impl<'a, T: Encrypted> IntoFuture for InsertMany<'a, T> {
    type Output = Result<InsertManyResult>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(mut self) -> Self::IntoFuture {
        Box::pin(async move {
            let collection = self.collection;
            let plain = self.values?;
            let mut documents = collection.encrypt_models(&plain).await?;
            drop(plain);
            let ids = assign_ids::<T>(&mut documents)?;
            let total = documents.len();
            let inserted = collection
                .collection
                .insert_many(documents)
                .with_options(self.options)
                .optional(self.session.as_deref_mut(), |insert, session| {
                    insert.session(session)
                })
                .await;
            match inserted {
                Ok(result) => Ok(result),
                Err(source) => {
                    // Counted where the insert ran: in an aborted transaction the count
                    // fails too, and the number is unknown.
                    let inserted = collection
                        .collection
                        .count_documents(bson::doc! { "_id": { "$in": ids } })
                        .optional(self.session, |count, session| count.session(session))
                        .await
                        .ok();
                    Err(Error::PartialInsert {
                        namespace: collection.namespace(),
                        inserted,
                        total,
                        source: Box::new(source),
                    })
                }
            }
        })
    }
}

/// Gives every document its `_id` (first, as the driver would put it), so that after a
/// failure the stored ones can be counted; the ids, in order.
fn assign_ids<T: Encrypted>(documents: &mut [RawDocumentBuf]) -> Result<Vec<Bson>> {
    let mut ids = Vec::with_capacity(documents.len());
    for document in documents {
        match document.get("_id") {
            Ok(Some(id)) => ids.push(Bson::try_from(id).map_err(|_| serialize_error::<T>())?),
            _ => {
                let id = bson::oid::ObjectId::new();
                let mut with_id = RawDocumentBuf::new();
                with_id.append(bson::raw::cstr!("_id"), id);
                for element in document.iter_elements() {
                    let element = element.map_err(|_| serialize_error::<T>())?;
                    let value = element.value().map_err(|_| serialize_error::<T>())?;
                    with_id.append(element.key(), value);
                }
                *document = with_id;
                ids.push(Bson::ObjectId(id));
            }
        }
    }
    Ok(ids)
}
