//! Guards, with the simulated file system's faults: a crash at each step of a compaction
//! leaves the old or the new log complete, a full disk skips compaction and leaves the log
//! untouched, and concurrent Sync writers share fsyncs (group commit, with the first fsync
//! held until every writer appended).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use logcache::sim::{OpKind, SimFs};
use logcache::{Durability, DurableKVCache, Error};

/// A fresh simulated file system and the log's path in it.
fn sim_log() -> (SimFs, PathBuf) {
    (SimFs::new(), PathBuf::from("/db/cache_data.log"))
}

/// The temporary file a compaction writes beside the log.
fn compaction_file(path: &Path) -> PathBuf {
    path.with_file_name("cache_data.log.compact")
}

#[test]
fn concurrent_sync_writers_share_fsyncs() {
    const THREADS: u64 = 8;
    let (fs, path) = sim_log();
    let cache = Arc::new(
        DurableKVCache::builder(&path)
            .file_system(Arc::new(fs.clone()))
            .preallocate(0)
            .open()
            .unwrap(),
    );
    let syncs_before = cache.stats().syncs;
    // The first fsync is held until every thread has appended its record, so the second
    // fsync must cover all the records that arrived meanwhile: 2 fsyncs for 8 puts.
    fs.hold_next_sync_until_writes(THREADS);
    let start = Arc::new(Barrier::new(THREADS as usize));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let cache = Arc::clone(&cache);
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                cache.put(format!("k{t}"), format!("v{t}")).unwrap();
                // Acknowledged means visible.
                assert_eq!(
                    cache.get(format!("k{t}")).unwrap(),
                    Some(format!("v{t}").into_bytes())
                );
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let used = cache.stats().syncs - syncs_before;
    assert!(
        used <= 2,
        "{THREADS} concurrent Sync puts used {used} fsyncs"
    );
    assert_eq!(cache.len(), THREADS as usize);
}

#[test]
fn no_free_space_skips_compaction_and_leaves_the_log_untouched() {
    let (fs, path) = sim_log();
    fs.set_available_space(1000);
    let cache = DurableKVCache::builder(&path)
        .durability(Durability::None)
        .file_system(Arc::new(fs.clone()))
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
    assert!(fs.read_file(&compaction_file(&path)).is_none());
    assert_eq!(cache.stats().file_bytes, s.file_bytes);
    // With space back, the next compaction runs.
    fs.set_available_space(u64::MAX / 2);
    cache.compact().unwrap();
    assert!(cache.stats().file_bytes < s.file_bytes / 10);
}

/// The contents every crash test expects: k0..k39 at their last value, odd keys below 10
/// deleted, "ttl" present.
fn build_for_crash(fs: &SimFs, path: &Path) -> (DurableKVCache, HashMap<String, String>) {
    let cache = DurableKVCache::builder(path)
        .durability(Durability::Sync)
        .file_system(Arc::new(fs.clone()))
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

fn assert_contents(fs: &SimFs, path: &Path, model: &HashMap<String, String>, what: &str) {
    let cache = DurableKVCache::builder(path)
        .file_system(Arc::new(fs.clone()))
        .open()
        .unwrap_or_else(|e| panic!("{what}: reopen failed: {e}"));
    for k in (0..40).map(|k| format!("k{k}")).chain(["ttl".to_string()]) {
        assert_eq!(
            cache.get(&k).unwrap(),
            model.get(&k).map(|v| v.clone().into_bytes()),
            "{what}: key {k}"
        );
    }
    assert_eq!(cache.len(), model.len(), "{what}");
    assert!(fs.read_file(&compaction_file(path)).is_none(), "{what}");
}

#[test]
fn a_crash_at_each_step_of_compaction_leaves_the_old_or_the_new_log_complete() {
    // (operation, which one from the start of compact(), dies after it took effect?)
    // All writes were synced before compact(), so its fsyncs are: 1 = the copied records,
    // 2 = the new file with the tail carried over.
    let points: [(OpKind, u64, bool, &str); 10] = [
        (OpKind::Open, 1, false, "creating the compaction file"),
        (OpKind::Write, 1, false, "writing the copied records"),
        (OpKind::Write, 1, true, "after the copy, before its fsync"),
        (OpKind::Sync, 1, false, "the copy's fsync"),
        (OpKind::Sync, 2, false, "the new file's last fsync"),
        (
            OpKind::Sync,
            2,
            true,
            "after the new file's last fsync, before the rename",
        ),
        (OpKind::Rename, 1, false, "just before the rename"),
        (
            OpKind::Rename,
            1,
            true,
            "after the rename, before the directory fsync",
        ),
        (
            OpKind::SyncDir,
            1,
            false,
            "after the rename, directory fsync failing",
        ),
        (OpKind::SyncDir, 1, true, "after the directory fsync"),
    ];
    for (op, nth, after, what) in points {
        let (fs, path) = sim_log();
        let (cache, model) = build_for_crash(&fs, &path);
        fs.crash_at(op, nth, after);
        let result = cache.compact();
        assert!(
            fs.has_crashed(),
            "{what}: the crash point was never reached ({result:?})"
        );
        drop(cache); // the "dead process" does no more I/O
        // What the disk may hold after the crash: unsynced bytes lost, kept, zeroed, torn;
        // the rename undone when the directory was not synced after it, or kept.
        for (image, disk) in fs.crash_images(nth) {
            assert_contents(&disk, &path, &model, &format!("{what}; {image}"));
        }
    }
}
