//! The engine's read-modify-write operations: `update`, `add`, `replace`, `incr`, `touch`,
//! `compare_and_swap`, `take` — their answers, their atomicity under threads, their expiry and
//! their durability across a reopen, in each durability mode.

use std::sync::Arc;
use std::time::Duration;

use logcache::{Change, Durability, DurableKVCache, Error, ManualClock};

const MODES: [Durability; 3] = [
    Durability::Sync,
    Durability::Interval(Duration::from_millis(5)),
    Durability::None,
];

fn open(path: &std::path::Path, mode: Durability) -> DurableKVCache {
    DurableKVCache::builder(path)
        .durability(mode)
        .open()
        .expect("open")
}

/// A Sync cache on a manual clock at 1,000 s.
fn open_with_clock(path: &std::path::Path) -> (DurableKVCache, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let cache = DurableKVCache::builder(path)
        .clock(clock.clone())
        .open()
        .expect("open");
    (cache, clock)
}

#[test]
fn add_replace_take_and_cas_answer_as_documented() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(&dir.path().join("c.log"), mode);
        assert!(cache.add("k", "1", None).unwrap());
        assert!(!cache.add("k", "2", None).unwrap());
        assert_eq!(cache.get("k").unwrap().as_deref(), Some(&b"1"[..]));
        assert!(cache.replace("k", "3", None).unwrap());
        assert!(!cache.replace("absent", "x", None).unwrap());
        assert!(cache.get("absent").unwrap().is_none());

        assert!(!cache.compare_and_swap("k", Some(b"1"), Some(b"4")).unwrap());
        assert!(cache.compare_and_swap("k", Some(b"3"), Some(b"4")).unwrap());
        assert!(cache.compare_and_swap("new", None, Some(b"n")).unwrap());
        assert!(!cache.compare_and_swap("new", None, Some(b"m")).unwrap());
        assert!(cache.compare_and_swap("new", Some(b"n"), None).unwrap());
        assert!(!cache.contains("new"));

        assert_eq!(cache.take("k").unwrap().as_deref(), Some(&b"4"[..]));
        assert_eq!(cache.take("k").unwrap(), None);
        assert!(!cache.contains("k"));
        cache.close().unwrap();
        // What was taken stays taken after a reopen.
        let cache = open(&dir.path().join("c.log"), mode);
        assert!(cache.get("k").unwrap().is_none());
        assert!(cache.get("new").unwrap().is_none());
    }
}

#[test]
fn incr_counts_from_initial_refuses_non_numbers_and_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(&dir.path().join("c.log"), Durability::Sync);
    assert_eq!(cache.incr("n", 1, None).unwrap(), None);
    assert!(!cache.contains("n"));
    assert_eq!(cache.incr("n", 5, Some(10)).unwrap(), Some(15));
    assert_eq!(cache.incr("n", -20, None).unwrap(), Some(-5));
    assert_eq!(cache.get("n").unwrap().as_deref(), Some(&b"-5"[..]));

    cache.set("s", "abc").unwrap();
    let err = cache.incr("s", 1, Some(0)).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    assert_eq!(cache.get("s").unwrap().as_deref(), Some(&b"abc"[..]));

    cache.set("big", i64::MAX.to_string()).unwrap();
    let err = cache.incr("big", 1, None).unwrap_err();
    assert!(err.to_string().contains("outside a 64-bit"), "{err}");
    assert_eq!(cache.incr("big", 0, None).unwrap(), Some(i64::MAX));
}

#[test]
fn incr_from_many_threads_loses_no_increment_in_any_mode() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let cache = Arc::new(open(&path, mode));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let cache = Arc::clone(&cache);
                std::thread::spawn(move || {
                    for i in 0..300 {
                        cache.incr("n", 1, Some(0)).unwrap();
                        // Plain writes to other keys interleave with the counter's.
                        cache.set(format!("other{i}"), "x").unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(cache.incr("n", 0, None).unwrap(), Some(2400), "{mode:?}");
        Arc::try_unwrap(cache).ok().unwrap().close().unwrap();
        assert_eq!(
            open(&path, mode).get("n").unwrap().as_deref(),
            Some(&b"2400"[..])
        );
    }
}

#[test]
fn add_from_many_threads_has_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(open(&dir.path().join("c.log"), Durability::Sync));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let cache = Arc::clone(&cache);
            std::thread::spawn(move || {
                (0..100)
                    .filter(|i| cache.add(format!("k{i}"), t.to_string(), None).unwrap())
                    .count()
            })
        })
        .collect();
    let won: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(won, 100);
}

#[test]
fn touch_and_expiry_follow_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, clock) = open_with_clock(&dir.path().join("c.log"));
    assert!(cache.add("k", "v", Some(Duration::from_secs(10))).unwrap());
    assert_eq!(cache.get_with_expiry("k").unwrap().unwrap().1, 1_010_000);
    assert!(cache.touch("k", Some(Duration::from_secs(100))).unwrap());
    assert_eq!(cache.get_with_expiry("k").unwrap().unwrap().1, 1_100_000);
    // incr keeps the expiry.
    cache
        .set_with_ttl("n", "1", Duration::from_secs(5))
        .unwrap();
    assert_eq!(cache.incr("n", 1, None).unwrap(), Some(2));
    assert_eq!(cache.get_with_expiry("n").unwrap().unwrap().1, 1_005_000);
    clock.advance(Duration::from_secs(50));
    // Expired: absent to every operation.
    assert_eq!(cache.incr("n", 1, None).unwrap(), None);
    assert!(cache.add("n", "fresh", None).unwrap());
    assert!(cache.get("k").unwrap().is_some());
    assert!(cache.touch("k", None).unwrap());
    clock.advance(Duration::from_secs(1_000));
    assert_eq!(cache.get_with_expiry("k").unwrap().unwrap().1, 0);
    assert!(!cache.touch("absent", None).unwrap());
}

#[test]
fn update_keep_writes_nothing_and_returns_its_answer() {
    let dir = tempfile::tempdir().unwrap();
    let cache = DurableKVCache::builder(dir.path().join("c.log"))
        .max_value_len(1 << 20)
        .open()
        .unwrap();
    cache.set("k", "v").unwrap();
    let before = cache.stats();
    let seen = cache
        .update("k", |cur| (Change::Keep, cur.map(|c| c.value.to_vec())))
        .unwrap();
    assert_eq!(seen.as_deref(), Some(&b"v"[..]));
    assert_eq!(cache.stats().sets, before.sets);
    // A value over the limit is refused, the old one kept.
    let err = cache
        .update("k", |_| {
            (
                Change::Set {
                    value: vec![0; 2 << 20],
                    expiry: 0,
                },
                (),
            )
        })
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    assert_eq!(cache.get("k").unwrap().as_deref(), Some(&b"v"[..]));
}

#[test]
fn keys_by_write_follow_the_last_write_through_compaction_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.log");
    let cache = open(&path, Durability::None);
    for k in ["a", "b", "c", "d"] {
        cache.set(k, "v").unwrap();
    }
    cache.set("b", "again").unwrap();
    cache.delete("c").unwrap();
    let want: Vec<Vec<u8>> = ["a", "d", "b"]
        .iter()
        .map(|k| k.as_bytes().to_vec())
        .collect();
    assert_eq!(cache.keys_by_write(), want);
    cache.compact().unwrap();
    assert_eq!(cache.keys_by_write(), want);
    cache.close().unwrap();
    assert_eq!(open(&path, Durability::None).keys_by_write(), want);
}

#[test]
fn purge_expired_drops_what_expired_and_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, clock) = open_with_clock(&dir.path().join("c.log"));
    cache
        .set_with_ttl("a", "1", Duration::from_secs(1))
        .unwrap();
    cache
        .set_with_ttl("b", "1", Duration::from_secs(100))
        .unwrap();
    cache.set("c", "1").unwrap();
    assert_eq!(cache.purge_expired(), 0);
    clock.advance(Duration::from_secs(10));
    assert_eq!(cache.purge_expired(), 1);
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.purge_expired(), 0);
}

#[test]
fn updates_alone_trigger_compaction_in_every_mode() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let cache = DurableKVCache::builder(dir.path().join("c.log"))
            .durability(mode)
            .compaction_threshold(100)
            .open()
            .unwrap();
        for _ in 0..1_000 {
            cache.incr("n", 1, Some(0)).unwrap();
        }
        cache.wait_for_compaction();
        assert!(cache.stats().compactions > 0, "{mode:?}");
        assert_eq!(cache.incr("n", 0, None).unwrap(), Some(1_000));
    }
}
