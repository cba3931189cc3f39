//! The data key cache: decrypted data keys kept for a time-to-live, loaded once however
//! many tasks ask at the same moment, by id or by alternate name.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bson::Uuid;
use tokio::sync::{OnceCell, Semaphore};

use super::trace::trace_event;
use crate::{DataKey, Error, KeyRef, Result};

/// How long a decrypted data key stays cached: libmongocrypt's default.
pub const DEFAULT_KEY_CACHE_TTL: Duration = Duration::from_secs(60);

/// Decrypted data keys by id and by alternate name, each kept for the cache's
/// time-to-live after it was loaded.
///
/// Loading is single-flight: however many tasks ask for the same uncached key at once —
/// by id, or by alternate name from the very first key vault read on — one of them runs
/// the loader (a key vault read and a KMS call) and all of them get its key. A failed
/// load is not cached; the next caller tries again.
///
/// Removal wins over loads in flight: once [`KeyCache::remove`] (or
/// [`KeyCache::remove_alt_name`], [`KeyCache::clear`]) has returned, no load that was
/// already running when it was called puts its key into the cache. The tasks waiting on
/// such a load still get its key (their request overlapped the removal), but nobody
/// after them does: they load again, and find the key deleted.
///
/// Both maps are bounded by what is in use: an entry is a cached key (dropped when it
/// expires, by id and by every alternate name alike) or a load in flight; a load that
/// failed — an unknown id or name — leaves nothing behind once its callers are gone.
///
/// Keys are shared as `Arc<DataKey>`. An evicted key is dropped — and so zeroized — as
/// soon as the last task still using it lets go of it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> encrypted_core::Result<()> {
/// use std::time::Duration;
/// use encrypted_core::{DataKey, KeyCache};
///
/// let cache = KeyCache::new(Some(Duration::from_secs(60)));
/// let id = bson::Uuid::new();
/// let key = cache.get_or_load(id, || async { DataKey::generate(id) }).await?;
/// // Cached: this loader is not called.
/// let again = cache.get_or_load(id, || async { unreachable!() }).await?;
/// assert!(std::sync::Arc::ptr_eq(&key, &again));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct KeyCache {
    ttl: Option<Duration>,
    // One lock for both maps: whether an alternate-name load may still cache its key
    // is decided atomically with removals.
    slots: Mutex<Slots>,
}

#[derive(Debug, Default)]
struct Slots {
    by_id: HashMap<Uuid, Arc<Slot>>,
    by_alt_name: HashMap<String, Arc<Slot>>,
}

/// One key, loaded at most once at a time. A slot that was taken out of its map while
/// its load ran still hands the key to the tasks waiting on it, and to no one else.
#[derive(Debug, Default)]
struct Slot {
    loaded: OnceCell<(Arc<DataKey>, Instant)>,
}

impl Slot {
    fn is_expired(&self, ttl: Option<Duration>, now: Instant) -> bool {
        match (self.loaded.get(), ttl) {
            (Some((_, loaded_at)), Some(ttl)) => now.saturating_duration_since(*loaded_at) >= ttl,
            _ => false,
        }
    }

    fn fresh(&self, ttl: Option<Duration>) -> Option<Arc<DataKey>> {
        if self.is_expired(ttl, Instant::now()) {
            return None;
        }
        self.loaded.get().map(|(key, _)| Arc::clone(key))
    }

    /// Empty, and held by its map alone: its load failed and nobody waits on it (any
    /// task loading or waiting holds the slot too).
    fn is_abandoned(self: &Arc<Self>) -> bool {
        !self.loaded.initialized() && Arc::strong_count(self) == 1
    }

    fn holds_key(&self, id: Uuid) -> bool {
        self.loaded.get().is_some_and(|(key, _)| key.id() == id)
    }
}

impl KeyCache {
    /// A cache keeping each key for `ttl` after it was loaded; `None` keeps keys until
    /// they are removed or the cache is dropped. A zero TTL is treated as `None`, as
    /// libmongocrypt does.
    pub fn new(ttl: Option<Duration>) -> Self {
        Self {
            ttl: ttl.filter(|ttl| !ttl.is_zero()),
            slots: Mutex::new(Slots::default()),
        }
    }

    /// The time-to-live, `None` for never expiring.
    pub fn ttl(&self) -> Option<Duration> {
        self.ttl
    }

    /// The key with this id, from the cache, or from `load` (called at most once at a
    /// time per id) when it is not cached or has expired.
    ///
    /// # Errors
    ///
    /// Whatever `load` returns; the error is not cached.
    pub async fn get_or_load<F, Fut>(&self, id: Uuid, load: F) -> Result<Arc<DataKey>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<DataKey>>,
    {
        // Hot path: a fresh cached key costs one short lock and an `Arc` clone.
        if let Some(key) = self.get(id) {
            return Ok(key);
        }
        let slot = {
            let mut slots = self.lock();
            self.evict_expired(&mut slots);
            Arc::clone(slots.by_id.entry(id).or_default())
        };
        let (key, _) = slot
            .loaded
            .get_or_try_init(|| async {
                trace_event!(DEBUG, KEY_CACHE, key.id = %id, "key cache miss: loading");
                let key = load().await?;
                trace_event!(DEBUG, KEY_CACHE, key.id = %id, "key cache load");
                Ok((Arc::new(key), Instant::now()))
            })
            .await?;
        Ok(Arc::clone(key))
    }

    /// The key with the alternate name `name`, from the cache, or else loaded in two
    /// steps: `find` reads the key document naming `name` and returns the key's id with
    /// whatever `unwrap` needs, and `unwrap` (only when the key is not cached by id
    /// either) decrypts it.
    ///
    /// However many tasks ask for the same uncached name at once, `find` runs once:
    /// single flight covers the key vault read, not only the KMS call. A key found by
    /// name is cached by id too, and shares its id's single flight.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> encrypted_core::Result<()> {
    /// use encrypted_core::{DataKey, KeyCache};
    ///
    /// let cache = KeyCache::default();
    /// let id = bson::Uuid::new();
    /// let key = cache
    ///     .get_or_load_by_alt_name(
    ///         "medco-key",
    ///         || async { Ok((id, "the key document")) },
    ///         |_document| async { DataKey::generate(id) },
    ///     )
    ///     .await?;
    /// assert!(std::sync::Arc::ptr_eq(&key, &cache.get(id).unwrap()));
    /// assert!(std::sync::Arc::ptr_eq(&key, &cache.get_by_alt_name("medco-key").unwrap()));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// Whatever `find` or `unwrap` return; errors are not cached.
    pub async fn get_or_load_by_alt_name<D, Find, FindFut, Unwrap, UnwrapFut>(
        &self,
        name: &str,
        find: Find,
        unwrap: Unwrap,
    ) -> Result<Arc<DataKey>>
    where
        Find: FnOnce() -> FindFut,
        FindFut: Future<Output = Result<(Uuid, D)>>,
        Unwrap: FnOnce(D) -> UnwrapFut,
        UnwrapFut: Future<Output = Result<DataKey>>,
    {
        if let Some(key) = self.get_by_alt_name(name) {
            return Ok(key);
        }
        let slot = {
            let mut slots = self.lock();
            self.evict_expired(&mut slots);
            Arc::clone(slots.by_alt_name.entry(name.to_owned()).or_default())
        };
        let (key, _) = slot
            .loaded
            .get_or_try_init(|| async {
                trace_event!(
                    DEBUG,
                    KEY_CACHE,
                    "key cache miss by alternate name: loading"
                );
                let (id, document) = find().await?;
                self.load_by_alt_name(name, &slot, id, document, unwrap)
                    .await
            })
            .await?;
        Ok(Arc::clone(key))
    }

    /// The keys `refs` names, those not cached loaded together: one call of `find` for
    /// all of them (one key vault read), then their `unwrap`s (KMS calls) concurrently,
    /// at most `concurrency` at a time.
    ///
    /// Each key is still loaded once however many tasks ask for it: a key another task
    /// is loading is awaited, not unwrapped again, and a key found by alternate name is
    /// cached by id too. Removals win over the batch as over single loads.
    ///
    /// The outer error is `find`'s; each key has its own result: [`Error::KeyNotFound`]
    /// when `find` did not return it, else its entry's error or `unwrap`'s.
    pub(crate) async fn get_or_load_many<D, Find, FindFut, Unwrap, UnwrapFut>(
        &self,
        refs: impl IntoIterator<Item = KeyRef>,
        concurrency: usize,
        find: Find,
        unwrap: Unwrap,
    ) -> Result<HashMap<KeyRef, Result<Arc<DataKey>>>>
    where
        Find: FnOnce(Vec<Uuid>, Vec<String>) -> FindFut,
        FindFut: Future<Output = Result<Found<D>>>,
        Unwrap: Fn(D) -> UnwrapFut,
        UnwrapFut: Future<Output = Result<DataKey>>,
    {
        let mut keys = HashMap::new();
        let (mut id_misses, mut name_misses) = (Vec::new(), Vec::new());
        {
            let mut slots = self.lock();
            let mut evicted = false;
            let mut asked = HashSet::new();
            for key_ref in refs {
                if !asked.insert(key_ref.clone()) {
                    continue;
                }
                let fresh = match &key_ref {
                    KeyRef::Id(id) => slots.by_id.get(id),
                    KeyRef::AltName(name) => slots.by_alt_name.get(name),
                }
                .and_then(|slot| slot.fresh(self.ttl));
                if let Some(key) = fresh {
                    keys.insert(key_ref, Ok(key));
                    continue;
                }
                if !evicted {
                    self.evict_expired(&mut slots);
                    evicted = true;
                }
                // The slots are taken before the key vault is read: a removal from
                // here on detaches them, and what they load is not cached.
                match &key_ref {
                    KeyRef::Id(id) => {
                        id_misses.push((*id, Arc::clone(slots.by_id.entry(*id).or_default())));
                    }
                    KeyRef::AltName(name) => name_misses.push((
                        name.clone(),
                        Arc::clone(slots.by_alt_name.entry(name.clone()).or_default()),
                    )),
                }
            }
        }
        if id_misses.is_empty() && name_misses.is_empty() {
            return Ok(keys);
        }
        trace_event!(
            DEBUG,
            KEY_CACHE,
            keys = id_misses.len() + name_misses.len(),
            "key cache misses: loading in one batch"
        );
        let Found {
            mut by_id,
            mut by_alt_name,
        } = find(
            id_misses.iter().map(|(id, _)| *id).collect(),
            name_misses.iter().map(|(name, _)| name.clone()).collect(),
        )
        .await?;
        let permits = Semaphore::new(concurrency.max(1));
        let (permits, unwrap) = (&permits, &unwrap);
        let by_id_loads = id_misses.into_iter().map(|(id, slot)| {
            let entry = by_id.remove(&id);
            async move {
                let loaded = slot
                    .loaded
                    .get_or_try_init(|| async move {
                        let document = entry.ok_or_else(|| Error::KeyNotFound {
                            key: id.to_string(),
                        })??;
                        let key = unwrap_bounded(permits, unwrap, document).await?;
                        trace_event!(DEBUG, KEY_CACHE, key.id = %id, "key cache load");
                        Ok((Arc::new(key), Instant::now()))
                    })
                    .await
                    .map(|(key, _)| Arc::clone(key));
                (KeyRef::Id(id), loaded)
            }
        });
        let by_name_loads = name_misses.into_iter().map(|(name, slot)| {
            let entry = by_alt_name.remove(&name);
            async move {
                let loaded = slot
                    .loaded
                    .get_or_try_init(|| async {
                        let (id, document) = entry.ok_or_else(|| Error::KeyNotFound {
                            key: format!("alt name `{name}`"),
                        })??;
                        let unwrap = |document| unwrap_bounded(permits, unwrap, document);
                        self.load_by_alt_name(&name, &slot, id, document, unwrap)
                            .await
                    })
                    .await
                    .map(|(key, _)| Arc::clone(key));
                (KeyRef::AltName(name), loaded)
            }
        });
        let (by_id_loaded, by_name_loaded) = futures_util::future::join(
            futures_util::future::join_all(by_id_loads),
            futures_util::future::join_all(by_name_loads),
        )
        .await;
        keys.extend(by_id_loaded.into_iter().chain(by_name_loaded));
        Ok(keys)
    }

    /// The rest of a load by alternate name once its key document is read: the key
    /// `id` from its id slot (unwrapped there unless cached), if this alternate-name
    /// slot is still the live one; else unwrapped for the waiting callers only.
    async fn load_by_alt_name<D, Unwrap, UnwrapFut>(
        &self,
        name: &str,
        slot: &Arc<Slot>,
        id: Uuid,
        document: D,
        unwrap: Unwrap,
    ) -> Result<(Arc<DataKey>, Instant)>
    where
        Unwrap: FnOnce(D) -> UnwrapFut,
        UnwrapFut: Future<Output = Result<DataKey>>,
    {
        match self.id_slot_if_live(name, slot, id) {
            Some(id_slot) => {
                let (key, loaded_at) = id_slot
                    .loaded
                    .get_or_try_init(|| async {
                        let key = unwrap(document).await?;
                        trace_event!(DEBUG, KEY_CACHE, key.id = %id, "key cache load");
                        Ok((Arc::new(key), Instant::now()))
                    })
                    .await?;
                // Expires with the key it names.
                Ok((Arc::clone(key), *loaded_at))
            }
            // A removal ran since this load began: the document read may be
            // stale. Serve the tasks that asked before the removal, cache nothing.
            None => Ok((Arc::new(unwrap(document).await?), Instant::now())),
        }
    }

    /// The key with this id if it is cached and fresh.
    pub fn get(&self, id: Uuid) -> Option<Arc<DataKey>> {
        self.lock().by_id.get(&id)?.fresh(self.ttl)
    }

    /// The cached, fresh key with this alternate name.
    pub fn get_by_alt_name(&self, name: &str) -> Option<Arc<DataKey>> {
        self.lock().by_alt_name.get(name)?.fresh(self.ttl)
    }

    /// Removes a key (for example after its key document changed or was deleted), by
    /// id and by every alternate name it was cached under. Loads by alternate name that
    /// are still running will not cache what they find.
    pub fn remove(&self, id: Uuid) {
        trace_event!(DEBUG, KEY_CACHE, key.id = %id, "key cache removal");
        let mut slots = self.lock();
        slots.by_id.remove(&id);
        // A load still in flight does not know yet which key its name leads to: drop it
        // from the map, so that it cannot cache a key read before this removal.
        slots
            .by_alt_name
            .retain(|_, slot| slot.loaded.initialized() && !slot.holds_key(id));
    }

    /// Forgets an alternate name (after it was removed from its key). Loads by
    /// alternate name that are still running will not cache what they find.
    pub fn remove_alt_name(&self, name: &str) {
        let mut slots = self.lock();
        slots.by_alt_name.remove(name);
        slots
            .by_alt_name
            .retain(|_, slot| slot.loaded.initialized());
    }

    /// Removes every key; loads still running will not cache what they find by
    /// alternate name.
    pub fn clear(&self) {
        let mut slots = self.lock();
        slots.by_id.clear();
        slots.by_alt_name.clear();
    }

    /// The id slot an alternate-name load that found key `id` may fill: only if its own
    /// slot is still the live one for `name` (no removal ran since it began).
    fn id_slot_if_live(&self, name: &str, alt_slot: &Arc<Slot>, id: Uuid) -> Option<Arc<Slot>> {
        let mut slots = self.lock();
        let live = slots
            .by_alt_name
            .get(name)
            .is_some_and(|current| Arc::ptr_eq(current, alt_slot));
        if !live {
            return None;
        }
        self.evict_expired(&mut slots);
        Some(Arc::clone(slots.by_id.entry(id).or_default()))
    }

    /// On the miss paths, expired slots are evicted (and their keys dropped).
    fn evict_expired(&self, slots: &mut Slots) {
        let now = Instant::now();
        #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
        slots.by_id.retain(|id, slot| {
            let expired = slot.is_expired(self.ttl, now);
            if expired {
                trace_event!(DEBUG, KEY_CACHE, key.id = %id, "key cache eviction: expired");
            }
            !expired && !slot.is_abandoned()
        });
        slots
            .by_alt_name
            .retain(|_, slot| !slot.is_expired(self.ttl, now) && !slot.is_abandoned());
    }

    /// How many entries the maps hold (by id, by alternate name).
    #[cfg(test)]
    fn entries(&self) -> (usize, usize) {
        let slots = self.lock();
        (slots.by_id.len(), slots.by_alt_name.len())
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        lock(&self.slots)
    }
}

/// What one key vault read found for a batch of keys
/// ([`KeyCache::get_or_load_many`]). A key that was asked for and is absent here was not
/// found.
#[derive(Debug)]
pub(crate) struct Found<D> {
    /// By requested id: the key's document, or why it cannot be used.
    pub(crate) by_id: HashMap<Uuid, Result<D>>,
    /// By requested alternate name: the id of the one key with the name and its
    /// document, or why not (more than one key has it, a malformed document).
    pub(crate) by_alt_name: HashMap<String, Result<(Uuid, D)>>,
}

/// `unwrap(document)` once one of `permits` is free.
async fn unwrap_bounded<D, Unwrap, UnwrapFut>(
    permits: &Semaphore,
    unwrap: &Unwrap,
    document: D,
) -> Result<DataKey>
where
    Unwrap: Fn(D) -> UnwrapFut,
    UnwrapFut: Future<Output = Result<DataKey>>,
{
    // The semaphore is never closed; if it were, running unbounded beats failing.
    let _permit = permits.acquire().await.ok();
    unwrap(document).await
}

/// The cache's maps hold no invariant a panicking holder could break, so a poisoned
/// lock is used as is.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Default for KeyCache {
    fn default() -> Self {
        Self::new(Some(DEFAULT_KEY_CACHE_TTL))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::Error;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_load_once() {
        let cache = Arc::new(KeyCache::default());
        let loads = Arc::new(AtomicUsize::new(0));
        let id = Uuid::new();
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let (cache, loads) = (Arc::clone(&cache), Arc::clone(&loads));
                tokio::spawn(async move {
                    cache
                        .get_or_load(id, || async {
                            loads.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            DataKey::generate(id)
                        })
                        .await
                })
            })
            .collect();
        let mut keys = Vec::new();
        for task in tasks {
            keys.push(task.await.unwrap().unwrap());
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert!(keys.iter().all(|key| Arc::ptr_eq(key, &keys[0])));
    }

    #[tokio::test]
    async fn expired_keys_are_loaded_again() {
        let cache = KeyCache::new(Some(Duration::from_millis(300)));
        let id = Uuid::new();
        let first = cache
            .get_or_load(id, || async { DataKey::generate(id) })
            .await
            .unwrap();
        assert!(cache.get(id).is_some());
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(cache.get(id).is_none());
        let second = cache
            .get_or_load(id, || async { DataKey::generate(id) })
            .await
            .unwrap();
        assert!(!Arc::ptr_eq(&first, &second));
    }

    #[tokio::test]
    async fn zero_ttl_never_expires_and_failures_are_not_cached() {
        let cache = KeyCache::new(Some(Duration::ZERO));
        assert_eq!(cache.ttl(), None);
        let id = Uuid::new();
        let failed = cache
            .get_or_load(id, || async { Err(Error::Decryption) })
            .await;
        assert!(failed.is_err());
        assert!(cache.get(id).is_none());
        cache
            .get_or_load(id, || async { DataKey::generate(id) })
            .await
            .unwrap();
        assert!(cache.get(id).is_some());
        cache.remove(id);
        assert!(cache.get(id).is_none());
    }

    /// A loader by alternate name that has read the key document, paused until the
    /// test lets it go on: the interleaving of finding 5, made deterministic.
    async fn paused_alt_name_load(
        cache: Arc<KeyCache>,
        name: &'static str,
        id: Uuid,
        read: tokio::sync::oneshot::Sender<()>,
        go_on: tokio::sync::oneshot::Receiver<()>,
    ) -> Result<Arc<DataKey>> {
        cache
            .get_or_load_by_alt_name(
                name,
                || async move {
                    // The key document has been read (the key still exists).
                    read.send(()).unwrap();
                    go_on.await.unwrap();
                    Ok((id, ()))
                },
                |()| async move { DataKey::generate(id) },
            )
            .await
    }

    #[tokio::test]
    async fn finding_5_a_removal_during_an_alt_name_load_is_not_undone_by_it() {
        for removal in ["remove", "remove_alt_name", "clear"] {
            let cache = Arc::new(KeyCache::default());
            let id = Uuid::new();
            let (read_tx, read_rx) = tokio::sync::oneshot::channel();
            let (go_tx, go_rx) = tokio::sync::oneshot::channel();
            let load = tokio::spawn(paused_alt_name_load(
                Arc::clone(&cache),
                "medco-key",
                id,
                read_tx,
                go_rx,
            ));
            read_rx.await.unwrap();
            // delete_key (or remove_key_alt_name) runs between the read and the insert.
            match removal {
                "remove" => cache.remove(id),
                "remove_alt_name" => cache.remove_alt_name("medco-key"),
                _ => cache.clear(),
            }
            go_tx.send(()).unwrap();
            // The task that asked before the removal gets its key...
            let key = load.await.unwrap().unwrap();
            assert_eq!(key.id(), id);
            // ...but the cache does not hold it, by name or by id.
            assert!(cache.get_by_alt_name("medco-key").is_none(), "{removal}");
            assert!(cache.get(id).is_none(), "{removal}");
            // The next task reads the key vault again (and would find the key gone).
            let gone = cache
                .get_or_load_by_alt_name(
                    "medco-key",
                    || async { Err::<(Uuid, ()), _>(Error::KeyNotFound { key: "gone".into() }) },
                    |()| async { unreachable!() },
                )
                .await;
            assert!(matches!(gone, Err(Error::KeyNotFound { .. })), "{removal}");
        }
    }

    #[tokio::test]
    async fn finding_5_removing_another_key_spares_completed_alt_name_entries() {
        let cache = KeyCache::default();
        let (kept, removed) = (Uuid::new(), Uuid::new());
        for (name, id) in [("kept", kept), ("removed", removed)] {
            cache
                .get_or_load_by_alt_name(
                    name,
                    || async move { Ok((id, ())) },
                    |()| async move { DataKey::generate(id) },
                )
                .await
                .unwrap();
        }
        cache.remove(removed);
        assert!(cache.get_by_alt_name("removed").is_none());
        assert!(cache.get(removed).is_none());
        assert_eq!(cache.get_by_alt_name("kept").unwrap().id(), kept);
        cache.remove_alt_name("kept");
        assert!(cache.get_by_alt_name("kept").is_none());
        assert!(cache.get(kept).is_some(), "the key stays cached by id");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn finding_15_concurrent_misses_by_alt_name_read_once() {
        let cache = Arc::new(KeyCache::default());
        let (finds, unwraps) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let id = Uuid::new();
        let tasks: Vec<_> = (0..256)
            .map(|_| {
                let (cache, finds, unwraps) =
                    (Arc::clone(&cache), Arc::clone(&finds), Arc::clone(&unwraps));
                tokio::spawn(async move {
                    cache
                        .get_or_load_by_alt_name(
                            "medco-key",
                            || async move {
                                finds.fetch_add(1, Ordering::SeqCst);
                                tokio::time::sleep(Duration::from_millis(50)).await;
                                Ok((id, ()))
                            },
                            |()| async move {
                                unwraps.fetch_add(1, Ordering::SeqCst);
                                DataKey::generate(id)
                            },
                        )
                        .await
                })
            })
            .collect();
        let mut keys = Vec::new();
        for task in tasks {
            keys.push(task.await.unwrap().unwrap());
        }
        assert_eq!(finds.load(Ordering::SeqCst), 1, "key vault reads");
        assert_eq!(unwraps.load(Ordering::SeqCst), 1, "KMS calls");
        assert!(keys.iter().all(|key| Arc::ptr_eq(key, &keys[0])));
        // The id path shares the key: no further load.
        let by_id = cache
            .get_or_load(id, || async { unreachable!() })
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&by_id, &keys[0]));
    }

    #[tokio::test]
    async fn an_alt_name_load_reuses_a_key_cached_by_id() {
        let cache = KeyCache::default();
        let id = Uuid::new();
        let by_id = cache
            .get_or_load(id, || async { DataKey::generate(id) })
            .await
            .unwrap();
        let by_name = cache
            .get_or_load_by_alt_name(
                "n",
                || async move { Ok((id, ())) },
                |()| async { unreachable!() },
            )
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&by_id, &by_name));
    }
    /// A `find` for `get_or_load_many` that knows every key it is asked for, by id and
    /// by the name `name-<id>`, and counts its calls.
    fn found_all(
        finds: &AtomicUsize,
        ids: Vec<Uuid>,
        names: Vec<String>,
    ) -> impl Future<Output = Result<Found<Uuid>>> {
        finds.fetch_add(1, Ordering::SeqCst);
        async move {
            let by_id = ids.into_iter().map(|id| (id, Ok(id))).collect();
            let by_alt_name = names
                .into_iter()
                .filter_map(|name| {
                    let id = Uuid::parse_str(name.strip_prefix("name-")?).ok()?;
                    Some((name, Ok((id, id))))
                })
                .collect();
            Ok(Found { by_id, by_alt_name })
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_reads_once_and_unwraps_concurrently_within_the_bound() {
        let cache = KeyCache::default();
        let ids: Vec<Uuid> = (0..24).map(|_| Uuid::new()).collect();
        let finds = AtomicUsize::new(0);
        let (in_flight, max_in_flight, unwraps) = (
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        );
        let refs = ids
            .iter()
            .map(|id| KeyRef::Id(*id))
            // The same key by name too, and a repeated reference: still one unwrap.
            .chain([
                KeyRef::AltName(format!("name-{}", ids[0])),
                KeyRef::Id(ids[0]),
            ]);
        let keys = cache
            .get_or_load_many(
                refs,
                4,
                |ids, names| found_all(&finds, ids, names),
                |id| {
                    unwraps.fetch_add(1, Ordering::SeqCst);
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    max_in_flight.fetch_max(now, Ordering::SeqCst);
                    let in_flight = &in_flight;
                    async move {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        DataKey::generate(id)
                    }
                },
            )
            .await
            .unwrap();
        assert_eq!(finds.load(Ordering::SeqCst), 1, "key vault reads");
        assert_eq!(unwraps.load(Ordering::SeqCst), 24, "one KMS call per key");
        assert_eq!(
            max_in_flight.load(Ordering::SeqCst),
            4,
            "the bound, reached"
        );
        assert_eq!(keys.len(), 25);
        let by_name = keys[&KeyRef::AltName(format!("name-{}", ids[0]))]
            .as_ref()
            .unwrap();
        assert!(Arc::ptr_eq(
            by_name,
            keys[&KeyRef::Id(ids[0])].as_ref().unwrap()
        ));
        // All cached now: a second batch reads nothing.
        let again = cache
            .get_or_load_many(
                ids.iter().map(|id| KeyRef::Id(*id)),
                4,
                |ids, names| found_all(&finds, ids, names),
                |_| async { unreachable!() },
            )
            .await
            .unwrap();
        assert_eq!(again.len(), 24);
        assert_eq!(finds.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_awaits_a_key_another_task_is_loading_instead_of_unwrapping_it_again() {
        let cache = Arc::new(KeyCache::default());
        let id = Uuid::new();
        let unwraps = Arc::new(AtomicUsize::new(0));
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let single = {
            let (cache, unwraps) = (Arc::clone(&cache), Arc::clone(&unwraps));
            tokio::spawn(async move {
                cache
                    .get_or_load(id, || async move {
                        unwraps.fetch_add(1, Ordering::SeqCst);
                        started_tx.send(()).unwrap();
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        DataKey::generate(id)
                    })
                    .await
            })
        };
        started_rx.await.unwrap();
        let finds = AtomicUsize::new(0);
        let mut keys = cache
            .get_or_load_many(
                [KeyRef::Id(id)],
                8,
                |ids, names| found_all(&finds, ids, names),
                |id| {
                    unwraps.fetch_add(1, Ordering::SeqCst);
                    async move { DataKey::generate(id) }
                },
            )
            .await
            .unwrap();
        let single = single.await.unwrap().unwrap();
        let batched = keys.remove(&KeyRef::Id(id)).unwrap().unwrap();
        assert!(Arc::ptr_eq(&single, &batched));
        assert_eq!(unwraps.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_batch_reports_each_missing_or_failing_key_and_caches_none_of_them() {
        let cache = KeyCache::default();
        let (found, missing, failing) = (Uuid::new(), Uuid::new(), Uuid::new());
        let keys = cache
            .get_or_load_many(
                [
                    KeyRef::Id(found),
                    KeyRef::Id(missing),
                    KeyRef::Id(failing),
                    KeyRef::AltName("nobody".into()),
                    KeyRef::AltName("twice".into()),
                ],
                8,
                |_, _| async move {
                    Ok(Found {
                        by_id: HashMap::from([(found, Ok(found)), (failing, Ok(failing))]),
                        by_alt_name: HashMap::from([(
                            "twice".to_owned(),
                            Err(Error::AmbiguousKeyAltName {
                                name: "twice".into(),
                                count: 2,
                            }),
                        )]),
                    })
                },
                |id| async move {
                    if id == failing {
                        Err(Error::KeyUnwrap {
                            key_id: id,
                            provider: "local".into(),
                        })
                    } else {
                        DataKey::generate(id)
                    }
                },
            )
            .await
            .unwrap();
        assert_eq!(keys[&KeyRef::Id(found)].as_ref().unwrap().id(), found);
        assert!(
            matches!(&keys[&KeyRef::Id(missing)], Err(Error::KeyNotFound { key }) if *key == missing.to_string())
        );
        assert!(matches!(
            &keys[&KeyRef::Id(failing)],
            Err(Error::KeyUnwrap { .. })
        ));
        assert!(
            matches!(&keys[&KeyRef::AltName("nobody".into())], Err(Error::KeyNotFound { key }) if key == "alt name `nobody`")
        );
        assert!(matches!(
            &keys[&KeyRef::AltName("twice".into())],
            Err(Error::AmbiguousKeyAltName { .. })
        ));
        assert!(cache.get(found).is_some());
        assert!(cache.get(missing).is_none() && cache.get(failing).is_none());
        // Nothing of the failures stays in the maps.
        cache.evict_expired(&mut cache.lock());
        assert_eq!(cache.entries(), (1, 0));
    }

    #[tokio::test]
    async fn a_removal_during_a_batch_is_not_undone_by_it() {
        let cache = Arc::new(KeyCache::default());
        let id = Uuid::new();
        let (read_tx, read_rx) = tokio::sync::oneshot::channel();
        let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
        let load = {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move {
                cache
                    .get_or_load_many(
                        [KeyRef::Id(id), KeyRef::AltName("n".into())],
                        8,
                        |_, _| async move {
                            read_tx.send(()).unwrap();
                            go_rx.await.unwrap();
                            Ok(Found {
                                by_id: HashMap::from([(id, Ok(()))]),
                                by_alt_name: HashMap::from([("n".to_owned(), Ok((id, ())))]),
                            })
                        },
                        |()| async move { DataKey::generate(id) },
                    )
                    .await
            })
        };
        read_rx.await.unwrap();
        cache.remove(id);
        go_tx.send(()).unwrap();
        let keys = load.await.unwrap().unwrap();
        assert!(
            keys.values().all(Result::is_ok),
            "the callers get their keys"
        );
        assert!(cache.get(id).is_none() && cache.get_by_alt_name("n").is_none());
    }

    #[tokio::test]
    async fn the_alt_name_map_is_bounded_failed_lookups_leave_no_entries() {
        let cache = KeyCache::default();
        for n in 0..1_000 {
            let missing = cache
                .get_or_load_by_alt_name(
                    &format!("unknown-{n}"),
                    || async { Err::<(Uuid, ()), _>(Error::KeyNotFound { key: "x".into() }) },
                    |()| async { unreachable!() },
                )
                .await;
            assert!(missing.is_err());
        }
        for _ in 0..1_000 {
            let id = Uuid::new();
            let missing = cache
                .get_or_load(
                    id,
                    || async move { Err(Error::KeyNotFound { key: "x".into() }) },
                )
                .await;
            assert!(missing.is_err());
        }
        // Each miss evicts the leftovers of those before it: at most the last remains.
        assert!(
            cache.entries().0 <= 1 && cache.entries().1 <= 1,
            "{:?}",
            cache.entries()
        );
        cache.evict_expired(&mut cache.lock());
        assert_eq!(cache.entries(), (0, 0));
    }

    #[tokio::test]
    async fn alt_name_entries_expire_with_their_key() {
        let cache = KeyCache::new(Some(Duration::from_millis(200)));
        let id = Uuid::new();
        cache
            .get_or_load_by_alt_name(
                "n",
                || async move { Ok((id, ())) },
                |()| async move { DataKey::generate(id) },
            )
            .await
            .unwrap();
        assert_eq!(cache.entries(), (1, 1));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(cache.get_by_alt_name("n").is_none() && cache.get(id).is_none());
        cache.evict_expired(&mut cache.lock());
        assert_eq!(cache.entries(), (0, 0), "both maps evicted");
    }
}
