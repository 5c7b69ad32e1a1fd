//! Guards: a damaged record in the middle of the log never yields a wrong value — Salvage
//! skips it and keeps what follows, Strict refuses to open and names the offset.

mod common;

use common::{open_fast, record_offsets, temp_log};
use logcache::{Durability, DurableKVCache, Error, RecoveryMode};

/// Writes k0..k9 (k4 twice: old then new), then flips one byte at `at(record)`.
/// Returns the directory, the log path, and the damaged record's offset and length.
fn damaged_log(
    pick: impl Fn(usize, usize) -> usize,
) -> (tempfile::TempDir, std::path::PathBuf, usize, usize) {
    let (dir, path) = temp_log();
    let cache = open_fast(&path);
    cache.put("k4", "old value of k4").unwrap();
    for i in 0..10 {
        cache.put(format!("k{i}"), format!("value {i}")).unwrap();
    }
    drop(cache);
    // Damage found by a replay: without the hint of the clean close (as after a crash). With
    // it, damage is found when read: `damage_under_a_hint_is_found_at_read_time`.
    let mut hint = path.as_os_str().to_owned();
    hint.push(".hint");
    std::fs::remove_file(&hint).unwrap();
    let offsets = record_offsets(&path);
    // Record 5 is the newest k4.
    let (start, len) = offsets[5];
    let at = pick(start, len);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[at] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();
    (dir, path, start, len)
}

#[test]
fn flipped_byte_in_every_position_of_a_middle_record() {
    // One byte at a time across the whole record: header, key, value, separators.
    let (_probe_dir, _, _, record_len) = damaged_log(|s, _| s);
    for delta in 0..record_len {
        let (_dir, path, start, _) = damaged_log(|s, _| s + delta);
        let before = std::fs::read(&path).unwrap();

        let err = DurableKVCache::builder(&path)
            .recovery_mode(RecoveryMode::Strict)
            .open()
            .unwrap_err();
        match err {
            Error::Corrupt { offset, .. } => assert_eq!(offset, start as u64, "delta {delta}"),
            other => panic!("delta {delta}: expected Corrupt, got {other}"),
        }
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "Strict leaves the file untouched"
        );

        let cache = DurableKVCache::builder(&path)
            .recovery_mode(RecoveryMode::Salvage)
            .open()
            .unwrap();
        for i in (0..10).filter(|&i| i != 4) {
            assert_eq!(
                cache.get(format!("k{i}")).unwrap(),
                Some(format!("value {i}").into_bytes()),
                "delta {delta}: intact records after the damage are kept"
            );
        }
        // Never a wrong value: k4 falls back to its previous intact value, never to damaged
        // bytes.
        let k4 = cache.get("k4").unwrap();
        assert_eq!(
            k4.as_deref(),
            Some(&b"old value of k4"[..]),
            "delta {delta}"
        );
        let r = cache.stats().recovery;
        assert_eq!(r.damaged_regions, 1, "delta {delta}");
        assert!(r.damaged_bytes > 0);
        // Writes after salvage survive, and the salvaged log reopens to the same contents.
        cache.put("after", "salvage").unwrap();
        drop(cache);
        let cache = open_fast(&path);
        assert_eq!(
            cache.get("after").unwrap().as_deref(),
            Some(&b"salvage"[..])
        );
        assert_eq!(cache.get("k4").unwrap(), k4);
        assert_eq!(cache.len(), 11);
    }
}

/// Regression, found by the crash harness: salvage once dropped the key named by a damaged
/// record. After a crash with out-of-order writeback, the damaged record is an unacknowledged
/// write, so dropping its key lost the key's older, acknowledged and synced value.
#[test]
fn damage_to_the_newest_record_keeps_the_previous_acknowledged_value() {
    let (_dir, path, _, _) = damaged_log(|s, len| s + len - 3);
    let cache = open_fast(&path);
    assert_eq!(
        cache.get("k4").unwrap().as_deref(),
        Some(&b"old value of k4"[..])
    );
    assert_eq!(cache.get("k5").unwrap().as_deref(), Some(&b"value 5"[..]));
}

/// With the hint file of a clean close open reads no record, so damage inside the part of the
/// log the hint covers is found when the value is read: an error, never a wrong value, at
/// every byte of the record; every other key reads.
#[test]
fn damage_under_a_hint_is_found_at_read_time() {
    let (_probe_dir, probe, _, record_len) = damaged_log(|s, _| s);
    drop(probe);
    for delta in 0..record_len {
        let (_dir, path) = temp_log();
        let cache = open_fast(&path);
        cache.put("k4", "old value of k4").unwrap();
        for i in 0..10 {
            cache.put(format!("k{i}"), format!("value {i}")).unwrap();
        }
        drop(cache);
        let (start, _) = record_offsets(&path)[5];
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[start + delta] ^= 0x20;
        std::fs::write(&path, &bytes).unwrap();
        let cache = open_fast(&path);
        assert_eq!(cache.stats().recovery.hint_entries, 10, "delta {delta}");
        match cache.get("k4") {
            Err(Error::ChecksumMismatch { .. } | Error::Corrupt { .. }) => {}
            other => panic!("delta {delta}: expected an error, got {other:?}"),
        }
        for i in (0..10).filter(|&i| i != 4) {
            assert_eq!(
                cache.get(format!("k{i}")).unwrap(),
                Some(format!("value {i}").into_bytes()),
                "delta {delta}"
            );
        }
    }
}

#[test]
fn damage_found_at_read_time_is_an_error_not_a_value() {
    let (_dir, path) = temp_log();
    let cache = open_fast(&path);
    cache.put("a", "aaaaaaaa").unwrap();
    cache.put("b", "bbbbbbbb").unwrap();
    cache.sync().unwrap();
    // Damage a record while the handle is open (media going bad under a running process).
    let (start, len) = record_offsets(&path)[0];
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[start + len - 2] ^= 1;
    std::fs::write(&path, &bytes[..]).unwrap();
    let err = cache.get("a").unwrap_err();
    assert!(matches!(err, Error::ChecksumMismatch { .. }), "{err}");
    assert_eq!(cache.get("b").unwrap().as_deref(), Some(&b"bbbbbbbb"[..]));
}

/// Large records are read in two parts (header and key, then the value straight into its own
/// buffer): a flipped byte anywhere in one — header, key, value, final newline — is still an
/// error at read time, never a value; sizes around the two-part threshold round-trip; a record
/// cut short by a truncated file is an error. (The read cache is off, as by default: every
/// read goes to the log. With it on, see the next test.)
#[test]
fn damage_to_a_large_record_found_at_read_time_is_an_error_not_a_value() {
    let (_dir, path) = temp_log();
    let cache = open_fast(&path);
    let key = "large-value-key";
    // Record lengths around 64 KiB, where reads switch to two parts.
    for len in [65_400usize, 65_480, 65_536, 65_600, 300_000] {
        let value: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        cache.put(key, &value).unwrap();
        assert!(cache.get(key).unwrap().unwrap() == value, "{len}");
    }
    let value: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    cache.put(key, &value).unwrap();
    cache.put("after", "x").unwrap();
    cache.sync().unwrap();
    let good = std::fs::read(&path).unwrap();
    let (start, len) = *record_offsets(&path).iter().rev().nth(1).unwrap();
    // Every byte of the header, key and the start of the value, then a spread of the value,
    // then the last bytes.
    let positions = (0..256)
        .chain((256..len - 64).step_by(997))
        .chain(len - 64..len);
    for p in positions {
        let mut bytes = good.clone();
        bytes[start + p] ^= 0x20;
        std::fs::write(&path, &bytes).unwrap();
        match cache.get(key) {
            Err(Error::ChecksumMismatch { .. } | Error::Corrupt { .. }) => {}
            other => panic!(
                "flip at byte {p} of {len}: {:?}",
                other.map(|v| v.map(|v| v.len()))
            ),
        }
        // The same through a reused buffer: an error, and nothing of the damaged value left.
        let mut buf = vec![1u8; 10];
        match cache.get_into(key, &mut buf) {
            Err(Error::ChecksumMismatch { .. } | Error::Corrupt { .. }) => {}
            other => panic!("get_into, flip at byte {p} of {len}: {other:?}"),
        }
        assert!(buf.is_empty(), "flip at byte {p}: bytes left in the buffer");
    }
    std::fs::write(&path, &good).unwrap();
    assert!(cache.get(key).unwrap().unwrap() == value, "restored");
    // The file cut inside the record.
    std::fs::write(&path, &good[..start + len / 2]).unwrap();
    assert!(cache.get(key).is_err());
}

/// With the read cache on, a large value is checked when it enters memory, from
/// its write or its first read from the log: a damaged record never enters it, and a handle
/// whose cache does not hold the value finds damage made on disk since.
#[test]
fn a_large_value_is_checked_when_it_enters_the_read_cache() {
    let (_dir, path) = temp_log();
    let value: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let open = || {
        DurableKVCache::builder(&path)
            .durability(Durability::None)
            .read_cache_bytes(64 << 20)
            .open()
            .unwrap()
    };
    let cache = open();
    cache.put("a", &value).unwrap();
    cache.close().unwrap();
    let cache = open();
    let good = std::fs::read(&path).unwrap();
    let (start, len) = record_offsets(&path)[0];
    let mut bad = good.clone();
    bad[start + len / 2] ^= 0x20;
    std::fs::write(&path, &bad).unwrap();
    for _ in 0..2 {
        // Not kept after a failed check: the second read goes to the log again.
        let err = cache.get("a").unwrap_err();
        assert!(matches!(err, Error::ChecksumMismatch { .. }), "{err}");
    }
    assert_eq!(cache.stats().read_cache_bytes, 0);
    std::fs::write(&path, &good).unwrap();
    assert!(cache.get("a").unwrap().unwrap() == value);
    // Checked on the way in; later reads copy from memory.
    std::fs::write(&path, &bad).unwrap();
    assert!(cache.get("a").unwrap().unwrap() == value);
    assert_eq!(cache.stats().read_cache_hits, 1);
}
