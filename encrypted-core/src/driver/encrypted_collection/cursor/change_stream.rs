//! Change streams whose events carry decrypted documents.

use std::collections::HashSet;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bson::raw::{CStr, RawBsonRef, RawDocument, RawDocumentBuf};
use futures_util::future::BoxFuture;
use futures_util::stream::{Stream, StreamExt};
use mongodb::ClientSession;
use mongodb::change_stream::ChangeStream;
use mongodb::change_stream::event::{ChangeStreamEvent, ResumeToken};
use mongodb::change_stream::session::SessionChangeStream;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use super::DriverError;
use crate::driver::encrypted_collection::decoder::Decoder;
use crate::model::{self, Keys, Lookup, MissingKeys, ModelSpec, Path};
use crate::{Error, Result};

/// The fields of an event that hold a whole document of the collection.
const FULL_DOCUMENTS: [&str; 2] = ["fullDocument", "fullDocumentBeforeChange"];

/// A change stream on an [`EncryptedCollection`](crate::EncryptedCollection): a [`Stream`]
/// of the driver's [`ChangeStreamEvent`]s whose `fullDocument` and
/// `fullDocumentBeforeChange` are the model `T`, decrypted, and whose
/// `updateDescription.updatedFields` hold plaintext where the update set an encrypted
/// field. Resumable as the driver's: see [`resume_token`](Self::resume_token).
///
/// Change streams need a replica set or a sharded cluster (FerretDB has none).
///
/// ```no_run
/// # use encrypted_core::{EncryptedCollection, model::Encrypted};
/// # use encrypted_derive::Encrypted;
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
/// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
/// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
/// # async fn run(patients: EncryptedCollection<Patient>) -> encrypted_core::Result<()> {
/// use futures_util::StreamExt;
/// use encrypted_core::mongodb::options::FullDocumentType;
///
/// let mut changes = patients.watch().full_document(FullDocumentType::UpdateLookup).await?;
/// while let Some(event) = changes.next().await {
///     if let Some(patient) = event?.full_document {
///         println!("{} changed", patient.name);
///     }
/// }
/// # Ok(()) }
/// ```
#[must_use = "a change stream does nothing unless polled"]
pub struct EncryptedChangeStream<T> {
    inner: ChangeStream<RawDocumentBuf>,
    decoder: Decoder<T>,
    driver_error: DriverError,
    decoding: Option<BoxFuture<'static, Result<ChangeStreamEvent<T>>>>,
}

impl<T> std::fmt::Debug for EncryptedChangeStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedChangeStream")
            .finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned + Send + 'static> EncryptedChangeStream<T> {
    pub(crate) fn new(
        inner: ChangeStream<RawDocumentBuf>,
        decoder: Decoder<T>,
        driver_error: DriverError,
    ) -> Self {
        Self {
            inner,
            decoder,
            driver_error,
            decoding: None,
        }
    }

    /// The token to resume after the last event returned, for
    /// [`Watch::resume_after`](crate::action::Watch::resume_after) or
    /// [`start_after`](crate::action::Watch::start_after).
    pub fn resume_token(&self) -> Option<ResumeToken> {
        self.inner.resume_token()
    }

    /// Whether the stream can still return events (its server cursor is open).
    pub fn is_alive(&self) -> bool {
        self.inner.is_alive()
    }
}

impl<T: DeserializeOwned + Send + 'static> Stream for EncryptedChangeStream<T> {
    type Item = Result<ChangeStreamEvent<T>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(decoding) = this.decoding.as_mut() {
                let event = ready!(decoding.as_mut().poll(cx));
                this.decoding = None;
                return Poll::Ready(Some(event));
            }
            match ready!(this.inner.poll_next_unpin(cx)) {
                None => return Poll::Ready(None),
                Some(Err(error)) => return Poll::Ready(Some(Err((this.driver_error)(error)))),
                Some(Ok(event)) => {
                    let decoder = this.decoder.clone();
                    this.decoding = Some(Box::pin(
                        async move { decode_event(&decoder, &event).await },
                    ));
                }
            }
        }
    }
}

/// A change stream opened in an explicit session, like the driver's
/// `SessionChangeStream`: advanced with [`next`](Self::next) and the same session. Its
/// events are decrypted as an [`EncryptedChangeStream`]'s (the key vault reads stay
/// outside the session).
///
/// ```no_run
/// # use encrypted_core::{EncryptedCollection, model::Encrypted};
/// # use encrypted_derive::Encrypted;
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
/// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
/// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
/// # async fn run(patients: EncryptedCollection<Patient>, mut session: mongodb::ClientSession) -> encrypted_core::Result<()> {
/// let mut changes = patients.watch().session(&mut session).await?;
/// while let Some(event) = changes.next(&mut session).await? {
///     println!("{:?}", event.operation_type);
/// }
/// # Ok(()) }
/// ```
#[must_use = "a change stream does nothing unless advanced"]
pub struct EncryptedSessionChangeStream<T> {
    inner: SessionChangeStream<RawDocumentBuf>,
    decoder: Decoder<T>,
    driver_error: DriverError,
}

impl<T> std::fmt::Debug for EncryptedSessionChangeStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedSessionChangeStream")
            .finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned + Send + 'static> EncryptedSessionChangeStream<T> {
    pub(crate) fn new(
        inner: SessionChangeStream<RawDocumentBuf>,
        decoder: Decoder<T>,
        driver_error: DriverError,
    ) -> Self {
        Self {
            inner,
            decoder,
            driver_error,
        }
    }

    /// The next event, decrypted, waiting for one; `None` when the stream has ended.
    /// `session` must be the one the stream was opened in.
    ///
    /// # Errors
    ///
    /// [`Error::Collection`] when the server fails; the decryption errors of the event's
    /// documents, naming the field.
    pub async fn next(
        &mut self,
        session: &mut ClientSession,
    ) -> Result<Option<ChangeStreamEvent<T>>> {
        match self.inner.next(session).await {
            Ok(Some(event)) => decode_event(&self.decoder, &event).await.map(Some),
            Ok(None) => Ok(None),
            Err(error) => Err((self.driver_error)(error)),
        }
    }

    /// The token to resume after the last event returned.
    pub fn resume_token(&self) -> Option<ResumeToken> {
        self.inner.resume_token()
    }

    /// Whether the stream can still return events.
    pub fn is_alive(&self) -> bool {
        self.inner.is_alive()
    }
}

/// Decodes one change event of the model `decoder` decodes: its whole documents and the
/// encrypted fields an update set, decrypted by the model's paths with the keys of all of
/// them loaded at once.
pub(crate) async fn decode_event<T: DeserializeOwned>(
    decoder: &Decoder<T>,
    event: &RawDocument,
) -> Result<ChangeStreamEvent<T>> {
    let spec = decoder.spec;
    let malformed = || Error::Serde {
        model: spec.name,
        direction: "deserialize",
    };
    let mut ids = HashSet::new();
    for name in FULL_DOCUMENTS {
        if let Some(RawBsonRef::Document(document)) = event.get(name).map_err(|_| malformed())? {
            model::keys_to_decrypt(spec, document.as_bytes(), &Path::ROOT, &mut ids)?;
        }
    }
    if let Some(updated) = updated_fields(event).map_err(|_| malformed())? {
        for element in updated.iter_elements() {
            let element = element.map_err(|_| malformed())?;
            let value = element.value().map_err(|_| malformed())?;
            let path = element.key().as_str();
            match (spec.lookup(path), value) {
                (Lookup::Encrypted(field, _), value) => {
                    let single = single_value(value)?;
                    model::keys_to_decrypt_values(&field, single.as_bytes(), path, &mut ids)?;
                }
                (Lookup::Nested(nested, _), RawBsonRef::Document(document)) => {
                    model::keys_to_decrypt(nested, document.as_bytes(), &Path::ROOT, &mut ids)?;
                }
                _ => {}
            }
        }
    }
    let keys = decoder.keys.load(ids).await?;
    let plain = decrypt_event(spec, event, &keys).map_err(|error| decoder.no_key_access(error))?;
    model::deserialize_plain(spec.name, &plain)
}

/// `updateDescription.updatedFields`, when the event has it.
fn updated_fields(event: &RawDocument) -> bson::error::Result<Option<&RawDocument>> {
    match event.get("updateDescription")? {
        Some(RawBsonRef::Document(description)) => match description.get("updatedFields")? {
            Some(RawBsonRef::Document(updated)) => Ok(Some(updated)),
            _ => Ok(None),
        },
        _ => Ok(None),
    }
}

/// `{ "0": value }`: the form `distinct`'s decoder reads values in.
fn single_value(value: RawBsonRef<'_>) -> Result<RawDocumentBuf> {
    let mut single = RawDocumentBuf::new();
    single.append(bson::raw::cstr!("0"), value);
    Ok(single)
}

/// An empty document whose buffer is large enough for `capacity` bytes, so that
/// appending plaintext to it never reallocates (which would leave copies behind).
fn document_with_capacity(capacity: usize) -> Result<RawDocumentBuf> {
    let mut bytes = Vec::with_capacity(capacity.saturating_add(5));
    bytes.extend_from_slice(&[5, 0, 0, 0, 0]);
    RawDocumentBuf::from_bytes(bytes).map_err(|_| Error::UnencodableValue {
        reason: "an empty document",
    })
}

/// The event with its documents and updated encrypted fields decrypted (a decrypted
/// value is never longer than its ciphertext, so the buffer never grows).
fn decrypt_event(spec: &ModelSpec, event: &RawDocument, keys: &Keys) -> Result<Zeroizing<Vec<u8>>> {
    let malformed = || Error::Serde {
        model: spec.name,
        direction: "deserialize",
    };
    let mut out = document_with_capacity(event.as_bytes().len())?;
    for element in event.iter_elements() {
        let element = element.map_err(|_| malformed())?;
        let key: &CStr = element.key();
        let value = element.value().map_err(|_| malformed())?;
        match (key.as_str(), value) {
            (name, RawBsonRef::Document(document)) if FULL_DOCUMENTS.contains(&name) => {
                let plain = model::decrypt_document(
                    spec,
                    document.as_bytes(),
                    keys,
                    MissingKeys::Fail,
                    &Path::ROOT,
                )?;
                out.append(
                    key,
                    RawDocument::from_bytes(&plain).map_err(|_| malformed())?,
                );
            }
            ("updateDescription", RawBsonRef::Document(description)) => {
                let description = decrypt_update_description(spec, description, keys)?;
                out.append(key, &description);
                // Its bytes are plaintext too: copied, then wiped.
                drop(Zeroizing::new(description.into_bytes()));
            }
            (_, value) => out.append(key, value),
        }
    }
    Ok(Zeroizing::new(out.into_bytes()))
}

/// `updateDescription` with the values of its `updatedFields` at encrypted paths (or
/// nested models) decrypted.
fn decrypt_update_description(
    spec: &ModelSpec,
    description: &RawDocument,
    keys: &Keys,
) -> Result<RawDocumentBuf> {
    let malformed = || Error::Serde {
        model: spec.name,
        direction: "deserialize",
    };
    let mut out = document_with_capacity(description.as_bytes().len())?;
    for element in description.iter_elements() {
        let element = element.map_err(|_| malformed())?;
        let value = element.value().map_err(|_| malformed())?;
        let RawBsonRef::Document(updated) = value else {
            out.append(element.key(), value);
            continue;
        };
        if element.key().as_str() != "updatedFields" {
            out.append(element.key(), value);
            continue;
        }
        let mut fields = document_with_capacity(updated.as_bytes().len())?;
        for field in updated.iter_elements() {
            let field = field.map_err(|_| malformed())?;
            let value = field.value().map_err(|_| malformed())?;
            let path = field.key().as_str();
            match (spec.lookup(path), value) {
                (Lookup::Encrypted(encrypted, _), value) => {
                    let single = single_value(value)?;
                    let plain = model::decrypt_values(&encrypted, single.as_bytes(), keys, path)?;
                    let plain = RawDocument::from_bytes(&plain).map_err(|_| malformed())?;
                    match plain.get("0").map_err(|_| malformed())? {
                        Some(plain) => fields.append(field.key(), plain),
                        None => return Err(malformed()),
                    }
                }
                (Lookup::Nested(nested, _), RawBsonRef::Document(document)) => {
                    let plain = model::decrypt_document(
                        nested,
                        document.as_bytes(),
                        keys,
                        MissingKeys::Fail,
                        &Path::ROOT,
                    )?;
                    fields.append(
                        field.key(),
                        RawDocument::from_bytes(&plain).map_err(|_| malformed())?,
                    );
                }
                (_, value) => fields.append(field.key(), value),
            }
        }
        out.append(element.key(), &fields);
        drop(Zeroizing::new(fields.into_bytes()));
    }
    Ok(out)
}
