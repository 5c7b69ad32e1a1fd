//! What a ring counts: per node (requests, errors, downs and ups, latency) and for the ring
//! (reads, fallbacks, writes).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::ShardedStore;
use crate::store::KvStore;

#[derive(Debug, Default)]
pub(super) struct NodeCounters {
    pub(super) requests: AtomicU64,
    pub(super) errors: AtomicU64,
    pub(super) downs: AtomicU64,
    pub(super) ups: AtomicU64,
    pub(super) latency_us_total: AtomicU64,
    pub(super) latency_us_max: AtomicU64,
}

#[derive(Debug, Default)]
pub(super) struct RingCounters {
    pub(super) reads: AtomicU64,
    pub(super) read_fallbacks: AtomicU64,
    pub(super) read_errors: AtomicU64,
    pub(super) writes: AtomicU64,
    pub(super) write_errors: AtomicU64,
}

pub(super) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

pub(super) fn load(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// Counters of one node of a [`ShardedStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeStats {
    /// The node's name.
    pub name: String,
    /// Not marked down now.
    pub up: bool,
    /// Calls made to the node.
    pub requests: u64,
    /// Calls that failed and marked it down.
    pub errors: u64,
    /// Times it was marked down (up → down).
    pub downs: u64,
    /// Times it came back (down → up).
    pub ups: u64,
    /// Mean latency of its calls, in microseconds.
    pub latency_us_mean: u64,
    /// Slowest call, in microseconds.
    pub latency_us_max: u64,
}

/// Counters of a [`ShardedStore`] and of each node.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShardedStats {
    /// Reads (`get`, `get_with_expiry`).
    pub reads: u64,
    /// Reads that went past their first replica (it missed, failed or was down).
    pub read_fallbacks: u64,
    /// Reads that no replica answered.
    pub read_errors: u64,
    /// Writes (`set`, `set_with_ttl`, `delete`).
    pub writes: u64,
    /// Writes that failed on at least one replica.
    pub write_errors: u64,
    /// Per node, in the order they were added.
    pub nodes: Vec<NodeStats>,
}

impl<S: KvStore> ShardedStore<S> {
    /// Counters of the ring and of each node.
    pub fn stats(&self) -> ShardedStats {
        let now = Instant::now();
        let nodes = self
            .ring()
            .nodes
            .iter()
            .map(|n| {
                let c = &n.counters;
                let requests = load(&c.requests);
                NodeStats {
                    name: n.name.clone(),
                    up: !Self::is_down(n, now),
                    requests,
                    errors: load(&c.errors),
                    downs: load(&c.downs),
                    ups: load(&c.ups),
                    latency_us_mean: load(&c.latency_us_total).checked_div(requests).unwrap_or(0),
                    latency_us_max: load(&c.latency_us_max),
                }
            })
            .collect();
        let c = &self.counters;
        ShardedStats {
            reads: load(&c.reads),
            read_fallbacks: load(&c.read_fallbacks),
            read_errors: load(&c.read_errors),
            writes: load(&c.writes),
            write_errors: load(&c.write_errors),
            nodes,
        }
    }
}
