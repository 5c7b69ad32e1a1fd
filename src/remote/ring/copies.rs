//! Every replica's copy of a key, and writes to chosen replicas: what a reader needs to find
//! the newest write among the replicas and repair the copies that lag (read repair, in
//! [`BigCache`](crate::BigCache)). The ring itself does not order values; its caller does.

use std::time::Instant;

use super::stats::add;
use super::{ShardedStore, names};
use crate::error::{Error, Result};
use crate::store::{Copies, KvStore};

impl<S: KvStore> ShardedStore<S> {
    /// Each replica's copy of `key`, in ring order, from the replicas that answer. A replica
    /// that is down is skipped while another is up (as a read skips it); one that fails or
    /// times out is left out (and marked down). Errs only when none answered.
    pub(super) fn copies(&self, key: &[u8]) -> Result<Copies> {
        add(&self.counters.reads, 1);
        let replicas = self.replicas_of(key);
        let now = Instant::now();
        let any_up = replicas.iter().any(|n| !Self::is_down(n, now));
        let mut copies = Vec::with_capacity(replicas.len());
        let mut failures = Vec::new();
        for (position, node) in replicas.iter().enumerate() {
            if any_up && !Self::admit(node, now) {
                failures.push(format!("{} (down)", node.name));
                continue;
            }
            match self.call(node, |s| s.get_with_expiry(key)) {
                Ok(copy) => copies.push((position, copy)),
                Err(e) => failures.push(format!("{}: {}", node.name, e.reason_for_node())),
            }
        }
        if copies.is_empty() {
            add(&self.counters.read_errors, 1);
            return Err(Error::remote(
                &names(&replicas),
                format_args!("no replica answered ({})", failures.join("; ")),
            ));
        }
        Ok(copies)
    }

    /// Writes `value` (expiring at `expiry`, Unix ms, 0 = never) to the replicas of `key` at
    /// `positions`; every one must take it.
    pub(super) fn write_copies(
        &self,
        key: &[u8],
        value: &[u8],
        expiry: u64,
        positions: &[usize],
    ) -> Result<()> {
        let replicas = self.replicas_of(key);
        let now = Instant::now();
        let mut failures = Vec::new();
        for &position in positions {
            let Some(node) = replicas.get(position) else {
                continue; // the ring changed since the copies were read
            };
            if !Self::admit(node, now) {
                failures.push(format!("{} (down)", node.name));
                continue;
            }
            let written = self.call(node, |s| crate::store::set_until(s, key, value, expiry));
            if let Err(e) = written {
                failures.push(format!("{}: {}", node.name, e.reason_for_node()));
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(Error::remote(
                &names(&replicas),
                format_args!("a repair write failed ({})", failures.join("; ")),
            ))
        }
    }
}
