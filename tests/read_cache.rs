//! The read cache of large values (`read_cache_bytes`): a second read of a large value comes
//! from memory, and no read ever answers with bytes of another record — after an overwrite,
//! a delete, a compaction, a reopen or a recovery that cut the log.

use std::path::PathBuf;
use std::sync::Arc;

use logcache::sim::{OpKind, SimFs};
use logcache::{Durability, DurableKVCache};

mod common;

/// With a 64 MiB read cache, no automatic compaction.
fn open(path: &std::path::Path) -> DurableKVCache {
    DurableKVCache::builder(path)
        .durability(Durability::None)
        .compaction_threshold(0)
        .read_cache_bytes(64 << 20)
        .open()
        .unwrap()
}

/// A large value (the cache keeps records of 64 KiB or more), different for every `seed`.
fn big(seed: u8) -> Vec<u8> {
    common::data::pattern(200_000, seed)
}

#[test]
fn a_second_read_of_a_large_value_comes_from_memory() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(&dir.path().join("log"));
    cache.put("a", big(1)).unwrap();
    cache.put("small", "x").unwrap();
    // Written through: the first read is already from memory.
    assert_eq!(cache.get("a").unwrap(), Some(big(1)));
    let stats = cache.stats();
    assert_eq!((stats.read_cache_hits, stats.read_cache_misses), (1, 0));
    assert!(stats.read_cache_bytes >= 200_000, "{stats:?}");
    cache.close().unwrap();
    // A reopened handle starts empty: the first read goes to the log, the next ones do not.
    let cache = open(&dir.path().join("log"));
    assert_eq!(cache.get("a").unwrap(), Some(big(1)));
    let mut buf = Vec::new();
    assert!(cache.get_into("a", &mut buf).unwrap());
    assert_eq!(buf, big(1));
    assert_eq!(cache.get("a").unwrap(), Some(big(1)));
    assert_eq!(cache.get("small").unwrap().as_deref(), Some(&b"x"[..]));
    let stats = cache.stats();
    assert_eq!(
        (stats.read_cache_hits, stats.read_cache_misses),
        (2, 1),
        "small values do not go through it"
    );
}

#[test]
fn with_durability_sync_too() {
    let dir = tempfile::tempdir().unwrap();
    let cache = DurableKVCache::builder(dir.path().join("log"))
        .read_cache_bytes(64 << 20)
        .open()
        .unwrap();
    cache.put("a", big(1)).unwrap();
    cache.put("a", big(2)).unwrap();
    assert_eq!(cache.get("a").unwrap(), Some(big(2)));
    assert_eq!(cache.stats().read_cache_hits, 1);
}

#[test]
fn off_by_default_every_read_goes_to_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let cache = DurableKVCache::builder(dir.path().join("log"))
        .durability(Durability::None)
        .open()
        .unwrap();
    cache.put("a", big(1)).unwrap();
    for _ in 0..3 {
        assert_eq!(cache.get("a").unwrap(), Some(big(1)));
    }
    let stats = cache.stats();
    assert_eq!(
        (stats.read_cache_hits, stats.read_cache_bytes),
        (0, 0),
        "{stats:?}"
    );
}

#[test]
fn overwrites_deletes_and_compaction_never_serve_an_old_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let cache = open(&path);
    for round in 0..4u8 {
        cache.put("a", big(round)).unwrap();
        cache.put("b", big(round + 100)).unwrap();
        assert_eq!(cache.get("a").unwrap(), Some(big(round)));
        assert_eq!(cache.get("b").unwrap(), Some(big(round + 100)));
    }
    cache.delete("a").unwrap();
    assert_eq!(cache.get("a").unwrap(), None);
    // Compaction moves "b" to another file; the values cached under the old file are not
    // asked for again, and a value written into the new file at an offset some old record had
    // is read as itself.
    cache.compact().unwrap();
    assert_eq!(cache.get("b").unwrap(), Some(big(103)));
    for round in 10..14u8 {
        cache.put("c", big(round)).unwrap();
        assert_eq!(cache.get("c").unwrap(), Some(big(round)));
        assert_eq!(cache.get("b").unwrap(), Some(big(103)));
    }
    cache.close().unwrap();
    let cache = open(&path);
    assert_eq!(cache.get("b").unwrap(), Some(big(103)));
    assert_eq!(cache.get("c").unwrap(), Some(big(13)));
    assert_eq!(cache.get("a").unwrap(), None);
}

#[test]
fn after_a_recovery_cut_the_log_reused_offsets_read_as_their_new_records() {
    let fs = SimFs::new();
    let path = PathBuf::from("/db/cache_data.log");
    let cache = DurableKVCache::builder(&path)
        .durability(Durability::None)
        .compaction_threshold(0)
        .read_cache_bytes(64 << 20)
        .file_system(Arc::new(fs.clone()))
        .open()
        .unwrap();
    cache.put("kept", big(1)).unwrap();
    cache.sync().unwrap();
    // Written and read (so cached) but never synced: a failed fsync loses it.
    cache.put("lost", big(2)).unwrap();
    assert_eq!(cache.get("lost").unwrap(), Some(big(2)));
    fs.fail(OpKind::Sync, 1, true);
    assert!(cache.sync().is_err());
    fs.heal();
    assert!(cache.recover().unwrap());
    assert_eq!(cache.get("lost").unwrap(), None, "cut with the log");
    // The next record starts where "lost" started.
    cache.put("next", big(3)).unwrap();
    assert_eq!(cache.get("next").unwrap(), Some(big(3)));
    assert_eq!(cache.get("kept").unwrap(), Some(big(1)));
}
