//! Arbitrary bytes as a log file: open never panics in either recovery mode, allocates within
//! a bound of the input's size, and a log opened in Salvage mode reopens to the same contents.
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use logcache::sim::SimFs;
use logcache::{DurableKVCache, RecoveryMode};

#[path = "counting.rs"]
mod counting;

const LOG: &str = "/db/cache.log";

fn contents(cache: &DurableKVCache) -> BTreeMap<Vec<u8>, Vec<u8>> {
    cache
        .keys()
        .filter_map(|k| cache.get(&k).ok().flatten().map(|v| (k, v)))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    // Most inputs get the file header, so that the fuzzer explores records.
    let mut file = Vec::new();
    if data.first().is_some_and(|b| b & 1 == 1) {
        file.extend_from_slice(b"logcache\t1\n");
    }
    file.extend_from_slice(data.get(1..).unwrap_or_default());

    for mode in [RecoveryMode::Strict, RecoveryMode::Salvage] {
        let fs = SimFs::new();
        fs.write_file(Path::new(LOG), &file);
        let (opened, peak) = counting::peak_of(|| {
            DurableKVCache::builder(LOG)
                .recovery_mode(mode)
                .max_value_len(u64::from(u32::MAX) / 2)
                .compaction_threshold(0)
                .file_system(Arc::new(fs.clone()))
                .open()
        });
        // The window, the file's own copy in the simulation, an index entry per record.
        assert!(
            peak <= 64 * 1024 + 16 * file.len(),
            "open of a {}-byte file allocated {peak} bytes",
            file.len()
        );
        let Ok(cache) = opened else {
            // Salvage opens every file that starts with the header; without it the file is
            // not a log and is refused untouched.
            assert!(
                mode == RecoveryMode::Strict || !file.starts_with(b"logcache\t1\n"),
                "Salvage refused to open a log"
            );
            assert_eq!(
                fs.read_file(Path::new(LOG)).as_deref(),
                Some(&file[..]),
                "a refused file was modified"
            );
            continue;
        };
        let first = contents(&cache);
        drop(cache);
        let cache = DurableKVCache::builder(LOG)
            .file_system(Arc::new(fs.clone()))
            .compaction_threshold(0)
            .open()
            .expect("a log that opened must reopen");
        assert_eq!(
            contents(&cache),
            first,
            "{mode:?}: reopen changed the contents"
        );
    }
});
