//! The cursors of `find` and `aggregate`: the driver's raw batches, decrypted a batch at
//! a time.

mod session;

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::stream::{BoxStream, Stream, StreamExt};
use mongodb::raw_batch_cursor::{RawBatch, RawBatchCursor};

pub use session::{EncryptedSessionCursor, EncryptedSessionCursorStream};

use super::decoder::Decoder;
use crate::{Error, Result};

/// The results of a `find` or an `aggregate`, decrypted: a [`Stream`] of `O` (the model,
/// its view, or a user type), like the driver's `Cursor`.
///
/// It owns what it needs (`'static`, `Send`): return it from a function or move it into a
/// task. It reads the server's batches as they come (the `batch_size` option sets their
/// size) and decrypts each batch at once: the data keys of all its documents that are not
/// in the key cache are fetched in one key vault round trip.
///
/// A document that cannot be decrypted or deserialized fails alone (its item is the
/// error, naming the field) and the cursor goes on; a failure of the server or of the key
/// vault is one error item that ends the cursor.
///
/// ```no_run
/// # use encrypted_core::{EncryptedCollection, EncryptedCursor, model::{Encrypted, Filter}};
/// # use encrypted_derive::Encrypted;
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
/// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
/// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
/// use futures_util::TryStreamExt;
///
/// async fn everyone(patients: &EncryptedCollection<Patient>) -> encrypted_core::Result<EncryptedCursor<Patient>> {
///     patients.find(Filter::all()).batch_size(500).await
/// }
///
/// # async fn run(patients: EncryptedCollection<Patient>) -> encrypted_core::Result<()> {
/// let cursor = everyone(&patients).await?;
/// let names = tokio::spawn(async move {
///     cursor.map_ok(|patient| patient.name).try_collect::<Vec<_>>().await
/// });
/// # let _ = names; Ok(()) }
/// ```
#[must_use = "a cursor does nothing unless polled"]
pub struct EncryptedCursor<O> {
    stream: BoxStream<'static, Result<O>>,
}

impl<O> std::fmt::Debug for EncryptedCursor<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedCursor").finish_non_exhaustive()
    }
}

/// Where a cursor is: what its last batch left to hand out, and whether it has ended.
struct State<O> {
    ready: VecDeque<Result<O>>,
    ended: bool,
}

impl<O> State<O> {
    fn new() -> Self {
        Self {
            ready: VecDeque::new(),
            ended: false,
        }
    }

    /// Takes in one batch from the server (or its failure): every document decoded at
    /// once, or the one error that ends the cursor.
    async fn take_batch(
        &mut self,
        batch: Option<mongodb::error::Result<RawBatch>>,
        decoder: &Decoder<O>,
        driver_error: &(dyn Fn(mongodb::error::Error) -> Error + Send + Sync),
    ) {
        let decoded = match batch {
            None => {
                self.ended = true;
                return;
            }
            Some(Ok(batch)) => match batch.doc_slices() {
                Ok(documents) => {
                    let documents = documents.into_iter().map(|document| {
                        let document = document.map_err(|error| {
                            driver_error(mongodb::error::ErrorKind::from(error).into())
                        })?;
                        document.as_document().ok_or(Error::Serde {
                            model: decoder.model_name(),
                            direction: "deserialize",
                        })
                    });
                    decoder.decode_batch(documents).await
                }
                Err(error) => Err(driver_error(error)),
            },
            Some(Err(error)) => Err(driver_error(error)),
        };
        match decoded {
            Ok(decoded) => self.ready = decoded,
            Err(error) => {
                self.ready.push_back(Err(error));
                self.ended = true;
            }
        }
    }

    /// The next item to hand out, or `None` when a batch must be read first.
    fn next_ready(&mut self) -> Option<Option<Result<O>>> {
        match self.ready.pop_front() {
            Some(item) => Some(Some(item)),
            None if self.ended => Some(None),
            None => None,
        }
    }
}

/// Maps a driver error of the cursor to [`Error::Collection`].
pub(crate) type DriverError = Box<dyn Fn(mongodb::error::Error) -> Error + Send + Sync>;

impl<O: Send + 'static> EncryptedCursor<O> {
    pub(crate) fn new(raw: RawBatchCursor, decoder: Decoder<O>, driver_error: DriverError) -> Self {
        let stream = futures_util::stream::unfold(
            (raw, State::new(), decoder, driver_error),
            |(mut raw, mut state, decoder, driver_error)| async move {
                loop {
                    if let Some(item) = state.next_ready() {
                        return item.map(|item| (item, (raw, state, decoder, driver_error)));
                    }
                    let batch = raw.next().await;
                    state.take_batch(batch, &decoder, &*driver_error).await;
                }
            },
        );
        Self {
            stream: stream.boxed(),
        }
    }
}

impl<O> Stream for EncryptedCursor<O> {
    type Item = Result<O>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.stream.poll_next_unpin(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.stream.size_hint()
    }
}
