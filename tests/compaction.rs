//! Guards: compaction keeps the log small under overwrites, never loses or rolls back a
//! value while readers and writers run, drops deletes and expired entries, survives a crash
//! at each of its steps, and refuses to start without disk space.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{FaultFs, Faults, open_fast, temp_log};
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

#[test]
fn no_free_space_skips_compaction_and_leaves_the_log_untouched() {
    let (_dir, path) = temp_log();
    let faults = Faults::new();
    faults.available.store(1000, Ordering::SeqCst);
    let cache = DurableKVCache::builder(&path)
        .durability(Durability::None)
        .file_system(Arc::new(FaultFs(Arc::clone(&faults))))
        .compaction_threshold(10)
        .open()
        .unwrap();
    for i in 0..500 {
        cache.put(format!("k{}", i % 5), vec![b'x'; 200]).unwrap();
    }
    cache.wait_for_compaction();
    let s = cache.stats();
    assert_eq!(s.compactions, 0);
    assert!(s.compactions_skipped > 0);
    let err = cache.compact().unwrap_err();
    assert!(
        matches!(
            err,
            Error::NoSpace {
                available: 1000,
                ..
            }
        ),
        "{err}"
    );
    assert!(!path.with_file_name("cache_data.log.compact").exists());
    assert_eq!(cache.stats().file_bytes, s.file_bytes);
    // With space back, the next compaction runs.
    faults.available.store(u64::MAX, Ordering::SeqCst);
    cache.compact().unwrap();
    assert!(cache.stats().file_bytes < s.file_bytes / 10);
}

/// The contents every crash test expects: k0..k39 at their last value, odd keys below 10
/// deleted, "ttl" present.
fn build_for_crash(
    path: &std::path::Path,
    fs: Arc<FaultFs>,
) -> (DurableKVCache, HashMap<String, String>) {
    let cache = DurableKVCache::builder(path)
        .durability(Durability::Sync)
        .file_system(fs)
        .compaction_threshold(0)
        .preallocate(0)
        .open()
        .unwrap();
    let mut model = HashMap::new();
    for round in 0..3 {
        for k in 0..40 {
            let v = format!("v{round}-{}", "y".repeat(k * 7));
            cache.put(format!("k{k}"), &v).unwrap();
            model.insert(format!("k{k}"), v);
        }
    }
    for k in (1..10).step_by(2) {
        cache.delete(format!("k{k}")).unwrap();
        model.remove(&format!("k{k}"));
    }
    cache
        .put_with_ttl("ttl", "later", Duration::from_secs(3600))
        .unwrap();
    model.insert("ttl".into(), "later".into());
    (cache, model)
}

fn assert_contents(path: &std::path::Path, model: &HashMap<String, String>, what: &str) {
    let cache = DurableKVCache::open(path).unwrap_or_else(|e| panic!("{what}: reopen failed: {e}"));
    for k in (0..40).map(|k| format!("k{k}")).chain(["ttl".to_string()]) {
        assert_eq!(
            cache.get(&k).unwrap(),
            model.get(&k).map(|v| v.clone().into_bytes()),
            "{what}: key {k}"
        );
    }
    assert_eq!(cache.len(), model.len(), "{what}");
    assert!(
        !path.with_file_name("cache_data.log.compact").exists(),
        "{what}"
    );
}

#[test]
fn a_crash_at_each_step_of_compaction_leaves_the_old_or_the_new_log_complete() {
    // (operation, which one from the start of compact(), dies after it took effect?)
    // All writes were synced before compact(), so its fsyncs are: 1 = the copied records,
    // 2 = the new file with the tail carried over.
    let points: [(&str, u64, bool, &str); 10] = [
        ("open", 1, false, "creating the compaction file"),
        ("write", 1, false, "writing the copied records"),
        ("write", 1, true, "after the copy, before its fsync"),
        ("sync", 1, false, "the copy's fsync"),
        ("sync", 2, false, "the new file's last fsync"),
        (
            "sync",
            2,
            true,
            "after the new file's last fsync, before the rename",
        ),
        ("rename", 1, false, "just before the rename"),
        (
            "rename",
            1,
            true,
            "after the rename, before the directory fsync",
        ),
        (
            "sync_dir",
            1,
            false,
            "after the rename, directory fsync failing",
        ),
        ("sync_dir", 1, true, "after the directory fsync"),
    ];
    for (op, nth, after, what) in points {
        let (_dir, path) = temp_log();
        let faults = Faults::new();
        let (cache, model) = build_for_crash(&path, Arc::new(FaultFs(Arc::clone(&faults))));
        let old_log = std::fs::read(&path).unwrap();
        faults.crash_at(op, nth, after);
        let result = cache.compact();
        assert!(
            faults.dead.load(Ordering::SeqCst),
            "{what}: the crash point was never reached ({result:?})"
        );
        drop(cache); // the "dead process" does no more I/O
        assert_contents(&path, &model, what);

        if op == "rename" && after || op == "sync_dir" && !after {
            // Without the directory fsync a power loss may also undo the rename: the old log
            // is back under its name and the new one under the compaction name.
            let new_log = std::fs::read(&path).unwrap();
            std::fs::write(path.with_file_name("cache_data.log.compact"), &new_log).unwrap();
            std::fs::write(&path, &old_log).unwrap();
            assert_contents(&path, &model, &format!("{what}, rename undone"));
        }
    }
}
