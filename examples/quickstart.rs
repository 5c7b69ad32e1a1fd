//! The first scenario (put, close, reopen, recovered), then a timed workload on the embedded
//! default.
//!
//! ```text
//! cargo run --release --example quickstart                       # 300,000 records
//! cargo run --release --example quickstart -- --records 1000000  # the figures in the docs
//! ```
//!
//! Writes under `target/quickstart/` (removed at the start of each run).

use std::sync::Arc;
use std::time::{Duration, Instant};

use logcache::{Durability, DurableKVCache};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut records = 300_000u64;
    let mut sync_puts = 2_000u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--records" => records = args.next().ok_or("--records needs a number")?.parse()?,
            "--sync-puts" => {
                sync_puts = args.next().ok_or("--sync-puts needs a number")?.parse()?
            }
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let dir = std::path::Path::new("target/quickstart");
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let path = dir.join("cache_data.log");

    // The first scenario: put, close, reopen, recovered.
    let cache = DurableKVCache::open(&path)?;
    cache.put("user:123", r#"{"name": "Alice", "role": "admin"}"#)?;
    cache.put("config:theme", "dark")?;
    drop(cache);
    let cache2 = DurableKVCache::open(&path)?;
    let user = cache2
        .get("user:123")?
        .ok_or("user:123 was not recovered")?;
    let theme = cache2
        .get("config:theme")?
        .ok_or("config:theme was not recovered")?;
    println!(
        "recovered user:123     = {}",
        String::from_utf8_lossy(&user)
    );
    println!(
        "recovered config:theme = {}",
        String::from_utf8_lossy(&theme)
    );
    drop(cache2);

    println!();
    println!("{records} puts of 16-byte keys and 100-byte values:");
    let bulk = dir.join("bulk.log");
    let value = [b'v'; 100];
    let cache = DurableKVCache::builder(&bulk)
        .durability(Durability::None)
        .open()?;
    let t = Instant::now();
    for i in 0..records {
        cache.put(format!("key:{i:012}"), value)?;
    }
    cache.sync()?;
    report(
        "put, Durability::None (one sync at the end)",
        records,
        t.elapsed(),
    );
    let t = Instant::now();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..records {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = cache.get(format!("key:{:012}", x % records))?;
        if v.as_ref().map(Vec::len) != Some(100) {
            return Err("a value went missing".into());
        }
    }
    report("get, random keys", records, t.elapsed());
    drop(cache);
    let size = std::fs::metadata(&bulk)?.len();
    let t = Instant::now();
    let cache = DurableKVCache::open(&bulk)?;
    let took = t.elapsed();
    println!(
        "  {:<44} {:>9.1} ms  ({:.0} MB/s, {} keys)",
        "open (replay) of the log",
        took.as_secs_f64() * 1e3,
        size as f64 / took.as_secs_f64() / 1e6,
        cache.len()
    );
    drop(cache);

    println!();
    println!("Durability::Sync (fdatasync before each put returns):");
    for threads in [1u64, 4] {
        let path = dir.join(format!("sync{threads}.log"));
        let cache = Arc::new(DurableKVCache::open(&path)?);
        let t = Instant::now();
        let per_thread = sync_puts / threads;
        let handles: Vec<_> = (0..threads)
            .map(|th| {
                let cache = Arc::clone(&cache);
                std::thread::spawn(move || -> logcache::Result<()> {
                    for i in 0..per_thread {
                        cache.put(format!("t{th}:{i:010}"), value)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| "writer thread panicked")??;
        }
        let took = t.elapsed();
        let stats = cache.stats();
        report(
            &format!("put, {threads} thread(s)"),
            per_thread * threads,
            took,
        );
        println!(
            "  {:<44} {:>9.2}",
            "  fsyncs per put",
            stats.syncs as f64 / stats.sets as f64
        );
    }
    Ok(())
}

fn report(what: &str, n: u64, took: Duration) {
    println!(
        "  {:<44} {:>9.0} ops/s  ({:.2} s)",
        what,
        n as f64 / took.as_secs_f64(),
        took.as_secs_f64()
    );
}
