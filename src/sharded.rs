//! [`ShardedStore`]: a consistent-hash ring over `KvStore` nodes.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::store::KvStore;

/// Values at least this large are written to their replicas in parallel (below it, a thread
/// costs more than it saves).
const PARALLEL_WRITE_MIN: usize = 64 << 10;

/// Points per node on the ring unless [`ShardedStoreBuilder::vnodes`] says otherwise.
pub const DEFAULT_VNODES: usize = 160;

/// The hash of a key on the ring (XXH3-64, seed 0).
pub fn ring_hash(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

/// Configures a [`ShardedStore`]; start from [`ShardedStore::builder`].
#[must_use = "a builder does nothing until .build() is called"]
pub struct ShardedStoreBuilder<S> {
    config: RingConfig,
    _nodes: PhantomData<fn() -> S>,
}

impl<S> std::fmt::Debug for ShardedStoreBuilder<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.config.fmt(f)
    }
}

#[derive(Debug, Clone)]
struct RingConfig {
    replicas: usize,
    vnodes: usize,
    backoff_min: Duration,
    backoff_max: Duration,
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
struct Node<S> {
    name: String,
    store: S,
    health: Mutex<Health>,
    counters: NodeCounters,
}

#[derive(Debug, Default)]
struct Health {
    /// Down until this instant (`None`: up).
    down_until: Option<Instant>,
    /// Consecutive failures.
    failures: u32,
}

#[derive(Debug, Default)]
struct NodeCounters {
    requests: AtomicU64,
    errors: AtomicU64,
    downs: AtomicU64,
    ups: AtomicU64,
    latency_us_total: AtomicU64,
    latency_us_max: AtomicU64,
}

#[derive(Debug, Default)]
struct RingCounters {
    reads: AtomicU64,
    read_fallbacks: AtomicU64,
    read_errors: AtomicU64,
    writes: AtomicU64,
    write_errors: AtomicU64,
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

fn load(c: &AtomicU64) -> u64 {
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

#[derive(Debug)]
struct Ring<S> {
    nodes: Vec<Arc<Node<S>>>,
    /// (point, index into `nodes`), ascending.
    points: Vec<(u64, usize)>,
}

impl<S> Default for Ring<S> {
    fn default() -> Self {
        Ring {
            nodes: Vec::new(),
            points: Vec::new(),
        }
    }
}

impl<S> Ring<S> {
    fn rebuild(&mut self, vnodes: usize) {
        self.points.clear();
        for (i, node) in self.nodes.iter().enumerate() {
            for v in 0..vnodes {
                self.points
                    .push((ring_hash(format!("{}-{v}", node.name).as_bytes()), i));
            }
        }
        // Ties (vanishingly rare) go to the node added first.
        self.points.sort_unstable();
    }

    /// The first `r` distinct nodes clockwise from `hash`.
    fn replicas(&self, hash: u64, r: usize) -> Vec<Arc<Node<S>>> {
        let want = r.min(self.nodes.len());
        let mut out: Vec<Arc<Node<S>>> = Vec::with_capacity(want);
        let start = self.points.partition_point(|&(p, _)| p < hash);
        let n = self.points.len();
        for step in 0..n {
            if out.len() == want {
                break;
            }
            let Some(&(_, i)) = self.points.get((start + step) % n) else {
                break;
            };
            if let Some(node) = self.nodes.get(i)
                && !out.iter().any(|o| Arc::ptr_eq(o, node))
            {
                out.push(Arc::clone(node));
            }
        }
        out
    }
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
    ring: RwLock<Ring<S>>,
    config: RingConfig,
    counters: RingCounters,
}

/// Whether an error says the node itself is in trouble (and should be marked down).
fn node_failure(e: &Error) -> bool {
    matches!(
        e,
        Error::Remote { .. } | Error::Io { .. } | Error::Poisoned { .. }
    )
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

    fn ring(&self) -> std::sync::RwLockReadGuard<'_, Ring<S>> {
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

    fn replicas_of(&self, key: &[u8]) -> Vec<Arc<Node<S>>> {
        self.ring().replicas(ring_hash(key), self.config.replicas)
    }

    fn is_down(node: &Node<S>, now: Instant) -> bool {
        crate::sync::lock(&node.health)
            .down_until
            .is_some_and(|t| t > now)
    }

    /// Calls `op` on `node`, timing it and keeping its health.
    fn call<T>(&self, node: &Node<S>, op: impl FnOnce(&S) -> Result<T>) -> Result<T> {
        let started = Instant::now();
        let result = op(&node.store);
        let us = started.elapsed().as_micros() as u64;
        let c = &node.counters;
        add(&c.requests, 1);
        add(&c.latency_us_total, us);
        c.latency_us_max.fetch_max(us, Ordering::Relaxed);
        let mut health = crate::sync::lock(&node.health);
        match &result {
            Err(e) if node_failure(e) => {
                add(&c.errors, 1);
                if health.failures == 0 {
                    add(&c.downs, 1);
                    log::warn!("ring node {} is down: {e}", node.name);
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
                    log::info!("ring node {} is back", node.name);
                }
                health.failures = 0;
                health.down_until = None;
            }
        }
        result
    }

    /// Tries the replicas in order; the first hit wins.
    fn read<T>(&self, key: &[u8], op: impl Fn(&S) -> Result<Option<T>>) -> Result<Option<T>> {
        add(&self.counters.reads, 1);
        let replicas = self.replicas_of(key);
        let now = Instant::now();
        let any_up = replicas.iter().any(|n| !Self::is_down(n, now));
        let mut answered = false;
        let mut failures: Vec<String> = Vec::new();
        for (i, node) in replicas.iter().enumerate() {
            if any_up && Self::is_down(node, now) {
                failures.push(format!("{} (down)", node.name));
                continue;
            }
            if i > 0 {
                add(&self.counters.read_fallbacks, 1);
            }
            match self.call(node, &op) {
                Ok(Some(v)) => return Ok(Some(v)),
                Ok(None) => answered = true,
                Err(e) => failures.push(format!("{}: {e}", node.name)),
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
    fn write<T: Send>(
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
            if Self::is_down(node, now) {
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
        let why: Vec<String> = failed.iter().map(|(_, e)| e.to_string()).collect();
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

fn names<S>(nodes: &[Arc<Node<S>>]) -> String {
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

    /// Syncs every node; the error names those that failed.
    fn sync(&self) -> Result<()> {
        let nodes = self.ring().nodes.clone();
        let failed: Vec<String> = nodes
            .iter()
            .filter_map(|n| {
                self.call(n, |s| s.sync())
                    .err()
                    .map(|e| format!("{}: {e}", n.name))
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
        vec![
            ("nodes", s.nodes.len() as u64),
            ("nodes_up", up),
            ("reads", s.reads),
            ("read_fallbacks", s.read_fallbacks),
            ("read_errors", s.read_errors),
            ("writes", s.writes),
            ("write_errors", s.write_errors),
            ("node_errors", s.nodes.iter().map(|n| n.errors).sum()),
            ("node_downs", s.nodes.iter().map(|n| n.downs).sum()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryCache;

    fn ring(n: usize, r: usize) -> ShardedStore<MemoryCache> {
        ShardedStore::new(
            (0..n).map(|i| (format!("node{i}"), MemoryCache::builder(1 << 20).build())),
            r,
        )
        .unwrap()
    }

    /// A memory store that can be switched to fail like an unreachable node.
    struct Flaky {
        inner: MemoryCache,
        down: std::sync::atomic::AtomicBool,
    }

    impl Flaky {
        fn check(&self) -> Result<()> {
            if self.down.load(Ordering::Relaxed) {
                Err(Error::remote("flaky", "connection refused"))
            } else {
                Ok(())
            }
        }
    }

    impl KvStore for Flaky {
        fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
            self.check()?;
            KvStore::get(&self.inner, key)
        }
        fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
            self.check()?;
            KvStore::set(&self.inner, key, value)
        }
        fn set_with_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) -> Result<()> {
            self.check()?;
            KvStore::set_with_ttl(&self.inner, key, value, ttl)
        }
        fn delete(&self, key: &[u8]) -> Result<bool> {
            self.check()?;
            KvStore::delete(&self.inner, key)
        }
        fn max_value_len(&self) -> u64 {
            1 << 20
        }
    }

    #[test]
    fn a_failing_replica_fails_the_write_by_name_in_both_write_paths() {
        let s = ShardedStore::builder()
            .replicas(2)
            .backoff(Duration::from_secs(60), Duration::from_secs(60))
            .build((0..3).map(|i| {
                let store = Flaky {
                    inner: MemoryCache::builder(8 << 20).build(),
                    down: false.into(),
                };
                (format!("node{i}"), store)
            }))
            .unwrap();
        let key = b"k";
        let holders = s.nodes_for(key);
        {
            let ring = s.ring();
            let bad = ring.nodes.iter().find(|n| n.name == holders[1]).unwrap();
            bad.store.down.store(true, Ordering::Relaxed);
        }
        // First a large value (written in parallel; the bad node fails and is marked down), then
        // a small one (sequential; the node is skipped as down).
        for value in [vec![2u8; PARALLEL_WRITE_MIN], vec![1u8; 10]] {
            let err = s.set(key, &value).unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.contains(&holders[1]) && !msg.contains(&holders[0]),
                "{msg}"
            );
            assert!(
                msg.contains("reached 1 of 2 replicas") || msg.contains("marked down"),
                "{msg}"
            );
            // The healthy replica has it; reads skip the down node.
            assert_eq!(s.get(key).unwrap(), Some(value));
        }
        let stats = s.stats();
        let bad = stats.nodes.iter().find(|n| n.name == holders[1]).unwrap();
        assert!(!bad.up && bad.downs == 1 && bad.errors == 1, "{bad:?}");
        assert_eq!(stats.write_errors, 2);
    }

    #[test]
    fn the_ring_hash_is_xxh3_and_stable() {
        // Fixed values: a change here moves every key of every deployed ring.
        assert_eq!(ring_hash(b""), 0x2d06_8005_38d3_94c2);
        assert_eq!(ring_hash(b"hello"), 0x9555_e855_5c62_dcfd);
    }

    #[test]
    fn replicas_are_distinct_and_in_ring_order() {
        let s = ring(5, 3);
        for i in 0..1000 {
            let key = format!("k{i}");
            let nodes = s.nodes_for(key.as_bytes());
            assert_eq!(nodes.len(), 3);
            let mut d = nodes.clone();
            d.sort();
            d.dedup();
            assert_eq!(d.len(), 3, "{nodes:?}");
        }
        assert_eq!(
            ring(2, 3).nodes_for(b"x").len(),
            2,
            "capped at the node count"
        );
    }

    #[test]
    fn adding_a_fourth_node_moves_about_a_quarter_of_the_keys() {
        let s = ring(3, 1);
        let keys: Vec<String> = (0..10_000).map(|i| format!("key:{i}")).collect();
        let before: Vec<String> = keys
            .iter()
            .map(|k| s.nodes_for(k.as_bytes())[0].clone())
            .collect();
        s.add_node("node3", MemoryCache::builder(1 << 20).build())
            .unwrap();
        let mut moved = 0;
        for (k, b) in keys.iter().zip(&before) {
            let now = &s.nodes_for(k.as_bytes())[0];
            if now != b {
                assert_eq!(now, "node3", "keys only move to the new node");
                moved += 1;
            }
        }
        let share = moved as f64 / keys.len() as f64;
        println!(
            "adding a 4th node moved {moved} of {} keys ({share:.3})",
            keys.len()
        );
        assert!((0.20..=0.30).contains(&share), "{share}");
        // And removing it moves exactly those back.
        assert!(s.remove_node("node3"));
        for (k, b) in keys.iter().zip(&before) {
            assert_eq!(&s.nodes_for(k.as_bytes())[0], b);
        }
    }

    #[test]
    fn writes_reach_every_replica_and_reads_fall_back() {
        let s = ring(3, 2);
        s.set(b"k", b"v").unwrap();
        let holders = s.nodes_for(b"k");
        let ring = s.ring();
        let copies = ring
            .nodes
            .iter()
            .filter(|n| KvStore::get(&n.store, b"k").unwrap().is_some())
            .count();
        assert_eq!(copies, 2);
        // Drop the first replica's copy: the read falls back to the second.
        let first = ring.nodes.iter().find(|n| n.name == holders[0]).unwrap();
        KvStore::delete(&first.store, b"k").unwrap();
        drop(ring);
        assert_eq!(s.get(b"k").unwrap(), Some(b"v".to_vec()));
        assert_eq!(s.stats().read_fallbacks, 1);
        assert!(s.delete(b"k").unwrap());
        assert_eq!(s.get(b"k").unwrap(), None);
    }
}
