//! `set_many`: many puts in large writes, one durability wait for the batch.

use std::sync::Arc;

use logcache::{Durability, DurableKVCache, Error};

mod common;
use common::data::pattern;
use common::temp_log;

fn pairs(round: u8, n: usize, len: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let mut value = pattern(len, round);
            value.extend_from_slice(&(i as u64).to_le_bytes());
            (format!("key-{i:06}").into_bytes(), value)
        })
        .collect()
}

fn open(path: &std::path::Path, durability: Durability) -> DurableKVCache {
    DurableKVCache::builder(path)
        .durability(durability)
        .open()
        .unwrap()
}

#[test]
fn every_pair_is_there_in_every_mode_and_after_a_replay() {
    for durability in [
        Durability::Sync,
        Durability::None,
        Durability::Interval(std::time::Duration::from_millis(5)),
    ] {
        let (_dir, path) = temp_log();
        let cache = open(&path, durability);
        // 30,000 pairs of 100 bytes: several chunks of one write each.
        let batch = pairs(1, 30_000, 100);
        assert_eq!(cache.set_many(batch.iter().cloned()).unwrap(), 30_000);
        for (k, v) in batch.iter().step_by(97) {
            assert_eq!(cache.get(k).unwrap().as_ref(), Some(v), "{durability:?}");
        }
        assert_eq!(cache.len(), 30_000);
        assert_eq!(cache.stats().sets, 30_000);
        drop(cache);
        // Replayed from the log, not the hint.
        let cache = DurableKVCache::builder(&path)
            .hint_file(false)
            .open()
            .unwrap();
        assert_eq!(cache.stats().recovery.records_replayed, 30_000);
        for (k, v) in &batch {
            assert_eq!(cache.get(k).unwrap().as_ref(), Some(v), "{durability:?}");
        }
    }
}

#[test]
fn with_sync_one_fsync_covers_the_batch() {
    let (_dir, path) = temp_log();
    let cache = open(&path, Durability::Sync);
    let before = cache.stats().syncs;
    cache.set_many(pairs(1, 20_000, 100)).unwrap(); // three chunks
    let syncs = cache.stats().syncs - before;
    assert_eq!(syncs, 1, "one fsync for 20,000 pairs");
}

#[test]
fn later_pairs_win_and_large_values_mix_with_small_ones() {
    let (_dir, path) = temp_log();
    let cache = open(&path, Durability::None);
    cache.put("k", "old").unwrap();
    let big = pattern(3 << 20, 9);
    let batch: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (b"k".to_vec(), b"first".to_vec()),
        (b"big".to_vec(), big.clone()),
        (b"k".to_vec(), b"second".to_vec()),
        (b"small".to_vec(), b"s".to_vec()),
    ];
    assert_eq!(cache.set_many(batch).unwrap(), 4);
    assert_eq!(cache.get("k").unwrap().as_deref(), Some(&b"second"[..]));
    assert_eq!(cache.get("big").unwrap(), Some(big.clone()));
    assert_eq!(cache.get("small").unwrap().as_deref(), Some(&b"s"[..]));
    assert_eq!(cache.stats().stale_records, 2, "old and first");
    cache.close().unwrap();
    let cache = open(&path, Durability::None);
    assert_eq!(cache.get("k").unwrap().as_deref(), Some(&b"second"[..]));
    assert_eq!(cache.get("big").unwrap(), Some(big));
}

#[test]
fn a_pair_too_large_stops_the_batch_after_the_pairs_before_it() {
    let (_dir, path) = temp_log();
    let cache = DurableKVCache::builder(&path)
        .durability(Durability::Sync)
        .max_value_len(1000)
        .open()
        .unwrap();
    let batch: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (b"a".to_vec(), vec![1; 10]),
        (b"b".to_vec(), vec![2; 1001]),
        (b"c".to_vec(), vec![3; 10]),
    ];
    let err = cache.set_many(batch).unwrap_err();
    assert!(
        matches!(err, Error::TooLarge { what: "value", .. }),
        "{err}"
    );
    assert_eq!(cache.get("a").unwrap(), Some(vec![1; 10]));
    assert_eq!(cache.get("b").unwrap(), None);
    assert_eq!(cache.get("c").unwrap(), None);
    let long_key = vec![b'k'; logcache::MAX_KEY_LEN + 1];
    let err = cache.set_many([(long_key, b"v".to_vec())]).unwrap_err();
    assert!(matches!(err, Error::TooLarge { what: "key", .. }), "{err}");
    assert_eq!(cache.set_many(Vec::<(Vec<u8>, Vec<u8>)>::new()).unwrap(), 0);
}

#[test]
fn under_a_byte_budget_the_budget_holds() {
    let (_dir, path) = temp_log();
    let cache = DurableKVCache::builder(&path)
        .durability(Durability::None)
        .max_bytes(100_000)
        .open()
        .unwrap();
    cache.set_many(pairs(2, 5_000, 100)).unwrap();
    let stats = cache.stats();
    assert!(stats.live_bytes <= 100_000, "{stats:?}");
    assert!(stats.evictions > 0);
    assert!(
        cache.get("key-004999").unwrap().is_some(),
        "the newest stays"
    );
}

#[test]
fn concurrent_batches_puts_and_reads_agree() {
    let (_dir, path) = temp_log();
    let cache = Arc::new(open(&path, Durability::Sync));
    let writers: Vec<_> = (0..4u8)
        .map(|t| {
            let cache = Arc::clone(&cache);
            std::thread::spawn(move || {
                for round in 0..5u8 {
                    let batch: Vec<(Vec<u8>, Vec<u8>)> = (0..500)
                        .map(|i| {
                            (
                                format!("t{t}-{i}").into_bytes(),
                                pattern(100, t * 10 + round),
                            )
                        })
                        .collect();
                    cache.set_many(batch).unwrap();
                    cache.put(format!("t{t}-single"), [round]).unwrap();
                    // Every pair of the batch just acknowledged reads back.
                    for i in (0..500).step_by(50) {
                        assert_eq!(
                            cache.get(format!("t{t}-{i}")).unwrap(),
                            Some(pattern(100, t * 10 + round))
                        );
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    drop(cache);
    let cache = open(&path, Durability::Sync);
    assert_eq!(cache.len(), 4 * 501);
    for t in 0..4u8 {
        assert_eq!(
            cache.get(format!("t{t}-499")).unwrap(),
            Some(pattern(100, t * 10 + 4))
        );
    }
}

#[test]
fn a_failed_write_poisons_and_no_pair_of_the_chunk_is_visible() {
    use logcache::sim::{OpKind, SimFs};
    for durability in [Durability::Sync, Durability::None] {
        let fs = SimFs::new();
        let cache = DurableKVCache::builder("/db/cache.log")
            .durability(durability)
            .file_system(Arc::new(fs.clone()))
            .open()
            .unwrap();
        cache.set_many(pairs(1, 10, 100)).unwrap();
        fs.fail(OpKind::Write, 1, true);
        let err = cache.set_many(pairs(2, 10, 100)).unwrap_err();
        assert!(matches!(err, Error::Io { op: "write", .. }), "{err}");
        for (k, v) in pairs(1, 10, 100) {
            assert_eq!(cache.get(&k).unwrap(), Some(v), "{durability:?}");
        }
        let err = cache.set_many(pairs(3, 10, 100)).unwrap_err();
        assert!(matches!(err, Error::Poisoned { .. }), "{err}");
        fs.heal();
        assert!(cache.recover().unwrap());
        cache.set_many(pairs(4, 10, 100)).unwrap();
        for (k, v) in pairs(4, 10, 100) {
            assert_eq!(cache.get(&k).unwrap(), Some(v), "{durability:?}");
        }
    }
}
