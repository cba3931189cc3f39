//! The `replaceOne` action.

use mongodb::results::UpdateResult;

use crate::Result;
use crate::driver::encrypted_collection::EncryptedCollection;
use crate::model::{Encrypted, Filter};

// Not yet an action builder: `coll-write` converts it.
impl<T: Encrypted> EncryptedCollection<T> {
    /// Replaces the first model matching `filter`.
    ///
    /// # Errors
    ///
    /// As [`EncryptedCollection::insert_one`].
    pub async fn replace_one(&self, filter: Filter<T>, replacement: &T) -> Result<UpdateResult> {
        let filter = self.encrypt_filter(filter).await?;
        let replacement = self.encode(replacement).await?;
        self.collection
            .replace_one(filter, replacement)
            .await
            .map_err(self.driver_error("replaceOne"))
    }
}
