//! Guards: length fields in garbage are never trusted — open allocates no more than a fixed
//! window plus what the file holds, whatever the header claims.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::fs::OpenOptions;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{open_fast, temp_log};
use logcache::{DurableKVCache, MAX_VALUE_LEN_LIMIT, RecoveryMode};

struct Counting;
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(now, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Peak bytes allocated (above what was live before) while running `f`.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = CURRENT.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let out = f();
    (out, PEAK.load(Ordering::SeqCst) - base)
}

#[test]
fn headers_claiming_huge_lengths_allocate_nothing_big() {
    let claims = [
        format!("{:08x}\t9\tP\t0\t1\t{}\t", 0xdead_beefu32, u64::MAX),
        format!("{:08x}\t9\tP\t0\t1\t{}\t", 0, u64::MAX - 1),
        format!("{:08x}\t9\tP\t0\t{}\t1\t", 0, u64::MAX),
        // Within the configured maximum, but far beyond the file.
        format!("{:08x}\t9\tP\t0\t1\t{}\t", 0, MAX_VALUE_LEN_LIMIT),
        format!("{:08x}\t18446744073709551615\tD\t0\t65536\t0\t", 0),
    ];
    for claim in claims {
        let (_dir, path) = temp_log();
        let cache = open_fast(&path);
        cache.put("kept", "value").unwrap();
        drop(cache);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(claim.as_bytes()).unwrap();
        f.write_all(b"some trailing garbage\x00\xff").unwrap();
        drop(f);
        let file_len = std::fs::metadata(&path).unwrap().len() as usize;
        for mode in [RecoveryMode::Salvage, RecoveryMode::Strict] {
            let (cache, peak) = peak_during(|| {
                DurableKVCache::builder(&path)
                    .recovery_mode(mode)
                    .max_value_len(MAX_VALUE_LEN_LIMIT)
                    .open()
                    .unwrap()
            });
            // The scan window is sized to the file, so the whole open stays within a small
            // multiple of the file plus fixed overhead.
            assert!(
                peak < 64 * 1024 + 4 * file_len,
                "claim {claim:?}: open allocated {peak} bytes for a {file_len}-byte file"
            );
            assert_eq!(cache.get("kept").unwrap().as_deref(), Some(&b"value"[..]));
            assert!(cache.stats().recovery.torn_tail_bytes > 0);
            drop(cache);
            // Truncated by the first open; write the garbage back for the next mode.
            let mut f = OpenOptions::new().append(true).open(&path).unwrap();
            f.write_all(claim.as_bytes()).unwrap();
            drop(f);
        }
    }
}

#[test]
fn a_file_of_pure_garbage_is_refused_untouched() {
    let (_dir, path) = temp_log();
    let garbage: Vec<u8> = (0..10_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(&path, &garbage).unwrap();
    let err = DurableKVCache::open(&path).unwrap_err();
    assert!(matches!(err, logcache::Error::NotALog { .. }), "{err}");
    assert!(err.to_string().contains("not a logcache log"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), garbage, "never modified");
}

#[test]
fn a_future_format_version_is_refused_untouched() {
    let (_dir, path) = temp_log();
    std::fs::write(&path, b"logcache\t2\nwhatever").unwrap();
    let err = DurableKVCache::open(&path).unwrap_err();
    assert!(
        matches!(&err, logcache::Error::UnsupportedVersion { version, .. } if version == "2"),
        "{err}"
    );
    assert!(err.to_string().contains("format version 2"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"logcache\t2\nwhatever");
}
