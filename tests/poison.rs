//! Guards: a failed write or fsync poisons the handle (no retry-and-trust), unacknowledged
//! writes are never published, and a healthy reopen keeps every acknowledged write.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use logcache::sim::{OpKind, SimFs};
use logcache::{Durability, DurableKVCache, Error};

/// Every fsync from the next one on fails.
fn fail_syncs_from_now(fs: &SimFs) {
    fs.fail(OpKind::Sync, 1, true);
}

/// Every write from the next one on fails (each landing half its bytes).
fn fail_writes_from_now(fs: &SimFs) {
    fs.fail(OpKind::Write, 1, true);
}

/// A fresh simulated file system and the log's path in it.
fn temp_log() -> (SimFs, PathBuf) {
    (SimFs::new(), PathBuf::from("/db/cache_data.log"))
}

fn open_faulty(fs: &SimFs, path: &Path, durability: Durability) -> (DurableKVCache, SimFs) {
    let cache = DurableKVCache::builder(path)
        .durability(durability)
        .file_system(Arc::new(fs.clone()))
        .open()
        .unwrap();
    (cache, fs.clone())
}

/// Opens the log again with the disk healthy (the machine kept running: every byte written
/// is there, as with a real file reopened by a restarted process).
fn reopen(fs: &SimFs, path: &Path) -> DurableKVCache {
    fs.heal();
    DurableKVCache::builder(path)
        .file_system(Arc::new(fs.clone()))
        .open()
        .unwrap()
}

#[test]
fn failed_fsync_poisons_and_hides_the_write() {
    let (fs, path) = temp_log();
    let (cache, faults) = open_faulty(&fs, &path, Durability::Sync);
    cache.put("acked", "1").unwrap();
    fail_syncs_from_now(&faults);
    let err = cache.put("unacked", "2").unwrap_err();
    assert!(matches!(err, Error::Io { op: "fsync", .. }), "{err}");
    assert!(
        std::error::Error::source(&err).is_some(),
        "the cause is kept"
    );
    assert_eq!(cache.get("unacked").unwrap(), None, "never published");
    let err = cache.put("later", "3").unwrap_err();
    assert!(matches!(err, Error::Poisoned { .. }), "{err}");
    assert!(err.to_string().contains("reopen"), "{err}");
    assert!(matches!(
        cache.delete("acked").unwrap_err(),
        Error::Poisoned { .. }
    ));
    assert!(matches!(cache.sync().unwrap_err(), Error::Poisoned { .. }));
    assert!(matches!(
        cache.compact().unwrap_err(),
        Error::Poisoned { .. }
    ));
    // Reads of published data still work.
    assert_eq!(cache.get("acked").unwrap().as_deref(), Some(&b"1"[..]));
    drop(cache);
    let cache = reopen(&fs, &path);
    assert_eq!(cache.get("acked").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(cache.get("later").unwrap(), None);
    // "unacked" reached the page cache; it may or may not be there, but whole if it is.
    let unacked = cache.get("unacked").unwrap();
    assert!(unacked.is_none() || unacked.as_deref() == Some(&b"2"[..]));
}

#[test]
fn failed_write_poisons_in_every_mode_and_the_torn_record_is_dropped() {
    for durability in [Durability::Sync, Durability::None] {
        let (fs, path) = temp_log();
        let (cache, faults) = open_faulty(&fs, &path, durability);
        for i in 0..10 {
            cache.put(format!("k{i}"), "acknowledged").unwrap();
        }
        fail_writes_from_now(&faults);
        let err = cache.put("torn", "x".repeat(1000)).unwrap_err();
        assert!(matches!(err, Error::Io { op: "write", .. }), "{err}");
        assert!(matches!(
            cache.put("k0", "new").unwrap_err(),
            Error::Poisoned { .. }
        ));
        assert_eq!(cache.get("torn").unwrap(), None);
        drop(cache);
        let cache = reopen(&fs, &path);
        assert_eq!(cache.len(), 10, "{durability:?}");
        assert_eq!(
            cache.get("k0").unwrap().as_deref(),
            Some(&b"acknowledged"[..])
        );
        assert_eq!(cache.get("torn").unwrap(), None);
        assert!(
            cache.stats().recovery.torn_tail_bytes > 0,
            "half a record was on disk"
        );
    }
}

#[test]
fn failed_compaction_leaves_the_log_untouched() {
    let (fs, path) = temp_log();
    let (cache, faults) = open_faulty(&fs, &path, Durability::None);
    for i in 0..100 {
        cache.put(format!("k{}", i % 10), format!("v{i}")).unwrap();
    }
    cache.sync().unwrap();
    let data_end = cache.stats().file_bytes as usize;
    let before = fs.read_file(&path).unwrap()[..data_end].to_vec();
    fail_writes_from_now(&faults);
    assert!(matches!(
        cache.compact().unwrap_err(),
        Error::Io { op: "write", .. }
    ));
    assert!(
        fs.read_file(&path.with_file_name("cache_data.log.compact"))
            .is_none()
    );
    drop(cache);
    assert_eq!(
        fs.read_file(&path).unwrap(),
        before,
        "data unchanged, preallocation returned"
    );
    let cache = reopen(&fs, &path);
    for k in 0..10 {
        assert_eq!(
            cache.get(format!("k{k}")).unwrap(),
            Some(format!("v{}", 90 + k).into_bytes())
        );
    }
}

// Recovery in place (a server cannot drop and reopen a store that requests hold): after a full
// disk was freed, writes succeed again without a restart, and nothing acknowledged is lost.

fn heal(fs: &SimFs) {
    fs.heal();
}

#[test]
fn recover_after_a_failed_write_keeps_every_acknowledged_write() {
    for durability in [Durability::None, Durability::Sync] {
        let (fs, path) = temp_log();
        let (cache, faults) = open_faulty(&fs, &path, durability);
        assert!(
            !cache.recover().unwrap(),
            "nothing to recover while healthy"
        );
        assert_eq!(cache.failure(), None);
        for i in 0..5 {
            cache.put(format!("k{i}"), format!("v{i}")).unwrap();
        }
        fail_writes_from_now(&faults);
        let err = cache.put("failed", "x".repeat(4000)).unwrap_err();
        assert!(matches!(err, Error::Io { op: "write", .. }), "{err}");
        let reason = cache.failure().expect("poisoned");
        assert!(reason.contains("injected write failure"), "{reason}");
        // Still failing: recovery itself works (it only cuts), the next write fails again.
        assert!(cache.recover().unwrap());
        assert!(cache.put("again", "y").is_err());
        heal(&faults);
        assert!(cache.recover().unwrap(), "{durability:?}");
        assert_eq!(cache.failure(), None);
        cache.put("after", "z").unwrap();
        cache.sync().unwrap();
        assert_eq!(cache.stats().recoveries, 2);
        for i in 0..5 {
            let v = cache.get(format!("k{i}")).unwrap();
            assert_eq!(v, Some(format!("v{i}").into_bytes()), "{durability:?}");
        }
        drop(cache);
        let cache = reopen(&fs, &path);
        let s = cache.stats();
        assert_eq!(
            (s.recovery.damaged_regions, s.recovery.torn_tail_bytes),
            (0, 0),
            "{durability:?}: the half-written records were cut before anything followed them"
        );
        for i in 0..5 {
            assert!(cache.get(format!("k{i}")).unwrap().is_some());
        }
        assert_eq!(cache.get("failed").unwrap(), None);
        assert_eq!(cache.get("again").unwrap(), None);
        assert_eq!(cache.get("after").unwrap().as_deref(), Some(&b"z"[..]));
    }
}

#[test]
fn recover_after_a_failed_fsync_keeps_only_what_an_fsync_covered() {
    // Sync: the refused write never comes back; the next write is durable.
    let (fs, path) = temp_log();
    let (cache, faults) = open_faulty(&fs, &path, Durability::Sync);
    cache.put("acked", "1").unwrap();
    fail_syncs_from_now(&faults);
    assert!(cache.put("refused", "2").is_err());
    heal(&faults);
    assert!(cache.recover().unwrap());
    cache.put("next", "3").unwrap();
    assert_eq!(cache.get("refused").unwrap(), None);
    drop(cache);
    let cache = reopen(&fs, &path);
    assert_eq!(cache.get("acked").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(cache.get("refused").unwrap(), None, "cut, never trusted");
    assert_eq!(cache.get("next").unwrap().as_deref(), Some(&b"3"[..]));
    drop(cache);

    // None: a value acknowledged but never synced is lost as in a crash, and the older,
    // synced value comes back (the index is rebuilt from what is on disk).
    let (fs, path) = temp_log();
    let (cache, faults) = open_faulty(&fs, &path, Durability::None);
    cache.put("k", "old").unwrap();
    cache.sync().unwrap();
    cache.put("k", "new").unwrap();
    cache.put("gone", "x").unwrap();
    assert_eq!(cache.get("k").unwrap().as_deref(), Some(&b"new"[..]));
    fail_syncs_from_now(&faults);
    assert!(cache.sync().is_err());
    heal(&faults);
    assert!(cache.recover().unwrap());
    assert_eq!(cache.get("k").unwrap().as_deref(), Some(&b"old"[..]));
    assert_eq!(cache.get("gone").unwrap(), None);
    cache.put("k", "newer").unwrap();
    cache.sync().unwrap();
    drop(cache);
    let cache = reopen(&fs, &path);
    assert_eq!(cache.get("k").unwrap().as_deref(), Some(&b"newer"[..]));
    assert_eq!(cache.get("gone").unwrap(), None);
}
