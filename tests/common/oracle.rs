//! The crash and fault-injection oracle: a journal of issued operations and the check of a
//! recovered cache against it.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use logcache::DurableKVCache;

/// One issued operation of the workload.
#[derive(Debug, Clone)]
pub struct Issued {
    key: Vec<u8>,
    value: Option<Vec<u8>>,
    /// Global issue order.
    gseq: u64,
    /// Returned Ok.
    acked: bool,
}

#[derive(Debug, Default)]
pub struct Journal {
    ops: Mutex<Vec<Issued>>,
    next: AtomicU64,
    /// Every op with a smaller gseq that had returned was made durable by a `sync()`.
    durable_before: AtomicU64,
}

impl Journal {
    pub fn issue(&self, key: &[u8], value: Option<&[u8]>) -> usize {
        let gseq = self.next.fetch_add(1, Ordering::SeqCst);
        let mut ops = self.ops.lock().unwrap();
        ops.push(Issued {
            key: key.to_vec(),
            value: value.map(<[u8]>::to_vec),
            gseq,
            acked: false,
        });
        ops.len() - 1
    }
    pub fn ack(&self, i: usize) {
        self.ops.lock().unwrap()[i].acked = true;
    }
    /// Runs one put (`Some`) or delete (`None`); false once the cache fails.
    pub fn apply(&self, cache: &DurableKVCache, key: &[u8], value: Option<&[u8]>) -> bool {
        let i = self.issue(key, value);
        let ok = match value {
            Some(v) => cache.put(key, v).is_ok(),
            None => cache.delete(key).is_ok(),
        };
        if ok {
            self.ack(i);
        }
        ok
    }
    /// Runs one `set_many` of `pairs`; false once the cache fails (then none is acknowledged).
    #[allow(dead_code)] // crash_sim uses it, io_errors does not
    pub fn apply_many(&self, cache: &DurableKVCache, pairs: &[(Vec<u8>, Vec<u8>)]) -> bool {
        let issued: Vec<usize> = pairs.iter().map(|(k, v)| self.issue(k, Some(v))).collect();
        let ok = cache.set_many(pairs.iter().map(|(k, v)| (k, v))).is_ok();
        if ok {
            for i in issued {
                self.ack(i);
            }
        }
        ok
    }
    pub fn sync(&self, cache: &DurableKVCache) -> bool {
        let before = self.next.load(Ordering::SeqCst);
        let ok = cache.sync().is_ok();
        if ok {
            self.durable_before.fetch_max(before, Ordering::SeqCst);
        }
        ok
    }
}

/// Checks the recovered cache against the journal.
pub fn check(
    cache: &DurableKVCache,
    journal: &Journal,
    sync_acks_durable: bool,
) -> Result<(), String> {
    check_evicting(cache, journal, sync_acks_durable, false)
}

/// [`check`] for a store with a byte budget (`may_evict`): any key may also be absent
/// (evicted), but a present one never holds a value older than its durable floor.
pub fn check_evicting(
    cache: &DurableKVCache,
    journal: &Journal,
    sync_acks_durable: bool,
    may_evict: bool,
) -> Result<(), String> {
    let ops = journal.ops.lock().unwrap();
    let durable_before = journal.durable_before.load(Ordering::SeqCst);
    let mut by_key: BTreeMap<&[u8], Vec<&Issued>> = BTreeMap::new();
    for op in ops.iter() {
        by_key.entry(&op.key).or_default().push(op);
    }
    for (key, history) in &by_key {
        let floor = history
            .iter()
            .rposition(|o| o.acked && (sync_acks_durable || o.gseq < durable_before));
        let got = cache
            .get(key)
            .map_err(|e| format!("get {:?}: {e}", String::from_utf8_lossy(key)))?;
        let mut allowed: Vec<Option<&[u8]>> = Vec::new();
        if floor.is_none() || may_evict {
            allowed.push(None); // nothing durable yet, or evicted: absent is fine
        }
        for o in &history[floor.unwrap_or(0)..] {
            allowed.push(o.value.as_deref());
        }
        if !allowed.contains(&got.as_deref()) {
            // Values start with a tag naming the op that wrote them ("t1i4|...").
            let tag = |v: Option<&[u8]>| {
                v.map(|v| {
                    String::from_utf8_lossy(v.split(|&b| b == b'|').next().unwrap_or(v))
                        .into_owned()
                })
            };
            return Err(format!(
                "key {:?} = {:?}, allowed {:?} (floor {floor:?})",
                String::from_utf8_lossy(key),
                tag(got.as_deref()),
                allowed.iter().map(|v| tag(*v)).collect::<Vec<_>>()
            ));
        }
    }
    for key in cache.keys() {
        if !by_key.contains_key(key.as_slice()) {
            return Err(format!(
                "key {:?} was never written",
                String::from_utf8_lossy(&key)
            ));
        }
    }
    Ok(())
}

/// Tiny deterministic generator for workload shapes.
pub struct Gen(pub u64);
impl Gen {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn value(&mut self, tag: &str) -> Vec<u8> {
        let len = match self.next() % 10 {
            0 => 0,
            1 => 3000 + (self.next() % 3000) as usize,
            _ => (self.next() % 60) as usize,
        };
        let mut v = format!("{tag}|").into_bytes();
        v.extend((0..len).map(|i| b"abc\t\n\0xyz"[i % 9]));
        v
    }
}
