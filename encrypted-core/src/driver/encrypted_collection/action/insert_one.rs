//! The `insertOne` action.

use mongodb::results::InsertOneResult;

use crate::Result;
use crate::driver::encrypted_collection::EncryptedCollection;
use crate::model::Encrypted;

// Not yet an action builder: `coll-write` converts it.
impl<T: Encrypted> EncryptedCollection<T> {
    /// Inserts one model, its encrypted fields encrypted.
    ///
    /// # Errors
    ///
    /// Key, KMS and encryption errors naming the field; [`Error::Collection`] when the
    /// server refuses the write.
    pub async fn insert_one(&self, value: &T) -> Result<InsertOneResult> {
        let document = self.encode(value).await?;
        self.collection
            .insert_one(document)
            .await
            .map_err(self.driver_error("insertOne"))
    }
}
