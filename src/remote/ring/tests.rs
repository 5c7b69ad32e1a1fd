//! The ring alone: placement, key movement, replica writes and read fallback, failing replicas.

use std::sync::atomic::Ordering;

use super::sharded::*;
use super::*;
use crate::error::{Error, Result};
use crate::memory::MemoryCache;
use crate::store::KvStore;
use std::sync::Arc;
use std::time::Duration;

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

/// A node that hangs: each call sleeps, then fails as a timed-out node would.
struct Hung;

impl KvStore for Hung {
    fn get(&self, _key: &[u8]) -> Result<Option<Vec<u8>>> {
        std::thread::sleep(Duration::from_millis(300));
        Err(Error::remote(
            "hung",
            "it did not answer within 300ms (timed out)",
        ))
    }
    fn set(&self, _key: &[u8], _value: &[u8]) -> Result<()> {
        Err(Error::remote("hung", "timed out"))
    }
    fn set_with_ttl(&self, key: &[u8], value: &[u8], _ttl: Duration) -> Result<()> {
        self.set(key, value)
    }
    fn delete(&self, _key: &[u8]) -> Result<bool> {
        Err(Error::remote("hung", "timed out"))
    }
    fn max_value_len(&self) -> u64 {
        1 << 20
    }
}

/// A ring of two replicas, a hung node and a good one, with a fixed `backoff`; and a key whose
/// first replica is the hung node.
fn hung_and_good(backoff: Duration) -> (ShardedStore<Arc<dyn KvStore>>, Vec<u8>) {
    let nodes: Vec<(String, Arc<dyn KvStore>)> = vec![
        ("hung".into(), Arc::new(Hung)),
        (
            "good".into(),
            Arc::new(MemoryCache::builder(1 << 20).build()),
        ),
    ];
    let s = ShardedStore::builder()
        .replicas(2)
        .backoff(backoff, backoff)
        .build(nodes)
        .unwrap();
    let key = (0u32..)
        .map(|i| format!("k{i}").into_bytes())
        .find(|k| s.nodes_for(k)[0] == "hung")
        .unwrap();
    (s, key)
}

/// Once a node's backoff ends, one caller probes it; every caller arriving during that probe
/// treats it as still down and reads the other replica at once (issue 27: a hung node costs
/// one caller its deadline per backoff, not every caller).
#[test]
fn a_node_past_its_backoff_is_probed_by_one_caller_only() {
    let (s, key) = hung_and_good(Duration::from_millis(20));
    s.ring()
        .nodes
        .iter()
        .find(|n| n.name == "good")
        .unwrap()
        .store
        .set(&key, b"v")
        .unwrap();
    // The first read pays the hung node's deadline and marks it down.
    assert_eq!(s.get(&key).unwrap().as_deref(), Some(&b"v"[..]));
    std::thread::sleep(Duration::from_millis(40)); // the backoff ends
    let requests = || {
        let stats = s.stats();
        stats
            .nodes
            .iter()
            .find(|n| n.name == "hung")
            .map(|n| n.requests)
    };
    let requests_before = requests().unwrap();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                assert_eq!(s.get(&key).unwrap().as_deref(), Some(&b"v"[..]));
            });
        }
    });
    let requests_after = requests().unwrap();
    assert_eq!(
        requests_after - requests_before,
        1,
        "eight readers at once after the backoff: one probe"
    );
}

/// A sync says nothing of a node's health: a remote node's sync is a no-op, and counted as a
/// success it marked a hung node up right after each failure, so every request paid its
/// deadline again (found by the SIGSTOP stream tests: 20 one-second requests per hundred).
#[test]
fn a_sync_does_not_mark_a_down_node_up() {
    let (s, key) = hung_and_good(Duration::from_secs(60));
    assert_eq!(s.get(&key).unwrap(), None); // the hung node fails and is marked down
    let up = |s: &ShardedStore<Arc<dyn KvStore>>| {
        s.stats()
            .nodes
            .iter()
            .find(|n| n.name == "hung")
            .map(|n| n.up)
    };
    assert_eq!(up(&s), Some(false));
    s.sync().unwrap();
    assert_eq!(up(&s), Some(false), "still down after a sync");
}
