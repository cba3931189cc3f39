//! The cursor of a read run in an explicit session.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::stream::{BoxStream, Stream, StreamExt};
use mongodb::ClientSession;
use mongodb::raw_batch_cursor::SessionRawBatchCursor;

use super::{DriverError, State};
use crate::Result;
use crate::driver::encrypted_collection::decoder::Decoder;

/// The results of a `find` or an `aggregate` run with `.session(..)`, decrypted a batch at
/// a time like an [`EncryptedCursor`](super::EncryptedCursor): like the driver's
/// `SessionCursor`, it needs the session it was made in to fetch more, given to
/// [`next`](Self::next) or [`stream`](Self::stream).
///
/// The key vault reads it makes to decrypt run outside that session (and its
/// transaction).
///
/// ```no_run
/// # use encrypted_core::{EncryptedCollection, model::{Encrypted, Filter}};
/// # use encrypted_derive::Encrypted;
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize, Encrypted, Debug)]
/// # #[encrypted(crate = "encrypted_core", key_alt_name = "medco-key")]
/// # struct Patient { name: String, #[encrypt(deterministic)] ssn: i32 }
/// # async fn run(patients: EncryptedCollection<Patient>, mut session: mongodb::ClientSession) -> encrypted_core::Result<()> {
/// use futures_util::TryStreamExt;
///
/// let mut cursor = patients.find(Filter::all()).session(&mut session).await?;
/// while let Some(patient) = cursor.next(&mut session).await {
///     println!("{}", patient?.name);
/// }
/// // Or as a stream, borrowing the cursor and the session:
/// let mut cursor = patients.find(Filter::all()).session(&mut session).await?;
/// let everyone: Vec<Patient> = cursor.stream(&mut session).try_collect().await?;
/// # let _ = everyone; Ok(()) }
/// ```
#[must_use = "a cursor does nothing unless advanced"]
pub struct EncryptedSessionCursor<O> {
    raw: SessionRawBatchCursor,
    state: State<O>,
    decoder: Decoder<O>,
    driver_error: DriverError,
}

impl<O> std::fmt::Debug for EncryptedSessionCursor<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedSessionCursor")
            .finish_non_exhaustive()
    }
}

impl<O: Send + 'static> EncryptedSessionCursor<O> {
    pub(crate) fn new(
        raw: SessionRawBatchCursor,
        decoder: Decoder<O>,
        driver_error: DriverError,
    ) -> Self {
        Self {
            raw,
            state: State::new(),
            decoder,
            driver_error,
        }
    }

    /// The next result, fetching (and decrypting) the next batch in `session` when the
    /// last one is used up; `None` at the end.
    ///
    /// `session` must be the session the cursor was made in.
    ///
    /// # Errors
    ///
    /// As [`EncryptedCursor`](super::EncryptedCursor)'s items.
    pub async fn next(&mut self, session: &mut ClientSession) -> Option<Result<O>> {
        loop {
            if let Some(item) = self.state.next_ready() {
                return item;
            }
            let batch = self.raw.stream(session).next().await;
            self.state
                .take_batch(batch, &self.decoder, &*self.driver_error)
                .await;
        }
    }

    /// The results as a [`Stream`], borrowing the cursor and `session` (the session the
    /// cursor was made in) until it is dropped.
    pub fn stream<'c>(
        &'c mut self,
        session: &'c mut ClientSession,
    ) -> EncryptedSessionCursorStream<'c, O> {
        let stream =
            futures_util::stream::unfold((self, session), |(cursor, session)| async move {
                let item = cursor.next(session).await?;
                Some((item, (cursor, session)))
            });
        EncryptedSessionCursorStream {
            stream: stream.boxed(),
        }
    }
}

/// The results of an [`EncryptedSessionCursor`] as a [`Stream`], from
/// [`EncryptedSessionCursor::stream`].
#[must_use = "a stream does nothing unless polled"]
pub struct EncryptedSessionCursorStream<'c, O> {
    stream: BoxStream<'c, Result<O>>,
}

impl<O> std::fmt::Debug for EncryptedSessionCursorStream<'_, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedSessionCursorStream")
            .finish_non_exhaustive()
    }
}

impl<O> Stream for EncryptedSessionCursorStream<'_, O> {
    type Item = Result<O>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.stream.poll_next_unpin(cx)
    }
}
