//! Locks, with the crate's one policy on poisoning.
//!
//! std's `Mutex` and `RwLock` are poisoned when a thread panics while holding them. Every lock
//! in this crate guards data that stays consistent at every point a panic could unwind from
//! (counters, queues appended to and drained whole, maps changed by single inserts and
//! removes), so a poisoned lock is taken over rather than propagating the panic to every
//! later caller. The one lock whose holder can leave a half-done change — the durable log's
//! writer — does not use these helpers: a panic there poisons the handle instead
//! (`durable/write.rs`), and only a recovery clears it.

use std::sync::{
    Condvar, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard,
};
use std::time::Duration;

/// Locks `m`, taking over a lock a panicking thread left poisoned (see the module doc).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Read-locks `l` (see the module doc on poisoning).
pub(crate) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

/// Write-locks `l` (see the module doc on poisoning).
pub(crate) fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

/// Waits on `cv`, taking over a poisoned lock (see the module doc).
pub(crate) fn wait<'a, T>(cv: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(guard).unwrap_or_else(PoisonError::into_inner)
}

/// Waits on `cv` for at most `timeout`, taking over a poisoned lock (see the module doc).
pub(crate) fn wait_timeout<'a, T>(
    cv: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Duration,
) -> MutexGuard<'a, T> {
    cv.wait_timeout(guard, timeout)
        .unwrap_or_else(PoisonError::into_inner)
        .0
}
