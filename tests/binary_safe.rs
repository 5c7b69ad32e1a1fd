//! Guards: keys and values are bytes — separators, control bytes, non-UTF-8, empty and
//! multi-MiB payloads round-trip exactly, before and after reopen.

mod common;

use common::{open_fast, temp_log};
use logcache::{DurableKVCache, Error, MAX_KEY_LEN};

#[test]
fn awkward_bytes_round_trip() {
    let (_dir, path) = temp_log();
    let big: Vec<u8> = (0..16 << 20)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let cases: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (b"tab\tkey".to_vec(), b"tab\tvalue".to_vec()),
        (b"nl\nkey".to_vec(), b"\n\n\n".to_vec()),
        (b"cr\rkey".to_vec(), b"\r\n".to_vec()),
        (b"nul\0key".to_vec(), b"\0\0".to_vec()),
        (vec![0xff, 0xfe, 0x80], vec![0xc3, 0x28, 0xa0, 0xa1]),
        (b"empty value".to_vec(), vec![]),
        (vec![], b"empty key".to_vec()),
        (b"\t\n\r\0".to_vec(), b"\t\n\r\0".to_vec()),
        (
            b"looks like a record".to_vec(),
            b"00000000\t1\tP\t0\t1\t1\tx\ty\n".to_vec(),
        ),
        (b"16 MiB".to_vec(), big.clone()),
        (vec![b'k'; MAX_KEY_LEN], b"longest key".to_vec()),
    ];
    let cache = open_fast(&path);
    for (k, v) in &cases {
        cache.put(k, v).unwrap();
        assert_eq!(cache.get(k).unwrap().as_ref(), Some(v), "key {k:?}");
    }
    drop(cache);
    for _ in 0..2 {
        let cache = DurableKVCache::open(&path).unwrap();
        for (k, v) in &cases {
            assert_eq!(
                cache.get(k).unwrap().as_ref(),
                Some(v),
                "key {:?} after reopen",
                &k[..k.len().min(20)]
            );
        }
        assert_eq!(cache.len(), cases.len());
        cache.compact().unwrap();
        for (k, v) in &cases {
            assert_eq!(cache.get(k).unwrap().as_ref(), Some(v), "after compaction");
        }
    }
}

#[test]
fn oversize_keys_and_values_are_refused_with_too_large() {
    let (_dir, path) = temp_log();
    let cache = DurableKVCache::builder(&path)
        .max_value_len(1000)
        .open()
        .unwrap();
    let err = cache.put(vec![b'k'; MAX_KEY_LEN + 1], "v").unwrap_err();
    assert!(matches!(err, Error::TooLarge { what: "key", .. }), "{err}");
    let err = cache.put("k", vec![0u8; 1001]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooLarge {
                what: "value",
                len: 1001,
                max: 1000
            }
        ),
        "{err}"
    );
    cache.put("k", vec![7u8; 1000]).unwrap();
    // The refusals wrote nothing and did not poison the handle.
    assert_eq!(cache.len(), 1);
    cache.put("k2", "ok").unwrap();
}

#[test]
fn invalid_options_are_refused() {
    let (_dir, path) = temp_log();
    let err = DurableKVCache::builder(&path)
        .max_value_len(u64::MAX)
        .open()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    let err = DurableKVCache::builder(&path)
        .durability(logcache::Durability::Interval(std::time::Duration::ZERO))
        .open()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
}
