//! Guards: a crash mid-append (torn tail, zeros, garbage) loses at most the torn record and
//! never the records before it, and the repaired log keeps later writes.

mod common;

use std::fs::OpenOptions;
use std::io::Write;

use common::{open_fast, record_offsets, temp_log};
use logcache::{DurableKVCache, RecoveryMode};

fn build(path: &std::path::Path) {
    let cache = open_fast(path);
    cache.put("first", "one").unwrap();
    cache.put("tab\tkey", "line\nbreak\0nul").unwrap();
    cache.put("last", "the value that gets cut").unwrap();
    drop(cache);
}

#[test]
fn cut_at_every_byte_of_the_last_record() {
    let (_dir, path) = temp_log();
    build(&path);
    let original = std::fs::read(&path).unwrap();
    let (last_start, last_len) = *record_offsets(&path).last().unwrap();
    assert_eq!(last_start + last_len, original.len());
    for mode in [RecoveryMode::Salvage, RecoveryMode::Strict] {
        for cut in last_start..=original.len() {
            std::fs::write(&path, &original[..cut]).unwrap();
            let cache = DurableKVCache::builder(&path)
                .recovery_mode(mode)
                .open()
                .unwrap_or_else(|e| panic!("cut at {cut} ({mode:?}): {e}"));
            assert_eq!(cache.get("first").unwrap().as_deref(), Some(&b"one"[..]));
            assert_eq!(
                cache.get("tab\tkey").unwrap().as_deref(),
                Some(&b"line\nbreak\0nul"[..])
            );
            let last = cache.get("last").unwrap();
            if cut == original.len() {
                assert_eq!(last.as_deref(), Some(&b"the value that gets cut"[..]));
            } else {
                assert_eq!(last, None, "cut at {cut}: the torn record must be absent");
                assert_eq!(
                    cache.stats().recovery.torn_tail_bytes,
                    (cut - last_start) as u64
                );
            }
            // A write after recovery lands after the last intact record and survives.
            cache.put("after", format!("cut {cut}")).unwrap();
            drop(cache);
            let cache = open_fast(&path);
            assert_eq!(
                cache.get("after").unwrap(),
                Some(format!("cut {cut}").into_bytes())
            );
            assert_eq!(cache.get("first").unwrap().as_deref(), Some(&b"one"[..]));
            assert_eq!(cache.stats().recovery.torn_tail_bytes, 0);
        }
    }
}

#[test]
fn zero_filled_tail_is_dropped_and_counts_as_no_loss() {
    let (_dir, path) = temp_log();
    build(&path);
    let len = std::fs::metadata(&path).unwrap().len();
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(&vec![0u8; 3 << 20]).unwrap();
    drop(f);
    let cache = open_fast(&path);
    assert_eq!(cache.len(), 3);
    let r = cache.stats().recovery;
    assert_eq!(r.torn_tail_bytes, 0);
    assert_eq!(r.truncated_bytes, 3 << 20);
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        len,
        "truncated at open"
    );
    cache.put("more", "data").unwrap();
    drop(cache);
    assert_eq!(open_fast(&path).len(), 4);
}

#[test]
fn partial_record_then_zeros_like_a_crash_into_preallocated_space() {
    let (_dir, path) = temp_log();
    build(&path);
    let (last_start, last_len) = *record_offsets(&path).last().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    for b in &mut bytes[last_start + last_len / 2..] {
        *b = 0;
    }
    bytes.extend_from_slice(&[0u8; 4096]);
    std::fs::write(&path, &bytes).unwrap();
    let cache = DurableKVCache::builder(&path)
        .recovery_mode(RecoveryMode::Strict)
        .open()
        .unwrap();
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.get("last").unwrap(), None);
}

#[test]
fn empty_or_torn_file_header_is_rewritten() {
    for prefix in 0..b"logcache\t1\n".len() {
        let (_dir, path) = temp_log();
        std::fs::write(&path, &b"logcache\t1\n"[..prefix]).unwrap();
        let cache = open_fast(&path);
        cache.put("k", "v").unwrap();
        drop(cache);
        assert_eq!(
            open_fast(&path).get("k").unwrap().as_deref(),
            Some(&b"v"[..])
        );
    }
}
