//! A 1 GiB object streams into and out of BigCache over the embedded store with peak resident
//! memory under 32 MiB. Measured in a child process (this binary, `LOGCACHE_TEST_CHILD=rss`)
//! from `VmHWM` in `/proc/self/status`, so the parent's memory does not count.
//! `LOGCACHE_RSS_MIB` changes the object size (default 1024).

mod common;

use common::data::fill;

use std::io::{Read, Write};
use std::process::Command;
use std::time::Instant;

use logcache::{BigCache, Durability, DurableKVCache};

const LIMIT_KIB: u64 = 32 * 1024;

fn main() {
    if std::env::var("LOGCACHE_TEST_CHILD").as_deref() == Ok("rss") {
        child();
        return;
    }
    let mib: u64 = std::env::var("LOGCACHE_RSS_MIB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1024);
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .env("LOGCACHE_TEST_CHILD", "rss")
        .env("LOGCACHE_DIR", dir.path())
        .env("LOGCACHE_RSS_MIB", mib.to_string())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {:?}\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let hwm: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM_kib "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in the child's output:\n{text}"));
    print!("{text}");
    assert!(
        hwm < LIMIT_KIB,
        "peak RSS {hwm} KiB for a {mib} MiB object (limit {LIMIT_KIB} KiB)"
    );
    println!("big_rss: 1 passed, 0 failed");
}

fn child() {
    let dir = std::env::var("LOGCACHE_DIR").unwrap();
    let mib: u64 = std::env::var("LOGCACHE_RSS_MIB").unwrap().parse().unwrap();
    let size = mib << 20;
    let store = DurableKVCache::builder(std::path::Path::new(&dir).join("objects.log"))
        .durability(Durability::None)
        .compaction_threshold(0)
        .open()
        .unwrap();
    let cache = BigCache::new(store).unwrap();

    let t = Instant::now();
    let mut w = cache.writer("one-gib").unwrap();
    let mut chunk = vec![0u8; 256 << 10];
    let mut pos = 0u64;
    while pos < size {
        let n = chunk.len().min((size - pos) as usize);
        fill(&mut chunk[..n], pos);
        w.write_all(&chunk[..n]).unwrap();
        pos += n as u64;
    }
    w.commit().unwrap();
    cache.store().sync().unwrap();
    let wrote = t.elapsed();

    let t = Instant::now();
    let mut r = cache.reader("one-gib").unwrap().unwrap();
    assert_eq!(r.len(), size);
    let mut expected = vec![0u8; chunk.len()];
    let mut pos = 0u64;
    loop {
        let n = r.read(&mut chunk).unwrap();
        if n == 0 {
            break;
        }
        fill(&mut expected[..n], pos);
        assert!(chunk[..n] == expected[..n], "wrong bytes at {pos}");
        pos += n as u64;
    }
    assert_eq!(pos, size);
    let read = t.elapsed();

    let hwm = common::data::peak_rss_kib("self");
    println!(
        "{mib} MiB streamed in {:.1} s ({:.0} MB/s) and out in {:.1} s ({:.0} MB/s), peak RSS {hwm} KiB",
        wrote.as_secs_f64(),
        size as f64 / wrote.as_secs_f64() / 1e6,
        read.as_secs_f64(),
        size as f64 / read.as_secs_f64() / 1e6
    );
    println!("VmHWM_kib {hwm}");
}
