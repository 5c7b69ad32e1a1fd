//! What a ring counts: per node (requests, errors, downs and ups, latency) and for the ring
//! (reads, fallbacks, writes).

use std::time::Instant;

pub(super) use crate::counters::add;
use crate::counters::{load, stats};

use super::ShardedStore;
use crate::store::KvStore;

stats! {
    /// Counters of one node of a [`ShardedStore`].
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    #[non_exhaustive]
    pub struct NodeStats, counted by pub(super) NodeCounters {
        gauges {
            /// The node's name.
            name: String,
            /// Not marked down now.
            up: bool,
            /// Mean latency of its calls, in microseconds.
            latency_us_mean: u64,
            /// Slowest call, in microseconds.
            latency_us_max: u64,
        }
        counters {
            /// Calls made to the node.
            requests,
            /// Calls that failed and marked it down.
            errors,
            /// Times it was marked down (up → down).
            downs,
            /// Times it came back (down → up).
            ups,
            /// Microseconds spent in its calls, in all.
            latency_us_total,
        }
    }
}

stats! {
    /// Counters of a [`ShardedStore`] and of each node.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    #[non_exhaustive]
    pub struct ShardedStats, counted by pub(super) RingCounters {
        gauges {
            /// Per node, in the order they were added.
            nodes: Vec<NodeStats>,
        }
        counters {
            /// Reads (`get`, `get_with_expiry`).
            reads,
            /// Reads that went past their first replica (it missed, failed or was down).
            read_fallbacks,
            /// Reads that no replica answered.
            read_errors,
            /// Writes (`set`, `set_with_ttl`, `delete`).
            writes,
            /// Writes that failed on at least one replica.
            write_errors,
        }
    }
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
                let mut node = NodeStats {
                    name: n.name.clone(),
                    up: !Self::is_down(n, now),
                    latency_us_max: load(&n.latency_us_max),
                    ..NodeStats::default()
                };
                n.counters.fill(&mut node);
                node.latency_us_mean = node
                    .latency_us_total
                    .checked_div(node.requests)
                    .unwrap_or(0);
                node
            })
            .collect();
        let mut stats = ShardedStats {
            nodes,
            ..ShardedStats::default()
        };
        self.counters.fill(&mut stats);
        stats
    }
}
