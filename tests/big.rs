//! BigCache: round trips at every size boundary (also after reopen), streaming, the fixes to
//! the first sketch of the design, damaged and missing blocks, racing readers, capacity and orphans.

mod common;

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::data::pattern;
use common::{BLOCKS, MANIFESTS, MapStore, big_charge, block_count, open_uncompacted, temp_log};
use logcache::{BigCache, Durability, DurableKVCache, Error, FullPolicy, KvStore};

#[test]
fn round_trips_at_every_block_boundary_and_after_reopen() {
    let (_dir, path) = temp_log();
    let block = logcache::DEFAULT_BLOCK_SIZE;
    let sizes = [0, 1, block - 1, block, block + 1, 10 * block + 7];
    {
        let cache = BigCache::new(open_uncompacted(&path)).unwrap();
        assert_eq!(cache.block_size(), block);
        for (i, &size) in sizes.iter().enumerate() {
            let value = pattern(size, i as u8);
            cache.set(format!("obj{size}"), &value).unwrap();
            assert_eq!(cache.get(format!("obj{size}")).unwrap(), Some(value));
            assert_eq!(
                cache.size_of(format!("obj{size}")).unwrap(),
                Some(size as u64)
            );
        }
        let s = cache.stats();
        assert_eq!(s.objects, sizes.len() as u64);
        let inline = logcache::DEFAULT_INLINE_MAX;
        let expected_blocks: u64 = sizes
            .iter()
            .filter(|&&s| s > inline)
            .map(|&s| (s as u64).div_ceil(block as u64))
            .sum();
        assert_eq!(
            s.blocks, expected_blocks,
            "objects of 0 and 1 byte are inline"
        );
        let charged: u64 = sizes
            .iter()
            .map(|&s| {
                big_charge(
                    format!("obj{s}").len(),
                    s as u64,
                    block as u64,
                    inline as u64,
                )
            })
            .sum();
        assert_eq!(s.used_bytes, charged);
    }
    let cache = BigCache::new(open_uncompacted(&path)).unwrap();
    for (i, &size) in sizes.iter().enumerate() {
        assert_eq!(
            cache.get(format!("obj{size}")).unwrap(),
            Some(pattern(size, i as u8)),
            "size {size} after reopen"
        );
    }
    assert_eq!(
        cache.stats().objects,
        sizes.len() as u64,
        "accounting rebuilt at open"
    );
}

#[test]
fn a_100_mib_object_streams_in_and_out() {
    let (_dir, path) = temp_log();
    const SIZE: usize = 100 << 20;
    let chunk = pattern(64 << 10, 9);
    {
        let cache = BigCache::new(open_uncompacted(&path)).unwrap();
        let mut w = cache.writer("big").unwrap();
        let mut left = SIZE;
        while left > 0 {
            let n = left.min(chunk.len() - 13); // chunks that straddle block boundaries
            w.write_all(&chunk[..n]).unwrap();
            left -= n;
        }
        assert_eq!(w.written(), SIZE as u64);
        w.commit().unwrap();
    }
    let cache = BigCache::new(open_uncompacted(&path)).unwrap();
    let mut r = cache.reader("big").unwrap().unwrap();
    assert_eq!(r.len(), SIZE as u64);
    let mut buf = vec![0u8; 100_003];
    let (mut total, mut expected_pos) = (0usize, 0usize);
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        for &b in &buf[..n] {
            let want = chunk[expected_pos];
            assert_eq!(b, want, "byte {total}");
            expected_pos += 1;
            if expected_pos == chunk.len() - 13 {
                expected_pos = 0;
            }
            total += 1;
        }
    }
    assert_eq!(total, SIZE);
}

#[test]
fn delete_frees_the_blocks_and_forgets_the_key() {
    // The first sketch's delete returned the blocks to the free list but kept the key mapped.
    let store = Arc::new(MapStore::new(1000));
    let cache = BigCache::builder(Arc::clone(&store))
        .block_size(100)
        .capacity_bytes(2000)
        .open()
        .unwrap();
    cache.set("k", vec![1u8; 950]).unwrap();
    assert_eq!(cache.stats().used_bytes, big_charge(1, 950, 100, 100));
    assert_eq!(store.count_prefix(BLOCKS), 10);
    assert!(cache.delete("k").unwrap());
    assert_eq!(cache.get("k").unwrap(), None);
    assert!(!cache.contains("k").unwrap());
    assert!(!cache.delete("k").unwrap());
    assert_eq!(store.count_prefix(BLOCKS), 0);
    assert_eq!(store.count_prefix(MANIFESTS), 0);
    let s = cache.stats();
    assert_eq!((s.objects, s.used_bytes, s.free_bytes), (0, 0, Some(2000)));
}

#[test]
fn replacing_an_object_does_not_leak_its_old_blocks() {
    let store = Arc::new(MapStore::new(1000));
    let cache = BigCache::builder(Arc::clone(&store))
        .block_size(100)
        .open()
        .unwrap();
    cache.set("k", vec![1u8; 950]).unwrap();
    cache.set("k", vec![2u8; 250]).unwrap();
    assert_eq!(store.count_prefix(BLOCKS), 3);
    assert_eq!(cache.stats().blocks, 3);
    assert_eq!(cache.stats().used_bytes, big_charge(1, 250, 100, 100));
    assert_eq!(cache.get("k").unwrap(), Some(vec![2u8; 250]));
    assert_eq!(cache.blocks_per_key(), vec![(b"k".to_vec(), 3)]);
}

#[test]
fn a_failed_set_leaks_nothing_and_keeps_the_old_object() {
    let store = Arc::new(MapStore::new(1000));
    let cache = BigCache::builder(Arc::clone(&store))
        .block_size(100)
        .capacity_bytes(3000)
        .open()
        .unwrap();
    cache.set("k", vec![1u8; 500]).unwrap();
    // 10 block sets and the manifest: fail each of the 11.
    for fail_at in 0..11 {
        store.sets.store(0, Ordering::SeqCst);
        store.fail_sets_after.store(fail_at, Ordering::SeqCst);
        let err = cache.set("k", vec![2u8; 1000]).unwrap_err();
        assert!(matches!(err, Error::Full), "{err}");
        store.fail_sets_after.store(u64::MAX, Ordering::SeqCst);
        assert_eq!(
            cache.get("k").unwrap(),
            Some(vec![1u8; 500]),
            "fail at set {fail_at}"
        );
        assert_eq!(
            store.count_prefix(BLOCKS),
            5,
            "fail at set {fail_at}: blocks leaked"
        );
        let s = cache.stats();
        assert_eq!(
            (s.blocks, s.used_bytes, s.reserved_bytes),
            (5, big_charge(1, 500, 100, 100), 0),
            "fail at set {fail_at}"
        );
    }
}

#[test]
fn a_dropped_writer_publishes_nothing_and_frees_its_blocks() {
    let store = Arc::new(MapStore::new(1000));
    let cache = BigCache::builder(Arc::clone(&store))
        .block_size(100)
        .open()
        .unwrap();
    let mut w = cache.writer("k").unwrap();
    w.write_all(&[3u8; 450]).unwrap();
    drop(w);
    assert_eq!(cache.get("k").unwrap(), None);
    assert_eq!(store.count_prefix(BLOCKS), 0);
    assert_eq!(cache.stats().reserved_bytes, 0);
}

/// A writer whose block write failed reports that error once; after it, writes and the commit
/// say the writer is closed (the store's error is not repeated as the caller's mistake).
#[test]
fn a_writer_after_a_failed_block_write_is_closed_and_publishes_nothing() {
    let store = Arc::new(MapStore::new(1000));
    let cache = BigCache::builder(Arc::clone(&store))
        .block_size(100)
        .open()
        .unwrap();
    store.fail_sets_after.store(0, Ordering::SeqCst);
    let mut w = cache.writer("k").unwrap();
    let first = w.write_all(&[1u8; 250]).unwrap_err();
    assert!(first.to_string().contains("full"), "{first}");
    store.fail_sets_after.store(u64::MAX, Ordering::SeqCst);
    let again = w.write_all(&[1u8; 10]).unwrap_err();
    assert!(again.to_string().contains("cannot continue"), "{again}");
    let err = w.commit().unwrap_err();
    assert!(matches!(err, Error::WriterClosed { .. }), "{err}");
    assert!(err.to_string().contains("start a new write"), "{err}");
    assert_eq!(cache.get("k").unwrap(), None);
}

#[test]
fn a_missing_or_damaged_block_is_a_miss_and_the_object_is_removed() {
    for damage in ["missing", "changed", "short"] {
        let store = Arc::new(MapStore::new(1000));
        let cache = BigCache::builder(Arc::clone(&store))
            .block_size(100)
            .open()
            .unwrap();
        cache.set("k", pattern(450, 1)).unwrap();
        cache.set("other", pattern(150, 2)).unwrap();
        let victim = {
            let map = store.map.lock().unwrap();
            let mut blocks: Vec<_> = map
                .keys()
                .filter(|k| k.starts_with(BLOCKS))
                .cloned()
                .collect();
            blocks.sort();
            // A block of "k" (the one with 5 blocks: its index 2 exists).
            blocks
                .into_iter()
                .find(|b| b.ends_with(&2u64.to_be_bytes()))
                .unwrap()
        };
        match damage {
            "missing" => {
                store.delete(&victim).unwrap();
            }
            "changed" => {
                let mut map = store.map.lock().unwrap();
                map.get_mut(&victim).unwrap()[7] ^= 1;
            }
            _ => {
                let mut map = store.map.lock().unwrap();
                map.get_mut(&victim).unwrap().pop();
            }
        }
        assert_eq!(cache.get("k").unwrap(), None, "{damage}: never wrong bytes");
        assert!(
            !cache.contains("k").unwrap(),
            "{damage}: the broken manifest is removed"
        );
        assert_eq!(cache.get("other").unwrap(), Some(pattern(150, 2)));
        assert_eq!(
            store.count_prefix(BLOCKS),
            2,
            "{damage}: the broken object's blocks are gone"
        );
        assert_eq!(cache.stats().damaged, 1);
    }
}

#[test]
fn a_damaged_manifest_is_a_miss_and_is_removed() {
    let store = Arc::new(MapStore::new(1000));
    let cache = BigCache::builder(Arc::clone(&store))
        .block_size(100)
        .open()
        .unwrap();
    cache.set("k", pattern(300, 1)).unwrap();
    let mut mkey = MANIFESTS.to_vec();
    mkey.extend_from_slice(b"k");
    store.map.lock().unwrap().get_mut(&mkey).unwrap()[10] ^= 4;
    assert_eq!(cache.get("k").unwrap(), None);
    assert_eq!(store.count_prefix(MANIFESTS), 0);
    assert_eq!(cache.stats().damaged, 1);
    // The accounting knew the object's blocks: they are gone at once.
    assert_eq!(store.count_prefix(BLOCKS), 0);
    // A handle that did not know them (a fresh one) removes them as orphans at open.
    cache.set("k2", pattern(300, 1)).unwrap();
    let mut mkey2 = MANIFESTS.to_vec();
    mkey2.extend_from_slice(b"k2");
    drop(cache);
    store.map.lock().unwrap().get_mut(&mkey2).unwrap()[10] ^= 4;
    let cache = BigCache::builder(Arc::clone(&store))
        .block_size(100)
        .open()
        .unwrap();
    assert_eq!(cache.stats().orphans_removed, 3);
    assert_eq!(
        cache.stats().damaged,
        1,
        "the damaged manifest was removed at open"
    );
    assert_eq!(store.count_prefix(BLOCKS), 0);
    assert_eq!(store.count_prefix(MANIFESTS), 0);
}

/// Three readers (`read` returns the object or `None`) race 200 replaces of one object;
/// version `v` is `10 * 4096 + v` bytes of `v`; with `monotonic`, a reader never sees an
/// older version after a newer one.
fn race_replaces(read: fn(&BigCache, usize) -> Option<Vec<u8>>, monotonic: bool) {
    let (_dir, path) = temp_log();
    let cache = Arc::new(
        BigCache::builder(open_uncompacted(&path))
            .block_size(4096)
            .open()
            .unwrap(),
    );
    let version = |v: u8| vec![v; 10 * 4096 + v as usize];
    cache.set("obj", version(0)).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|r| {
            let (cache, done) = (Arc::clone(&cache), Arc::clone(&done));
            std::thread::spawn(move || {
                let (mut reads, mut last) = (0u64, 0u8);
                while !done.load(Ordering::Acquire) || reads < 50 {
                    if let Some(obj) = read(&cache, r) {
                        let v = obj[0];
                        assert!(obj.iter().all(|&b| b == v), "reader {r}: mixed versions");
                        assert_eq!(
                            obj.len(),
                            10 * 4096 + v as usize,
                            "reader {r}: wrong length"
                        );
                        assert!(
                            !monotonic || v >= last,
                            "reader {r}: went back from {last} to {v}"
                        );
                        last = v;
                    }
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for v in 1..=200u8 {
        cache.set("obj", version(v)).unwrap();
    }
    done.store(true, Ordering::Release);
    for r in readers {
        assert!(r.join().unwrap() >= 50);
    }
    assert_eq!(cache.get("obj").unwrap(), Some(version(200)));
    let blocks = cache.store().keys_with_prefix(BLOCKS).unwrap().unwrap();
    assert_eq!(blocks.len(), 11, "old versions' blocks are all gone");
}

#[test]
fn readers_racing_a_replacing_writer_never_see_a_mix_of_versions() {
    race_replaces(|cache, _| cache.get("obj").unwrap(), true);
}

#[test]
fn a_streaming_reader_finishes_its_version_through_replace_delete_and_eviction() {
    let store = Arc::new(MapStore::new(1000));
    let cache = BigCache::builder(Arc::clone(&store))
        .block_size(100)
        .capacity_bytes(2 * big_charge(1, 500, 100, 100))
        .open()
        .unwrap();
    let old = vec![1u8; 450]; // 5 blocks
    cache.set("k", &old).unwrap();
    // Replace under a reader that has read nothing yet, and one half way.
    let mut r1 = cache.reader("k").unwrap().unwrap();
    let mut r2 = cache.reader("k").unwrap().unwrap();
    let mut half = vec![0u8; 220];
    r2.read_exact(&mut half).unwrap();
    cache.set("k", vec![2u8; 450]).unwrap();
    assert_eq!(
        cache.get("k").unwrap(),
        Some(vec![2u8; 450]),
        "others see the new one"
    );
    assert_eq!(
        (cache.stats().blocks, cache.stats().used_bytes),
        (5, big_charge(1, 450, 100, 100)),
        "the old blocks no longer count"
    );
    let mut all = Vec::new();
    r1.read_to_end(&mut all).unwrap();
    assert_eq!(all, old, "the first reader got the old version whole");
    drop(r1);
    assert_eq!(
        store.count_prefix(BLOCKS),
        10,
        "still pinned by the second reader"
    );
    let mut rest = Vec::new();
    r2.read_to_end(&mut rest).unwrap();
    half.extend_from_slice(&rest);
    assert_eq!(half, old, "the second reader too");
    drop(r2);
    assert_eq!(
        store.count_prefix(BLOCKS),
        5,
        "the old version's blocks went with the last reader"
    );

    // Delete under a reader.
    let mut r = cache.reader("k").unwrap().unwrap();
    assert!(cache.delete("k").unwrap());
    assert_eq!(cache.get("k").unwrap(), None);
    let mut all = Vec::new();
    r.read_to_end(&mut all).unwrap();
    assert_eq!(all, vec![2u8; 450]);
    drop(r);
    assert_eq!(store.count_prefix(BLOCKS), 0);

    // Eviction under a reader: the capacity holds two objects of 500 bytes, so "a" is
    // evicted by "b" and "c".
    cache.set("a", vec![3u8; 500]).unwrap();
    let mut r = cache.reader("a").unwrap().unwrap();
    cache.set("b", vec![4u8; 500]).unwrap();
    cache.set("c", vec![5u8; 500]).unwrap();
    assert_eq!(cache.get("a").unwrap(), None, "evicted");
    let mut all = Vec::new();
    r.read_to_end(&mut all).unwrap();
    assert_eq!(all, vec![3u8; 500]);
    drop(r);
    assert_eq!(store.count_prefix(BLOCKS), 10, "only b and c remain");
    assert_eq!(store.count_prefix(MANIFESTS), 2);
}

#[test]
fn streaming_readers_racing_a_replacing_writer_always_finish_whole() {
    // A streaming read is never absent and never broken off by a replace.
    race_replaces(
        |cache, r| {
            let mut reader = cache.reader("obj").unwrap().expect("never absent");
            let mut obj = Vec::new();
            reader
                .read_to_end(&mut obj)
                .unwrap_or_else(|e| panic!("reader {r}: {e}"));
            Some(obj)
        },
        false,
    );
}

#[test]
fn full_cache_evicts_the_least_recently_used_object() {
    let store = Arc::new(MapStore::new(1000));
    let cache = BigCache::builder(Arc::clone(&store))
        .block_size(100)
        .capacity_bytes(big_charge(1, 400, 100, 100) + 2 * big_charge(1, 300, 100, 100))
        .open()
        .unwrap();
    cache.set("a", vec![1u8; 400]).unwrap(); // 4 blocks
    cache.set("b", vec![2u8; 300]).unwrap(); // 3
    cache.set("c", vec![3u8; 300]).unwrap(); // 3: full
    assert!(cache.get("a").unwrap().is_some()); // a is now the most recent
    cache.set("d", vec![4u8; 500]).unwrap(); // needs 5: evicts b and c
    assert_eq!(cache.get("b").unwrap(), None);
    assert_eq!(cache.get("c").unwrap(), None);
    assert_eq!(cache.get("a").unwrap(), Some(vec![1u8; 400]));
    assert_eq!(cache.get("d").unwrap(), Some(vec![4u8; 500]));
    let s = cache.stats();
    let used = big_charge(1, 400, 100, 100) + big_charge(1, 500, 100, 100);
    let capacity = s.capacity_bytes.unwrap();
    assert_eq!(
        (s.blocks, s.used_bytes, s.free_bytes, s.evictions),
        (9, used, Some(capacity - used), 2)
    );
    assert_eq!(store.count_prefix(BLOCKS), 9);
    // Refused before anything is written: a little more than the whole capacity.
    let huge = capacity - big_charge(4, 0, 100, 100) + 1;
    assert!(matches!(
        cache.set("huge", vec![0u8; huge as usize]).unwrap_err(),
        Error::Full
    ));
    assert_eq!(
        cache.stats().evictions,
        2,
        "an object bigger than the cache evicts nothing"
    );
}

#[test]
fn full_cache_with_the_fail_policy_refuses_and_keeps_everything() {
    let store = Arc::new(MapStore::new(1000));
    let cache = BigCache::builder(Arc::clone(&store))
        .block_size(100)
        .capacity_bytes(big_charge(1, 600, 100, 100) + big_charge(1, 400, 100, 100))
        .full_policy(FullPolicy::Fail)
        .open()
        .unwrap();
    cache.set("a", vec![1u8; 600]).unwrap();
    let err = cache.set("b", vec![2u8; 500]).unwrap_err();
    assert!(matches!(err, Error::Full), "{err}");
    assert_eq!(cache.get("b").unwrap(), None, "never a partial object");
    assert_eq!(store.count_prefix(BLOCKS), 6);
    let s = cache.stats();
    assert_eq!(
        (s.blocks, s.used_bytes, s.reserved_bytes, s.evictions),
        (6, big_charge(1, 600, 100, 100), 0, 0)
    );
    // A replace can reuse the object's own blocks even when full.
    cache.set("b", vec![2u8; 400]).unwrap();
    cache.set("a", vec![9u8; 600]).unwrap();
    assert_eq!(cache.get("a").unwrap(), Some(vec![9u8; 600]));
}

#[test]
fn orphan_blocks_from_an_interrupted_set_are_removed_at_open() {
    let (_dir, path) = temp_log();
    {
        let cache = BigCache::builder(open_uncompacted(&path))
            .block_size(1000)
            .open()
            .unwrap();
        cache.set("kept", pattern(2500, 3)).unwrap();
        let mut w = cache.writer("interrupted").unwrap();
        w.write_all(&pattern(3500, 4)).unwrap();
        std::mem::forget(w); // a crash: blocks written, no manifest, no cleanup
        cache.store().sync().unwrap();
    }
    let cache = BigCache::builder(open_uncompacted(&path))
        .block_size(1000)
        .open()
        .unwrap();
    assert_eq!(cache.stats().orphans_removed, 3);
    assert_eq!(cache.get("kept").unwrap(), Some(pattern(2500, 3)));
    assert_eq!(cache.get("interrupted").unwrap(), None);
    assert_eq!(block_count(cache.store()), 3);
}

#[test]
fn block_size_respects_the_store() {
    let store = MapStore::new(500);
    assert!(matches!(
        BigCache::builder(store).block_size(501).open().unwrap_err(),
        Error::InvalidArgument(_)
    ));
    let cache = BigCache::new(MapStore::new(500)).unwrap();
    assert_eq!(
        cache.block_size(),
        500,
        "the default is capped at the store's largest value"
    );
    let keys_are_disjoint = BigCache::new(MapStore::new(500)).unwrap();
    keys_are_disjoint
        .store()
        .set(b"plain user key", b"x")
        .unwrap();
    keys_are_disjoint.set("plain user key", b"object").unwrap();
    assert_eq!(
        keys_are_disjoint.store().get(b"plain user key").unwrap(),
        Some(b"x".to_vec())
    );
}

#[test]
fn objects_with_a_ttl_expire_whole_and_release_their_blocks() {
    use logcache::ManualClock;
    use std::time::Duration;
    let (_dir, path) = temp_log();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let open = |clock: &Arc<ManualClock>| {
        let store = DurableKVCache::builder(&path)
            .durability(Durability::None)
            .clock(clock.clone())
            .open()
            .unwrap();
        BigCache::builder(store)
            .block_size(1000)
            .clock(clock.clone())
            .open()
            .unwrap()
    };
    let blocks = |cache: &BigCache| block_count(cache.store());
    let cache = open(&clock);
    cache
        .set_with_ttl("a", pattern(2500, 1), Duration::from_secs(10))
        .unwrap();
    cache.set("forever", pattern(1500, 2)).unwrap();
    let mut w = cache
        .writer_with_ttl("streamed", Duration::from_secs(10))
        .unwrap();
    w.write_all(&pattern(1200, 3)).unwrap();
    w.commit().unwrap();
    assert_eq!(blocks(&cache), 3 + 2 + 2);
    clock.advance(Duration::from_millis(9_999));
    assert_eq!(cache.get("a").unwrap(), Some(pattern(2500, 1)));
    clock.advance(Duration::from_millis(1));
    assert_eq!(
        cache.get("a").unwrap(),
        None,
        "expired at exactly commit + ttl"
    );
    assert!(cache.reader("streamed").unwrap().is_none());
    assert_eq!(blocks(&cache), 2, "the expired objects' blocks are gone");
    assert_eq!(cache.stats().expired, 2);
    assert_eq!(cache.stats().blocks, 2);
    assert_eq!(cache.get("forever").unwrap(), Some(pattern(1500, 2)));

    // sweep() drops expired objects nobody touches.
    cache
        .set_with_ttl("b", pattern(3000, 4), Duration::from_secs(5))
        .unwrap();
    clock.advance(Duration::from_secs(5));
    assert_eq!(cache.sweep(), 1);
    assert_eq!(blocks(&cache), 2);

    // An object that expires while the cache is closed: its blocks are orphans at open.
    cache
        .set_with_ttl("c", pattern(2000, 5), Duration::from_secs(5))
        .unwrap();
    drop(cache);
    clock.advance(Duration::from_secs(5));
    let cache = open(&clock);
    assert_eq!(cache.get("c").unwrap(), None);
    assert_eq!(cache.stats().orphans_removed, 2);
    assert_eq!(blocks(&cache), 2);
    // And an unexpired TTL survives a reopen with its expiry.
    cache
        .set_with_ttl("d", pattern(100, 6), Duration::from_secs(60))
        .unwrap();
    drop(cache);
    let cache = open(&clock);
    assert_eq!(cache.get("d").unwrap(), Some(pattern(100, 6)));
    clock.advance(Duration::from_secs(60));
    assert_eq!(cache.get("d").unwrap(), None);
    assert_eq!(blocks(&cache), 2);
}

/// Guards: a key over the store's limit was reported with the namespaced length (70004 for
/// 70000) and only at commit, after every block was written.
#[test]
fn a_key_over_the_limit_is_refused_up_front_in_the_callers_numbers() {
    let (dir, path) = temp_log();
    let store = DurableKVCache::builder(&path)
        .durability(Durability::None)
        .open()
        .unwrap();
    let other = DurableKVCache::builder(dir.path().join("other.log"))
        .durability(Durability::None)
        .open()
        .unwrap();
    let ring = common::fast_ring([("a".to_string(), store), ("b".to_string(), other)], 1);
    let cache = BigCache::new(Arc::new(ring)).unwrap();
    let long = vec![b'k'; 70_000];
    match cache.writer(&long) {
        Err(Error::TooLarge {
            what: "key",
            len,
            max,
        }) => assert_eq!((len, max), (70_000, 65_532)),
        other => panic!("{:?}", other.map(|_| ())),
    }
    assert!(matches!(
        cache.set(&long, b"v"),
        Err(Error::TooLarge { .. })
    ));
    let fits = vec![b'k'; 65_532];
    cache.set(&fits, b"v").unwrap();
    assert_eq!(cache.get(&fits).unwrap().as_deref(), Some(&b"v"[..]));
}

/// `BigReader` seeks: every offset form reads the right bytes, a read after a seek loads only
/// the blocks it touches, inline objects too, and a seek before the start is an error.
#[test]
fn a_reader_seeks_to_any_offset_and_reads_only_the_blocks_it_needs() {
    use std::io::{Seek, SeekFrom};

    let store = Arc::new(MapStore::new(1000));
    let cache = BigCache::builder(Arc::clone(&store))
        .block_size(100)
        .open()
        .unwrap();
    let value = pattern(1007, 4); // 10 blocks and 7 bytes
    cache.set("obj", &value).unwrap();
    let small = pattern(60, 5); // inline
    cache.set("small", &small).unwrap();
    for (key, value) in [("obj", &value), ("small", &small)] {
        let len = value.len() as u64;
        for at in [0u64, 1, 59, 60, 99, 100, 101, 550, 1006, 1007, 2000] {
            let mut r = cache.reader(key).unwrap().unwrap();
            assert_eq!(r.seek(SeekFrom::Start(at)).unwrap(), at);
            let mut rest = Vec::new();
            r.read_to_end(&mut rest).unwrap();
            let from = at.min(len) as usize;
            assert_eq!(rest, value[from..], "{key} from {at}");
        }
        let mut r = cache.reader(key).unwrap().unwrap();
        r.seek(SeekFrom::End(-10)).unwrap();
        let mut tail = Vec::new();
        r.read_to_end(&mut tail).unwrap();
        assert_eq!(tail, value[value.len() - 10..], "{key}: the last 10 bytes");
        let mut r = cache.reader(key).unwrap().unwrap();
        let mut head = [0u8; 7];
        r.read_exact(&mut head).unwrap();
        assert_eq!(r.seek(SeekFrom::Current(3)).unwrap(), 10);
        let mut next = [0u8; 5];
        r.read_exact(&mut next).unwrap();
        assert_eq!(next, value[10..15]);
        let err = r.seek(SeekFrom::Current(-100)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    }
    // The last 7 bytes: the manifest and one block, not the 10 before it.
    let mut r = cache.reader("obj").unwrap().unwrap();
    let before = store.gets.load(Ordering::SeqCst);
    r.seek(SeekFrom::End(-7)).unwrap();
    let mut tail = Vec::new();
    r.read_to_end(&mut tail).unwrap();
    assert_eq!(tail, value[1000..]);
    assert_eq!(
        store.gets.load(Ordering::SeqCst) - before,
        1,
        "one block read"
    );
}

/// `commit_if` and `delete_if`: of 16 threads creating one key only-if-absent, exactly one
/// wins, its bytes are the object and the losers leave no blocks; a stale version refuses a
/// replace and a delete; attributes go and come with the object.
#[test]
fn conditional_commits_and_deletes_are_atomic_and_leak_nothing() {
    let store = Arc::new(MapStore::new(64 << 10));
    let cache = Arc::new(
        BigCache::builder(Arc::clone(&store))
            .block_size(4096)
            .open()
            .unwrap(),
    );
    for (round, len) in [10usize, 50_000].into_iter().cycle().take(10).enumerate() {
        let key = format!("race-{round}");
        let barrier = Arc::new(std::sync::Barrier::new(16));
        let results: Vec<_> = (0..16u8)
            .map(|t| {
                let (cache, barrier, key) = (cache.clone(), barrier.clone(), key.clone());
                std::thread::spawn(move || {
                    let mut w = cache.writer(&key).unwrap();
                    w.write_all(&vec![t; len]).unwrap();
                    barrier.wait();
                    (t, w.commit_if(|current| current.is_none()))
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        let won: Vec<_> = results.iter().filter(|(_, r)| r.is_ok()).collect();
        assert_eq!(won.len(), 1, "round {round}");
        for (_, r) in &results {
            if let Err(e) = r {
                assert!(matches!(e, Error::PreconditionFailed { .. }), "{e}");
            }
        }
        let (winner, committed) = won[0];
        assert_eq!(cache.get(&key).unwrap(), Some(vec![*winner; len]));
        let reader = cache.reader(&key).unwrap().unwrap();
        assert_eq!(reader.version(), committed.as_ref().unwrap().version);
    }
    // Only the winners' blocks are left.
    let blocks: usize = (0..10).map(|i| if i % 2 == 1 { 13 } else { 0 }).sum();
    assert_eq!(block_count(&store), blocks);

    // A stale version refuses a replace and a delete; the current one allows both.
    let mut w = cache.writer("doc").unwrap();
    let mut attrs = logcache::Attributes::default();
    attrs.content_type = Some("text/plain".into());
    attrs.metadata.push(("lang".into(), "en".into()));
    w.set_attributes(attrs.clone()).unwrap();
    w.write_all(b"one").unwrap();
    let first = w.commit().unwrap().version;
    let second = {
        let mut w = cache.writer("doc").unwrap();
        w.write_all(b"two").unwrap();
        w.commit_if(|v| v == Some(first)).unwrap().version
    };
    assert_ne!(first, second);
    let mut w = cache.writer("doc").unwrap();
    w.write_all(b"three").unwrap();
    let err = w.commit_if(|v| v == Some(first)).unwrap_err();
    assert!(
        matches!(err, Error::PreconditionFailed { op: "write", .. }),
        "{err}"
    );
    let err = cache.delete_if("doc", |v| v == Some(first)).unwrap_err();
    assert!(
        matches!(err, Error::PreconditionFailed { op: "delete", .. }),
        "{err}"
    );
    let r = cache.reader("doc").unwrap().unwrap();
    assert!(
        r.attributes().is_empty(),
        "the replace dropped the attributes"
    );
    drop(r);
    assert_eq!(cache.get("doc").unwrap().as_deref(), Some(&b"two"[..]));
    assert!(cache.delete_if("doc", |v| v == Some(second)).unwrap());
    assert!(!cache.delete_if("doc", |v| v.is_none()).unwrap());
    // Attributes round-trip, and bad ones are refused before anything is written.
    let mut w = cache.writer("typed").unwrap();
    w.set_attributes(attrs.clone()).unwrap();
    w.write_all(&[1; 9000]).unwrap();
    w.commit().unwrap();
    assert_eq!(cache.reader("typed").unwrap().unwrap().attributes(), &attrs);
    let mut bad = attrs;
    bad.metadata.push(("Bad Name".into(), String::new()));
    assert!(matches!(
        cache.writer("typed").unwrap().set_attributes(bad),
        Err(Error::InvalidArgument(_))
    ));
}
