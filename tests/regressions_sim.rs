//! Regression tests for engine bugs found by the crash and I/O-error harnesses, each reduced
//! to the smallest scenario on the simulated file system.

use std::sync::Arc;

use logcache::sim::{OpKind, SimFs};
use logcache::{DurableKVCache, Error};

const LOG: &str = "/db/cache.log";

fn open(fs: &SimFs) -> logcache::Result<DurableKVCache> {
    DurableKVCache::builder(LOG)
        .compaction_threshold(0)
        .file_system(Arc::new(fs.clone()))
        .open()
}

/// Found by the I/O-error harness: the log used to be created in place, so a crash (or a
/// failed write) while writing its header could leave a few zero or garbage bytes that every
/// later open refused as "not a logcache log". Creation is now header-in-temp + rename.
#[test]
fn an_interrupted_log_creation_never_blocks_the_next_open() {
    let fs = SimFs::new();
    fs.fail(OpKind::Write, 1, false);
    assert!(open(&fs).is_err(), "the header write failed");
    for (label, image) in fs.crash_images(7) {
        let cache = open(&image).unwrap_or_else(|e| panic!("{label}: {e}"));
        cache.put("k", "v").unwrap();
        assert_eq!(cache.get("k").unwrap().as_deref(), Some(&b"v"[..]));
    }
}

/// Found by the I/O-error harness: after a compaction's directory fsync failed, a reopen on
/// the healthy file system wrote into the renamed log whose name was not yet durable; a power
/// loss then undid the rename and lost acknowledged Sync writes. Open now fsyncs the directory.
#[test]
fn a_reopen_after_a_failed_directory_fsync_makes_the_rename_durable_first() {
    let fs = SimFs::new();
    let cache = open(&fs).unwrap();
    for i in 0..10 {
        cache.put(format!("k{}", i % 3), format!("v{i}")).unwrap();
    }
    fs.fail(OpKind::SyncDir, 1, false);
    let err = cache.compact().unwrap_err();
    assert!(matches!(err, Error::Io { op: "fsync", .. }), "{err}");
    assert!(matches!(
        cache.put("x", "y").unwrap_err(),
        Error::Poisoned { .. }
    ));
    drop(cache);
    let cache = open(&fs).unwrap();
    cache.put("acked", "after reopen").unwrap();
    drop(cache);
    fs.crash_now();
    for (label, image) in fs.crash_images(3) {
        let cache = open(&image).unwrap();
        assert_eq!(
            cache.get("acked").unwrap().as_deref(),
            Some(&b"after reopen"[..]),
            "{label}"
        );
        assert_eq!(
            cache.get("k0").unwrap().as_deref(),
            Some(&b"v9"[..]),
            "{label}"
        );
    }
}
