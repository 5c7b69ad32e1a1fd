//! Guards: compaction keeps the log small under overwrites, never loses or rolls back a
//! value while readers and writers run, and drops deletes and expired entries (a crash at each
//! of its steps and a full disk: tests/faults.rs).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{open_fast, temp_log};
use logcache::{Durability, DurableKVCache, Error, ManualClock};

/// Guards: a few hundred dead 1 MiB records (aborted uploads) once never reached the
/// stale-record threshold, and 475 MB of log held 3 MB of live data.
#[test]
fn large_dead_records_trigger_compaction_whatever_their_count() {
    let (_dir, path) = temp_log();
    let cache = open_fast(&path);
    let mib = vec![7u8; 1 << 20];
    cache.put("live", &mib).unwrap();
    let floor = logcache::DEFAULT_COMPACTION_DEAD_BYTES;
    for i in 0..300 {
        cache.put(format!("dead{i}"), &mib).unwrap();
        cache.delete(format!("dead{i}")).unwrap();
        cache.wait_for_compaction();
        let s = cache.stats();
        // The stated bound: max(live / (1 - ratio), live + dead-bytes floor), plus the record
        // that crossed it.
        let bound = (2 * s.live_bytes).max(s.live_bytes + floor) + (1 << 20) + 4096;
        assert!(
            s.file_bytes <= bound,
            "after {i} dead values: {} bytes of log for {} live",
            s.file_bytes,
            s.live_bytes
        );
    }
    assert!(cache.stats().compactions >= 4, "{:?}", cache.stats());
    assert_eq!(cache.get("live").unwrap().as_deref(), Some(&mib[..]));
}

#[test]
fn a_zero_dead_bytes_floor_is_refused() {
    let (_dir, path) = temp_log();
    let err = DurableKVCache::builder(&path)
        .compaction_dead_bytes(0)
        .open()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    assert!(!path.exists(), "nothing created");
}

#[test]
fn twenty_keys_updated_5000_times_stay_under_2_mib() {
    let (_dir, path) = temp_log();
    let cache = DurableKVCache::builder(&path)
        .durability(Durability::None)
        .compaction_threshold(100)
        .open()
        .unwrap();
    for round in 0..5000u32 {
        for k in 0..20 {
            cache
                .put(format!("key{k:02}"), format!("value {round} of key {k}"))
                .unwrap();
        }
    }
    cache.wait_for_compaction();
    let s = cache.stats();
    let on_disk = std::fs::metadata(&path).unwrap().len();
    assert!(s.compactions > 0);
    assert!(
        on_disk < 2 << 20,
        "log is {on_disk} bytes (preallocated space included) after {} compactions",
        s.compactions
    );
    println!(
        "space amplification: {:.2} (data {} bytes / live {} bytes), {:.2} with preallocation; {} compactions",
        s.file_bytes as f64 / s.live_bytes as f64,
        s.file_bytes,
        s.live_bytes,
        on_disk as f64 / s.live_bytes as f64,
        s.compactions
    );
    drop(cache);
    let cache = open_fast(&path);
    for k in 0..20 {
        assert_eq!(
            cache.get(format!("key{k:02}")).unwrap(),
            Some(format!("value 4999 of key {k}").into_bytes())
        );
    }
}

#[test]
fn readers_never_see_a_missing_or_older_value_while_compactions_run() {
    for durability in [Durability::None, Durability::Sync] {
        let (_dir, path) = temp_log();
        let cache = Arc::new(
            DurableKVCache::builder(&path)
                .durability(durability)
                .compaction_threshold(50)
                .open()
                .unwrap(),
        );
        const KEYS: u64 = 32;
        // Write until several compactions ran under the readers (bounded).
        let (min_rounds, max_rounds) = if durability == Durability::Sync {
            (20, 2_000)
        } else {
            (200, 200_000)
        };
        for k in 0..KEYS {
            cache.put(format!("k{k}"), 0u64.to_be_bytes()).unwrap();
        }
        let done = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let cache = Arc::clone(&cache);
                let done = Arc::clone(&done);
                std::thread::spawn(move || {
                    let mut last = vec![0u64; KEYS as usize];
                    while !done.load(Ordering::Acquire) {
                        for (k, last) in last.iter_mut().enumerate() {
                            let v = cache
                                .get(format!("k{k}"))
                                .unwrap()
                                .unwrap_or_else(|| panic!("k{k} missing during compaction"));
                            let n = u64::from_be_bytes(v.try_into().unwrap());
                            assert!(n >= *last, "k{k} went back from {last} to {n}");
                            *last = n;
                        }
                    }
                })
            })
            .collect();
        let mut rounds = 0u64;
        while rounds < max_rounds && (rounds < min_rounds || cache.stats().compactions < 5) {
            rounds += 1;
            for k in 0..KEYS {
                cache.put(format!("k{k}"), rounds.to_be_bytes()).unwrap();
            }
        }
        done.store(true, Ordering::Release);
        for r in readers {
            r.join().unwrap();
        }
        cache.wait_for_compaction();
        let s = cache.stats();
        assert!(
            s.compactions >= 5,
            "{durability:?}: only {} compactions ran",
            s.compactions
        );
        assert_eq!(s.compaction_errors, 0);
        drop(cache);
        let cache = open_fast(&path);
        for k in 0..KEYS {
            assert_eq!(
                cache.get(format!("k{k}")).unwrap(),
                Some(rounds.to_be_bytes().to_vec()),
                "{durability:?}: k{k} after reopen"
            );
        }
    }
}

#[test]
fn deletes_and_expired_entries_are_gone_from_the_file() {
    let (_dir, path) = temp_log();
    let clock = Arc::new(ManualClock::new(10_000));
    let cache = DurableKVCache::builder(&path)
        .durability(Durability::None)
        .clock(clock.clone())
        .compaction_threshold(0)
        .open()
        .unwrap();
    cache.put("deleted-key", "deleted-value").unwrap();
    cache
        .put_with_ttl("expiring-key", "expiring-value", Duration::from_secs(5))
        .unwrap();
    cache.put("kept-key", "kept-value").unwrap();
    assert!(cache.delete("deleted-key").unwrap());
    clock.advance(Duration::from_secs(5));
    cache.compact().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let has = |s: &str| bytes.windows(s.len()).any(|w| w == s.as_bytes());
    assert!(!has("deleted-key"), "the put and the tombstone are gone");
    assert!(!has("expiring-key"));
    assert!(has("kept-key\tkept-value"));
    let s = cache.stats();
    assert_eq!((s.compactions, s.live_keys, s.stale_records), (1, 1, 0));
    assert!(s.bytes_reclaimed > 0);
}

#[test]
fn leftover_compaction_file_is_removed_at_open() {
    let (_dir, path) = temp_log();
    let cache = open_fast(&path);
    cache.put("a", "1").unwrap();
    drop(cache);
    let leftover = path.with_file_name("cache_data.log.compact");
    std::fs::write(&leftover, b"logcache\t1\nhalf a compaction...").unwrap();
    let cache = open_fast(&path);
    assert!(!leftover.exists());
    assert_eq!(cache.get("a").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(cache.len(), 1);
}

#[test]
fn the_lock_holds_across_the_rename() {
    let (_dir, path) = temp_log();
    let cache = open_fast(&path);
    cache.put("a", "1").unwrap();
    cache.put("a", "2").unwrap();
    cache.compact().unwrap();
    assert!(matches!(
        DurableKVCache::open(&path).unwrap_err(),
        Error::Locked { .. }
    ));
    cache.put("b", "3").unwrap();
    drop(cache);
    assert_eq!(open_fast(&path).len(), 2);
}
