//! Guards: the cache behaves like a map under any sequence of operations, reopens and
//! compactions (model-based testing against a `HashMap`, as sled's and redb's fuzzers do).

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::temp_log;
use logcache::{Durability, DurableKVCache, ManualClock};
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};

#[derive(Debug, Clone)]
enum Op {
    Put(u8, Vec<u8>),
    PutTtl(u8, Vec<u8>, u8),
    Delete(u8),
    Get(u8),
    Reopen,
    /// Reopen without the hint file: the whole log replayed.
    ReopenFull,
    Compact,
    Sync,
    Advance(u8),
}

/// A small key space with awkward bytes, so that keys collide often.
fn key(k: u8) -> Vec<u8> {
    match k % 8 {
        0 => b"".to_vec(),
        1 => b"\t".to_vec(),
        2 => b"a\nb".to_vec(),
        3 => vec![0, 0xff],
        n => format!("key{n}").into_bytes(),
    }
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Self {
        let k = u8::arbitrary(g);
        match u8::arbitrary(g) % 20 {
            0..=6 => Op::Put(k, Vec::arbitrary(g)),
            7..=8 => Op::PutTtl(k, Vec::arbitrary(g), u8::arbitrary(g) % 40),
            9..=11 => Op::Delete(k),
            12..=15 => Op::Get(k),
            16 => Op::Reopen,
            17 => Op::Compact,
            18 if bool::arbitrary(g) => Op::Sync,
            18 => Op::ReopenFull,
            _ => Op::Advance(u8::arbitrary(g) % 30),
        }
    }
    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        match self {
            Op::Put(k, v) => Box::new(v.shrink().map({
                let k = *k;
                move |v| Op::Put(k, v)
            })),
            _ => Box::new(std::iter::empty()),
        }
    }
}

fn prop(ops: Vec<Op>, sync: bool) -> TestResult {
    let (_dir, path) = temp_log();
    let clock = Arc::new(ManualClock::new(1_000));
    let open = || {
        DurableKVCache::builder(&path)
            .durability(if sync {
                Durability::Sync
            } else {
                Durability::None
            })
            .compaction_threshold(4)
            .clock(clock.clone())
            .open()
            .unwrap()
    };
    let mut cache = open();
    // key → (value, expiry in ms; 0 = never)
    let mut model: HashMap<Vec<u8>, (Vec<u8>, u64)> = HashMap::new();
    let live = |model: &HashMap<Vec<u8>, (Vec<u8>, u64)>, k: &[u8], now: u64| {
        model
            .get(k)
            .filter(|(_, exp)| *exp == 0 || *exp > now)
            .map(|(v, _)| v.clone())
    };
    for op in &ops {
        let now = clock.now();
        match op {
            Op::Put(k, v) => {
                cache.put(key(*k), v).unwrap();
                model.insert(key(*k), (v.clone(), 0));
            }
            Op::PutTtl(k, v, ttl) => {
                cache
                    .put_with_ttl(key(*k), v, Duration::from_millis(u64::from(*ttl)))
                    .unwrap();
                model.insert(key(*k), (v.clone(), now + u64::from(*ttl)));
            }
            Op::Delete(k) => {
                let was = live(&model, &key(*k), now).is_some();
                if cache.delete(key(*k)).unwrap() != was {
                    return TestResult::error(format!("delete({k}) disagrees with the model"));
                }
                model.remove(&key(*k));
            }
            Op::Get(k) => {
                let got = cache.get(key(*k)).unwrap();
                if got != live(&model, &key(*k), now) {
                    return TestResult::error(format!("get({k}) = {got:?}"));
                }
            }
            Op::Reopen => {
                drop(cache);
                cache = open();
                // A clean close wrote the hint of the whole log: nothing is replayed.
                let r = cache.stats().recovery;
                if r.records_replayed != 0 {
                    return TestResult::error(format!("reopen replayed records: {r:?}"));
                }
            }
            Op::ReopenFull => {
                drop(cache);
                let mut hint = path.as_os_str().to_owned();
                hint.push(".hint");
                let _ = std::fs::remove_file(&hint);
                cache = open();
            }
            Op::Compact => cache.compact().unwrap(),
            Op::Sync => cache.sync().unwrap(),
            Op::Advance(ms) => clock.advance(Duration::from_millis(u64::from(*ms))),
        }
        let now = clock.now();
        let expected = model
            .keys()
            .filter(|k| live(&model, k, now).is_some())
            .count();
        if cache.len() != expected {
            return TestResult::error(format!("len {} != model {expected}", cache.len()));
        }
    }
    // Everything matches after a final reopen, key by key.
    drop(cache);
    let cache = open();
    let now = clock.now();
    for k in 0..8 {
        if cache.get(key(k)).unwrap() != live(&model, &key(k), now) {
            return TestResult::error(format!("after final reopen, key {k} differs"));
        }
    }
    TestResult::passed()
}

trait Now {
    fn now(&self) -> u64;
}
impl Now for ManualClock {
    fn now(&self) -> u64 {
        logcache::Clock::now_millis(self)
    }
}

#[test]
fn model_matches_hashmap() {
    let cases = std::env::var("LOGCACHE_MODEL_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    QuickCheck::new()
        .tests(cases)
        .max_tests(cases * 2)
        .quickcheck(prop as fn(Vec<Op>, bool) -> TestResult);
}
