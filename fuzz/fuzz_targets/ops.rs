//! Arbitrary operation sequences — puts, deletes, gets, reopens, compactions, and crashes at
//! any I/O operation with any crash image — against a `BTreeMap` model. With Sync durability
//! every acknowledged operation survives a crash; the one in flight is whole or absent.
#![no_main]

use std::collections::BTreeMap;
use std::sync::Arc;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use logcache::DurableKVCache;
use logcache::sim::SimFs;

const LOG: &str = "/db/cache.log";

#[derive(Arbitrary, Debug)]
enum Op {
    Put(u8, Vec<u8>),
    Delete(u8),
    Get(u8),
    Reopen,
    Compact,
    /// Crash after this many more mutating I/O operations (0: now), then recover from image
    /// number `image`.
    Crash {
        after: u8,
        image: u8,
    },
}

fn key(k: u8) -> Vec<u8> {
    vec![b'k', k % 16, b'\t']
}

fn open(fs: &SimFs) -> logcache::Result<DurableKVCache> {
    DurableKVCache::builder(LOG)
        // Compaction only through Op::Compact: no background thread, so runs reproduce.
        .compaction_threshold(0)
        .preallocate(256)
        .file_system(Arc::new(fs.clone()))
        .open()
}

/// Replaces `fs` with one of its crash images and opens it; returns the recovered contents.
fn recover(fs: &mut SimFs, image: u8) -> (DurableKVCache, BTreeMap<Vec<u8>, Vec<u8>>) {
    let mut images = fs.crash_images(u64::from(image));
    let (_, next) = images.swap_remove(usize::from(image) % images.len());
    *fs = next;
    let cache = open(fs).expect("open a crash image");
    let contents = cache
        .keys()
        .map(|k| {
            let v = cache.get(&k).expect("read").expect("listed key");
            (k, v)
        })
        .collect();
    (cache, contents)
}

fuzz_target!(|ops: Vec<Op>| {
    let mut fs = SimFs::new();
    let mut cache = Some(open(&fs).expect("open on a fresh file system"));
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut image = 0u8;
    for op in ops.iter().take(64) {
        let c = cache.as_ref().expect("a cache is open between operations");
        // The write that may be in flight when a crash hits: (key, new value or None).
        let mut in_flight: Option<(Vec<u8>, Option<Vec<u8>>)> = None;
        let result = match op {
            Op::Put(k, v) => {
                let v: Vec<u8> = v.iter().copied().take(300).collect();
                in_flight = Some((key(*k), Some(v.clone())));
                c.put(key(*k), &v)
            }
            Op::Delete(k) => {
                in_flight = Some((key(*k), None));
                c.delete(key(*k)).map(|_| ())
            }
            Op::Get(k) => c.get(key(*k)).map(|got| {
                assert_eq!(
                    got.as_ref(),
                    model.get(&key(*k)),
                    "get disagrees with the model"
                );
            }),
            Op::Reopen => {
                cache = None; // the clean close may hit an armed crash too
                match open(&fs) {
                    Ok(c) => {
                        cache = Some(c);
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            Op::Compact => c.compact(),
            Op::Crash { after, image: i } => {
                image = *i;
                if *after == 0 {
                    fs.crash_now();
                } else {
                    fs.crash_after(fs.ops() + u64::from(*after));
                }
                Ok(())
            }
        };
        if result.is_ok()
            && let Some((k, v)) = in_flight.take()
        {
            match v {
                Some(v) => model.insert(k, v),
                None => model.remove(&k),
            };
        }
        if !fs.has_crashed() {
            if let Err(e) = result {
                panic!("{op:?} failed without a crash: {e}");
            }
            continue;
        }
        drop(cache.take());
        let (c, recovered) = recover(&mut fs, image);
        let mut allowed = vec![model.clone()];
        if let Some((k, v)) = in_flight {
            let mut m = model.clone();
            match v {
                Some(v) => m.insert(k, v),
                None => m.remove(&k),
            };
            allowed.push(m);
        }
        assert!(
            allowed.contains(&recovered),
            "recovered {recovered:?}, allowed {allowed:?}"
        );
        model = recovered;
        cache = Some(c);
    }
});
