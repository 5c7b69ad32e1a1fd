//! logcache against sled, redb and fjall: one harness, the same workloads, the same run, each
//! store in a fresh directory. 16-byte keys and 100-byte values unless said.
//!
//! ```sh
//! cargo run --release -p logcache-bench --bin peers            # the full run (medians of 2)
//! cargo run --release -p logcache-bench --bin peers -- --quick # 1/100: checks every adapter
//! cargo run --release -p logcache-bench --bin peers -- --only reopen,overwrite # some workloads
//! cargo run --release -p logcache-bench --bin peers -- --stores redb # logcache and some peers
//! cargo run --release -p logcache-bench --bin peers -- --records 10000000 --only fill,read-random,reopen
//! ```
//!
//! How each store is driven (as its documentation recommends for a bulk load; durability at the
//! end, one fsync, except in `fill-sync`):
//! - logcache: `DurableKVCache` with `Durability::None`, the pairs through `set_many` (its bulk
//!   load: records written a megabyte at a time), one `sync()`; `fill-sync`: `put` per key
//!   with `Durability::Sync`. A read cache of 256 MiB for large values (`read_cache_bytes`,
//!   off by default), as the peers keep their pages in memory (sled 1.0 512 MiB, redb 1 GiB).
//! - sled 0.34.7 (still the most used release) and sled 1.0.0-alpha.124: `insert` per key, one
//!   `flush()`; `fill-sync`: `flush()` after each insert. sled 0.34's flush is
//!   `sync_file_range(2)`, not an fsync, so it does not count as a peer in `fill-sync`.
//! - redb 4.4.0: every put of a workload in one write transaction, committed with
//!   `Durability::Immediate`; `fill-sync`: one transaction per put.
//! - fjall 3.1.13: `insert` per key into one keyspace, one `persist(SyncAll)`; `fill-sync`:
//!   `persist(SyncAll)` after each insert.
//!
//! Every value read is checked; a wrong or missing value stops the run. Nothing here asserts
//! a time.

use redb::ReadableDatabase as _;
use std::path::Path;
use std::time::Instant;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// What a store must do for the workloads.
trait Store {
    /// Puts every pair, then makes them durable (one fsync or commit for the lot).
    fn load(&mut self, pairs: &mut dyn Iterator<Item = (Vec<u8>, Vec<u8>)>) -> Result<()>;
    /// One put made durable before it returns.
    fn put_durable(&mut self, key: &[u8], value: &[u8]) -> Result<()>;
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// The value into `buf` (its capacity reused), as a loop reading many values would:
    /// each store's one copy out of its own cache or file.
    fn get_into(&self, key: &[u8], buf: &mut Vec<u8>) -> Result<bool>;
    /// Bytes the store's files take on disk.
    fn disk_bytes(&self) -> u64;
}

struct Logcache(logcache::DurableKVCache, std::path::PathBuf);
struct Sled(sled::Db, std::path::PathBuf);
struct SledAlpha(sled_alpha::Db, std::path::PathBuf);
struct Redb(redb::Database, std::path::PathBuf);
struct Fjall(fjall::Database, fjall::Keyspace, std::path::PathBuf);

const TABLE: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("t");

fn dir_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return std::fs::metadata(path).map_or(0, |m| m.len());
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                dir_bytes(&p)
            } else {
                e.metadata().map_or(0, |m| m.len())
            }
        })
        .sum()
}

/// Opens store `name` in `dir` (`durable`: every put synced, for `fill-sync`).
fn open(name: &str, dir: &Path, durable: bool) -> Result<Box<dyn Store>> {
    Ok(match name {
        "logcache" => {
            let path = dir.join("log");
            let durability = if durable {
                logcache::Durability::Sync
            } else {
                logcache::Durability::None
            };
            // A read cache of 256 MiB for large values (off by default): the peers keep their
            // pages in memory by default, sled 1.0 512 MiB and redb 1 GiB.
            let c = logcache::DurableKVCache::builder(&path)
                .durability(durability)
                .read_cache_bytes(256 << 20)
                .open()?;
            Box::new(Logcache(c, dir.to_path_buf()))
        }
        "sled-0.34" => Box::new(Sled(sled::open(dir.join("db"))?, dir.to_path_buf())),
        "sled-1.0α" => Box::new(SledAlpha(
            sled_alpha::open(dir.join("db"))?,
            dir.to_path_buf(),
        )),
        "redb" => Box::new(Redb(
            redb::Database::create(dir.join("db"))?,
            dir.to_path_buf(),
        )),
        _ => {
            let db = fjall::Database::builder(dir.join("db")).open()?;
            let ks = db.keyspace("t", fjall::KeyspaceCreateOptions::default)?;
            Box::new(Fjall(db, ks, dir.to_path_buf()))
        }
    })
}

impl Store for Logcache {
    fn load(&mut self, pairs: &mut dyn Iterator<Item = (Vec<u8>, Vec<u8>)>) -> Result<()> {
        self.0.set_many(pairs)?;
        Ok(self.0.sync()?)
    }
    fn put_durable(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        Ok(self.0.put(key, value)?) // opened with Durability::Sync
    }
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.0.get(key)?)
    }
    fn get_into(&self, key: &[u8], buf: &mut Vec<u8>) -> Result<bool> {
        Ok(self.0.get_into(key, buf)?)
    }
    fn disk_bytes(&self) -> u64 {
        dir_bytes(&self.1)
    }
}

/// sled 0.34 and sled 1.0 have the same calls for these workloads.
macro_rules! sled_store {
    ($store:ty) => {
        impl Store for $store {
            fn load(&mut self, pairs: &mut dyn Iterator<Item = (Vec<u8>, Vec<u8>)>) -> Result<()> {
                for (k, v) in pairs {
                    self.0.insert(k, v)?;
                }
                self.0.flush()?;
                Ok(())
            }
            fn put_durable(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
                self.0.insert(key, value)?;
                self.0.flush()?;
                Ok(())
            }
            fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
                Ok(self.0.get(key)?.map(|v| v.to_vec()))
            }
            fn get_into(&self, key: &[u8], buf: &mut Vec<u8>) -> Result<bool> {
                buf.clear();
                let v = self.0.get(key)?;
                buf.extend_from_slice(v.as_deref().unwrap_or_default());
                Ok(v.is_some())
            }
            fn disk_bytes(&self) -> u64 {
                dir_bytes(&self.1)
            }
        }
    };
}

sled_store!(Sled);
sled_store!(SledAlpha);

impl Store for Redb {
    fn load(&mut self, pairs: &mut dyn Iterator<Item = (Vec<u8>, Vec<u8>)>) -> Result<()> {
        let tx = self.0.begin_write()?;
        {
            let mut t = tx.open_table(TABLE)?;
            for (k, v) in pairs {
                t.insert(&k[..], &v[..])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
    fn put_durable(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let tx = self.0.begin_write()?;
        tx.open_table(TABLE)?.insert(key, value)?;
        tx.commit()?;
        Ok(())
    }
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let tx = self.0.begin_read()?;
        let t = tx.open_table(TABLE)?;
        Ok(t.get(key)?.map(|v| v.value().to_vec()))
    }
    fn get_into(&self, key: &[u8], buf: &mut Vec<u8>) -> Result<bool> {
        buf.clear();
        let tx = self.0.begin_read()?;
        let t = tx.open_table(TABLE)?;
        let v = t.get(key)?;
        if let Some(v) = &v {
            buf.extend_from_slice(v.value());
        }
        Ok(v.is_some())
    }
    fn disk_bytes(&self) -> u64 {
        dir_bytes(&self.1)
    }
}

impl Store for Fjall {
    fn load(&mut self, pairs: &mut dyn Iterator<Item = (Vec<u8>, Vec<u8>)>) -> Result<()> {
        for (k, v) in pairs {
            self.1.insert(k, v)?;
        }
        self.0.persist(fjall::PersistMode::SyncAll)?;
        Ok(())
    }
    fn put_durable(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.1.insert(key, value)?;
        self.0.persist(fjall::PersistMode::SyncAll)?;
        Ok(())
    }
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.1.get(key)?.map(|v| v.to_vec()))
    }
    fn get_into(&self, key: &[u8], buf: &mut Vec<u8>) -> Result<bool> {
        buf.clear();
        let v = self.1.get(key)?;
        buf.extend_from_slice(v.as_deref().unwrap_or_default());
        Ok(v.is_some())
    }
    fn disk_bytes(&self) -> u64 {
        dir_bytes(&self.2)
    }
}

fn key(i: u64) -> Vec<u8> {
    format!("key-{i:012}").into_bytes()
}

/// Value `i`, `len` bytes, different for every `i` and `round`.
fn value(i: u64, round: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ round;
    for chunk in v.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let bytes = x.to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    v
}

/// A permutation of `0..n` (a full-period LCG walk), for random reads without a table.
fn scattered(n: u64) -> impl Iterator<Item = u64> {
    let step = (n / 2 + 1..n).find(|s| gcd(*s, n) == 1).unwrap_or(1);
    (0..n).map(move |i| (i * step) % n)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn check(store: &dyn Store, i: u64, round: u64, len: usize) -> Result<()> {
    match store.get(&key(i))? {
        Some(v) if v == value(i, round, len) => Ok(()),
        other => Err(format!("key {i}: wrong value ({:?} bytes)", other.map(|v| v.len())).into()),
    }
}

/// One measurement: a rate (ops/s or MB/s), and optionally a second figure.
struct Figure {
    rate: f64,
    note: String,
}

/// `reopen` opens `reopen_factor × n` records.
fn workload(name: &str, w: &str, n: u64, reopen_factor: u64) -> Result<Figure> {
    let dir = tempfile::tempdir()?;
    let path = dir.path();
    let per = |started: Instant, ops: u64| ops as f64 / started.elapsed().as_secs_f64();
    Ok(match w {
        "fill" => {
            let mut s = open(name, path, false)?;
            let started = Instant::now();
            s.load(&mut (0..n).map(|i| (key(i), value(i, 0, 100))))?;
            let rate = per(started, n);
            check(&*s, n / 2, 0, 100)?;
            Figure {
                rate,
                note: String::new(),
            }
        }
        "fill-sync" => {
            let n = (n / 100).max(50);
            let mut s = open(name, path, true)?;
            let started = Instant::now();
            for i in 0..n {
                s.put_durable(&key(i), &value(i, 0, 100))?;
            }
            let rate = per(started, n);
            check(&*s, n - 1, 0, 100)?;
            Figure {
                rate,
                note: format!("{:.0} µs per put", 1e6 / rate),
            }
        }
        "read-random" => {
            let mut s = open(name, path, false)?;
            s.load(&mut (0..n).map(|i| (key(i), value(i, 0, 100))))?;
            let started = Instant::now();
            for i in scattered(n) {
                check(&*s, i, 0, 100)?;
            }
            Figure {
                rate: per(started, n),
                note: String::new(),
            }
        }
        "reopen" => {
            let n = n * reopen_factor;
            {
                let mut s = open(name, path, false)?;
                s.load(&mut (0..n).map(|i| (key(i), value(i, 0, 100))))?;
            }
            let started = Instant::now();
            let s = open(name, path, false)?;
            check(&*s, n / 3, 0, 100)?;
            let ms = started.elapsed().as_secs_f64() * 1e3;
            Figure {
                rate: ms,
                note: String::new(),
            }
        }
        "big-write" | "big-read" | "big-read-into" => {
            let (count, len) = ((n / 1000).max(8), 1usize << 20);
            let mut s = open(name, path, false)?;
            let started = Instant::now();
            s.load(&mut (0..count).map(|i| (key(i), value(i, 0, len))))?;
            let write = (count * len as u64) as f64 / started.elapsed().as_secs_f64() / 1e6;
            // Every value checked once, untimed; the timed rounds check the length.
            for i in 0..count {
                check(&*s, i, 0, len)?;
            }
            let mut buf = Vec::new();
            let started = Instant::now();
            for _ in 0..3 {
                for i in scattered(count) {
                    let got = if w == "big-read-into" {
                        s.get_into(&key(i), &mut buf)?.then_some(buf.len())
                    } else {
                        s.get(&key(i))?.map(|v| v.len())
                    };
                    if got != Some(len) {
                        return Err(format!("1 MiB value {i} is missing or cut").into());
                    }
                }
            }
            let read = (3 * count * len as u64) as f64 / started.elapsed().as_secs_f64() / 1e6;
            Figure {
                rate: if w == "big-write" { write } else { read },
                note: String::new(),
            }
        }
        _ => {
            // overwrite: n puts over n/20 keys, then the disk bytes per live byte.
            let keys = (n / 20).max(10);
            let mut s = open(name, path, false)?;
            let started = Instant::now();
            s.load(&mut (0..n).map(|i| (key(i % keys), value(i % keys, i / keys, 100))))?;
            let rate = per(started, n);
            let last = (n - 1) / keys;
            check(&*s, keys - 1, last, 100)?;
            let live = keys * (16 + 100);
            Figure {
                rate,
                note: format!("{:.2} disk/live", s.disk_bytes() as f64 / live as f64),
            }
        }
    })
}

/// What `--help` prints, and an unknown argument's error.
const USAGE: &str =
    "usage: peers [--quick] [--only WORKLOAD,...] [--stores STORE,...] [--records N]
  --quick      1/100 of the records: checks every adapter
  --only       some workloads: fill, fill-sync, read-random, reopen, big-write, big-read,
               big-read-into, overwrite
  --stores     logcache and some peers: sled-0.34, sled-1.0α, redb, fjall
  --records N  every workload over N keys (the scale row), reopen too";

fn main() -> Result<()> {
    // Hand-parsed in one pass (four flags; clap is not a dependency of the bench crate), as the
    // `engine` binary does, and strictly: an unknown or misspelt flag is an error, not a silent
    // full run of several minutes.
    let mut quick = false;
    let mut only: Option<Vec<String>> = None;
    // `--records N`: the scale row (every workload over N keys, `reopen` too).
    let mut records: Option<u64> = None;
    // `--stores logcache,redb`: some stores only (logcache is always the first column).
    let mut stores_list: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--only" => {
                let list = args
                    .next()
                    .ok_or("--only needs a list of workloads, e.g. --only reopen,overwrite")?;
                only = Some(list.split(',').map(str::to_string).collect());
            }
            "--records" => {
                let n = args.next().and_then(|v| v.parse().ok());
                records = Some(n.ok_or("--records needs a number, e.g. --records 10000000")?);
            }
            "--stores" => {
                let list = args
                    .next()
                    .ok_or("--stores needs a list, e.g. --stores redb")?;
                stores_list = Some(list);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => {
                eprintln!("unknown argument {other:?}\n{USAGE}");
                std::process::exit(2);
            }
        }
    }
    let n: u64 = records.unwrap_or(if quick { 2_000 } else { 200_000 });
    let reopen_factor = if records.is_some() { 1 } else { 5 };
    let runs = if quick { 1 } else { 2 };
    let all = ["logcache", "sled-0.34", "sled-1.0α", "redb", "fjall"];
    let stores: Vec<&str> = match &stores_list {
        Some(list) => {
            let mut chosen = vec!["logcache"];
            for name in list.split(',').filter(|n| *n != "logcache") {
                let known = all.iter().find(|s| **s == name);
                chosen.push(known.ok_or_else(|| format!("no store named {name}"))?);
            }
            chosen
        }
        None => all.to_vec(),
    };
    let workloads = [
        ("fill", "ops/s"),
        ("fill-sync", "ops/s"),
        ("read-random", "ops/s"),
        ("reopen", "ms"),
        ("big-write", "MB/s"),
        ("big-read", "MB/s"),
        ("big-read-into", "MB/s"),
        ("overwrite", "ops/s"),
    ];
    println!(
        "fill: {n} puts, one sync · fill-sync: {} puts, each synced · read-random: {n} gets · \
         reopen: {} records, ms to open and read one · big-write / big-read: {} values of \
         1 MiB (read 3 times; big-read-into into one reused buffer) · overwrite: {n} puts over {} keys",
        (n / 100).max(50),
        n * reopen_factor,
        (n / 1000).max(8),
        (n / 20).max(10)
    );
    println!(
        "{} keys of 16 bytes, values of 100 bytes unless said; median of {runs}",
        n
    );
    let title = |name: &str| match name {
        "sled-0.34" => "sled 0.34.7",
        "sled-1.0α" => "sled 1.0.0-α.124",
        "redb" => "redb 4.4.0",
        "fjall" => "fjall 3.1.13",
        _ => "logcache",
    };
    let titles: Vec<&str> = stores.iter().map(|s| title(s)).collect();
    println!(
        "| workload | unit | {} | logcache / best peer |",
        titles.join(" | ")
    );
    println!("|---|---|{}---|", "---|".repeat(stores.len()));
    if let Some(only) = &only
        && let Some(bad) = only.iter().find(|o| !workloads.iter().any(|(w, _)| w == o))
    {
        return Err(format!("no workload named {bad}").into());
    }
    for (w, unit) in workloads {
        if only.as_ref().is_some_and(|o| !o.iter().any(|x| x == w)) {
            continue;
        }
        let mut cells = Vec::new();
        let mut values = Vec::new();
        for &name in &stores {
            let mut figures = Vec::new();
            for _ in 0..runs {
                figures.push(
                    workload(name, w, n, reopen_factor).map_err(|e| format!("{name} {w}: {e}"))?,
                );
            }
            figures.sort_by(|a, b| a.rate.total_cmp(&b.rate));
            let median = &figures[figures.len() / 2];
            values.push(median.rate);
            let note = if median.note.is_empty() {
                String::new()
            } else {
                format!(" ({})", median.note)
            };
            let digits = usize::from(unit == "ms");
            cells.push(format!("{:.digits$}{note}", median.rate));
        }
        // Lower is better for a time, higher for a rate.
        let lower_better = unit == "ms";
        // sled 0.34 does not fsync (see the top): no peer in `fill-sync`.
        let best_peer = values
            .iter()
            .zip(&stores)
            .skip(1)
            .filter(|(_, name)| !(w == "fill-sync" && **name == "sled-0.34"))
            .map(|(v, _)| *v)
            .reduce(|a, b| if lower_better { a.min(b) } else { a.max(b) });
        // No peer in this row (`--stores logcache`, or sled 0.34 alone in `fill-sync`): no ratio.
        let ratio = match best_peer {
            Some(best) if lower_better => format!("{:.3}×", best / values[0]),
            Some(best) => format!("{:.3}×", values[0] / best),
            None => "—".to_string(),
        };
        println!("| {w} | {unit} | {} | {ratio} |", cells.join(" | "));
    }
    println!(
        "(a ratio above 1 means logcache is ahead; for `reopen`, best peer's time / logcache's)"
    );
    Ok(())
}
