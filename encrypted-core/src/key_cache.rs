//! The data key cache: decrypted data keys kept for a time-to-live, loaded once however
//! many tasks ask at the same moment.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bson::Uuid;
use tokio::sync::OnceCell;

use crate::{DataKey, Result};

/// How long a decrypted data key stays cached: libmongocrypt's default.
pub const DEFAULT_KEY_CACHE_TTL: Duration = Duration::from_secs(60);

/// Decrypted data keys by id, each kept for the cache's time-to-live after it was loaded.
///
/// Loading is single-flight: however many tasks ask for the same uncached key at once,
/// one of them runs the loader (a key vault read and a KMS call) and all of them get its
/// key. A failed load is not cached; the next caller tries again.
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
    slots: Mutex<HashMap<Uuid, Arc<Slot>>>,
    alt_names: Mutex<HashMap<String, Uuid>>,
}

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
}

impl KeyCache {
    /// A cache keeping each key for `ttl` after it was loaded; `None` keeps keys until
    /// they are removed or the cache is dropped. A zero TTL is treated as `None`, as
    /// libmongocrypt does.
    pub fn new(ttl: Option<Duration>) -> Self {
        Self {
            ttl: ttl.filter(|ttl| !ttl.is_zero()),
            slots: Mutex::new(HashMap::new()),
            alt_names: Mutex::new(HashMap::new()),
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
        let slot = self.slot(id);
        let (key, _) = slot
            .loaded
            .get_or_try_init(|| async { Ok((Arc::new(load().await?), Instant::now())) })
            .await?;
        Ok(Arc::clone(key))
    }

    /// The key with this id if it is cached and fresh.
    pub fn get(&self, id: Uuid) -> Option<Arc<DataKey>> {
        let slots = lock(&self.slots);
        let slot = slots.get(&id)?;
        if slot.is_expired(self.ttl, Instant::now()) {
            return None;
        }
        slot.loaded.get().map(|(key, _)| Arc::clone(key))
    }

    /// Removes a key (for example after its key document changed or was deleted).
    pub fn remove(&self, id: Uuid) {
        lock(&self.slots).remove(&id);
        lock(&self.alt_names).retain(|_, key_id| *key_id != id);
    }

    /// Removes every key.
    pub fn clear(&self) {
        lock(&self.slots).clear();
        lock(&self.alt_names).clear();
    }

    /// Remembers that `name` is an alternate name of key `id` (for as long as that key
    /// stays cached).
    pub fn remember_alt_name(&self, name: &str, id: Uuid) {
        lock(&self.alt_names).insert(name.to_owned(), id);
    }

    /// Forgets an alternate name (after it was removed from its key).
    pub fn remove_alt_name(&self, name: &str) {
        lock(&self.alt_names).remove(name);
    }

    /// The cached, fresh key with this alternate name.
    pub fn get_by_alt_name(&self, name: &str) -> Option<Arc<DataKey>> {
        let id = *lock(&self.alt_names).get(name)?;
        self.get(id)
    }

    /// The live slot for `id`, replacing an expired one; on this (miss) path the
    /// expired slots of other keys are evicted too.
    fn slot(&self, id: Uuid) -> Arc<Slot> {
        let now = Instant::now();
        let mut slots = lock(&self.slots);
        slots.retain(|_, slot| !slot.is_expired(self.ttl, now));
        Arc::clone(slots.entry(id).or_default())
    }
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
}
