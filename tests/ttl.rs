//! Guards: entries past their TTL read as absent everywhere (get, contains, len, keys, after
//! reopen), with an injected clock so no test sleeps.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::temp_log;
use logcache::{Durability, DurableKVCache, ManualClock};

fn open(path: &std::path::Path, clock: &Arc<ManualClock>) -> DurableKVCache {
    DurableKVCache::builder(path)
        .durability(Durability::None)
        .clock(clock.clone())
        .open()
        .unwrap()
}

#[test]
fn expiry_is_exact_and_survives_reopen() {
    let (_dir, path) = temp_log();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let cache = open(&path, &clock);
    cache
        .put_with_ttl("short", "s", Duration::from_secs(10))
        .unwrap();
    cache
        .put_with_ttl("long", "l", Duration::from_secs(100))
        .unwrap();
    cache.put("forever", "f").unwrap();
    clock.advance(Duration::from_millis(9_999));
    assert_eq!(cache.get("short").unwrap().as_deref(), Some(&b"s"[..]));
    clock.advance(Duration::from_millis(1));
    assert_eq!(
        cache.get("short").unwrap(),
        None,
        "expires at exactly now + ttl"
    );
    assert!(!cache.contains("short"));
    assert_eq!(cache.len(), 2);
    let mut keys: Vec<_> = cache.keys().collect();
    keys.sort();
    assert_eq!(keys, vec![b"forever".to_vec(), b"long".to_vec()]);
    assert_eq!(cache.stats().expirations, 1);
    drop(cache);

    // A replay of the log (the hint file of the clean close set aside) finds the expired
    // record and does not bring it back.
    let cache = open_replaying(&path, &clock);
    assert_eq!(cache.get("short").unwrap(), None);
    assert_eq!(cache.get("long").unwrap().as_deref(), Some(&b"l"[..]));
    assert_eq!(cache.stats().recovery.expired, 1);
    clock.advance(Duration::from_secs(100));
    assert_eq!(cache.len(), 1);
    assert_eq!(cache.get("long").unwrap(), None);
    assert_eq!(cache.get("forever").unwrap().as_deref(), Some(&b"f"[..]));
    cache
        .put_with_ttl("soon", "n", Duration::from_secs(5))
        .unwrap();
    drop(cache);
    assert_eq!(open_replaying(&path, &clock).stats().recovery.expired, 2);

    // An entry of the hint file that expired while the cache was closed is dropped too.
    let cache = open(&path, &clock);
    assert_eq!(cache.get("soon").unwrap().as_deref(), Some(&b"n"[..]));
    drop(cache);
    clock.advance(Duration::from_secs(5));
    let cache = open(&path, &clock);
    let r = cache.stats().recovery;
    assert_eq!((r.hint_entries, r.expired), (1, 1), "{r:?}");
    assert_eq!(cache.get("soon").unwrap(), None);
    assert_eq!(cache.len(), 1);
}

fn open_replaying(path: &std::path::Path, clock: &Arc<ManualClock>) -> DurableKVCache {
    let mut hint = path.as_os_str().to_owned();
    hint.push(".hint");
    let _ = std::fs::remove_file(&hint);
    let cache = open(path, clock);
    assert_eq!(cache.stats().recovery.hint_entries, 0);
    cache
}

#[test]
fn overwrite_clears_or_sets_a_ttl() {
    let (_dir, path) = temp_log();
    let clock = Arc::new(ManualClock::new(5_000));
    let cache = open(&path, &clock);
    cache
        .put_with_ttl("k", "1", Duration::from_secs(1))
        .unwrap();
    cache.put("k", "2").unwrap(); // no TTL any more
    cache.put("j", "1").unwrap();
    cache
        .put_with_ttl("j", "2", Duration::from_secs(1))
        .unwrap();
    clock.advance(Duration::from_secs(2));
    assert_eq!(cache.get("k").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(
        cache.get("j").unwrap(),
        None,
        "the newer TTL applies, the old value is gone"
    );
    assert_eq!(cache.len(), 1);
}

#[test]
fn zero_ttl_is_already_expired_and_delete_of_expired_reports_false() {
    let (_dir, path) = temp_log();
    let clock = Arc::new(ManualClock::new(42));
    let cache = open(&path, &clock);
    cache.put_with_ttl("z", "v", Duration::ZERO).unwrap();
    assert_eq!(cache.get("z").unwrap(), None);
    cache
        .put_with_ttl("e", "v", Duration::from_millis(5))
        .unwrap();
    clock.advance(Duration::from_millis(5));
    assert!(!cache.delete("e").unwrap(), "no live value was removed");
    clock.set(0);
    drop(cache);
    // The tombstone keeps "e" gone even if the clock is turned back.
    let cache = open(&path, &clock);
    assert_eq!(cache.get("e").unwrap(), None);
}

#[test]
fn compaction_drops_expired_entries() {
    let (_dir, path) = temp_log();
    let clock = Arc::new(ManualClock::new(1));
    let cache = open(&path, &clock);
    for i in 0..50 {
        cache
            .put_with_ttl(format!("t{i}"), vec![b'x'; 100], Duration::from_secs(1))
            .unwrap();
    }
    cache.put("keep", "me").unwrap();
    let before = cache.stats().file_bytes;
    clock.advance(Duration::from_secs(1));
    cache.compact().unwrap();
    let s = cache.stats();
    assert!(s.file_bytes < before / 10, "{} vs {before}", s.file_bytes);
    assert_eq!(s.live_keys, 1);
    let text = std::fs::read(&path).unwrap();
    assert!(
        !text.windows(2).any(|w| w == b"t1"),
        "expired records are gone from the file"
    );
}
