//! Guards: every kind of operation survives a close and reopen (the crate's core promise).

mod common;

use common::{open_fast, temp_log};
use logcache::{Durability, DurableKVCache};

/// `set` is the engine's verb, as every store type's; `put` (the seed's) is the same call.
#[test]
fn set_and_its_alias_put_write_the_same_records() {
    let (_dir, path) = temp_log();
    let cache = DurableKVCache::open(&path).unwrap();
    cache.set("a", "1").unwrap();
    cache.put("b", "2").unwrap();
    cache
        .set_with_ttl("c", "3", std::time::Duration::from_secs(3600))
        .unwrap();
    cache
        .put_with_ttl("d", "4", std::time::Duration::from_secs(3600))
        .unwrap();
    assert_eq!(cache.stats().sets, 4);
    drop(cache);
    let cache = DurableKVCache::open(&path).unwrap();
    for (k, v) in [("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")] {
        assert_eq!(cache.get(k).unwrap().as_deref(), Some(v.as_bytes()), "{k}");
    }
    let expiring = ["c", "d"].map(|k| cache.get_with_expiry(k).unwrap().map(|(_, e)| e > 0));
    assert_eq!(expiring, [Some(true), Some(true)]);
}

#[test]
fn put_close_reopen_recovers_every_value() {
    let (_dir, path) = temp_log();
    let cache = DurableKVCache::open(&path).unwrap();
    cache
        .put("user:123", r#"{"name": "Alice", "role": "admin"}"#)
        .unwrap();
    cache.put("config:theme", "dark").unwrap();
    assert_eq!(
        cache.get("user:123").unwrap().as_deref(),
        Some(&br#"{"name": "Alice", "role": "admin"}"#[..])
    );
    drop(cache);
    let cache2 = DurableKVCache::open(&path).unwrap();
    assert_eq!(
        cache2.get("user:123").unwrap().as_deref(),
        Some(&br#"{"name": "Alice", "role": "admin"}"#[..])
    );
    assert_eq!(
        cache2.get("config:theme").unwrap().as_deref(),
        Some(&b"dark"[..])
    );
    assert_eq!(cache2.get("missing").unwrap(), None);
    // Read from the hint file the clean close wrote: no record replayed.
    let r = cache2.stats().recovery;
    assert_eq!((r.hint_entries, r.records_replayed), (2, 0));
}

#[test]
fn log_is_byte_exact_readable_text() {
    // The examples of docs/FORMAT.md, byte for byte.
    let (_dir, path) = temp_log();
    let cache = DurableKVCache::open(&path).unwrap();
    cache.put("config:theme", "dark").unwrap();
    assert!(cache.delete("config:theme").unwrap());
    cache.put("k", "a\nb\tc").unwrap();
    drop(cache);
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        "logcache\t1\n\
         165c3aa4\t1\tP\t0\t12\t4\tconfig:theme\tdark\n\
         71dea896\t2\tD\t0\t12\t0\tconfig:theme\t\n\
         19b42ba6\t3\tP\t0\t1\t5\tk\ta\nb\tc\n"
    );
}

#[test]
fn reopen_after_each_operation_kind() {
    type Step = (
        &'static str,
        fn(&DurableKVCache),
        Vec<(&'static str, Option<&'static str>)>,
    );
    let steps: Vec<Step> = vec![
        ("put", |c| c.put("a", "1").unwrap(), vec![("a", Some("1"))]),
        (
            "overwrite",
            |c| c.put("a", "2").unwrap(),
            vec![("a", Some("2"))],
        ),
        (
            "second key",
            |c| c.put("b", "x").unwrap(),
            vec![("a", Some("2")), ("b", Some("x"))],
        ),
        (
            "delete",
            |c| assert!(c.delete("a").unwrap()),
            vec![("a", None), ("b", Some("x"))],
        ),
        (
            "delete of a missing key",
            |c| assert!(!c.delete("zzz").unwrap()),
            vec![("a", None), ("zzz", None)],
        ),
        (
            "put after delete",
            |c| c.put("a", "3").unwrap(),
            vec![("a", Some("3")), ("b", Some("x"))],
        ),
        (
            "put with a long ttl",
            |c| {
                c.put_with_ttl("t", "ttl", std::time::Duration::from_secs(3600))
                    .unwrap()
            },
            vec![("t", Some("ttl"))],
        ),
        (
            "compact",
            |c| c.compact().unwrap(),
            vec![("a", Some("3")), ("b", Some("x")), ("t", Some("ttl"))],
        ),
        (
            "sync",
            |c| c.sync().unwrap(),
            vec![("a", Some("3")), ("b", Some("x"))],
        ),
    ];
    for durability in [Durability::Sync, Durability::None] {
        let (_dir, path) = temp_log();
        for (name, op, expect) in &steps {
            let cache = DurableKVCache::builder(&path)
                .durability(durability)
                .open()
                .unwrap();
            op(&cache);
            drop(cache);
            let cache = open_fast(&path);
            for (key, value) in expect {
                assert_eq!(
                    cache.get(key).unwrap().as_deref(),
                    value.map(str::as_bytes),
                    "after {name} ({durability:?}), key {key}"
                );
            }
        }
    }
}

#[test]
fn len_contains_keys_and_stats_after_reopen() {
    let (_dir, path) = temp_log();
    let cache = open_fast(&path);
    for i in 0..100 {
        cache.put(format!("k{i}"), format!("v{i}")).unwrap();
    }
    for i in 0..10 {
        cache.delete(format!("k{i}")).unwrap();
    }
    cache.put("k50", "new").unwrap();
    drop(cache);
    // From the hint file the clean close wrote, then (hint removed) from a replay of every
    // record: the same answers.
    let mut hint = path.as_os_str().to_owned();
    hint.push(".hint");
    for from_hint in [true, false] {
        if !from_hint {
            std::fs::remove_file(&hint).unwrap();
        }
        let cache = open_fast(&path);
        assert_eq!(cache.len(), 90);
        assert!(!cache.is_empty());
        assert!(cache.contains("k10") && !cache.contains("k9"));
        let mut keys: Vec<_> = cache.keys().collect();
        keys.sort();
        assert_eq!(keys.len(), 90);
        assert!(keys.contains(&b"k99".to_vec()));
        let s = cache.stats();
        assert_eq!(s.live_keys, 90);
        if from_hint {
            assert_eq!(
                (s.recovery.hint_entries, s.recovery.records_replayed),
                (90, 0)
            );
        } else {
            assert_eq!(
                (s.recovery.hint_entries, s.recovery.records_replayed),
                (0, 111)
            );
        }
        assert_eq!(s.stale_records, 10 * 2 + 1);
        assert!(s.dead_bytes > 0 && s.live_bytes > 0);
        assert_eq!(s.recovery.torn_tail_bytes, 0);
        assert_eq!(
            s.recovery.truncated_bytes, 0,
            "a clean close leaves no preallocated tail"
        );
    }
}
