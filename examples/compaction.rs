//! Compaction throughput next to the machine's sequential write speed, in one run.
//!
//! ```text
//! cargo run --release --example compaction                 # 256 MiB of live data
//! cargo run --release --example compaction -- --mib 1024
//! ```
//!
//! Writes under `target/compaction-bench/` (removed at the start and the end).

use std::io::Write;
use std::time::{Duration, Instant};

use logcache::{Durability, DurableKVCache};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut mib = 256u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--mib" => mib = args.next().ok_or("--mib needs a number")?.parse()?,
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let dir = std::path::Path::new("target/compaction-bench");
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;

    // Baseline: the same number of bytes written sequentially in 1 MiB chunks, then fsync.
    let raw_path = dir.join("raw.bin");
    let chunk = vec![0x5au8; 1 << 20];
    let t = Instant::now();
    let mut raw = std::fs::File::create(&raw_path)?;
    for _ in 0..mib {
        raw.write_all(&chunk)?;
    }
    raw.sync_data()?;
    let raw_time = t.elapsed();
    drop(raw);
    std::fs::remove_file(&raw_path)?;

    // logcache: `mib` MiB of live 1 KiB values, half of them overwritten once (so half the log
    // is dead), then one compaction.
    let path = dir.join("cache.log");
    let cache = DurableKVCache::builder(&path)
        .durability(Durability::None)
        .compaction_threshold(0)
        .open()?;
    let value = vec![b'v'; 1000];
    let keys = mib * 1024;
    for i in 0..keys {
        cache.put(format!("key:{i:012}"), &value)?;
    }
    for i in (0..keys).step_by(2) {
        cache.put(format!("key:{i:012}"), &value)?;
    }
    cache.sync()?;
    let before = cache.stats();
    let t = Instant::now();
    cache.compact()?;
    let took = t.elapsed();
    let after = cache.stats();
    drop(cache);

    let mbs = |bytes: u64, d: Duration| bytes as f64 / d.as_secs_f64() / 1e6;
    println!(
        "sequential write, 1 MiB chunks + fdatasync: {:>7.0} MB/s ({mib} MiB in {:.2} s)",
        mbs(mib << 20, raw_time),
        raw_time.as_secs_f64()
    );
    println!(
        "compaction, live data rewritten:            {:>7.0} MB/s ({:.0} MB live of {:.0} MB in {:.2} s) = {:.2}x sequential write",
        mbs(after.live_bytes, took),
        after.live_bytes as f64 / 1e6,
        before.file_bytes as f64 / 1e6,
        took.as_secs_f64(),
        mbs(after.live_bytes, took) / mbs(mib << 20, raw_time)
    );

    // Space amplification after the compaction issue's update test: 20 keys x 5,000 updates.
    let upd = dir.join("updates.log");
    let cache = DurableKVCache::builder(&upd)
        .durability(Durability::None)
        .compaction_threshold(100)
        .open()?;
    for round in 0..5000u32 {
        for k in 0..20 {
            cache.put(format!("key{k:02}"), format!("value {round} of key {k}"))?;
        }
    }
    cache.wait_for_compaction();
    let s = cache.stats();
    let on_disk = std::fs::metadata(&upd)?.len();
    println!(
        "update test (20 keys x 5,000): {} compactions, data {} B / live {} B = {:.2}x; on disk with preallocation {} B",
        s.compactions,
        s.file_bytes,
        s.live_bytes,
        s.file_bytes as f64 / s.live_bytes as f64,
        on_disk
    );
    drop(cache);
    std::fs::remove_dir_all(dir)?;
    Ok(())
}
