//! The memory tier: MemoryCache's byte bound against a reference LRU (quickcheck), TTL with an
//! injected clock (also across a Tiered pair), write-through / write-around / read-through,
//! single-flight loads, load errors, concurrency, and scan resistance.

mod common;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::temp_log;
use logcache::{
    Durability, DurableKVCache, ENTRY_OVERHEAD, Error, EvictionPolicy, ManualClock, MemoryCache,
    PolicyKind, Tiered, WritePolicy,
};
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};

#[derive(Debug, Clone)]
enum Op {
    Set(u8, u16),
    Get(u8),
    Delete(u8),
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Self {
        let k = u8::arbitrary(g) % 12;
        match u8::arbitrary(g) % 6 {
            0..=2 => Op::Set(k, u16::arbitrary(g) % 600),
            3..=4 => Op::Get(k),
            _ => Op::Delete(k),
        }
    }
}

/// The reference: an LRU list of (key, value), least recent first, with the same weights.
#[derive(Default)]
struct RefLru {
    items: VecDeque<(Vec<u8>, Vec<u8>)>,
}

impl RefLru {
    fn weight(k: &[u8], v: &[u8]) -> u64 {
        k.len() as u64 + v.len() as u64 + ENTRY_OVERHEAD
    }
    fn used(&self) -> u64 {
        self.items.iter().map(|(k, v)| Self::weight(k, v)).sum()
    }
    fn take(&mut self, k: &[u8]) -> Option<Vec<u8>> {
        let i = self.items.iter().position(|(key, _)| key == k)?;
        self.items.remove(i).map(|(_, v)| v)
    }
}

const CAPACITY: u64 = 2000;

fn lru_prop(ops: Vec<Op>) -> TestResult {
    let cache = MemoryCache::builder(CAPACITY)
        .shards(1)
        .policy(PolicyKind::Lru)
        .build();
    let mut model = RefLru::default();
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Set(k, len) => {
                let key = vec![b'k', *k];
                let value = vec![*k; *len as usize];
                let w = RefLru::weight(&key, &value);
                let got = cache.set(&key, &value);
                if w > CAPACITY {
                    if !matches!(got, Err(Error::TooLarge { .. })) {
                        return TestResult::error(format!("step {step}: oversize entry accepted"));
                    }
                    continue;
                }
                if got.is_err() {
                    return TestResult::error(format!("step {step}: {got:?}"));
                }
                model.take(&key);
                while model.used() + w > CAPACITY {
                    model.items.pop_front();
                }
                model.items.push_back((key, value));
            }
            Op::Get(k) => {
                let key = vec![b'k', *k];
                let want = model.take(&key);
                if let Some(v) = &want {
                    model.items.push_back((key.clone(), v.clone()));
                }
                if cache.get(&key) != want {
                    return TestResult::error(format!("step {step}: get {k} disagrees"));
                }
            }
            Op::Delete(k) => {
                let key = vec![b'k', *k];
                if cache.delete(&key) != model.take(&key).is_some() {
                    return TestResult::error(format!("step {step}: delete {k} disagrees"));
                }
            }
        }
        let s = cache.stats();
        if s.bytes > CAPACITY || s.bytes != model.used() || s.entries != model.items.len() as u64 {
            return TestResult::error(format!(
                "step {step}: {} bytes in {} entries, model {} in {}",
                s.bytes,
                s.entries,
                model.used(),
                model.items.len()
            ));
        }
    }
    TestResult::passed()
}

#[test]
fn byte_bound_holds_and_lru_matches_a_reference() {
    QuickCheck::new()
        .tests(500)
        .quickcheck(lru_prop as fn(Vec<Op>) -> TestResult);
}

#[test]
fn byte_bound_holds_for_s3fifo_and_many_shards() {
    fn prop(ops: Vec<Op>, shards: u8) -> bool {
        let cache = MemoryCache::builder(CAPACITY * 4)
            .shards(usize::from(shards % 8) + 1)
            .policy(PolicyKind::S3Fifo)
            .build();
        for op in ops {
            match op {
                Op::Set(k, len) => {
                    let _ = cache.set([b'k', k], vec![k; len as usize]);
                }
                Op::Get(k) => {
                    if let Some(v) = cache.get([b'k', k]) {
                        assert!(v.iter().all(|&b| b == k), "a value came back wrong");
                    }
                }
                Op::Delete(k) => {
                    cache.delete([b'k', k]);
                }
            }
            let s = cache.stats();
            if s.bytes > s.capacity || s.entries != cache.keys().len() as u64 {
                return false;
            }
        }
        true
    }
    QuickCheck::new()
        .tests(300)
        .quickcheck(prop as fn(Vec<Op>, u8) -> bool);
}

#[test]
fn ttl_expires_exactly_and_is_reclaimed_lazily_and_by_sweep() {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let cache = MemoryCache::builder(1 << 20).clock(clock.clone()).build();
    cache
        .set_with_ttl("a", "1", Duration::from_secs(10))
        .unwrap();
    cache
        .set_with_ttl("b", "2", Duration::from_secs(10))
        .unwrap();
    cache.set("forever", "3").unwrap();
    clock.advance(Duration::from_millis(9_999));
    assert_eq!(cache.get("a").as_deref(), Some(&b"1"[..]));
    clock.advance(Duration::from_millis(1));
    assert_eq!(cache.get("a"), None, "expires at exactly now + ttl");
    assert!(!cache.contains("b"));
    assert_eq!(cache.len(), 1, "expired entries are not counted as live");
    let s = cache.stats();
    assert_eq!(
        (s.entries, s.evictions_expired),
        (2, 1),
        "b still holds memory until swept"
    );
    assert_eq!(cache.sweep(), 1);
    let s = cache.stats();
    assert_eq!((s.entries, s.evictions_expired), (1, 2));
    assert_eq!(s.bytes, 7 + 1 + ENTRY_OVERHEAD);
}

#[test]
fn ttl_means_the_same_in_both_tiers() {
    let (_dir, path) = temp_log();
    let clock = Arc::new(ManualClock::new(5_000_000));
    let back = DurableKVCache::builder(&path)
        .durability(Durability::None)
        .clock(clock.clone())
        .open()
        .unwrap();
    let front = MemoryCache::builder(1 << 20).clock(clock.clone()).build();
    let tiered = Tiered::builder(front, back).build();
    tiered
        .set_with_ttl("session", "abc", Duration::from_secs(60))
        .unwrap();
    assert_eq!(tiered.front().get("session").as_deref(), Some(&b"abc"[..]));
    // Read through from the back store: the memory copy keeps the store's expiry.
    tiered
        .back()
        .put_with_ttl("token", "xyz", Duration::from_secs(30))
        .unwrap();
    assert_eq!(tiered.get("token").unwrap().as_deref(), Some(&b"xyz"[..]));
    assert!(tiered.front().contains("token"));
    clock.advance(Duration::from_secs(30));
    assert_eq!(
        tiered.get("token").unwrap(),
        None,
        "expired in both tiers at once"
    );
    assert!(!tiered.front().contains("token"));
    assert_eq!(tiered.get("session").unwrap().as_deref(), Some(&b"abc"[..]));
    clock.advance(Duration::from_secs(30));
    assert_eq!(tiered.get("session").unwrap(), None);
    assert_eq!(tiered.back().get("session").unwrap(), None);
}

#[test]
fn write_through_write_around_and_read_through() {
    let (_dir, path) = temp_log();
    let through = Tiered::builder(MemoryCache::new(1 << 20), common::open_fast(&path))
        .write_policy(WritePolicy::Through)
        .build();
    through.set("k", "v1").unwrap();
    assert_eq!(through.front().get("k").as_deref(), Some(&b"v1"[..]));
    assert_eq!(
        through.back().get("k").unwrap().as_deref(),
        Some(&b"v1"[..])
    );
    drop(through);

    let around = Tiered::builder(MemoryCache::new(1 << 20), common::open_fast(&path))
        .write_policy(WritePolicy::Around)
        .build();
    around.front().set("k", "stale").unwrap();
    around.set("k", "v2").unwrap();
    assert_eq!(
        around.front().get("k"),
        None,
        "write-around invalidates the memory tier"
    );
    assert_eq!(around.back().get("k").unwrap().as_deref(), Some(&b"v2"[..]));
    assert_eq!(
        around.get("k").unwrap().as_deref(),
        Some(&b"v2"[..]),
        "read-through"
    );
    assert_eq!(
        around.front().get("k").as_deref(),
        Some(&b"v2"[..]),
        "and populated"
    );
    assert!(around.delete("k").unwrap());
    assert_eq!(around.get("k").unwrap(), None);
    let s = around.stats();
    assert_eq!(s.loads, 2);
}

#[test]
fn sixteen_threads_missing_one_key_cause_exactly_one_load() {
    let (_dir, path) = temp_log();
    let loads = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&loads);
    let tiered = Arc::new(
        Tiered::builder(MemoryCache::new(1 << 20), common::open_fast(&path))
            .loader(move |key| {
                counted.fetch_add(1, Ordering::SeqCst);
                // A slow source, so that the other threads arrive while it runs.
                std::thread::sleep(Duration::from_millis(50));
                Ok(Some([b"loaded ", key].concat()))
            })
            .build(),
    );
    let start = Arc::new(Barrier::new(16));
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let (tiered, start) = (Arc::clone(&tiered), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                tiered.get("hot").unwrap()
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap().as_deref(), Some(&b"loaded hot"[..]));
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1, "exactly one load");
    let s = tiered.stats();
    assert_eq!(s.loads, 1);
    // The other threads waited for that load, or found its value in memory afterwards.
    assert!(s.load_waits <= 15, "{s:?}");
    assert_eq!(
        tiered.back().get("hot").unwrap().as_deref(),
        Some(&b"loaded hot"[..])
    );
}

#[test]
fn a_failed_load_is_an_error_for_every_waiter_and_caches_nothing() {
    let (_dir, path) = temp_log();
    let tiered = Arc::new(
        Tiered::builder(MemoryCache::new(1 << 20), common::open_fast(&path))
            .loader(|_| {
                std::thread::sleep(Duration::from_millis(20));
                Err(Error::InvalidArgument("database down".into()))
            })
            .build(),
    );
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let tiered = Arc::clone(&tiered);
            std::thread::spawn(move || tiered.get("k"))
        })
        .collect();
    for t in threads {
        let err = t.join().unwrap().unwrap_err();
        assert!(err.to_string().contains("database down"), "{err}");
    }
    assert!(tiered.stats().load_errors >= 1);
    assert!(!tiered.front().contains("k"));
    assert_eq!(tiered.back().get("k").unwrap(), None);
}

#[test]
fn four_threads_for_two_seconds_no_deadlock_consistent_counts() {
    let cache = Arc::new(MemoryCache::builder(256 << 10).shards(4).build());
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let (cache, stop) = (Arc::clone(&cache), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut x = t + 1;
                let mut ops = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Key and operation from different bits: from the same bits, every set and
                    // every get would fall on disjoint keys.
                    let key = format!("k{}", x % 2000);
                    match (x >> 40) % 10 {
                        0..=5 => {
                            if let Some(v) = cache.get(&key) {
                                assert!(v.iter().all(|&b| b == v[0]), "torn value");
                            }
                        }
                        6..=8 => cache
                            .set(&key, vec![(x % 251) as u8; (x % 300) as usize + 1])
                            .unwrap(),
                        _ => {
                            cache.delete(&key);
                        }
                    }
                    ops += 1;
                }
                ops
            })
        })
        .collect();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    let ops: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(ops > 0);
    let s = cache.stats();
    let keys = cache.keys();
    assert_eq!(s.entries, keys.len() as u64);
    let weight: u64 = keys
        .iter()
        .map(|k| k.len() as u64 + cache.get(k).unwrap().len() as u64 + ENTRY_OVERHEAD)
        .sum();
    assert_eq!(s.bytes, weight, "accounted bytes match the entries held");
    assert!(s.bytes <= s.capacity);
    assert!(s.hits > 0 && s.misses > 0 && s.inserts > 0, "{s:?}");
}

#[test]
fn s3fifo_keeps_the_hot_set_through_a_scan_and_lru_does_not() {
    // Every entry weighs 200 bytes (key + value + ENTRY_OVERHEAD); the cache holds 100.
    let value = |key: &str| vec![1u8; 200 - ENTRY_OVERHEAD as usize - key.len()];
    for policy in [PolicyKind::S3Fifo, PolicyKind::Lru] {
        let cache = MemoryCache::builder(100 * 200)
            .shards(1)
            .policy(policy)
            .build();
        let hot: Vec<String> = (0..50).map(|k| format!("h{k:02}")).collect();
        for k in &hot {
            cache.set(k, value(k)).unwrap();
        }
        for _ in 0..3 {
            for k in &hot {
                assert!(cache.get(k).is_some());
            }
        }
        for k in 0..5000 {
            let key = format!("s{k:04}");
            cache.set(&key, value(&key)).unwrap(); // a scan: each key used once
        }
        let survivors = hot.iter().filter(|k| cache.contains(k)).count();
        match policy {
            PolicyKind::Lru => assert_eq!(survivors, 0, "LRU: the scan flushed the hot set"),
            _ => assert_eq!(survivors, 50, "S3-FIFO keeps the hot set through the scan"),
        }
    }
}

#[test]
fn an_entry_bigger_than_a_shard_is_refused() {
    let cache = MemoryCache::builder(1000).shards(1).build();
    let err = cache.set("k", vec![0u8; 1000]).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    assert_eq!(
        logcache::KvStore::max_value_len(&cache),
        1000 - ENTRY_OVERHEAD
    );
}

/// A policy of the user's own: first in, first out, reads ignored.
#[derive(Debug, Default)]
struct Fifo(VecDeque<u64>);

impl EvictionPolicy for Fifo {
    fn on_insert(&mut self, id: u64, _weight: u64, _fingerprint: u64) {
        self.0.push_back(id);
    }
    fn on_access(&mut self, _id: u64) {}
    fn on_remove(&mut self, id: u64) {
        self.0.retain(|&x| x != id);
    }
    fn evict(&mut self) -> Option<u64> {
        self.0.pop_front()
    }
}

#[test]
fn a_users_own_policy_decides_what_goes() {
    let entry = ENTRY_OVERHEAD + 1 + 100;
    let shard_capacity = Arc::new(AtomicU64::new(0));
    let seen = shard_capacity.clone();
    let cache = MemoryCache::builder(2 * entry)
        .shards(1)
        .custom_policy(move |capacity| {
            seen.store(capacity, Ordering::SeqCst);
            Box::new(Fifo::default())
        })
        .build();
    assert_eq!(shard_capacity.load(Ordering::SeqCst), 2 * entry);
    cache.set("a", vec![1u8; 100]).unwrap();
    cache.set("b", vec![2u8; 100]).unwrap();
    assert!(cache.get("a").is_some()); // LRU would now evict "b"; FIFO still "a"
    cache.set("c", vec![3u8; 100]).unwrap();
    assert_eq!(cache.get("a"), None);
    assert!(cache.get("b").is_some());
    assert!(cache.get("c").is_some());
}
