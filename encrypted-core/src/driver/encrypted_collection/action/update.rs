//! The `updateOne` and `updateMany` actions.

use bson::Document;
use mongodb::results::UpdateResult;

use crate::Result;
use crate::driver::encrypted_collection::EncryptedCollection;
use crate::model::{self, Encrypted, Filter, Update};

// Not yet an action builder: `coll-write` converts it.
impl<T: Encrypted> EncryptedCollection<T> {
    /// Applies `update` to the first model matching `filter`.
    ///
    /// # Errors
    ///
    /// Key and encryption errors naming the field; [`Error::Collection`].
    pub async fn update_one(&self, filter: Filter<T>, update: Update<T>) -> Result<UpdateResult> {
        let filter = self.encrypt_filter(filter).await?;
        let update = self.update_document(update).await?;
        self.collection
            .update_one(filter, update)
            .await
            .map_err(self.driver_error("updateOne"))
    }

    /// Applies `update` to every model matching `filter`.
    ///
    /// # Errors
    ///
    /// As [`EncryptedCollection::update_one`].
    pub async fn update_many(&self, filter: Filter<T>, update: Update<T>) -> Result<UpdateResult> {
        let filter = self.encrypt_filter(filter).await?;
        let update = self.update_document(update).await?;
        self.collection
            .update_many(filter, update)
            .await
            .map_err(self.driver_error("updateMany"))
    }

    /// Applies a hand-written update document to the models matching `filter`, after
    /// checking every operator of it (fail closed): an encrypted field may only be `$set`
    /// (or `$setOnInsert`) to a ciphertext of its BSON type and algorithm, or `$unset`; a
    /// nested model's field only to a document whose encrypted fields are such
    /// ciphertexts; `$rename` from or onto anything encrypted, the other operators
    /// (`$inc`, `$push`, `$min`, `$currentDate`, ...) on anything encrypted, and unknown
    /// operators are refused. (Pipeline updates cannot be expressed with a `Document`.)
    ///
    /// # Errors
    ///
    /// [`Error::UnencryptedField`], [`Error::UnsupportedOperator`], [`Error::Field`] with
    /// [`Error::CiphertextMismatch`] (each naming the full path), [`Error::Collection`].
    pub async fn update_many_raw(
        &self,
        filter: Filter<T>,
        update: Document,
    ) -> Result<UpdateResult> {
        model::check_raw_update(T::SPEC, &update)?;
        let filter = self.encrypt_filter(filter).await?;
        self.collection
            .update_many(filter, update)
            .await
            .map_err(self.driver_error("updateMany"))
    }
}
