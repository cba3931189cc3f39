//! `rewrap_many_data_key`: re-encrypting data keys under another master key.

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use bson::{Binary, Bson, Document, Uuid, doc};
use futures_util::TryStreamExt;

use super::{ClientEncryption, key_vault_error};
use crate::driver::trace::{Filter, Operation, trace_event};
use crate::{KeyDocument, MasterKey, Result};

/// What [`ClientEncryption::rewrap_many_data_key`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RewrapManyDataKeyResult {
    /// The keys that now have new `keyMaterial`.
    pub rewrapped: Vec<Uuid>,
    /// Keys that matched but changed under us (another rewrap won); rerun to cover them.
    pub skipped: Vec<Uuid>,
    /// Documents that matched but are not valid key documents: left untouched, so that
    /// one bad document does not stop every rerun at the same place. Fix or delete them
    /// ([`ClientEncryption::delete_key`] works on them by id).
    pub malformed: Vec<MalformedKey>,
}

/// A key vault document [`ClientEncryption::rewrap_many_data_key`] skipped because it is
/// not a valid key document.
///
/// ```
/// # fn show(result: &encrypted_core::RewrapManyDataKeyResult) {
/// for bad in &result.malformed {
///     eprintln!("skipped key document {}: {}", bad.id, bad.problem);
/// }
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MalformedKey {
    /// The document's `_id`: the UUID, or the value as the server stored it when it is
    /// not a UUID.
    pub id: String,
    /// What is wrong with it (the [`crate::Error::MalformedKeyDocument`] message).
    pub problem: String,
}

/// One step of a [`ClientEncryption::rewrap_many_data_key`] run, reported as it
/// happens to the callback given to [`RewrapManyDataKey::on_progress`].
///
/// ```
/// use encrypted_core::RewrapProgress;
///
/// fn show(event: RewrapProgress) {
///     match event {
///         RewrapProgress::Started { total, .. } => eprintln!("{total} keys to rewrap"),
///         RewrapProgress::Rewrapped { id, to, .. } => eprintln!("{id}: now under {to}"),
///         RewrapProgress::Malformed(bad) => eprintln!("{}: skipped: {}", bad.id, bad.problem),
///         other => eprintln!("{other:?}"),
///     }
/// }
/// # let _ = show;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RewrapProgress {
    /// The key vault was read: `total` documents match the filter (malformed ones
    /// included). Comes first, once.
    #[non_exhaustive]
    Started {
        /// How many documents will be reported on, one event each.
        total: usize,
    },
    /// This key now has new `keyMaterial`, wrapped by the `to` provider.
    #[non_exhaustive]
    Rewrapped {
        /// The key.
        id: Uuid,
        /// The provider that wrapped it before.
        from: String,
        /// The provider that wraps it now.
        to: String,
    },
    /// This key changed under us (another rewrap won) and was left alone; rerun to
    /// cover it.
    #[non_exhaustive]
    Skipped {
        /// The key.
        id: Uuid,
    },
    /// This document is not a valid key document and was left untouched.
    Malformed(MalformedKey),
    /// Rewrapping this key failed: the run stops here and returns the error. Keys
    /// reported before keep their new material; this one and those after are intact
    /// under their old master key.
    #[non_exhaustive]
    Failed {
        /// The key.
        id: Uuid,
    },
}

/// Rewraps data keys: returned by [`ClientEncryption::rewrap_many_data_key`], run by
/// awaiting it. Resolves to a [`RewrapManyDataKeyResult`].
///
/// ```no_run
/// # async fn run(encryption: encrypted_core::ClientEncryption) -> encrypted_core::Result<()> {
/// use encrypted_core::{MasterKey, RewrapProgress};
///
/// let aws = MasterKey::aws("us-east-1", "arn:aws:kms:us-east-1:000000000000:key/medco");
/// let mut done = 0;
/// let result = encryption
///     .rewrap_many_data_key(bson::doc! {}, Some(aws))
///     .on_progress(|event| {
///         if !matches!(event, RewrapProgress::Started { .. }) {
///             done += 1;
///         }
///     })
///     .await?;
/// assert_eq!(done, result.rewrapped.len() + result.skipped.len() + result.malformed.len());
/// # Ok(())
/// # }
/// ```
#[must_use = "an action does nothing until awaited"]
pub struct RewrapManyDataKey<'a> {
    encryption: &'a ClientEncryption,
    filter: Document,
    new_master_key: Option<MasterKey>,
    on_progress: Option<ProgressCallback<'a>>,
}

type ProgressCallback<'a> = Box<dyn FnMut(RewrapProgress) + Send + 'a>;

impl std::fmt::Debug for RewrapManyDataKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RewrapManyDataKey")
            .field("filter", &self.filter)
            .field("new_master_key", &self.new_master_key)
            .field("on_progress", &self.on_progress.is_some())
            .finish_non_exhaustive()
    }
}

impl<'a> RewrapManyDataKey<'a> {
    /// Calls `callback` as the run goes: once with the number of matching documents,
    /// then once per document (rewrapped, skipped, malformed, or the one that failed).
    /// It runs inline, between key vault and KMS calls: keep it quick (update a
    /// progress bar, count, log).
    pub fn on_progress(mut self, callback: impl FnMut(RewrapProgress) + Send + 'a) -> Self {
        self.on_progress = Some(Box::new(callback));
        self
    }

    fn report(&mut self, event: RewrapProgress) {
        if let Some(callback) = self.on_progress.as_mut() {
            callback(event);
        }
    }

    async fn run(mut self) -> Result<RewrapManyDataKeyResult> {
        let encryption = self.encryption;
        let inner = &encryption.inner;
        let read = Operation::key_vault_read("rewrapManyDataKey", &inner.namespace, Filter::Query);
        let documents: Result<Vec<Document>> = read
            .run(async {
                inner
                    .key_vault
                    .find(self.filter.clone())
                    .await
                    .map_err(key_vault_error("rewrapManyDataKey"))?
                    .try_collect()
                    .await
                    .map_err(key_vault_error("rewrapManyDataKey"))
            })
            .await;
        read.query_done(&documents);
        let documents = documents?;
        let total = documents.len();
        trace_event!(DEBUG, REWRAP, total, "rewrap started");
        self.report(RewrapProgress::Started { total });
        let mut result = RewrapManyDataKeyResult::default();
        for document in documents {
            let old = match KeyDocument::from_document(&document) {
                Ok(old) => old,
                Err(problem) => {
                    let bad = MalformedKey {
                        id: display_id(document.get("_id")),
                        problem: problem.to_string(),
                    };
                    trace_event!(WARN, REWRAP,
                        key.id = %bad.id,
                        problem = %bad.problem,
                        "rewrap skipped a malformed key document"
                    );
                    self.report(RewrapProgress::Malformed(bad.clone()));
                    result.malformed.push(bad);
                    continue;
                }
            };
            let id = old.id;
            let from = old.master_key.provider();
            let master_key = self
                .new_master_key
                .clone()
                .unwrap_or_else(|| old.master_key.clone());
            let to = master_key.provider();
            match encryption.rewrap_one(&old, &master_key).await {
                Ok(true) => {
                    trace_event!(DEBUG, REWRAP, key.id = %id, from = %from, to = %to, outcome = "rewrapped", "rewrap key");
                    self.report(RewrapProgress::Rewrapped { id, from, to });
                    result.rewrapped.push(id);
                }
                Ok(false) => {
                    trace_event!(DEBUG, REWRAP, key.id = %id, from = %from, to = %to, outcome = "skipped", "rewrap key");
                    self.report(RewrapProgress::Skipped { id });
                    result.skipped.push(id);
                }
                Err(error) => {
                    trace_event!(DEBUG, REWRAP,
                        key.id = %id,
                        from = %from,
                        to = %to,
                        outcome = "error",
                        error.kind = crate::driver::trace::error_kind(&error),
                        "rewrap key"
                    );
                    self.report(RewrapProgress::Failed { id });
                    return Err(error);
                }
            }
        }
        trace_event!(
            INFO,
            REWRAP,
            total,
            rewrapped = result.rewrapped.len(),
            skipped = result.skipped.len(),
            malformed = result.malformed.len(),
            "rewrap done"
        );
        Ok(result)
    }
}

impl<'a> IntoFuture for RewrapManyDataKey<'a> {
    type Output = Result<RewrapManyDataKeyResult>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

impl ClientEncryption {
    /// Unwraps every key matching `filter` and wraps it again, with `new_master_key`
    /// (and its provider) or, when `None`, with the master key it already has. The data
    /// keys themselves do not change, so every ciphertext stays readable. Await the
    /// returned action; [`RewrapManyDataKey::on_progress`] reports each key as it is
    /// done.
    ///
    /// Each key is updated on its own, conditioned on its old `keyMaterial`: if the run
    /// stops half-way (KMS or server down), every key is intact under either its old or
    /// its new master key, and running it again completes the job.
    ///
    /// ```no_run
    /// # async fn run(encryption: encrypted_core::ClientEncryption) -> encrypted_core::Result<()> {
    /// use encrypted_core::MasterKey;
    ///
    /// let aws = MasterKey::aws("us-east-1", "arn:aws:kms:us-east-1:000000000000:key/medco");
    /// let result = encryption.rewrap_many_data_key(bson::doc! {}, Some(aws)).await?;
    /// println!("rewrapped {} keys", result.rewrapped.len());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// A matching document that is not a valid key document is skipped and listed in
    /// [`RewrapManyDataKeyResult::malformed`]; the others are rewrapped.
    ///
    /// # Errors
    ///
    /// Key vault and KMS errors; keys handled before the error keep their new
    /// material.
    pub fn rewrap_many_data_key(
        &self,
        filter: Document,
        new_master_key: Option<MasterKey>,
    ) -> RewrapManyDataKey<'_> {
        RewrapManyDataKey {
            encryption: self,
            filter,
            new_master_key,
            on_progress: None,
        }
    }

    /// Rewraps one key under `master_key`, conditioned on its old material: whether
    /// this update won.
    async fn rewrap_one(&self, old: &KeyDocument, master_key: &MasterKey) -> Result<bool> {
        let key = self.unwrap_key(old).await?;
        let (key_material, master_key) = self.wrap_key(master_key, &key).await?;
        let update = self
            .inner
            .key_vault
            .update_one(
                doc! { "_id": old.id, "keyMaterial": Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: old.key_material.clone() } },
                doc! {
                    "$set": {
                        "keyMaterial": Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: key_material },
                        "masterKey": master_key.to_document(),
                    },
                    "$currentDate": { "updateDate": true },
                },
            )
            .await
            .map_err(key_vault_error("rewrapManyDataKey"))?;
        Ok(update.modified_count == 1)
    }
}

/// A document's `_id` for a report: the UUID when it is one.
fn display_id(id: Option<&Bson>) -> String {
    match id {
        Some(Bson::Binary(binary)) => binary.to_uuid().map_or_else(
            |_| Bson::Binary(binary.clone()).to_string(),
            |id| id.to_string(),
        ),
        Some(other) => other.to_string(),
        None => "(no _id)".to_owned(),
    }
}
