//! The `deleteOne` and `deleteMany` actions.

use mongodb::results::DeleteResult;

use crate::Result;
use crate::driver::encrypted_collection::EncryptedCollection;
use crate::model::{Encrypted, Filter};

// Not yet an action builder: `coll-write` converts it.
impl<T: Encrypted> EncryptedCollection<T> {
    /// Deletes the first model matching `filter`.
    ///
    /// # Errors
    ///
    /// Filter encryption errors and [`Error::Collection`].
    pub async fn delete_one(&self, filter: Filter<T>) -> Result<DeleteResult> {
        let filter = self.encrypt_filter(filter).await?;
        self.collection
            .delete_one(filter)
            .await
            .map_err(self.driver_error("deleteOne"))
    }

    /// Deletes every model matching `filter`.
    ///
    /// # Errors
    ///
    /// As [`EncryptedCollection::delete_one`].
    pub async fn delete_many(&self, filter: Filter<T>) -> Result<DeleteResult> {
        let filter = self.encrypt_filter(filter).await?;
        self.collection
            .delete_many(filter)
            .await
            .map_err(self.driver_error("deleteMany"))
    }
}
