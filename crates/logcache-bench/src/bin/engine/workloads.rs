//! The workloads, each on logcache and on the raw baseline: fill, fill with an fsync per put,
//! group commit, random reads, reopen, overwrite, large values, a streamed object, index memory.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use logcache::{BigCache, Durability, DurableKVCache};

use super::Res;
use super::measure::{Latency, Row, proc_status};
use super::raw::Raw;

pub(super) fn key(i: u64) -> [u8; 16] {
    let mut k = [b'0'; 16];
    let mut n = i;
    for slot in k.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    k
}

pub(super) const VALUE: [u8; 100] = [b'v'; 100];

pub(super) fn open(
    path: &Path,
    durability: Durability,
    threshold: u64,
) -> logcache::Result<DurableKVCache> {
    DurableKVCache::builder(path)
        .durability(durability)
        .compaction_threshold(threshold)
        .open()
}

pub(super) fn fill(dir: &Path, lc: bool, n: u64) -> Res<Row> {
    let mut lat = Latency::with_capacity(n);
    let t = Instant::now();
    if lc {
        let c = open(&dir.join("log"), Durability::None, 0)?;
        for i in 0..n {
            lat.time(|| c.put(key(i), VALUE))?;
        }
        c.sync()?;
    } else {
        let mut r = Raw::create(&dir.join("raw"), false)?;
        for i in 0..n {
            lat.time(|| r.put(&key(i), &VALUE))?;
        }
        r.sync()?;
    }
    let secs = t.elapsed().as_secs_f64();
    Ok(lat.row("none", n, secs, n * 116))
}

pub(super) fn fill_sync(dir: &Path, lc: bool, n: u64) -> Res<Row> {
    let mut lat = Latency::with_capacity(n);
    let t = Instant::now();
    if lc {
        let c = open(&dir.join("log"), Durability::Sync, 0)?;
        for i in 0..n {
            lat.time(|| c.put(key(i), VALUE))?;
        }
    } else {
        let mut r = Raw::create(&dir.join("raw"), true)?;
        for i in 0..n {
            lat.time(|| r.put(&key(i), &VALUE))?;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    Ok(lat.row("sync-1t", n, secs, n * 116))
}

pub(super) fn group_commit(dir: &Path, lc: bool, per_thread: u64) -> Res<Vec<Row>> {
    let mut rows = Vec::new();
    for threads in [1u64, 2, 4, 8, 16] {
        let path = dir.join(format!("t{threads}"));
        let t = Instant::now();
        let syncs = if lc {
            let c = Arc::new(open(&path, Durability::Sync, 0)?);
            let handles: Vec<_> = (0..threads)
                .map(|th| {
                    let c = Arc::clone(&c);
                    std::thread::spawn(move || -> logcache::Result<()> {
                        for i in 0..per_thread {
                            c.put(key(th * 1_000_000_000 + i), VALUE)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            for h in handles {
                h.join().map_err(|_| "thread panicked")??;
            }
            c.stats().syncs
        } else {
            let r = Arc::new(std::sync::Mutex::new(Raw::create(&path, true)?));
            let handles: Vec<_> = (0..threads)
                .map(|th| {
                    let r = Arc::clone(&r);
                    std::thread::spawn(move || -> std::io::Result<()> {
                        for i in 0..per_thread {
                            r.lock()
                                .unwrap()
                                .put(&key(th * 1_000_000_000 + i), &VALUE)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            for h in handles {
                h.join().map_err(|_| "thread panicked")??;
            }
            r.lock().unwrap().syncs
        };
        let ops = threads * per_thread;
        rows.push(Row {
            variant: format!("{threads}-threads"),
            ops,
            secs: t.elapsed().as_secs_f64(),
            bytes: ops * 116,
            extra: vec![("fsyncs_per_put", syncs as f64 / ops as f64)],
            ..Row::default()
        });
    }
    let one = rows[0].ops_per_sec();
    for r in &mut rows {
        let x = r.ops_per_sec() / one;
        r.extra.push(("vs_1_thread", x));
    }
    Ok(rows)
}

/// xorshift64: the random key stream for reads.
pub(super) fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

pub(super) fn read_random(dir: &Path, lc: bool, n: u64) -> Res<Row> {
    let mut lat = Latency::with_capacity(n);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let secs = if lc {
        let c = open(&dir.join("log"), Durability::None, 0)?;
        for i in 0..n {
            c.put(key(i), VALUE)?;
        }
        let t = Instant::now();
        for _ in 0..n {
            let v = lat.time(|| c.get(key(next(&mut x) % n)))?;
            assert_eq!(v.map(|v| v.len()), Some(100));
        }
        t.elapsed().as_secs_f64()
    } else {
        let mut r = Raw::create(&dir.join("raw"), false)?;
        for i in 0..n {
            r.put(&key(i), &VALUE)?;
        }
        let t = Instant::now();
        for _ in 0..n {
            let v = lat.time(|| r.get(&key(next(&mut x) % n)))?;
            assert_eq!(v.map(|v| v.len()), Some(100));
        }
        t.elapsed().as_secs_f64()
    };
    Ok(lat.row("page-cache", n, secs, n * 100))
}

pub(super) fn reopen(dir: &Path, lc: bool, n: u64) -> Res<Row> {
    let (secs, size) = if lc {
        let path = dir.join("log");
        let c = open(&path, Durability::None, 0)?;
        for i in 0..n {
            c.put(key(i), VALUE)?;
        }
        c.close()?;
        let size = std::fs::metadata(&path)?.len();
        let t = Instant::now();
        let c = open(&path, Durability::None, 0)?;
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(c.len() as u64, n);
        (secs, size)
    } else {
        let path = dir.join("raw");
        let mut r = Raw::create(&path, false)?;
        for i in 0..n {
            r.put(&key(i), &VALUE)?;
        }
        r.sync()?;
        drop(r);
        let t = Instant::now();
        let (keys, size) = Raw::scan(&path)?;
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(keys as u64, n);
        (secs, size)
    };
    Ok(Row {
        variant: "1 open".into(),
        ops: n,
        secs,
        bytes: size,
        ..Row::default()
    })
}

pub(super) fn overwrite(dir: &Path, lc: bool, n: u64, keys: u64) -> Res<Row> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    if lc {
        let path = dir.join("log");
        let c = open(
            &path,
            Durability::None,
            logcache::DEFAULT_COMPACTION_THRESHOLD,
        )?;
        let t = Instant::now();
        for _ in 0..n {
            c.put(key(next(&mut x) % keys), VALUE)?;
        }
        c.wait_for_compaction();
        let secs = t.elapsed().as_secs_f64();
        let s = c.stats();
        // One more compaction, timed alone, for its throughput.
        let t = Instant::now();
        c.compact()?;
        let compact_secs = t.elapsed().as_secs_f64();
        Ok(Row {
            variant: format!("{keys}-keys"),
            ops: n,
            secs,
            bytes: n * 116,
            extra: vec![
                ("file_mb", s.allocated_bytes as f64 / 1e6),
                (
                    "space_amplification",
                    s.file_bytes as f64 / s.live_bytes as f64,
                ),
                ("compactions", s.compactions as f64),
                (
                    "compaction_mb_per_sec",
                    c.stats().live_bytes as f64 / compact_secs / 1e6,
                ),
            ],
            ..Row::default()
        })
    } else {
        let mut r = Raw::create(&dir.join("raw"), false)?;
        let t = Instant::now();
        for _ in 0..n {
            r.put(&key(next(&mut x) % keys), &VALUE)?;
        }
        r.sync()?;
        let secs = t.elapsed().as_secs_f64();
        let live = keys * (8 + 16 + 100);
        Ok(Row {
            variant: format!("{keys}-keys"),
            ops: n,
            secs,
            bytes: n * 116,
            extra: vec![
                ("file_mb", r.size() as f64 / 1e6),
                ("space_amplification", r.size() as f64 / live as f64),
            ],
            ..Row::default()
        })
    }
}

pub(super) fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes()[7])
        .collect()
}

pub(super) fn big(dir: &Path, lc: bool, mib: u64) -> Res<Vec<Row>> {
    let size = (mib << 20) as usize;
    let object = pattern(size);
    let (set, get) = if lc {
        let store = open(&dir.join("log"), Durability::None, 0)?;
        let cache = BigCache::new(store)?;
        let t = Instant::now();
        cache.set("object", &object)?;
        cache.store().sync()?;
        let set = t.elapsed();
        let t = Instant::now();
        let back = cache.get("object")?.ok_or("missing")?;
        let get = t.elapsed();
        assert!(back == object);
        (set, get)
    } else {
        let path = dir.join("plain");
        let t = Instant::now();
        let mut f = std::fs::File::create(&path)?;
        for chunk in object.chunks(1 << 20) {
            f.write_all(chunk)?;
        }
        f.sync_data()?;
        let set = t.elapsed();
        let t = Instant::now();
        let back = std::fs::read(&path)?;
        let get = t.elapsed();
        assert!(back == object);
        (set, get)
    };
    let row = |variant: &str, d: Duration| Row {
        variant: variant.into(),
        ops: 1,
        secs: d.as_secs_f64(),
        bytes: size as u64,
        ..Row::default()
    };
    Ok(vec![row("set", set), row("get", get)])
}

pub(super) fn big_stream(dir: &Path, lc: bool, mib: u64) -> Res<Row> {
    let size = mib << 20;
    let chunk = pattern(256 << 10);
    let mut buf = vec![0u8; 256 << 10];
    let t = Instant::now();
    if lc {
        let store = open(&dir.join("log"), Durability::None, 0)?;
        let cache = BigCache::new(store)?;
        let mut w = cache.writer("object")?;
        for _ in 0..size / chunk.len() as u64 {
            w.write_all(&chunk)?;
        }
        w.commit()?;
        cache.store().sync()?;
        let mut r = cache.reader("object")?.ok_or("missing")?;
        let mut total = 0u64;
        while let n @ 1.. = r.read(&mut buf)? {
            total += n as u64;
        }
        assert_eq!(total, size);
    } else {
        let path = dir.join("plain");
        let mut f = std::fs::File::create(&path)?;
        for _ in 0..size / chunk.len() as u64 {
            f.write_all(&chunk)?;
        }
        f.sync_data()?;
        let mut f = std::fs::File::open(&path)?;
        let mut total = 0u64;
        while let n @ 1.. = f.read(&mut buf)? {
            total += n as u64;
        }
        assert_eq!(total, size);
    }
    Ok(Row {
        variant: "in+out".into(),
        ops: 1,
        secs: t.elapsed().as_secs_f64(),
        bytes: 2 * size,
        ..Row::default()
    })
}

pub(super) fn index_memory(dir: &Path, lc: bool, n: u64) -> Res<Row> {
    let before = proc_status("VmRSS:").unwrap_or(0);
    let t = Instant::now();
    let keep_alive: Box<dyn std::any::Any> = if lc {
        let c = open(&dir.join("log"), Durability::None, 0)?;
        for i in 0..n {
            c.put(key(i), [1u8])?;
        }
        Box::new(c)
    } else {
        let mut r = Raw::create(&dir.join("raw"), false)?;
        for i in 0..n {
            r.put(&key(i), &[1u8])?;
        }
        Box::new(r)
    };
    let secs = t.elapsed().as_secs_f64();
    let after = proc_status("VmRSS:").unwrap_or(0);
    drop(keep_alive);
    Ok(Row {
        variant: "16-byte-keys".into(),
        ops: n,
        secs,
        bytes: 0,
        extra: vec![(
            "rss_bytes_per_key",
            (after.saturating_sub(before) * 1024) as f64 / n as f64,
        )],
        ..Row::default()
    })
}

/// Compaction's throughput: a log of `bytes` of live records of 100 bytes and of 4 KiB, each
/// key written twice (half the log dead), compacted on demand; MB/s of live data. The
/// baseline writes the same bytes sequentially in 1 MiB writes and syncs them: what a copy
/// could cost at best.
pub(super) fn compaction(dir: &Path, lc: bool, bytes: u64) -> Res<Vec<Row>> {
    let mut rows = Vec::new();
    for value_len in [100usize, 4096] {
        let value = vec![b'c'; value_len];
        let n = (bytes / (value_len as u64 + 46)).max(1);
        let path = dir.join(format!("compaction-{value_len}"));
        let (secs, live) = if lc {
            let c = open(&path, Durability::None, 0)?;
            for round in 0..2 {
                for i in 0..n {
                    // The second round in another order, so the live records are scattered.
                    let k = if round == 0 { i } else { (i * 7919) % n };
                    c.put(key(k), &value)?;
                }
            }
            c.sync()?;
            let live = c.stats().live_bytes;
            let t = Instant::now();
            c.compact()?;
            (t.elapsed().as_secs_f64(), live)
        } else {
            use std::os::unix::fs::FileExt;
            let live = n * (value_len as u64 + 46);
            let f = std::fs::File::create(&path)?;
            let chunk = vec![b'c'; 1 << 20];
            let t = Instant::now();
            let mut at = 0u64;
            while at < live {
                f.write_all_at(&chunk, at)?;
                at += chunk.len() as u64;
            }
            f.sync_data()?;
            (t.elapsed().as_secs_f64(), at)
        };
        rows.push(Row {
            variant: format!("{value_len}-byte values"),
            ops: n,
            secs,
            bytes: live,
            ..Row::default()
        });
    }
    Ok(rows)
}
