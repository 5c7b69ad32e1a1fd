//! Guards: concurrent writers and readers never see a value go backwards or a torn value, in
//! every durability mode (concurrent Sync writers sharing fsyncs: tests/faults.rs).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::temp_log;
use logcache::{Durability, DurableKVCache};

const WRITERS: usize = 4;
const KEYS_PER_WRITER: usize = 16;

fn value(writer: usize, n: u64) -> Vec<u8> {
    // The counter, padded so values have different lengths as they grow.
    format!("{writer}:{n}:{}", "x".repeat((n % 97) as usize)).into_bytes()
}

fn counter(bytes: &[u8]) -> u64 {
    let s = std::str::from_utf8(bytes).unwrap();
    s.split(':').nth(1).unwrap().parse().unwrap()
}

fn run(durability: Durability, rounds: u64) {
    let (_dir, path) = temp_log();
    let cache = Arc::new(
        DurableKVCache::builder(&path)
            .durability(durability)
            .compaction_threshold(200)
            .open()
            .unwrap(),
    );
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let cache = Arc::clone(&cache);
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let mut seen = vec![0u64; WRITERS * KEYS_PER_WRITER];
                let mut reads = 0u64;
                while !done.load(Ordering::Acquire) || reads < 100 {
                    for (slot, last) in seen.iter_mut().enumerate() {
                        let key =
                            format!("w{}:k{}", slot / KEYS_PER_WRITER, slot % KEYS_PER_WRITER);
                        if let Some(v) = cache.get(&key).unwrap() {
                            let n = counter(&v);
                            assert_eq!(
                                v,
                                value(slot / KEYS_PER_WRITER, n),
                                "reader {r}: torn value"
                            );
                            assert!(n >= *last, "reader {r}: {key} went from {last} to {n}");
                            *last = n;
                        }
                        reads += 1;
                    }
                }
            })
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let cache = Arc::clone(&cache);
            std::thread::spawn(move || {
                for n in 1..=rounds {
                    for k in 0..KEYS_PER_WRITER {
                        cache.put(format!("w{w}:k{k}"), value(w, n)).unwrap();
                    }
                    if n.is_multiple_of(5) {
                        cache.delete(format!("w{w}:k0")).unwrap();
                    }
                }
            })
        })
        .collect();
    for t in writers {
        t.join().unwrap();
    }
    done.store(true, Ordering::Release);
    for t in readers {
        t.join().unwrap();
    }
    let check = |cache: &DurableKVCache| {
        for w in 0..WRITERS {
            for k in 0..KEYS_PER_WRITER {
                let got = cache.get(format!("w{w}:k{k}")).unwrap();
                if k == 0 && rounds.is_multiple_of(5) {
                    assert_eq!(got, None);
                } else {
                    assert_eq!(got, Some(value(w, rounds)), "w{w}:k{k}");
                }
            }
        }
    };
    check(&cache);
    let s = cache.stats();
    assert_eq!(s.sets, WRITERS as u64 * KEYS_PER_WRITER as u64 * rounds);
    drop(cache);
    check(&DurableKVCache::open(&path).unwrap());
}

#[test]
fn writers_and_readers_sync() {
    run(Durability::Sync, 12);
}

#[test]
fn writers_and_readers_interval() {
    run(Durability::Interval(Duration::from_millis(2)), 60);
}

#[test]
fn writers_and_readers_none() {
    run(Durability::None, 60);
}

/// Regression: `maybe_compact` once took the commit lock while holding the index read lock,
/// the reverse of the lock order, and deadlocked against a sync leader publishing to the
/// index. Sync writers with compaction checked on every write hit that window.
#[test]
fn sync_writers_with_constant_compaction_checks_do_not_deadlock() {
    let (_dir, path) = temp_log();
    let cache = Arc::new(
        DurableKVCache::builder(&path)
            .compaction_threshold(u64::MAX) // checked on every write, never due
            .preallocate(0)
            .open()
            .unwrap(),
    );
    let (tx, rx) = std::sync::mpsc::channel();
    for t in 0..4 {
        let cache = Arc::clone(&cache);
        let tx = tx.clone();
        std::thread::spawn(move || {
            for i in 0..300 {
                cache
                    .put(format!("k{}", i % 7), format!("{t}:{i}"))
                    .unwrap();
                let _ = cache.get(format!("k{}", (i + t) % 7)).unwrap();
            }
            tx.send(()).unwrap();
        });
    }
    for _ in 0..4 {
        // A liveness watchdog, not a speed assertion: 1,200 fsyncs take well under a second.
        rx.recv_timeout(Duration::from_secs(120))
            .expect("writers made no progress for 120 s: deadlock");
    }
    assert_eq!(cache.stats().sets, 1200);
}

/// Regression: group-commit watermarks were byte offsets, and compaction shrinks the file. A
/// Sync writer that woke after a compaction's switch carried an old-file offset as its target,
/// led a sync and set the watermark far past the new file's end; later puts then returned
/// without an fsync and without being published (a put, then a get, saw the older value).
#[test]
fn sync_puts_stay_durable_and_visible_across_compactions() {
    let (_dir, path) = temp_log();
    let cache = Arc::new(
        DurableKVCache::builder(&path)
            .compaction_threshold(8)
            .compaction_dead_ratio(0.0)
            .open()
            .unwrap(),
    );
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let cache = Arc::clone(&cache);
            std::thread::spawn(move || {
                for i in 0..600u32 {
                    let key = format!("t{t}:k{}", i % 3);
                    cache.put(&key, i.to_string()).unwrap();
                    assert_eq!(
                        cache.get(&key).unwrap(),
                        Some(i.to_string().into_bytes()),
                        "read-your-writes after an acknowledged Sync put"
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    cache.wait_for_compaction();
    let s = cache.stats();
    assert!(s.compactions > 0, "the test must run compactions");
    assert!(s.syncs > 0);
    drop(cache);
    let cache = DurableKVCache::open(&path).unwrap();
    for t in 0..4 {
        for k in 0..3u32 {
            let last = (0..600u32).rev().find(|i| i % 3 == k).unwrap();
            assert_eq!(
                cache.get(format!("t{t}:k{k}")).unwrap(),
                Some(last.to_string().into_bytes())
            );
        }
    }
}
