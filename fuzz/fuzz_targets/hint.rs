//! Arbitrary bytes as a log's hint file (`<path>.hint`), beside a fixed log: open never panics,
//! allocates within a bound of the input's size, and gives exactly what a replay of the whole
//! log gives — a hint that does not decode and match is ignored, never trusted.
//!
//! Inputs starting with 0 are XORed over the log's genuine hint (so the fuzzer explores damage
//! to a valid file); others are the hint's bytes as they are.
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use logcache::sim::SimFs;
use logcache::{Durability, DurableKVCache};

#[path = "counting.rs"]
mod counting;

const LOG: &str = "/db/cache.log";
const HINT: &str = "/db/cache.log.hint";

fn open(fs: &SimFs, hint: bool) -> DurableKVCache {
    DurableKVCache::builder(LOG)
        .durability(Durability::None)
        .compaction_threshold(0)
        .hint_file(hint)
        .file_system(Arc::new(fs.clone()))
        .open()
        .expect("the log opens")
}

fn contents(cache: &DurableKVCache) -> BTreeMap<Vec<u8>, Vec<u8>> {
    cache
        .keys()
        .filter_map(|k| cache.get(&k).ok().flatten().map(|v| (k, v)))
        .collect()
}

/// The log, its genuine hint, and what a full replay of it holds.
struct Fixture {
    log: Vec<u8>,
    hint: Vec<u8>,
    expected: BTreeMap<Vec<u8>, Vec<u8>>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let fs = SimFs::new();
        let cache = open(&fs, true);
        for i in 0..40u32 {
            cache
                .put(
                    format!("key{}", i % 17),
                    format!("value{i}").repeat(i as usize % 5),
                )
                .expect("put");
            if i % 7 == 0 {
                cache.delete(format!("key{}", i % 5)).expect("delete");
            }
        }
        drop(cache);
        let log = fs.read_file(Path::new(LOG)).expect("log");
        let hint = fs
            .read_file(Path::new(HINT))
            .expect("a clean close writes the hint");
        let full = SimFs::new();
        full.write_file(Path::new(LOG), &log);
        let expected = contents(&open(&full, false));
        Fixture {
            log,
            hint,
            expected,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let hint: Vec<u8> = match data.split_first() {
        Some((0, flips)) => {
            let mut h = f.hint.clone();
            for (b, x) in h.iter_mut().zip(flips) {
                *b ^= x;
            }
            h
        }
        _ => data.to_vec(),
    };
    let fs = SimFs::new();
    fs.write_file(Path::new(LOG), &f.log);
    fs.write_file(Path::new(HINT), &hint);
    let (cache, peak) = counting::peak_of(|| open(&fs, true));
    assert!(
        peak <= 256 * 1024 + 16 * (hint.len() + f.log.len()),
        "open with a {}-byte hint allocated {peak} bytes",
        hint.len()
    );
    assert_eq!(
        contents(&cache),
        f.expected,
        "the hint changed what the log holds"
    );
    if hint == f.hint {
        assert!(
            cache.stats().recovery.hint_entries > 0,
            "the genuine hint was not used"
        );
    }
});
