//! Node health: which errors mark a node down, the doubling backoff, and the probe that
//! brings it back.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::stats::add;
use super::{Node, ShardedStore};
use crate::error::{Error, Result};
use crate::store::KvStore;

#[derive(Debug, Default)]
pub(super) struct Health {
    /// Down until this instant (`None`: up).
    pub(super) down_until: Option<Instant>,
    /// Consecutive failures.
    pub(super) failures: u32,
    /// A call admitted as the probe of a node whose backoff ended is under way: every other
    /// caller still treats the node as down, so a hung node costs one caller its deadline per
    /// backoff, not every caller that arrives meanwhile.
    pub(super) probing: bool,
}

/// Whether an error says the node itself is in trouble (and should be marked down).
pub(super) fn node_failure(e: &Error) -> bool {
    matches!(
        e,
        Error::Remote { .. } | Error::Io { .. } | Error::Poisoned { .. }
    )
}

impl<S: KvStore> ShardedStore<S> {
    /// Whether a call to `node` would be refused now: it is in its backoff, or its backoff
    /// ended and another caller's probe is under way.
    pub(super) fn is_down(node: &Node<S>, now: Instant) -> bool {
        let health = crate::sync::lock(&node.health);
        match health.down_until {
            None => false,
            Some(t) => t > now || health.probing,
        }
    }

    /// Whether the caller may call `node` now; when the node's backoff has just ended, the
    /// caller becomes its one probe (and must call it: the call's end clears the claim).
    pub(super) fn admit(node: &Node<S>, now: Instant) -> bool {
        let mut health = crate::sync::lock(&node.health);
        match health.down_until {
            None => true,
            Some(t) if t > now || health.probing => false,
            Some(_) => {
                health.probing = true;
                true
            }
        }
    }

    /// Calls `op` on `node`, timing it and keeping its health.
    pub(super) fn call<T>(&self, node: &Node<S>, op: impl FnOnce(&S) -> Result<T>) -> Result<T> {
        let started = Instant::now();
        let result = op(&node.store);
        let us = started.elapsed().as_micros() as u64;
        let c = &node.counters;
        add(&c.requests, 1);
        add(&c.latency_us_total, us);
        node.latency_us_max.fetch_max(us, Ordering::Relaxed);
        let mut health = crate::sync::lock(&node.health);
        health.probing = false;
        match &result {
            Err(e) if node_failure(e) => {
                add(&c.errors, 1);
                if health.failures == 0 {
                    add(&c.downs, 1);
                    tracing::warn!("ring node {} is down: {e}", node.name);
                }
                let shift = health.failures.min(16);
                health.failures = health.failures.saturating_add(1);
                let backoff = self
                    .config
                    .backoff_min
                    .saturating_mul(1 << shift)
                    .min(self.config.backoff_max);
                health.down_until = Some(Instant::now() + backoff);
            }
            _ => {
                if health.failures > 0 {
                    add(&c.ups, 1);
                    tracing::info!("ring node {} is back", node.name);
                }
                health.failures = 0;
                health.down_until = None;
            }
        }
        result
    }
}
