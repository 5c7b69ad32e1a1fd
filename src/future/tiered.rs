//! [`AsyncTiered`]: read-through with an `async` loader, single-flight.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use super::Pool;
use crate::counters::{bump, load};
use crate::error::{Error, Result};
use crate::memory::Tiered;
use crate::store::KvStore;
use crate::sync::lock;

/// The outcome of one load, shared by every task that waited for it.
type Outcome = std::result::Result<Option<Vec<u8>>, String>;

/// A [`Tiered`] for async code: [`get_or_load`](Self::get_or_load) tries the memory tier, then
/// the backing store (on the [`Pool`]), then an `async` load function — and however many tasks
/// miss on one key at once, one load runs and all get its result. A loaded value is written
/// to the backing store and the memory tier.
///
/// If the task running a load is cancelled, a waiting task takes the load over (it runs its
/// own load function), so a cancelled caller never leaves the others without an answer.
pub struct AsyncTiered<S: KvStore> {
    tiered: Arc<Tiered<S>>,
    pool: Pool,
    flights: Mutex<HashMap<Vec<u8>, Arc<OnceCell<Outcome>>>>,
    loads: AtomicU64,
}

impl<S: KvStore> std::fmt::Debug for AsyncTiered<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncTiered")
            .field("loads", &load(&self.loads))
            .finish_non_exhaustive()
    }
}

impl<S: KvStore + 'static> AsyncTiered<S> {
    /// `tiered` on `pool` (its own loader, if it has one, is not used by
    /// [`get_or_load`](Self::get_or_load)).
    pub fn new(tiered: Arc<Tiered<S>>, pool: Pool) -> Self {
        AsyncTiered {
            tiered,
            pool,
            flights: Mutex::new(HashMap::new()),
            loads: AtomicU64::new(0),
        }
    }

    /// The tiers, for calls that do not block.
    pub fn inner(&self) -> &Arc<Tiered<S>> {
        &self.tiered
    }

    /// How many times a load function ran.
    pub fn loads(&self) -> u64 {
        load(&self.loads)
    }

    /// The value of `key`: from the memory tier, else from the backing store, else from
    /// `load(key)` — one load per key at a time, however many tasks ask. `Ok(None)` when the
    /// load says the value exists nowhere; a load's error reaches every waiting task as
    /// [`Error::Load`], and nothing is stored.
    pub async fn get_or_load<F, Fut>(
        &self,
        key: impl AsRef<[u8]>,
        load: F,
    ) -> Result<Option<Vec<u8>>>
    where
        F: FnOnce(Vec<u8>) -> Fut,
        Fut: Future<Output = Result<Option<Vec<u8>>>>,
    {
        let key = key.as_ref().to_vec();
        if let Some(v) = self.tiered.front().get_shared(&key) {
            return Ok(Some(v.to_vec()));
        }
        let cell = {
            let mut flights = lock(&self.flights);
            // A load that finished meanwhile filled the memory tier before leaving the table.
            if let Some(v) = self.tiered.front().get_shared(&key) {
                return Ok(Some(v.to_vec()));
            }
            flights.entry(key.clone()).or_default().clone()
        };
        let outcome = cell
            .get_or_init(|| self.load(key.clone(), load))
            .await
            .clone();
        {
            let mut flights = lock(&self.flights);
            if flights.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                flights.remove(&key);
            }
        }
        outcome.map_err(|reason| Error::Load { reason })
    }

    /// One load: the backing store, then `load`; stores what `load` found.
    async fn load<F, Fut>(&self, key: Vec<u8>, load: F) -> Outcome
    where
        F: FnOnce(Vec<u8>) -> Fut,
        Fut: Future<Output = Result<Option<Vec<u8>>>>,
    {
        let tiered = self.tiered.clone();
        let k = key.clone();
        let behind = self
            .pool
            .run(move || tiered.back().get_with_expiry(&k))
            .await
            .map_err(|e| e.to_string())?;
        let (value, expiry, store) = match behind {
            Some((v, expiry)) => (v, expiry, false),
            None => {
                bump(&self.loads);
                match load(key.clone()).await.map_err(|e| e.to_string())? {
                    Some(v) => (v, 0, true),
                    None => return Ok(None),
                }
            }
        };
        let tiered = self.tiered.clone();
        let v = value.clone();
        self.pool
            .run(move || {
                if store {
                    tiered.back().set(&key, &v)?;
                }
                // With the store's expiry; a value too large for the memory tier is still
                // returned, just not kept.
                let _ = tiered.front().set_until(&key, &v, expiry);
                Ok(())
            })
            .await
            .map_err(|e| e.to_string())?;
        Ok(Some(value))
    }
}
