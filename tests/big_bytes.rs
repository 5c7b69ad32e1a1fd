//! BigCache's capacity in bytes: small objects fill it (inside their manifests), a mix of sizes
//! fills it up to its bytes, a log written by the block-counting version (manifest version 1)
//! still opens and reads, and a manifest of a newer version is refused, not deleted.

mod common;

use std::sync::Arc;

use common::data::pattern;
use common::{MANIFESTS, MapStore, big_charge, block_count, temp_log};
use logcache::{BigCache, Durability, DurableKVCache, Error, KvStore};

fn store(path: &std::path::Path) -> DurableKVCache {
    DurableKVCache::builder(path)
        .durability(Durability::None)
        .open()
        .unwrap()
}

/// Guards: with a capacity in 1 MiB blocks, 64 MiB held 64 objects of 4 KiB.
#[test]
fn ten_thousand_objects_of_4_kib_fit_in_64_mib() {
    let (_dir, path) = temp_log();
    let open = || {
        BigCache::builder(store(&path))
            .capacity_bytes(64 << 20)
            .open()
            .unwrap()
    };
    let charged: u64 = (0..10_000)
        .map(|i| big_charge(format!("obj{i}").len(), 4096, 1 << 20, 4096))
        .sum();
    {
        let cache = open();
        for i in 0..10_000u32 {
            cache
                .set(format!("obj{i}"), pattern(4096, i as u8))
                .unwrap();
        }
        let s = cache.stats();
        assert_eq!((s.objects, s.evictions, s.blocks), (10_000, 0, 0));
        assert_eq!(s.used_bytes, charged);
        assert_eq!(
            block_count(cache.store()),
            0,
            "4 KiB objects live inside their manifests: one record each"
        );
    }
    let cache = open();
    let s = cache.stats();
    assert_eq!(
        (s.objects, s.used_bytes),
        (10_000, charged),
        "rebuilt at open"
    );
    for i in 0..10_000u32 {
        assert_eq!(
            cache.get(format!("obj{i}")).unwrap(),
            Some(pattern(4096, i as u8)),
            "obj{i}"
        );
    }
}

/// A small deterministic generator (xorshift64*), so that the mix is the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Sizes spread evenly over the powers of two from 256 B to 16 MiB: many inline objects,
    /// many one-block ones, and some of 16 blocks.
    fn size(&mut self) -> usize {
        let bits = 8 + self.next() % 17;
        let low = 1u64 << (bits - 1);
        (low + self.next() % low) as usize
    }
}

#[test]
fn a_1_gib_capacity_holds_a_mix_of_sizes_up_to_its_bytes() {
    const CAPACITY: u64 = 1 << 30;
    const BLOCK: u64 = 1 << 20;
    let (_dir, path) = temp_log();
    let cache = BigCache::builder(store(&path))
        .capacity_bytes(CAPACITY)
        .open()
        .unwrap();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut sizes = Vec::new();
    let mut written = 0u64;
    let mut largest = 0u64;
    while written < CAPACITY + CAPACITY / 4 {
        let size = rng.size();
        let key = format!("mix{}", sizes.len());
        cache.set(&key, pattern(size, sizes.len() as u8)).unwrap();
        let charge = big_charge(key.len(), size as u64, BLOCK, 4096);
        largest = largest.max(charge);
        written += size as u64;
        sizes.push(size);
    }
    let s = cache.stats();
    assert!(s.evictions > 0, "the mix passed the capacity: {s:?}");
    assert!(s.used_bytes <= CAPACITY, "{s:?}");
    // Eviction stops as soon as the objects fit: what is left is less than one object.
    assert!(
        s.used_bytes > CAPACITY - largest,
        "{} bytes used of {CAPACITY}, largest charge {largest}",
        s.used_bytes
    );
    let mut present = 0u64;
    let mut charged = 0u64;
    for (i, &size) in sizes.iter().enumerate() {
        let key = format!("mix{i}");
        if let Some(value) = cache.get(&key).unwrap() {
            assert!(value == pattern(size, i as u8), "{key}: wrong bytes");
            present += 1;
            charged += big_charge(key.len(), size as u64, BLOCK, 4096);
        }
    }
    assert_eq!(
        present + s.evictions,
        sizes.len() as u64,
        "every miss was evicted"
    );
    assert_eq!(
        charged, s.used_bytes,
        "the accounting is the objects' bytes"
    );
    assert!(
        charged as f64 > 0.98 * CAPACITY as f64,
        "a mix of sizes fills the capacity: {charged} of {CAPACITY} bytes"
    );
}

/// `tests/fixtures/bigcache-v1.log` was written by `logcache put` before manifests had a
/// version 2: three objects (5 bytes, empty, 3,000 bytes), each in its own block.
#[test]
fn a_log_written_with_version_1_manifests_opens_reads_and_takes_new_writes() {
    let (_dir, path) = temp_log();
    std::fs::copy("tests/fixtures/bigcache-v1.log", &path).unwrap();
    let long: Vec<u8> = (0..3000u32).map(|i| ((i * 7 + 3) % 256) as u8).collect();
    {
        let cache = BigCache::new(store(&path)).unwrap();
        let s = cache.stats();
        assert_eq!((s.objects, s.blocks, s.orphans_removed), (3, 2, 0), "{s:?}");
        assert_eq!(
            cache.get("greeting").unwrap().as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(cache.get("empty").unwrap().as_deref(), Some(&b""[..]));
        assert_eq!(cache.get("pattern3000").unwrap(), Some(long.clone()));
        assert_eq!(cache.verify().unwrap(), Some(vec![]));
        // Replacing a version-1 object with an inline one deletes its old block.
        cache.set("greeting", "hello again").unwrap();
        assert_eq!(cache.stats().blocks, 1);
        assert_eq!(block_count(cache.store()), 1);
    }
    let cache = BigCache::new(store(&path)).unwrap();
    assert_eq!(
        cache.get("greeting").unwrap().as_deref(),
        Some(&b"hello again"[..])
    );
    assert_eq!(cache.get("pattern3000").unwrap(), Some(long));
    assert_eq!(cache.stats().orphans_removed, 0);
}

/// A manifest of a layout version newer than this build (intact, CRC and all) is refused with
/// an error saying so, and left in the store: taking it for damage would delete the objects
/// of a newer release.
#[test]
fn a_manifest_of_a_newer_layout_version_is_refused_and_kept() {
    let store = Arc::new(MapStore::new(1 << 20));
    let mut manifest = b"LCBM\x06".to_vec();
    manifest.extend_from_slice(&[0; 40]);
    let crc = crc32fast::hash(&manifest);
    manifest.extend_from_slice(&crc.to_le_bytes());
    let mkey = [MANIFESTS, b"future"].concat();
    // A cache already open meets it on a read.
    let cache = BigCache::new(Arc::clone(&store)).unwrap();
    store.set(&mkey, &manifest).unwrap();
    let err = cache.get("future").unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedManifest { version: 6, .. }),
        "{err}"
    );
    assert!(cache.reader("future").is_err());
    assert!(cache.size_of("future").is_err());
    let problems = cache.verify().unwrap().unwrap();
    assert!(problems[0].problem.contains("version 6"), "{problems:?}");
    drop(cache);
    // Open refuses the store.
    let err = BigCache::new(Arc::clone(&store)).unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedManifest { version: 6, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("future"), "{err}");
    assert_eq!(store.get(&mkey).unwrap(), Some(manifest), "left as it is");
}

#[test]
fn a_capacity_of_zero_bytes_is_refused() {
    let err = BigCache::builder(Arc::new(MapStore::new(1000)))
        .capacity_bytes(0)
        .open()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    assert!(err.to_string().contains("leave it unset"), "{err}");
}
