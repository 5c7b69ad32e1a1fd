//! BigCache against a model: after every operation of a random sequence (sets of any size,
//! gets, deletes, reopens) the byte accounting matches what the store holds, stays within
//! capacity, and gets, evictions and `Full` refusals are exactly what an LRU model charging
//! each object its bytes predicts.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::{BLOCKS, MANIFESTS, MapStore, big_charge};
use logcache::{BigCache, Error, FullPolicy};
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};

const BLOCK: usize = 100;
/// Objects up to this size live inside their manifest.
const INLINE: usize = 60;
/// About 12 blocks with their keys and manifests.
const CAPACITY: u64 = 1300;

#[derive(Debug, Clone)]
enum Op {
    Set(u8, u16),
    Get(u8),
    Delete(u8),
    Reopen,
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Self {
        let k = u8::arbitrary(g) % 6;
        match u8::arbitrary(g) % 10 {
            0 => Op::Set(k, u16::arbitrary(g) % 120), // inline or one block
            1..=4 => Op::Set(k, u16::arbitrary(g) % 1400),
            5..=7 => Op::Get(k),
            8 => Op::Delete(k),
            _ => Op::Reopen,
        }
    }
}

/// The model: values and use order (least recent first).
#[derive(Default)]
struct Model {
    values: HashMap<Vec<u8>, Vec<u8>>,
    order: Vec<Vec<u8>>,
}

impl Model {
    fn blocks(v: &[u8]) -> u64 {
        if v.len() <= INLINE {
            0
        } else {
            (v.len() as u64).div_ceil(BLOCK as u64)
        }
    }
    fn charge(key: &[u8], v: &[u8]) -> u64 {
        big_charge(key.len(), v.len() as u64, BLOCK as u64, INLINE as u64)
    }
    fn used(&self) -> u64 {
        self.values.iter().map(|(k, v)| Self::charge(k, v)).sum()
    }
    fn blocks_held(&self) -> u64 {
        self.values.values().map(|v| Self::blocks(v)).sum()
    }
    fn touch(&mut self, key: &[u8]) {
        self.order.retain(|k| k != key);
        self.order.push(key.to_vec());
    }
    fn remove(&mut self, key: &[u8]) {
        self.values.remove(key);
        self.order.retain(|k| k != key);
    }
    /// Ok(evicted keys) or Err(()) for Full.
    fn set(&mut self, key: &[u8], value: Vec<u8>, evict: bool) -> Result<(), ()> {
        let need = Self::charge(key, &value);
        if need > CAPACITY {
            return Err(());
        }
        let credit = self.values.get(key).map_or(0, |v| Self::charge(key, v));
        while CAPACITY - self.used() + credit < need {
            let victim = self.order.iter().find(|k| k.as_slice() != key).cloned();
            match victim {
                Some(v) if evict => self.remove(&v),
                _ => return Err(()),
            }
        }
        self.values.insert(key.to_vec(), value);
        self.touch(key);
        Ok(())
    }
}

fn prop(ops: Vec<Op>, evict: bool) -> TestResult {
    let store = Arc::new(MapStore::new(1000));
    let open = || {
        BigCache::builder(Arc::clone(&store))
            .block_size(BLOCK)
            .inline_max(INLINE)
            .capacity_bytes(CAPACITY)
            .full_policy(if evict {
                FullPolicy::EvictLru
            } else {
                FullPolicy::Fail
            })
            .open()
            .unwrap()
    };
    let mut cache = open();
    let mut model = Model::default();
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Set(k, len) => {
                let key = vec![b'k', *k];
                let value: Vec<u8> = (0..*len).map(|i| (i as u8) ^ k).collect();
                let got = cache.set(&key, &value);
                let want = model.set(&key, value, evict);
                match (got, want) {
                    (Ok(()), Ok(())) | (Err(Error::Full), Err(())) => {}
                    (got, want) => {
                        return TestResult::error(format!(
                            "step {step} {op:?}: got {got:?}, model {want:?}"
                        ));
                    }
                }
            }
            Op::Get(k) => {
                let key = vec![b'k', *k];
                let got = cache.get(&key).unwrap();
                if got.as_ref() != model.values.get(&key) {
                    return TestResult::error(format!(
                        "step {step} {op:?}: got {:?} bytes",
                        got.map(|v| v.len())
                    ));
                }
                if got.is_some() {
                    model.touch(&key);
                }
            }
            Op::Delete(k) => {
                let key = vec![b'k', *k];
                let was = model.values.contains_key(&key);
                model.remove(&key);
                if cache.delete(&key).unwrap() != was {
                    return TestResult::error(format!("step {step} {op:?}: delete disagrees"));
                }
            }
            Op::Reopen => {
                drop(cache);
                cache = open();
                // Objects are registered in key order at open.
                model.order.sort();
            }
        }
        let s = cache.stats();
        let blocks_in_store = store.count_prefix(BLOCKS) as u64;
        let manifests = store.count_prefix(MANIFESTS) as u64;
        if s.blocks != blocks_in_store
            || s.blocks != model.blocks_held()
            || s.objects != manifests
            || s.used_bytes != model.used()
            || s.reserved_bytes != 0
            || s.used_bytes > CAPACITY
            || s.free_bytes != Some(CAPACITY - s.used_bytes)
        {
            return TestResult::error(format!(
                "step {step} {op:?}: accounting {s:?}, store has {blocks_in_store} blocks and {manifests} manifests, model uses {} bytes",
                model.used()
            ));
        }
    }
    TestResult::passed()
}

#[test]
fn accounting_matches_the_store_and_the_lru_model() {
    let cases = std::env::var("LOGCACHE_MODEL_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    QuickCheck::new()
        .tests(cases)
        .max_tests(cases * 2)
        .quickcheck(prop as fn(Vec<Op>, bool) -> TestResult);
}
