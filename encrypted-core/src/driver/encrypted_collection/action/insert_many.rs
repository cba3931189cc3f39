//! The `insertMany` action.

use std::borrow::Borrow;

use bson::{Bson, RawDocumentBuf};
use mongodb::results::InsertManyResult;

use crate::driver::encrypted_collection::EncryptedCollection;
use crate::model::Encrypted;
use crate::{Error, Result};

// Not yet an action builder: `coll-write` converts it.
impl<T: Encrypted> EncryptedCollection<T> {
    /// Inserts many models, in order, as one `insertMany`.
    ///
    /// Every model is encrypted (the keys they need loaded once) before anything is sent:
    /// if one cannot be encrypted, nothing is inserted. A model without an `_id` is given
    /// an `ObjectId` here, so that a failure part-way can say how many were stored.
    ///
    /// # Errors
    ///
    /// As [`EncryptedCollection::insert_one`]; [`Error::PartialInsert`], saying how many
    /// documents are stored, when the server fails part-way.
    pub async fn insert_many(
        &self,
        values: impl IntoIterator<Item = impl Borrow<T>>,
    ) -> Result<InsertManyResult> {
        let values: Vec<_> = values.into_iter().collect();
        let mut documents = self.encode_all(&values).await?;
        // Every document gets its `_id` here (first, as the driver would put it), so that
        // after a failure the stored ones can be counted.
        let mut ids = Vec::with_capacity(documents.len());
        for document in &mut documents {
            match document.get("_id") {
                Ok(Some(id)) => ids.push(Bson::try_from(id).map_err(|_| Error::Serde {
                    model: T::SPEC.name,
                    direction: "serialize",
                })?),
                _ => {
                    let id = bson::oid::ObjectId::new();
                    let mut with_id = RawDocumentBuf::new();
                    with_id.append(bson::raw::cstr!("_id"), id);
                    for element in document.iter_elements() {
                        let element = element.map_err(|_| Error::Serde {
                            model: T::SPEC.name,
                            direction: "serialize",
                        })?;
                        let value = element.value().map_err(|_| Error::Serde {
                            model: T::SPEC.name,
                            direction: "serialize",
                        })?;
                        with_id.append(element.key(), value);
                    }
                    *document = with_id;
                    ids.push(Bson::ObjectId(id));
                }
            }
        }
        let total = documents.len();
        match self.collection.insert_many(documents).await {
            Ok(result) => Ok(result),
            Err(source) => {
                let inserted = self
                    .collection
                    .count_documents(bson::doc! { "_id": { "$in": ids } })
                    .await
                    .ok();
                Err(Error::PartialInsert {
                    namespace: self.namespace(),
                    inserted,
                    total,
                    source: Box::new(source),
                })
            }
        }
    }
}
