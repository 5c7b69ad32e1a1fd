//! The byte budget (`max_bytes`): the log stays within its stated bound however much is
//! written, every missing key was evicted, a read-again key survives a scan with CLOCK, bad
//! budgets are refused, reopen enforces the budget, and a model with evictions: a present key
//! always holds its latest value, an absent one was deleted, expired or evicted — never an
//! older value — across reopens too.

mod common;

use std::collections::HashMap;

use common::temp_log;
use logcache::{Durability, DurableKVCache, Error, Eviction};
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};

fn open(path: &std::path::Path, max: u64, eviction: Eviction) -> DurableKVCache {
    DurableKVCache::builder(path)
        .durability(Durability::None)
        .max_bytes(max)
        .eviction(eviction)
        .open()
        .unwrap()
}

#[test]
fn two_hundred_thousand_puts_stay_within_the_bound_and_every_missing_key_was_evicted() {
    const MAX: u64 = 16 << 20;
    const N: u64 = 200_000;
    let (_dir, path) = temp_log();
    let cache = open(&path, MAX, Eviction::Clock);
    let value = vec![b'v'; 1024];
    for i in 0..N {
        cache.put(format!("key{i:08}"), &value).unwrap();
        if i % 10_000 == 9_999 {
            cache.wait_for_compaction();
            let s = cache.stats();
            assert!(s.live_bytes <= MAX, "{s:?}");
            // The stated bound: about 2.2 × the budget (plus one preallocation step, which
            // file_bytes does not count).
            assert!(
                s.file_bytes as f64 <= 2.2 * MAX as f64,
                "after {} puts: {} bytes of log for a budget of {MAX}",
                i + 1,
                s.file_bytes
            );
        }
    }
    let s = cache.stats();
    assert_eq!(s.max_bytes, MAX);
    let present = cache.len() as u64;
    assert_eq!(present + s.evictions, N, "{s:?}");
    assert!(s.evictions > 0);
    assert!(s.evicted_bytes >= s.evictions * 1024);
}

#[test]
fn with_clock_and_s3fifo_keys_read_again_survive_a_scan_and_with_fifo_they_do_not() {
    for (eviction, hot_survive) in [
        (Eviction::Clock, true),
        (Eviction::S3Fifo, true),
        (Eviction::Fifo, false),
    ] {
        let (_dir, path) = temp_log();
        // Room for about 100 entries of ~1 KiB.
        let cache = open(&path, 100 * 1100, eviction);
        let value = vec![b'h'; 1024];
        for i in 0..10 {
            cache.put(format!("hot{i}"), &value).unwrap();
        }
        for _ in 0..3 {
            for i in 0..10 {
                assert!(cache.get(format!("hot{i}")).unwrap().is_some());
            }
        }
        // A scan of cold keys read once, one and a half times the budget.
        for i in 0..150 {
            cache.put(format!("cold{i}"), &value).unwrap();
        }
        let hot = (0..10)
            .filter(|i| cache.get(format!("hot{i}")).unwrap().is_some())
            .count();
        if hot_survive {
            assert_eq!(hot, 10, "{eviction:?}");
        } else {
            assert_eq!(hot, 0, "{eviction:?}");
        }
        assert!(cache.stats().live_bytes <= 100 * 1100);
    }
}

/// Puts `n` keys named `prefix{i}`, never read, of about 1 KiB each.
fn scan(cache: &DurableKVCache, prefix: &str, n: usize) {
    let value = vec![b'c'; 1024];
    for i in 0..n {
        cache.put(format!("{prefix}{i}"), &value).unwrap();
    }
}

fn present(cache: &DurableKVCache, prefix: &str, n: usize) -> usize {
    (0..n)
        .filter(|i| cache.get(format!("{prefix}{i}")).unwrap().is_some())
        .count()
}

#[test]
fn with_s3fifo_a_scan_after_reopen_does_not_flush_what_the_log_held() {
    for (eviction, survive) in [
        (Eviction::S3Fifo, true),
        (Eviction::Clock, false),
        (Eviction::Fifo, false),
    ] {
        let (_dir, path) = temp_log();
        let cache = open(&path, 100 * 1100, eviction);
        scan(&cache, "kept", 50);
        drop(cache);
        // Loaded at open, the 50 keys are S3-FIFO's main entries: a scan of new keys, never
        // read, churns the probationary tenth of the budget and never reaches them. CLOCK and
        // FIFO evict them first (unread, oldest in the log).
        let cache = open(&path, 100 * 1100, eviction);
        scan(&cache, "cold", 500);
        let kept = present(&cache, "kept", 50);
        assert_eq!(kept, if survive { 50 } else { 0 }, "{eviction:?}");
        let s = cache.stats();
        assert!(s.live_bytes <= 100 * 1100, "{s:?}");
        assert_eq!(s.evictions + s.live_keys, 550, "{s:?}");
    }
}

#[test]
fn with_s3fifo_a_key_that_comes_back_after_its_eviction_joins_the_main_entries() {
    let (_dir, path) = temp_log();
    let cache = open(&path, 100 * 1100, Eviction::S3Fifo);
    scan(&cache, "back", 10);
    // The budget fills after about 90 more; the first probationary keys to go are "back".
    scan(&cache, "cold", 110);
    assert_eq!(
        present(&cache, "back", 10),
        0,
        "never read: evicted from probation"
    );
    // Written again (a miss filled, as a read-through cache does): the ghost remembers them,
    // so they skip probation, and a scan does not reach them, unread as they are.
    scan(&cache, "back", 10);
    scan(&cache, "once", 10);
    scan(&cache, "more", 500);
    assert_eq!(present(&cache, "back", 10), 10, "remembered by the ghost");
    assert_eq!(
        present(&cache, "once", 10),
        0,
        "new and unread: evicted from probation"
    );
}

#[test]
fn eviction_hands_keep_their_place_across_a_compaction() {
    // 90 entries fill the budget; 10 of them read once. With the hand kept in place, a
    // compaction in the middle of the scan changes nothing: the same keys go as without it.
    let run = |compact_midway: bool| {
        let (_dir, path) = temp_log();
        let cache = open(&path, 100 * 1100, Eviction::Clock);
        scan(&cache, "a", 90);
        for i in (0..90).step_by(9) {
            assert!(cache.get(format!("a{i}")).unwrap().is_some());
        }
        scan(&cache, "b", 60);
        if compact_midway {
            cache.compact().unwrap();
        }
        scan(&cache, "c", 60);
        let mut kept: Vec<String> = Vec::new();
        for prefix in ["a", "b", "c"] {
            for i in 0..90 {
                let key = format!("{prefix}{i}");
                if cache.get(&key).unwrap().is_some() {
                    kept.push(key);
                }
            }
        }
        kept
    };
    assert_eq!(run(true), run(false));
}

#[test]
fn bad_budgets_and_values_over_the_budget_are_refused_and_evict_nothing() {
    let (_dir, path) = temp_log();
    let err = DurableKVCache::builder(&path)
        .max_bytes(0)
        .open()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    assert!(!path.exists(), "nothing created for a bad budget");

    let cache = open(&path, 4096, Eviction::Clock);
    cache.put("a", vec![1u8; 1000]).unwrap();
    cache.put("b", vec![2u8; 1000]).unwrap();
    match cache.put("huge", vec![3u8; 5000]) {
        Err(Error::TooLarge {
            what: "value",
            len,
            max,
        }) => {
            assert_eq!(len, 5000);
            assert!(max < 4096 && max > 4000, "{max}");
        }
        other => panic!("{other:?}"),
    }
    // A budget smaller than one entry: every value is over it.
    assert_eq!(cache.stats().evictions, 0, "nothing evicted for nothing");
    assert!(cache.get("a").unwrap().is_some() && cache.get("b").unwrap().is_some());
    drop(cache);
    let tiny = open(&path, 10, Eviction::Fifo);
    assert!(matches!(tiny.put("k", "v"), Err(Error::TooLarge { .. })));
}

#[test]
fn reopen_enforces_the_budget_and_an_evicted_then_deleted_key_stays_gone() {
    let (_dir, path) = temp_log();
    let cache = open(&path, 1 << 20, Eviction::Fifo);
    for i in 0..500 {
        cache.put(format!("k{i:03}"), vec![b'x'; 1000]).unwrap();
    }
    drop(cache);
    // A smaller budget: down to it at open, before any write.
    let cache = open(&path, 100 << 10, Eviction::Fifo);
    let s = cache.stats();
    assert!(s.live_bytes <= 100 << 10, "{s:?}");
    assert!(s.evictions > 0);
    // k000 went first (FIFO); deleting it still writes a tombstone, so the record a crash
    // would replay cannot bring it back.
    assert_eq!(cache.get("k000").unwrap(), None);
    assert!(!cache.delete("k000").unwrap());
    drop(cache);
    let cache = open(&path, 100 << 20, Eviction::Fifo); // room for everything now
    assert_eq!(cache.get("k000").unwrap(), None, "deleted stays deleted");
    assert_eq!(
        cache.get("k499").unwrap().as_deref(),
        Some(&vec![b'x'; 1000][..])
    );
}

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u16),
    Delete(u8),
    Get(u8),
    Reopen,
    Compact,
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Self {
        let k = u8::arbitrary(g) % 24;
        match u8::arbitrary(g) % 10 {
            0..=4 => Op::Put(k, u16::arbitrary(g) % 700),
            5 => Op::Delete(k),
            6..=7 => Op::Get(k),
            8 => Op::Reopen,
            _ => Op::Compact,
        }
    }
}

/// A present key holds its latest value; an absent one was deleted or evicted, never replaced
/// by an older value; at rest the store is within its budget. Across reopens.
fn prop(ops: Vec<Op>, policy: u8) -> TestResult {
    const MAX: u64 = 4096;
    let (_dir, path) = temp_log();
    let eviction = [Eviction::Clock, Eviction::Fifo, Eviction::S3Fifo][usize::from(policy % 3)];
    let open = || {
        DurableKVCache::builder(&path)
            .durability(Durability::None)
            .max_bytes(MAX)
            .eviction(eviction)
            .compaction_threshold(4)
            .open()
            .unwrap()
    };
    let mut cache = open();
    // The latest value written to each key (None once deleted).
    let mut model: HashMap<u8, Option<Vec<u8>>> = HashMap::new();
    let value = |k: u8, n: u16| {
        let mut v = format!("{k}:{n}:").into_bytes();
        v.resize(usize::from(n).max(v.len()), b'.');
        v
    };
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Put(k, n) => {
                let v = value(*k, *n);
                cache.put([*k], &v).unwrap();
                model.insert(*k, Some(v));
            }
            Op::Delete(k) => {
                cache.delete([*k]).unwrap();
                model.insert(*k, None);
            }
            Op::Get(k) => {
                // A read also raises the key's count (CLOCK keeps it longer).
                let got = cache.get([*k]).unwrap();
                let latest = model.get(k).cloned().flatten();
                if got.is_some() && got != latest {
                    return TestResult::error(format!("step {step}: get {k} = {got:?}"));
                }
            }
            Op::Reopen | Op::Compact => {}
        }
        match op {
            Op::Reopen => {
                drop(cache);
                cache = open();
            }
            Op::Compact => cache.compact().unwrap(),
            _ => {}
        }
        for (k, latest) in &model {
            let got = cache.get([*k]).unwrap();
            if got.is_some() && got != *latest {
                return TestResult::error(format!(
                    "step {step}: key {k} = {got:?}, latest {latest:?}"
                ));
            }
        }
        cache.wait_for_compaction();
        if cache.stats().live_bytes > MAX {
            return TestResult::error(format!("step {step}: over budget {:?}", cache.stats()));
        }
    }
    TestResult::passed()
}

#[test]
fn model_with_evictions_never_returns_an_older_value() {
    let cases = std::env::var("LOGCACHE_MODEL_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    QuickCheck::new()
        .tests(cases)
        .quickcheck(prop as fn(Vec<Op>, u8) -> TestResult);
}

#[test]
fn large_values_under_a_budget_keep_the_log_near_twice_the_budget() {
    const MAX: u64 = 16 << 20;
    let (_dir, path) = temp_log();
    let cache = open(&path, MAX, Eviction::Clock);
    let value = vec![b'L'; 1 << 20];
    for i in 0..300 {
        cache.put(format!("big{i}"), &value).unwrap();
        cache.wait_for_compaction();
        let s = cache.stats();
        assert!(
            s.file_bytes as f64 <= 2.2 * MAX as f64,
            "after {} MiB values: {} bytes of log",
            i + 1,
            s.file_bytes
        );
    }
}

/// Guards: the hand once stopped at bytes it could not read (a damaged record that open
/// skipped), so the entries behind the damage were never evicted and the budget was passed.
#[test]
fn entries_behind_a_damaged_record_are_still_evicted() {
    let (_dir, path) = temp_log();
    let cache = common::open_fast(&path);
    for i in 0..20 {
        cache.put(format!("k{i:02}"), vec![b'x'; 200]).unwrap();
    }
    drop(cache);
    // Wreck record 5's header (its sequence number field), so it cannot be parsed.
    let (at, _) = common::record_offsets(&path)[5];
    let mut bytes = std::fs::read(&path).unwrap();
    let tab = bytes[at..].iter().position(|&b| b == b'\t').unwrap();
    bytes[at + tab + 1] = b'x';
    std::fs::write(&path, &bytes).unwrap();
    let one = 240; // a record of k?? and 200 bytes, rounded up
    let mut hint = path.as_os_str().to_owned();
    hint.push(".hint");
    // With the hint of the clean close, open does not read the records (the damage is found
    // when read); the hand walking the log still passes it.
    let cache = open(&path, 5 * one, Eviction::Fifo);
    let s = cache.stats();
    assert!(s.recovery.hint_entries > 0, "{s:?}");
    assert!(s.live_bytes <= 5 * one, "{s:?}");
    assert!(cache.get("k19").unwrap().is_some(), "the newest stay");
    drop(cache);
    // Without it (as after a crash), open replays and skips the damaged record.
    std::fs::write(&path, &bytes).unwrap();
    std::fs::remove_file(&hint).unwrap();
    let cache = open(&path, 5 * one, Eviction::Fifo);
    let s = cache.stats();
    assert_eq!(s.recovery.damaged_regions, 1, "{s:?}");
    assert!(s.live_bytes <= 5 * one, "{s:?}");
    assert!(cache.get("k19").unwrap().is_some(), "the newest stay");
}

/// BigCache over a store with a byte budget (`serve --memcached --capacity`: items and
/// objects share the store): what the store evicts — a manifest, or one block of an object —
/// leaves the accounting, so `stats().objects` counts exactly the objects that read back
/// (issue 27: `/v1/stats` counted objects whose blocks were evicted), and the watch on the
/// store reports the evicted keys.
#[test]
fn big_objects_the_budget_evicts_leave_the_accounting() {
    use std::sync::Arc;

    let (_dir, path) = temp_log();
    let store = Arc::new(open(&path, 4 << 20, Eviction::Fifo));
    let cache = logcache::BigCache::builder(Arc::clone(&store))
        .block_size(64 << 10)
        .open()
        .unwrap();
    // Objects of five blocks and small inline ones, interleaved with plain keys of the store
    // (memcached items beside the objects), well past the budget.
    for i in 0..120u32 {
        let len = if i % 3 == 0 { 300 } else { (5 << 16) - 100 };
        cache.set(format!("o{i}"), vec![i as u8; len]).unwrap();
        store.put(format!("item{i}"), vec![b'x'; 8 << 10]).unwrap();
    }
    let stats = cache.stats();
    let readable = (0..120u32)
        .filter(|i| cache.get(format!("o{i}")).unwrap().is_some())
        .count() as u64;
    assert!(
        readable > 0 && readable < 120,
        "{readable} objects read back"
    );
    assert!(stats.evictions > 0, "{stats:?}");
    assert_eq!(
        stats.objects, readable,
        "objects counted, against objects that read back"
    );
    // Reading found nothing broken that the accounting still held.
    assert_eq!(cache.stats().damaged, stats.damaged);
    // Without a watch the store records nothing; a watch with nothing evicted takes nothing.
    let (_dir2, path2) = temp_log();
    let unbounded = DurableKVCache::open(&path2).unwrap();
    assert!(!unbounded.watch_evictions(b"x"));
    assert_eq!(unbounded.take_evicted(), None);
    assert!(store.watch_evictions(b"nothing-has-this-prefix"));
    store.put("more", vec![b'y'; 1 << 20]).unwrap();
    let taken = store.take_evicted().unwrap();
    assert!(taken.keys.is_empty() && !taken.overflowed, "{taken:?}");
}
