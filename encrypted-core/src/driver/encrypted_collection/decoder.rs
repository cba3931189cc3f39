//! Turning stored documents into what a read returns (the model, its view, or a user
//! type whose encrypted fields are decrypted by the model's paths), a whole batch at a
//! time: the keys of every document of a batch are loaded in one key vault round trip.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use bson::{RawDocument, Uuid};
use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;

use super::EncryptedCollection;
use crate::model::{self, Encrypted, Keys, MissingKeys, ModelSpec, Path};
use crate::{Error, Result};

/// How a read turns a decrypted document into its output `O`: the decryption rule for
/// keys that cannot be had, and the deserializer.
pub(crate) struct Decoding<O> {
    missing: MissingKeys,
    deserialize: fn(&'static ModelSpec, &[u8]) -> Result<O>,
}

impl<O> Clone for Decoding<O> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<O> Copy for Decoding<O> {}

/// The model itself: every encrypted field must decrypt.
pub(crate) fn as_model<T: Encrypted>() -> Decoding<T> {
    Decoding {
        missing: MissingKeys::Fail,
        deserialize: model::deserialize_decrypted::<T>,
    }
}

/// The model's view: a field that cannot be opened stays sealed.
pub(crate) fn as_view<T: Encrypted>() -> Decoding<T::View> {
    Decoding {
        missing: MissingKeys::Seal,
        deserialize: model::deserialize_decrypted::<T::View>,
    }
}

/// A user type (a projection's partial model): encrypted fields are decrypted by the
/// model's paths and must decrypt; its fields are the user's to choose, so a failure
/// names the type rather than a field of the model.
pub(crate) fn as_user<U: DeserializeOwned>() -> Decoding<U> {
    Decoding {
        missing: MissingKeys::Fail,
        deserialize: |_, plain| model::deserialize_plain(std::any::type_name::<U>(), plain),
    }
}

/// Where a decoder gets the data keys of the ciphertexts it meets.
pub(crate) trait LoadKeys: Send + Sync {
    /// The keys of these ids that can be had, in one key vault round trip.
    fn load(&self, ids: HashSet<Uuid>) -> BoxFuture<'_, Result<Keys>>;

    /// Whether the handle has key access at all.
    fn has_keys(&self) -> bool;
}

impl<T: Encrypted> LoadKeys for EncryptedCollection<T> {
    fn load(&self, ids: HashSet<Uuid>) -> BoxFuture<'_, Result<Keys>> {
        Box::pin(self.keys_for_ids(ids))
    }

    fn has_keys(&self) -> bool {
        self.encryption.is_some()
    }
}

/// A [`Decoding`] with its model and its key source: owned (`'static`), so that cursors
/// outlive the collection handle they came from.
pub(crate) struct Decoder<O> {
    spec: &'static ModelSpec,
    decoding: Decoding<O>,
    keys: Arc<dyn LoadKeys>,
}

impl<O> Clone for Decoder<O> {
    fn clone(&self) -> Self {
        Self {
            spec: self.spec,
            decoding: self.decoding,
            keys: Arc::clone(&self.keys),
        }
    }
}

impl<T: Encrypted> EncryptedCollection<T> {
    /// A decoder of this collection's documents into `O`.
    pub(crate) fn decoder<O>(&self, decoding: Decoding<O>) -> Decoder<O> {
        Decoder {
            spec: T::SPEC,
            decoding,
            keys: Arc::new(self.clone()),
        }
    }
}

impl<O> Decoder<O> {
    /// The model's name, for errors.
    pub(crate) fn model_name(&self) -> &'static str {
        self.spec.name
    }

    /// Decodes one stored document.
    pub(crate) async fn decode_one(&self, stored: &RawDocument) -> Result<O> {
        let mut ids = HashSet::new();
        model::keys_to_decrypt(self.spec, stored.as_bytes(), &Path::ROOT, &mut ids)?;
        let keys = self.keys.load(ids).await?;
        self.decode_with(stored, &keys)
    }

    /// Decodes the documents of one batch with one key vault round trip for all of them;
    /// the outer error (the key vault failed) is the whole batch's, a document that cannot
    /// be decoded fails alone.
    pub(crate) async fn decode_batch<'d>(
        &self,
        stored: impl IntoIterator<Item = Result<&'d RawDocument>>,
    ) -> Result<VecDeque<Result<O>>> {
        let mut ids = HashSet::new();
        let documents: Vec<Result<&RawDocument>> = stored
            .into_iter()
            .map(|document| {
                let document = document?;
                model::keys_to_decrypt(self.spec, document.as_bytes(), &Path::ROOT, &mut ids)?;
                Ok(document)
            })
            .collect();
        let keys = self.keys.load(ids).await?;
        Ok(documents
            .into_iter()
            .map(|document| document.and_then(|document| self.decode_with(document, &keys)))
            .collect())
    }

    fn decode_with(&self, stored: &RawDocument, keys: &Keys) -> Result<O> {
        let plain = model::decrypt_document(
            self.spec,
            stored.as_bytes(),
            keys,
            self.decoding.missing,
            &Path::ROOT,
        )
        .map_err(|error| self.no_key_access(error))?;
        (self.decoding.deserialize)(self.spec, &plain)
    }

    /// A key missing on a handle that has no key vault is not missing from the vault.
    fn no_key_access(&self, error: Error) -> Error {
        match error {
            Error::Field { path, source }
                if !self.keys.has_keys() && matches!(*source, Error::KeyNotFound { .. }) =>
            {
                Error::Field {
                    path,
                    source: Box::new(Error::NoKeyAccess),
                }
            }
            other => other,
        }
    }
}
