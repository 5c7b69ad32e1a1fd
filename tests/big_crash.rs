//! BigCache under crashes: BigCache over a Sync DurableKVCache over the simulated file system,
//! a workload of sets, replaces (blocks and inline objects both ways), a delete and a
//! streamed write, a crash after every I/O operation, and every crash image reopened. Each
//! key must read as the old object or the new one, whole (never a mix, never torn), and no
//! block without a manifest may survive the open.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use logcache::sim::SimFs;
use logcache::{BigCache, DurableKVCache, KvStore};

const LOG: &str = "/db/objects.log";
const BLOCK: usize = 64;

fn open(fs: &SimFs) -> logcache::Result<BigCache<DurableKVCache>> {
    let store = DurableKVCache::builder(LOG)
        .compaction_threshold(0)
        .file_system(Arc::new(fs.clone()))
        .open()?;
    BigCache::builder(store).block_size(BLOCK).open()
}

fn object(tag: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| tag.wrapping_mul(31).wrapping_add(i as u8))
        .collect()
}

/// key → [(value or None for a delete, acknowledged)]
type History = BTreeMap<&'static str, Vec<(Option<Vec<u8>>, bool)>>;

fn workload(cache: &BigCache<DurableKVCache>, h: &mut History) {
    let steps: Vec<(&'static str, Option<Vec<u8>>, bool)> = vec![
        ("a", Some(object(1, 200)), false),
        ("b", Some(object(2, 100)), false),
        ("a", Some(object(3, 300)), false), // replace
        ("b", None, false),                 // delete
        ("c", Some(Vec::new()), false),     // empty object
        ("a", Some(object(4, 64)), false),  // replace blocks with an inline object
        ("c", Some(object(6, 65)), false),  // replace an inline object with blocks
        ("d", Some(object(5, 250)), true),  // streamed
    ];
    for (key, value, streamed) in steps {
        h.entry(key).or_default().push((value.clone(), false));
        let ok = match &value {
            None => cache.delete(key).is_ok(),
            Some(v) if streamed => cache
                .writer(key)
                .and_then(|mut w| {
                    for chunk in v.chunks(50) {
                        w.write_all(chunk)
                            .map_err(|e| logcache::Error::InvalidArgument(e.to_string()))?;
                    }
                    w.commit()
                })
                .is_ok(),
            Some(v) => cache.set(key, v).is_ok(),
        };
        if !ok {
            return;
        }
        if let Some(last) = h.get_mut(key).and_then(|v| v.last_mut()) {
            last.1 = true;
        }
    }
}

fn check(cache: &BigCache<DurableKVCache>, h: &History, ctx: &str) {
    for (key, history) in h {
        let got = cache
            .get(key)
            .unwrap_or_else(|e| panic!("{ctx}: get {key}: {e}"));
        let floor = history.iter().rposition(|(_, acked)| *acked);
        let mut allowed: Vec<Option<&[u8]>> = Vec::new();
        if floor.is_none() {
            allowed.push(None);
        }
        allowed.extend(
            history[floor.unwrap_or(0)..]
                .iter()
                .map(|(v, _)| v.as_deref()),
        );
        assert!(
            allowed.contains(&got.as_deref()),
            "{ctx}: {key} has {:?} bytes, allowed lengths {:?}",
            got.as_ref().map(Vec::len),
            allowed
                .iter()
                .map(|v| v.map(<[u8]>::len))
                .collect::<Vec<_>>()
        );
    }
    // No orphans: every block belongs to a manifest, and the accounting matches the store.
    let store = cache.store();
    let blocks = store.keys_with_prefix(b"\xffbcb").unwrap().unwrap().len() as u64;
    let s = cache.stats();
    assert_eq!(blocks, s.blocks, "{ctx}: blocks in the store vs accounting");
    let manifests = store.keys_with_prefix(b"\xffbcm").unwrap().unwrap().len() as u64;
    assert_eq!(manifests, s.objects, "{ctx}: manifests vs objects");
}

fn a_crash_anywhere_in_a_set_or_replace_leaves_old_or_new_and_no_orphans() {
    let clean = SimFs::new();
    let mut h = History::new();
    let start = {
        let cache = open(&clean).unwrap();
        let start = clean.ops();
        workload(&cache, &mut h);
        clean.ops() - start
    };
    let mut states = 0;
    for k in 1..=start + 2 {
        let fs = SimFs::new();
        let cache = open(&fs).unwrap();
        fs.crash_after(fs.ops() + k);
        let mut h = History::new();
        workload(&cache, &mut h);
        if !fs.has_crashed() {
            fs.crash_now();
        }
        drop(cache);
        for (label, image) in fs.crash_images(k) {
            let ctx = format!("crash after op {k}, image {label}");
            let cache = open(&image).unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
            check(&cache, &h, &ctx);
            cache.set("after", object(9, 130)).unwrap();
            assert_eq!(cache.get("after").unwrap(), Some(object(9, 130)), "{ctx}");
            states += 1;
        }
    }
    println!("bigcache crash states: {states} ({start} I/O operations in the workload)");
    assert!(
        states >= 6 * start,
        "every crash point yields at least 6 images"
    );
}

// `harness = false`: the figures above print in every run (the test harness would capture
// them), and a panic fails the run.
fn main() {
    a_crash_anywhere_in_a_set_or_replace_leaves_old_or_new_and_no_orphans();
    println!("big_crash: 1 passed, 0 failed");
}
