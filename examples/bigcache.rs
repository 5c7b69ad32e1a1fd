//! BigCache throughput for one large object next to a plain file with the same bytes, in one
//! run: `set`/`get` (whole object in memory) and the streaming writer/reader. Then small
//! objects stored inside their manifests against the same objects in blocks, which is how the
//! default [`DEFAULT_INLINE_MAX`](logcache::DEFAULT_INLINE_MAX) was chosen.
//!
//! ```text
//! cargo run --release --example bigcache                 # a 256 MiB object, 64 MiB of small ones
//! cargo run --release --example bigcache -- --mib 1024
//! ```
//!
//! Writes under `target/bigcache-bench/` (removed at the start and the end). The embedded
//! store runs with `Durability::None` and one sync at the end, like the plain file.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use logcache::{BigCache, Durability, DurableKVCache};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut mib = 256u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--mib" => mib = args.next().ok_or("--mib needs a number")?.parse()?,
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let dir = std::path::Path::new("target/bigcache-bench");
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let size = (mib << 20) as usize;
    let object: Vec<u8> = (0..size)
        .map(|i| (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes()[7])
        .collect();
    let mbs = |d: Duration| size as f64 / d.as_secs_f64() / 1e6;
    let store = DurableKVCache::builder(dir.join("objects.log"))
        .durability(Durability::None)
        .compaction_threshold(0)
        .open()?;
    let cache = BigCache::new(store)?;
    let raw = dir.join("plain.bin");
    let mut buf = vec![0u8; 256 << 10];

    // Each round measures the plain file and BigCache back to back, so that both see the
    // same disk; the report takes the median of 5 rounds (this machine's disk swings a lot).
    let mut rows: [Vec<f64>; 8] = Default::default();
    for _round in 0..5 {
        // Whole object: write in 1 MiB chunks + fdatasync / set + sync.
        let t = Instant::now();
        let mut f = std::fs::File::create(&raw)?;
        for chunk in object.chunks(1 << 20) {
            f.write_all(chunk)?;
        }
        f.sync_data()?;
        drop(f);
        rows[0].push(mbs(t.elapsed()));
        let t = Instant::now();
        cache.set("object", &object)?;
        cache.store().sync()?;
        rows[1].push(mbs(t.elapsed()));

        // Whole object back into memory: std::fs::read / get.
        let t = Instant::now();
        let back = std::fs::read(&raw)?;
        rows[2].push(mbs(t.elapsed()));
        assert!(back == object);
        drop(back);
        let t = Instant::now();
        let got = cache.get("object")?.ok_or("object missing")?;
        rows[3].push(mbs(t.elapsed()));
        assert!(got == object);
        drop(got);

        // Streamed in 256 KiB pieces: File write / BigWriter, File read / BigReader.
        let t = Instant::now();
        let mut f = std::fs::File::create(&raw)?;
        for chunk in object.chunks(256 << 10) {
            f.write_all(chunk)?;
        }
        f.sync_data()?;
        drop(f);
        rows[4].push(mbs(t.elapsed()));
        let t = Instant::now();
        let mut w = cache.writer("streamed")?;
        for chunk in object.chunks(256 << 10) {
            w.write_all(chunk)?;
        }
        w.commit()?;
        cache.store().sync()?;
        rows[5].push(mbs(t.elapsed()));
        let t = Instant::now();
        let mut f = std::fs::File::open(&raw)?;
        let mut total = 0;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            total += n;
        }
        rows[6].push(mbs(t.elapsed()));
        assert_eq!(total, size);
        let t = Instant::now();
        let mut r = cache.reader("streamed")?.ok_or("object missing")?;
        let mut total = 0;
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                break;
            }
            total += n;
        }
        rows[7].push(mbs(t.elapsed()));
        assert_eq!(total, size);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let m: Vec<f64> = rows.iter_mut().map(median).collect();
    println!(
        "{mib} MiB object, block size {} KiB, median of 5 rounds (MB/s):",
        cache.block_size() >> 10
    );
    println!(
        "  {:<34} {:>7} {:>9} {:>7}",
        "", "plain", "BigCache", "ratio"
    );
    for (name, plain, big) in [
        ("write + fdatasync (set)", m[0], m[1]),
        ("read whole into memory (get)", m[2], m[3]),
        ("write streamed 256 KiB (writer)", m[4], m[5]),
        ("read streamed 256 KiB (reader)", m[6], m[7]),
    ] {
        println!("  {name:<34} {plain:>7.0} {big:>9.0} {:>7.2}", big / plain);
    }
    drop(cache);
    small_objects(dir, mib.min(64) << 20)?;
    std::fs::remove_dir_all(dir)?;
    Ok(())
}

/// Objects of 256 B to 64 KiB, `total` bytes of each size, inside their manifests
/// (`inline_max` = the size) and in one block each (`inline_max(0)`): `set`, `get` in a
/// scattered order, and `size_of` (a HEAD: the manifest alone), in operations per second.
fn small_objects(dir: &std::path::Path, total: u64) -> Result<(), Box<dyn std::error::Error>> {
    println!("small objects, {} MiB of each size (ops/s):", total >> 20);
    println!(
        "  {:>6}  {:>9} {:>9} {:>6}  {:>9} {:>9} {:>6}  {:>9} {:>9} {:>6}",
        "size",
        "set blk",
        "inline",
        "ratio",
        "get blk",
        "inline",
        "ratio",
        "head blk",
        "inline",
        "ratio"
    );
    for size in [256usize, 1 << 10, 4 << 10, 16 << 10, 64 << 10] {
        let n = (total as usize / size.max(1 << 10)).max(1);
        let value = vec![7u8; size];
        let mut rates = Vec::new();
        for inline in [0, size] {
            let path = dir.join(format!("small-{size}-{inline}.log"));
            let store = DurableKVCache::builder(&path)
                .durability(Durability::None)
                .open()?;
            let cache = BigCache::builder(store).inline_max(inline).open()?;
            let rate = |t: Instant, ops: usize| ops as f64 / t.elapsed().as_secs_f64();
            let t = Instant::now();
            for i in 0..n {
                cache.set(format!("k{i}"), &value)?;
            }
            let set = rate(t, n);
            let t = Instant::now();
            for i in 0..n {
                let key = format!("k{}", (i * 7919) % n);
                let got = cache.get(&key)?.ok_or("object missing")?;
                assert_eq!(got.len(), size);
            }
            let get = rate(t, n);
            let t = Instant::now();
            for i in 0..n {
                cache.size_of(format!("k{i}"))?.ok_or("object missing")?;
            }
            rates.push([set, get, rate(t, n)]);
            drop(cache);
            std::fs::remove_file(path)?;
        }
        let [blk, inl] = [rates[0], rates[1]];
        print!("  {size:>6}");
        for i in 0..3 {
            print!("  {:>9.0} {:>9.0} {:>6.2}", blk[i], inl[i], inl[i] / blk[i]);
        }
        println!();
    }
    Ok(())
}
