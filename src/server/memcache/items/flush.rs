//! `flush_all`, now or at a pending moment, and the item count `stats` reports.

use std::sync::atomic::Ordering;

use super::{Items, NAMESPACE};
use crate::counters::bump;
use crate::error::{Error, Result};
use crate::store::KvStore;

impl<S: KvStore> Items<S> {
    /// `flush_all` at `at_ms` (Unix milliseconds): one pending flush, as memcached keeps one
    /// `oldest_live` time; a later `flush_all` replaces it. Run by the first command after
    /// that moment ([`flush_due`](Self::flush_due)).
    pub(crate) fn flush_at(&self, at_ms: u64) {
        self.flush_at.store(at_ms.max(1), Ordering::Relaxed);
    }

    /// Whether a delayed `flush_all` is due now.
    pub(crate) fn flush_due(&self) -> bool {
        let at = self.flush_at.load(Ordering::Relaxed);
        at != 0 && at <= self.now()
    }

    /// Runs a due delayed flush (once, whichever connection gets here first).
    pub(crate) fn run_due_flush(&self) -> Result<()> {
        let at = self.flush_at.load(Ordering::Relaxed);
        if at == 0 || at > self.now() {
            return Ok(());
        }
        if self
            .flush_at
            .compare_exchange(at, 0, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            self.flush_keys()?;
        }
        Ok(())
    }

    /// `flush_all`: every item is gone (durably: a tombstone each).
    pub(crate) fn flush(&self) -> Result<()> {
        bump(&self.counts.cmd_flush);
        self.flush_at.store(0, Ordering::Relaxed);
        self.flush_keys()
    }

    fn flush_keys(&self) -> Result<()> {
        let keys = self
            .store
            .keys_with_prefix(NAMESPACE)?
            .ok_or_else(|| Error::Unsupported {
                what: "flush_all".into(),
                hint: "it needs a store that can list its keys (a log file)".into(),
            })?;
        for skey in keys {
            let key = skey.get(NAMESPACE.len()..).unwrap_or_default();
            let _stripe = self.stripe(key);
            self.remove(&skey)?;
        }
        Ok(())
    }

    /// Items now (a listing of the keys: for `stats`).
    pub(crate) fn count(&self) -> u64 {
        match self.store.keys_with_prefix(NAMESPACE) {
            Ok(Some(keys)) => keys.len() as u64,
            _ => 0,
        }
    }
}
