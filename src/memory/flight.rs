//! Single-flight loading: when many callers miss the same key at once, one loads and the others
//! wait for its outcome (groupcache's idea), so a cold key costs one load, not a stampede.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};

use crate::error::{Error, Result};
use crate::sync::{lock, wait};

/// A loaded value with its absolute expiry (Unix ms, 0 = none).
pub(super) type Loaded = Option<(Vec<u8>, u64)>;

/// What a load produced, shared with every waiting caller: the value, or the error's text.
type Outcome = std::result::Result<Option<(Arc<[u8]>, u64)>, String>;

/// One load in progress: the first caller to miss runs it, the others wait for its result.
#[derive(Default)]
struct Flight {
    result: Mutex<Option<Outcome>>,
    done: Condvar,
}

/// The loads in progress, by key.
#[derive(Default)]
pub(super) struct SingleFlight {
    flights: Mutex<HashMap<Vec<u8>, Arc<Flight>>>,
}

impl std::fmt::Debug for SingleFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SingleFlight")
            .field("in_flight", &lock(&self.flights).len())
            .finish()
    }
}

impl SingleFlight {
    /// The value of `key` from `load`, run by this caller unless a load of `key` is already in
    /// flight, whose outcome it then waits for (the `bool` says it waited). `recheck` runs
    /// under the table's lock before a load starts: a load populates its cache before it
    /// leaves the table, so a caller sees either the cached value or the flight, never a gap
    /// that would start a second load. A failed load reaches every waiter as
    /// [`Error::Load`].
    pub(super) fn run(
        &self,
        key: &[u8],
        recheck: impl FnOnce() -> Loaded,
        load: impl FnOnce() -> Result<Loaded>,
    ) -> (Result<Loaded>, bool) {
        let (flight, leader) = {
            let mut flights = lock(&self.flights);
            if let Some(found) = recheck() {
                return (Ok(Some(found)), false);
            }
            match flights.get(key) {
                Some(f) => (Arc::clone(f), false),
                None => {
                    let f = Arc::new(Flight::default());
                    flights.insert(key.to_vec(), Arc::clone(&f));
                    (f, true)
                }
            }
        };
        if leader {
            let result = load();
            let shared = match &result {
                Ok(v) => Ok(v
                    .as_ref()
                    .map(|(v, e)| (Arc::<[u8]>::from(v.as_slice()), *e))),
                Err(e) => Err(e.to_string()),
            };
            {
                let mut flights = lock(&self.flights);
                flights.remove(key);
                *lock(&flight.result) = Some(shared);
            }
            flight.done.notify_all();
            return (result, false);
        }
        let mut slot = lock(&flight.result);
        loop {
            if let Some(r) = slot.as_ref() {
                let outcome = match r {
                    Ok(v) => Ok(v.as_ref().map(|(v, e)| (v.to_vec(), *e))),
                    Err(reason) => Err(Error::Load {
                        reason: reason.clone(),
                    }),
                };
                return (outcome, true);
            }
            slot = wait(&flight.done, slot);
        }
    }
}
