//! [`ShardedStore`]: the ring's store: its builder, its nodes, each call routed to replicas.

use super::hash::Ring;
use super::hash::ring_hash;
use super::health::{Health, node_failure};
use super::stats::{NodeCounters, RingCounters, add};

use std::marker::PhantomData;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::store::KvStore;

/// Values at least this large are written to their replicas in parallel (below it, a thread
/// costs more than it saves).
pub(super) const PARALLEL_WRITE_MIN: usize = 64 << 10;

/// Points per node on the ring unless [`ShardedStoreBuilder::vnodes`] says otherwise.
pub const DEFAULT_VNODES: usize = 160;

/// Configures a [`ShardedStore`]; start from [`ShardedStore::builder`].
#[must_use = "a builder does nothing until .build() is called"]
pub struct ShardedStoreBuilder<S> {
    pub(super) config: RingConfig,
    pub(super) _nodes: PhantomData<fn() -> S>,
}

impl<S> std::fmt::Debug for ShardedStoreBuilder<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.config.fmt(f)
    }
}

#[derive(Debug, Clone)]
pub(super) struct RingConfig {
    pub(super) replicas: usize,
    pub(super) vnodes: usize,
    pub(super) backoff_min: Duration,
    pub(super) backoff_max: Duration,
}

impl<S: KvStore> ShardedStoreBuilder<S> {
    /// Copies of every key, on distinct nodes (default 1; capped at the number of nodes).
    pub fn replicas(mut self, r: usize) -> Self {
        self.config.replicas = r;
        self
    }

    /// Points per node on the ring (default [`DEFAULT_VNODES`]).
    pub fn vnodes(mut self, n: usize) -> Self {
        self.config.vnodes = n;
        self
    }

    /// How long a failed node is left alone: `min` after the first failure, doubling with each
    /// consecutive one, at most `max` (default 250 ms and 5 s).
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.config.backoff_min = min;
        self.config.backoff_max = max;
        self
    }

    /// The ring over `nodes`, each named (its place on the ring comes from the name: give a
    /// node the same name, for example its address, in every process).
    pub fn build(self, nodes: impl IntoIterator<Item = (String, S)>) -> Result<ShardedStore<S>> {
        if self.config.replicas == 0 || self.config.vnodes == 0 {
            return Err(Error::InvalidArgument(
                "replicas and vnodes must be at least 1".into(),
            ));
        }
        let store = ShardedStore {
            ring: RwLock::new(Ring::default()),
            config: self.config,
            counters: RingCounters::default(),
        };
        for (name, node) in nodes {
            store.add_node(name, node)?;
        }
        if store.ring().nodes.is_empty() {
            return Err(Error::InvalidArgument(
                "a ring needs at least one node".into(),
            ));
        }
        Ok(store)
    }
}

/// One node of the ring.
#[derive(Debug)]
pub(super) struct Node<S> {
    pub(super) name: String,
    pub(super) store: S,
    pub(super) health: Mutex<Health>,
    pub(super) counters: NodeCounters,
    /// The slowest call, in microseconds (a maximum, not a total: outside the counters).
    pub(super) latency_us_max: std::sync::atomic::AtomicU64,
}

/// A consistent-hash ring over any [`KvStore`] nodes, with replication,
/// read fallback and failover. Nodes are any stores, all of one type:
/// [`MemcachedStore`](crate::MemcachedStore)s, `HttpStore`s (feature `http-store`),
/// [`DurableKVCache`](crate::DurableKVCache)s, [`MemoryCache`](crate::MemoryCache)s, or
/// `Arc<dyn KvStore>` to mix them.
///
/// **The ring.** Each node is placed at `vnodes` points (default 160): point `i` of the node
/// named `name` is the XXH3-64 (seed 0) of the UTF-8 bytes `"{name}-{i}"`. A key's hash is the
/// XXH3-64 of its bytes; its replicas are the first `replicas` distinct nodes met walking the
/// points clockwise (ascending, wrapping) from the first point at or after that hash. The
/// hash is fixed and documented (never `DefaultHasher`), so every process, of any version,
/// places keys the same way. Adding or removing one of N nodes moves about 1/N of the keys.
///
/// **Writes** (`set`, `set_with_ttl`, `delete`) go to every replica (values of 64 KiB or more
/// to all replicas at once, one thread each) and succeed only if all do; otherwise the error
/// names the nodes that failed (the others have the write: a retry makes them agree). A node
/// marked down is not tried until its backoff ends, so a write to it fails at once.
///
/// **Reads** try the replicas in ring order and return the first hit: a replica that misses
/// (memcached evicts on its own) or fails is followed by the next. Nodes marked down are
/// skipped while another replica is up. A read errs only if no replica answered.
///
/// **Failover.** A node whose call fails with [`Error::Remote`], [`Error::Io`] or
/// [`Error::Poisoned`] is marked down for a backoff that doubles with each consecutive failure
/// (default 250 ms up to 5 s); the first call after it is a probe, and a success marks the node
/// up again. Down and up transitions are counted per node ([`ShardedStore::stats`]).
#[derive(Debug)]
pub struct ShardedStore<S: KvStore> {
    pub(super) ring: RwLock<Ring<S>>,
    pub(super) config: RingConfig,
    pub(super) counters: RingCounters,
}

impl<S: KvStore> ShardedStore<S> {
    /// A builder: replicas 1, [`DEFAULT_VNODES`] points per node.
    pub fn builder() -> ShardedStoreBuilder<S> {
        ShardedStoreBuilder {
            config: RingConfig {
                replicas: 1,
                vnodes: DEFAULT_VNODES,
                backoff_min: Duration::from_millis(250),
                backoff_max: Duration::from_secs(5),
            },
            _nodes: PhantomData,
        }
    }

    /// A ring over `nodes` with `replicas` copies of each key and default options.
    pub fn new(nodes: impl IntoIterator<Item = (String, S)>, replicas: usize) -> Result<Self> {
        Self::builder().replicas(replicas).build(nodes)
    }

    pub(super) fn ring(&self) -> std::sync::RwLockReadGuard<'_, Ring<S>> {
        crate::sync::read(&self.ring)
    }

    /// Adds a node; about 1/N of the keys move to it (their old copies stay behind on their
    /// old nodes, unreachable, until evicted or overwritten). Names must be unique.
    pub fn add_node(&self, name: impl Into<String>, store: S) -> Result<()> {
        let name = name.into();
        let mut ring = crate::sync::write(&self.ring);
        if ring.nodes.iter().any(|n| n.name == name) {
            return Err(Error::InvalidArgument(format!(
                "the ring already has a node named {name}"
            )));
        }
        ring.nodes.push(Arc::new(Node {
            name,
            store,
            health: Mutex::new(Health::default()),
            counters: NodeCounters::default(),
            latency_us_max: Default::default(),
        }));
        ring.rebuild(self.config.vnodes);
        Ok(())
    }

    /// Removes the node named `name`; returns whether there was one. Its keys move to the
    /// next nodes on the ring (where they are misses until written again).
    pub fn remove_node(&self, name: &str) -> bool {
        let mut ring = crate::sync::write(&self.ring);
        let before = ring.nodes.len();
        ring.nodes.retain(|n| n.name != name);
        let removed = ring.nodes.len() != before;
        if removed {
            ring.rebuild(self.config.vnodes);
        }
        removed
    }

    /// The names of the nodes holding `key`, first replica first.
    pub fn nodes_for(&self, key: &[u8]) -> Vec<String> {
        self.ring()
            .replicas(ring_hash(key), self.config.replicas)
            .iter()
            .map(|n| n.name.clone())
            .collect()
    }

    /// The names of every node, in the order they were added.
    pub fn node_names(&self) -> Vec<String> {
        self.ring().nodes.iter().map(|n| n.name.clone()).collect()
    }

    pub(super) fn replicas_of(&self, key: &[u8]) -> Vec<Arc<Node<S>>> {
        self.ring().replicas(ring_hash(key), self.config.replicas)
    }

    /// Tries the replicas in order; the first hit wins.
    pub(super) fn read<T>(
        &self,
        key: &[u8],
        op: impl Fn(&S) -> Result<Option<T>>,
    ) -> Result<Option<T>> {
        add(&self.counters.reads, 1);
        let replicas = self.replicas_of(key);
        let now = Instant::now();
        let any_up = replicas.iter().any(|n| !Self::is_down(n, now));
        let mut answered = false;
        let mut failures: Vec<String> = Vec::new();
        for (i, node) in replicas.iter().enumerate() {
            if any_up && !Self::admit(node, now) {
                failures.push(format!("{} (down)", node.name));
                continue;
            }
            if i > 0 {
                add(&self.counters.read_fallbacks, 1);
            }
            match self.call(node, &op) {
                Ok(Some(v)) => return Ok(Some(v)),
                Ok(None) => answered = true,
                Err(e) => failures.push(format!("{}: {}", node.name, e.reason_for_node())),
            }
        }
        if answered {
            return Ok(None);
        }
        add(&self.counters.read_errors, 1);
        Err(Error::remote(
            &names(&replicas),
            format_args!("no replica answered ({})", failures.join("; ")),
        ))
    }

    /// Runs `op` on every replica; all must succeed. With `parallel` (large values) the
    /// replicas are written at the same time, one scoped thread each.
    pub(super) fn write<T: Send>(
        &self,
        key: &[u8],
        parallel: bool,
        op: impl Fn(&S) -> Result<T> + Sync,
    ) -> Result<Vec<T>> {
        add(&self.counters.writes, 1);
        let replicas = self.replicas_of(key);
        let now = Instant::now();
        let mut failed: Vec<(String, Error)> = Vec::new();
        let mut live = Vec::with_capacity(replicas.len());
        for node in &replicas {
            if !Self::admit(node, now) {
                failed.push((
                    node.name.clone(),
                    Error::remote(
                        &node.name,
                        "marked down after a failure; retried after its backoff",
                    ),
                ));
            } else {
                live.push(node);
            }
        }
        let results: Vec<Result<T>> = if parallel && live.len() > 1 {
            std::thread::scope(|scope| {
                let op = &op;
                let pending: Vec<_> = live
                    .iter()
                    .map(|node| {
                        let node: &Node<S> = node;
                        std::thread::Builder::new()
                            .name("logcache-replica".into())
                            .spawn_scoped(scope, move || self.call(node, op))
                            .map_err(|_| node)
                    })
                    .collect();
                pending
                    .into_iter()
                    .map(|p| match p {
                        Ok(handle) => handle.join().unwrap_or_else(|_| {
                            Err(Error::Worker {
                                what: "a replica write".into(),
                                reason: "panicked".into(),
                            })
                        }),
                        // No thread to be had: write this replica here.
                        Err(node) => self.call(node, op),
                    })
                    .collect()
            })
        } else {
            live.iter().map(|node| self.call(node, &op)).collect()
        };
        let mut out = Vec::with_capacity(live.len());
        for (node, result) in live.iter().zip(results) {
            match result {
                Ok(v) => out.push(v),
                Err(e) => failed.push((node.name.clone(), e)),
            }
        }
        if failed.is_empty() {
            return Ok(out);
        }
        add(&self.counters.write_errors, 1);
        // A refusal that is not the node's fault (too large, full) is reported as itself.
        if let Some(i) = failed.iter().position(|(_, e)| !node_failure(e)) {
            return Err(failed.swap_remove(i).1);
        }
        let which: Vec<&str> = failed.iter().map(|(n, _)| n.as_str()).collect();
        let why: Vec<String> = failed
            .iter()
            .map(|(n, e)| format!("{n}: {}", e.reason_for_node()))
            .collect();
        Err(Error::remote(
            &which.join(", "),
            format_args!(
                "the write reached {} of {} replicas ({})",
                out.len(),
                replicas.len(),
                why.join("; ")
            ),
        ))
    }
}

pub(super) fn names<S>(nodes: &[Arc<Node<S>>]) -> String {
    nodes
        .iter()
        .map(|n| n.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl<S: KvStore> KvStore for ShardedStore<S> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.read(key, |s| s.get(key))
    }

    fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let parallel = value.len() >= PARALLEL_WRITE_MIN;
        self.write(key, parallel, |s| s.set(key, value)).map(drop)
    }

    fn set_with_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) -> Result<()> {
        let parallel = value.len() >= PARALLEL_WRITE_MIN;
        self.write(key, parallel, |s| s.set_with_ttl(key, value, ttl))
            .map(drop)
    }

    fn delete(&self, key: &[u8]) -> Result<bool> {
        Ok(self
            .write(key, false, |s| s.delete(key))?
            .into_iter()
            .any(|existed| existed))
    }

    fn get_with_expiry(&self, key: &[u8]) -> Result<Option<(Vec<u8>, u64)>> {
        self.read(key, |s| s.get_with_expiry(key))
    }

    fn replicas(&self) -> usize {
        self.config.replicas.min(self.ring().nodes.len()).max(1)
    }

    /// Every replica's copy, when there is more than one replica (`None` otherwise).
    fn get_copies(&self, key: &[u8]) -> Result<Option<crate::store::Copies>> {
        if self.replicas() < 2 {
            return Ok(None);
        }
        self.copies(key).map(Some)
    }

    fn set_copies(&self, key: &[u8], value: &[u8], expiry: u64, positions: &[usize]) -> Result<()> {
        self.write_copies(key, value, expiry, positions)
    }

    /// The smallest of the nodes' limits.
    fn max_value_len(&self) -> u64 {
        self.ring()
            .nodes
            .iter()
            .map(|n| n.store.max_value_len())
            .min()
            .unwrap_or(0)
    }
    fn max_key_len(&self) -> usize {
        self.ring()
            .nodes
            .iter()
            .map(|n| n.store.max_key_len())
            .min()
            .unwrap_or(usize::MAX)
    }

    /// Probes every node at once (each probe is a call: it marks the node down or up); `Ok`
    /// when at least one answers, else an error naming each node with its failure.
    fn probe(&self) -> Result<()> {
        let nodes = self.ring().nodes.clone();
        let results: Vec<Result<()>> = std::thread::scope(|scope| {
            let probes: Vec<_> = nodes
                .iter()
                .map(|node| scope.spawn(move || self.call(node, |s| s.probe())))
                .collect();
            probes
                .into_iter()
                .map(|p| {
                    p.join().unwrap_or_else(|_| {
                        Err(Error::Worker {
                            what: "a health probe".into(),
                            reason: "panicked".into(),
                        })
                    })
                })
                .collect()
        });
        if results.iter().any(Result::is_ok) {
            return Ok(());
        }
        let failures: Vec<String> = nodes
            .iter()
            .zip(&results)
            .filter_map(|(n, r)| {
                r.as_ref()
                    .err()
                    .map(|e| format!("{}: {}", n.name, e.reason_for_node()))
            })
            .collect();
        Err(Error::Remote {
            node: format!("ring of {}", nodes.len()),
            reason: if failures.is_empty() {
                "the ring has no nodes".into()
            } else {
                format!("no node answers ({})", failures.join("; "))
            },
            source: None,
        })
    }

    /// The union over every node (sorted, without duplicates), when every node can list;
    /// an error if a node cannot be asked.
    fn keys_with_prefix(&self, prefix: &[u8]) -> Result<Option<Vec<Vec<u8>>>> {
        let nodes = self.ring().nodes.clone();
        let mut all = Vec::new();
        for node in &nodes {
            match self.call(node, |s| s.keys_with_prefix(prefix))? {
                Some(keys) => all.extend(keys),
                None => return Ok(None),
            }
        }
        all.sort_unstable();
        all.dedup();
        Ok(Some(all))
    }

    /// Syncs every node that is up; the error names those that failed.
    ///
    /// Nodes marked down are skipped, and a sync leaves every node's health as it was: a
    /// remote node's sync is a no-op (its writes are durable when answered), so its success
    /// says nothing of the node — counted as one, it marked a hung node up after every
    /// failure, and the next request paid its deadline again.
    fn sync(&self) -> Result<()> {
        let nodes = self.ring().nodes.clone();
        let now = Instant::now();
        let failed: Vec<String> = nodes
            .iter()
            .filter(|n| !Self::is_down(n, now))
            .filter_map(|n| {
                n.store
                    .sync()
                    .err()
                    .map(|e| format!("{}: {}", n.name, e.reason_for_node()))
            })
            .collect();
        if failed.is_empty() {
            Ok(())
        } else {
            Err(Error::remote(&names(&nodes), failed.join("; ")))
        }
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let s = self.stats();
        let up = s.nodes.iter().filter(|n| n.up).count() as u64;
        let mut rows = vec![("nodes", s.nodes.len() as u64), ("nodes_up", up)];
        rows.extend(s.counter_rows());
        rows.extend([
            ("node_errors", s.nodes.iter().map(|n| n.errors).sum()),
            ("node_downs", s.nodes.iter().map(|n| n.downs).sum()),
        ]);
        rows
    }
}
