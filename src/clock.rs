//! Wall-clock time for TTLs, injectable so tests never sleep.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in milliseconds since the Unix epoch.
///
/// Expiry times are stored on disk as absolute Unix milliseconds, so the clock must be a wall
/// clock, not a monotonic one. Tests inject a [`ManualClock`].
pub trait Clock: Send + Sync + fmt::Debug {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    fn now_millis(&self) -> u64;
}

/// The absolute expiry (Unix ms) of an entry written now with `ttl`. 0 means "never" in every
/// store, so the earliest storable instant is 1; a TTL too large to represent saturates.
pub(crate) fn expiry_after(clock: &dyn Clock, ttl: Duration) -> u64 {
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    clock.now_millis().saturating_add(ttl_ms).max(1)
}

/// The TTL that makes an entry written now expire at `expiry` (Unix ms by the system clock;
/// 0 = never: `None`). A moment already past gives the shortest TTL, 1 ms.
pub(crate) fn ttl_until(expiry: u64) -> Option<Duration> {
    (expiry != 0)
        .then(|| Duration::from_millis(expiry.saturating_sub(SystemClock.now_millis()).max(1)))
}

/// The system wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            // A clock set before 1970 reads as the epoch: nothing expires early because of it.
            .unwrap_or(0)
    }
}

/// A clock that moves only when told to; for tests of expiry.
#[derive(Debug)]
pub struct ManualClock {
    now: AtomicU64,
}

impl ManualClock {
    /// A clock that reads `start_millis` until advanced.
    pub fn new(start_millis: u64) -> Self {
        ManualClock {
            now: AtomicU64::new(start_millis),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.now
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_add(ms))
            })
            .ok();
    }

    /// Sets the clock to `millis`.
    pub fn set(&self, millis: u64) {
        self.now.store(millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
}
