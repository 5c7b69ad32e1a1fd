//! Guards: `get_into` gives exactly what `get` gives, at every size around the read path's
//! thresholds (records read whole, large values read in checksummed pieces), reusing the
//! caller's buffer; absent and expired keys leave it empty.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::temp_log;
use logcache::{Durability, DurableKVCache, ManualClock};

fn value(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ salt).collect()
}

#[test]
fn get_into_matches_get_at_every_size_and_reuses_the_buffer() {
    let (_dir, path) = temp_log();
    let cache = DurableKVCache::builder(&path)
        .durability(Durability::None)
        .open()
        .unwrap();
    let sizes = [
        0usize,
        1,
        4096,
        65_400,
        65_536,
        65_600,
        131_071,
        131_072,
        131_073,
        262_144 + 17,
        1 << 20,
        (1 << 20) + 1,
    ];
    for (i, &len) in sizes.iter().enumerate() {
        cache.put(format!("k{i}"), value(len, i as u8)).unwrap();
    }
    let mut buf = Vec::new();
    // Up, down and up again through the sizes: a longer buffer is cut, a shorter one grown.
    let order: Vec<usize> = (0..sizes.len())
        .chain((0..sizes.len()).rev())
        .chain(0..sizes.len())
        .collect();
    for i in order {
        let key = format!("k{i}");
        assert!(cache.get_into(&key, &mut buf).unwrap(), "{key}");
        assert!(
            buf == value(sizes[i], i as u8),
            "{key}: {} bytes",
            buf.len()
        );
        assert_eq!(Some(&buf), cache.get(&key).unwrap().as_ref());
    }
    // A buffer that holds a 1 MiB value holds the next one in the same allocation.
    cache.put("other", value(1 << 20, 99)).unwrap();
    cache
        .get_into(format!("k{}", sizes.len() - 1), &mut buf)
        .unwrap();
    let at = buf.as_ptr();
    assert!(cache.get_into("other", &mut buf).unwrap());
    assert_eq!(buf.as_ptr(), at, "the buffer was allocated again");
    assert!(buf == value(1 << 20, 99));
    assert!(!cache.get_into("missing", &mut buf).unwrap());
    assert!(buf.is_empty());
}

#[test]
fn an_expired_key_reads_as_absent_into_an_empty_buffer() {
    let (_dir, path) = temp_log();
    let clock = Arc::new(ManualClock::new(1_000));
    let cache = DurableKVCache::builder(&path)
        .clock(clock.clone())
        .open()
        .unwrap();
    cache
        .put_with_ttl("t", vec![5u8; 100_000], Duration::from_secs(1))
        .unwrap();
    let mut buf = vec![9u8; 3];
    assert!(cache.get_into("t", &mut buf).unwrap());
    assert_eq!(buf.len(), 100_000);
    clock.advance(Duration::from_secs(1));
    assert!(!cache.get_into("t", &mut buf).unwrap());
    assert!(buf.is_empty());
    assert_eq!(cache.stats().hits, 1);
    assert_eq!(cache.stats().misses, 1);
}
