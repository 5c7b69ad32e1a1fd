//! Guards: the hint file (`<path>.hint`). A clean close and compaction write it; open reads it
//! and replays only the log's tail after it, giving exactly what a replay of the whole log
//! gives; a hint that is damaged, torn, stale or of another log is ignored, never trusted.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::temp_log;
use logcache::{Durability, DurableKVCache, ManualClock, RecoveryMode};

fn hint_of(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".hint");
    PathBuf::from(s)
}

fn open(path: &Path, clock: &Arc<ManualClock>) -> DurableKVCache {
    DurableKVCache::builder(path)
        .durability(Durability::None)
        .compaction_threshold(0)
        .clock(clock.clone())
        .open()
        .unwrap()
}

/// Everything a reader can see, and the accounting.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    values: BTreeMap<Vec<u8>, Vec<u8>>,
    live_keys: u64,
    live_bytes: u64,
    dead_bytes: u64,
}

fn seen(cache: &DurableKVCache) -> Seen {
    let values = cache
        .keys()
        .map(|k| {
            let v = cache.get(&k).unwrap().unwrap();
            (k, v)
        })
        .collect();
    let stats = cache.stats();
    Seen {
        values,
        live_keys: stats.live_keys,
        live_bytes: stats.live_bytes,
        dead_bytes: stats.dead_bytes,
    }
}

/// What a replay of the whole log gives (the hint set aside and put back).
fn replayed(path: &Path, clock: &Arc<ManualClock>) -> Seen {
    let hint = std::fs::read(hint_of(path)).ok();
    let cache = DurableKVCache::builder(path)
        .durability(Durability::None)
        .compaction_threshold(0)
        .clock(clock.clone())
        .hint_file(false)
        .open()
        .unwrap();
    assert_eq!(cache.stats().recovery.hint_entries, 0);
    let s = seen(&cache);
    drop(cache);
    if let Some(h) = hint {
        std::fs::write(hint_of(path), h).unwrap();
    }
    s
}

/// Puts, overwrites, deletes, TTLs (some expired by now), keys of every length.
fn fill(cache: &DurableKVCache, clock: &ManualClock, round: u32) {
    for i in 0..500u32 {
        let key = format!("k{}{}", i % 300, "x".repeat((i % 40) as usize));
        let value = format!("r{round}v{i}").repeat(1 + (i % 7) as usize);
        if i % 11 == 0 {
            cache
                .put_with_ttl(&key, &value, Duration::from_millis(u64::from(i % 50)))
                .unwrap();
        } else {
            cache.put(&key, &value).unwrap();
        }
        if i % 13 == 0 {
            cache.delete(format!("k{}", (i * 7) % 300)).unwrap();
        }
    }
    cache
        .put(vec![b'L'; 70_000], b"a key over 64 KiB long")
        .unwrap_err();
    cache.put(vec![b'L'; 1000], b"a long key").unwrap();
    cache.put("big", vec![7u8; 200_000]).unwrap();
    clock.advance(Duration::from_millis(20));
}

#[test]
fn a_clean_close_writes_a_hint_and_open_replays_only_the_tail() {
    let (_dir, path) = temp_log();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let cache = open(&path, &clock);
    fill(&cache, &clock, 0);
    let before = seen(&cache);
    drop(cache);
    assert!(hint_of(&path).exists(), "a clean close writes the hint");
    let saved = std::fs::read(hint_of(&path)).unwrap();

    let cache = open(&path, &clock);
    let r = cache.stats().recovery;
    assert_eq!(r.records_replayed, 0, "nothing after the hint");
    assert_eq!(r.hint_entries, before.live_keys);
    assert_eq!(seen(&cache), before);
    // More writes, then the hint of the first close put back: a crash after them.
    fill(&cache, &clock, 1);
    let after = seen(&cache);
    drop(cache);
    std::fs::write(hint_of(&path), &saved).unwrap();
    let cache = open(&path, &clock);
    let r = cache.stats().recovery;
    assert!(
        r.hint_entries > 0,
        "the old hint still describes the log's prefix"
    );
    assert!(r.records_replayed >= 500, "the tail is replayed: {r:?}");
    assert_eq!(seen(&cache), after);
    drop(cache);
    assert_eq!(replayed(&path, &clock), after);
}

#[test]
fn every_damaged_or_torn_hint_is_ignored() {
    let (_dir, path) = temp_log();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let cache = open(&path, &clock);
    for i in 0..20 {
        cache.put(format!("key{i}"), format!("value{i}")).unwrap();
    }
    cache.delete("key3").unwrap();
    let expected = seen(&cache);
    drop(cache);
    let good = std::fs::read(hint_of(&path)).unwrap();
    assert!(good.len() > 64 + 20 * 25);
    let mut variants: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x10;
        variants.push((format!("byte {i} flipped"), bad));
    }
    for len in 0..good.len() {
        variants.push((format!("cut to {len}"), good[..len].to_vec()));
    }
    let mut longer = good.clone();
    longer.extend_from_slice(&[0; 12]);
    variants.push(("zeros after the end".into(), longer));
    for (what, bytes) in variants {
        std::fs::write(hint_of(&path), &bytes).unwrap();
        let cache = open(&path, &clock);
        let r = cache.stats().recovery;
        assert_eq!(r.hint_entries, 0, "{what}: trusted");
        assert_eq!(r.records_replayed, 21, "{what}");
        assert_eq!(seen(&cache), expected, "{what}");
        drop(cache); // writes a good hint again
    }
}

#[test]
fn a_hint_of_another_log_or_of_before_a_compaction_is_ignored() {
    let (_dir, path) = temp_log();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let cache = open(&path, &clock);
    for i in 0..50 {
        cache
            .put(format!("key{}", i % 10), format!("v{i}"))
            .unwrap();
    }
    drop(cache);
    let stale = std::fs::read(hint_of(&path)).unwrap();
    let cache = open(&path, &clock);
    cache.compact().unwrap();
    assert!(
        !hint_of(&path).exists() || std::fs::read(hint_of(&path)).unwrap() != stale,
        "compaction removed or replaced the hint of the old file"
    );
    // Past the old hint's end again, so that only the check of its last record tells.
    for i in 0..60 {
        cache
            .put(format!("key{}", i % 10), format!("after{i}"))
            .unwrap();
    }
    let expected = seen(&cache);
    drop(cache);
    std::fs::write(hint_of(&path), &stale).unwrap();
    let cache = open(&path, &clock);
    assert_eq!(cache.stats().recovery.hint_entries, 0, "stale hint trusted");
    assert_eq!(seen(&cache), expected);
    drop(cache);

    // Another log of the same shape: same keys, other values.
    let (_dir2, other) = temp_log();
    let cache = open(&other, &clock);
    for i in 0..200 {
        cache
            .put(format!("key{}", i % 10), format!("w{i}"))
            .unwrap();
    }
    let expected = seen(&cache);
    drop(cache);
    std::fs::copy(hint_of(&path), hint_of(&other)).unwrap();
    let cache = open(&other, &clock);
    assert_eq!(
        cache.stats().recovery.hint_entries,
        0,
        "foreign hint trusted"
    );
    assert_eq!(seen(&cache), expected);
}

#[test]
fn compaction_writes_a_hint_of_what_it_copied() {
    let (_dir, path) = temp_log();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let cache = open(&path, &clock);
    fill(&cache, &clock, 0);
    fill(&cache, &clock, 1);
    cache.compact().unwrap();
    let compacted = std::fs::read(hint_of(&path)).expect("compaction wrote a hint");
    fill(&cache, &clock, 2);
    let expected = seen(&cache);
    drop(cache);
    // As if the process died before its close wrote the newer hint.
    std::fs::write(hint_of(&path), &compacted).unwrap();
    let cache = open(&path, &clock);
    let r = cache.stats().recovery;
    assert!(r.hint_entries > 0, "{r:?}");
    assert!(
        r.records_replayed >= 500,
        "the writes after compaction: {r:?}"
    );
    assert_eq!(seen(&cache), expected);
    drop(cache);
    assert_eq!(replayed(&path, &clock), expected);
}

#[test]
fn strict_opens_and_hint_file_false_read_every_record() {
    let (_dir, path) = temp_log();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let cache = open(&path, &clock);
    cache.put("a", "1").unwrap();
    cache.put("b", "2").unwrap();
    drop(cache);
    assert!(hint_of(&path).exists());
    let strict = DurableKVCache::builder(&path)
        .recovery_mode(RecoveryMode::Strict)
        .open()
        .unwrap();
    assert_eq!(strict.stats().recovery.hint_entries, 0);
    assert_eq!(strict.stats().recovery.records_replayed, 2);
    drop(strict);
    std::fs::remove_file(hint_of(&path)).unwrap();
    let off = DurableKVCache::builder(&path)
        .hint_file(false)
        .open()
        .unwrap();
    off.put("c", "3").unwrap();
    drop(off);
    assert!(!hint_of(&path).exists(), "hint_file(false) writes none");
}
