//! The benchmark runner: every workload on logcache and on the raw baseline (`raw.rs`) in the
//! same run, each in a child process of its own (so peak RSS is the workload's), reported as a
//! table with logcache/raw ratios and as JSON lines.
//!
//! ```text
//! cargo run --release --example bench                      # every workload, default sizes
//! cargo run --release --example bench -- --quick           # 1/100 of the sizes (CI)
//! cargo run --release --example bench -- fill read-random  # some workloads
//! cargo run --release --example bench -- --json out.jsonl  # JSON lines to a file too
//! cargo run --release --example bench -- --repeat 5        # median of 5, engines interleaved
//! ```
//!
//! Work files go to `target/bench/` and are removed as each workload ends.

#[path = "raw.rs"]
mod raw;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use logcache::{BigCache, Durability, DurableKVCache};
use raw::Raw;

const WORKLOADS: [&str; 9] = [
    "fill",
    "fill-sync",
    "group-commit",
    "read-random",
    "reopen",
    "overwrite",
    "big",
    "big-stream",
    "index-memory",
];

/// The runner's result type.
pub type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// One measured row.
#[derive(Debug, Default, Clone)]
struct Row {
    workload: String,
    engine: &'static str,
    variant: String,
    ops: u64,
    secs: f64,
    bytes: u64,
    p50_us: Option<f64>,
    p99_us: Option<f64>,
    peak_rss_kib: u64,
    extra: Vec<(&'static str, f64)>,
}

impl Row {
    fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.secs
    }
    fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / self.secs / 1e6
    }
    fn json(&self) -> String {
        let mut s = format!(
            "{{\"workload\":\"{}\",\"engine\":\"{}\",\"variant\":\"{}\",\"ops\":{},\"secs\":{:.6},\"ops_per_sec\":{:.1},\"mb_per_sec\":{:.1},\"peak_rss_kib\":{}",
            self.workload,
            self.engine,
            self.variant,
            self.ops,
            self.secs,
            self.ops_per_sec(),
            self.mb_per_sec(),
            self.peak_rss_kib
        );
        for (k, v) in [("p50_us", self.p50_us), ("p99_us", self.p99_us)] {
            if let Some(v) = v {
                s += &format!(",\"{k}\":{v:.2}");
            }
        }
        for (k, v) in &self.extra {
            s += &format!(",\"{k}\":{v:.3}");
        }
        s + "}"
    }
    fn parse(line: &str) -> Option<Row> {
        let body = line.trim().strip_prefix('{')?.strip_suffix('}')?;
        let mut row = Row::default();
        for field in body.split(',') {
            let (k, v) = field.split_once(':')?;
            let k = k.trim_matches('"');
            let s = v.trim_matches('"');
            let n = || s.parse::<f64>().ok();
            match k {
                "workload" => row.workload = s.to_string(),
                "engine" => row.engine = if s == "raw" { "raw" } else { "logcache" },
                "variant" => row.variant = s.to_string(),
                "ops" => row.ops = s.parse().ok()?,
                "secs" => row.secs = n()?,
                "peak_rss_kib" => row.peak_rss_kib = s.parse().ok()?,
                "p50_us" => row.p50_us = n(),
                "p99_us" => row.p99_us = n(),
                "ops_per_sec" => {}
                "mb_per_sec" => row.bytes = (n()? * 1e6 * row.secs) as u64,
                other => {
                    let name: &'static str = Box::leak(other.to_string().into_boxed_str());
                    row.extra.push((name, n()?));
                }
            }
        }
        Some(row)
    }
}

/// Sizes, divided for `--quick`.
#[derive(Debug, Clone, Copy)]
struct Scale {
    records: u64,
    sync_puts: u64,
    overwrite_keys: u64,
    big_mib: u64,
    stream_mib: u64,
}

impl Scale {
    fn new(quick: bool) -> Scale {
        let d = if quick { 100 } else { 1 };
        Scale {
            records: 1_000_000 / d,
            sync_puts: 2_000 / d.min(10),
            overwrite_keys: 10_000 / d,
            big_mib: 256 / d.min(16),
            stream_mib: 1024 / d.min(64),
        }
    }
}

/// Runs the benchmark runner with `args` (the command line after the program or subcommand
/// name). Children re-run the current executable with `child_prefix` (the subcommand, if any)
/// followed by `--child WORKLOAD ENGINE full|quick`.
pub fn run(args: Vec<String>, child_prefix: &[&str]) -> Res<()> {
    if args.first().map(String::as_str) == Some("--child") {
        let (workload, engine, quick) = (&args[1], &args[2], args[3] == "quick");
        return child(workload, engine, Scale::new(quick));
    }
    let mut quick = false;
    let mut repeat = 1usize;
    let mut json_out: Option<PathBuf> = None;
    let mut chosen: Vec<String> = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--json" => json_out = Some(it.next().ok_or("--json needs a file")?.into()),
            "--repeat" => repeat = it.next().ok_or("--repeat needs a number")?.parse()?,
            w if WORKLOADS.contains(&w) => chosen.push(w.to_string()),
            other => {
                return Err(format!("unknown argument {other:?}; workloads: {WORKLOADS:?}").into());
            }
        }
    }
    if chosen.is_empty() {
        chosen = WORKLOADS.iter().map(|s| s.to_string()).collect();
    }
    let exe = std::env::current_exe()?;
    let mut all = Vec::new();
    for workload in &chosen {
        for round in 1..=repeat.max(1) {
            for engine in ["logcache", "raw"] {
                eprintln!(
                    "running {workload} on {engine} ({round}/{repeat}){}",
                    if quick { " (quick)" } else { "" }
                );
                let out = Command::new(&exe)
                    .args(child_prefix)
                    .args([
                        "--child",
                        workload,
                        engine,
                        if quick { "quick" } else { "full" },
                    ])
                    .output()?;
                if !out.status.success() {
                    return Err(format!(
                        "{workload} on {engine} failed: {}\n{}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr)
                    )
                    .into());
                }
                all.extend(
                    String::from_utf8_lossy(&out.stdout)
                        .lines()
                        .filter_map(Row::parse),
                );
            }
        }
    }
    let rows = medians(all);
    report(&rows);
    if let Some(path) = json_out {
        let mut f = std::fs::File::create(&path)?;
        for r in &rows {
            writeln!(f, "{}", r.json())?;
        }
        eprintln!("JSON lines written to {}", path.display());
    }
    Ok(())
}

/// One row per (workload, engine, variant): the run with the median throughput, with the
/// spread of all runs added as `min_ops_per_sec` / `max_ops_per_sec` when there were several.
fn medians(all: Vec<Row>) -> Vec<Row> {
    let mut out: Vec<Row> = Vec::new();
    for r in &all {
        if out
            .iter()
            .any(|o| o.workload == r.workload && o.engine == r.engine && o.variant == r.variant)
        {
            continue;
        }
        let mut same: Vec<&Row> = all
            .iter()
            .filter(|o| o.workload == r.workload && o.engine == r.engine && o.variant == r.variant)
            .collect();
        same.sort_by(|a, b| a.ops_per_sec().total_cmp(&b.ops_per_sec()));
        let mut row = same[same.len() / 2].clone();
        if same.len() > 1 {
            row.extra.push(("runs", same.len() as f64));
            row.extra.push(("min_ops_per_sec", same[0].ops_per_sec()));
            row.extra
                .push(("max_ops_per_sec", same[same.len() - 1].ops_per_sec()));
        }
        out.push(row);
    }
    out
}

fn report(rows: &[Row]) {
    println!(
        "{:<14} {:<10} {:<12} {:>12} {:>9} {:>9} {:>9} {:>10} {:>8}",
        "workload", "engine", "variant", "ops/s", "MB/s", "p50 us", "p99 us", "peak RSS", "ratio"
    );
    for r in rows {
        let raw = rows
            .iter()
            .find(|o| o.engine == "raw" && o.workload == r.workload && o.variant == r.variant);
        let ratio = match (r.engine, raw) {
            ("logcache", Some(raw)) if r.ops > 0 && raw.ops > 0 => {
                format!("{:.2}", r.ops_per_sec() / raw.ops_per_sec())
            }
            _ => String::new(),
        };
        let opt = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_default();
        println!(
            "{:<14} {:<10} {:<12} {:>12.0} {:>9.1} {:>9} {:>9} {:>8}Mi {:>8}",
            r.workload,
            r.engine,
            r.variant,
            r.ops_per_sec(),
            r.mb_per_sec(),
            opt(r.p50_us),
            opt(r.p99_us),
            r.peak_rss_kib / 1024,
            ratio
        );
        for (k, v) in &r.extra {
            println!("{:<14} {:<10} {:<12}   {k} = {v:.3}", "", "", "");
        }
    }
}

// ---- the child: one workload on one engine ----------------------------------------------------

fn child(workload: &str, engine: &str, scale: Scale) -> Res<()> {
    let dir =
        PathBuf::from("target/bench").join(format!("{workload}-{engine}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let lc = engine == "logcache";
    let mut rows = match workload {
        "fill" => vec![fill(&dir, lc, scale.records)?],
        "fill-sync" => vec![fill_sync(&dir, lc, scale.sync_puts)?],
        "group-commit" => group_commit(&dir, lc, scale.sync_puts)?,
        "read-random" => vec![read_random(&dir, lc, scale.records)?],
        "reopen" => vec![reopen(&dir, lc, scale.records)?],
        "overwrite" => vec![overwrite(&dir, lc, scale.records, scale.overwrite_keys)?],
        "big" => big(&dir, lc, scale.big_mib)?,
        "big-stream" => vec![big_stream(&dir, lc, scale.stream_mib)?],
        "index-memory" => vec![index_memory(&dir, lc, scale.records)?],
        other => return Err(format!("unknown workload {other}").into()),
    };
    let hwm = proc_status("VmHWM:").unwrap_or(0);
    for r in &mut rows {
        r.workload = workload.to_string();
        r.engine = if lc { "logcache" } else { "raw" };
        r.peak_rss_kib = hwm;
        println!("{}", r.json());
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// A field of /proc/self/status in KiB.
fn proc_status(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn key(i: u64) -> [u8; 16] {
    let mut k = [b'0'; 16];
    let mut n = i;
    for slot in k.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    k
}

const VALUE: [u8; 100] = [b'v'; 100];

/// Per-operation latencies: records every op, reports p50/p99 in microseconds.
struct Latency(Vec<u32>);

impl Latency {
    fn with_capacity(n: u64) -> Self {
        Latency(Vec::with_capacity(n as usize))
    }
    fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let out = f();
        self.0
            .push(t.elapsed().as_nanos().min(u32::MAX as u128) as u32);
        out
    }
    fn percentiles(mut self) -> (Option<f64>, Option<f64>) {
        if self.0.is_empty() {
            return (None, None);
        }
        self.0.sort_unstable();
        let at = |q: f64| self.0[((self.0.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
        (Some(at(0.5)), Some(at(0.99)))
    }
}

fn open(path: &Path, durability: Durability, threshold: u64) -> logcache::Result<DurableKVCache> {
    DurableKVCache::builder(path)
        .durability(durability)
        .compaction_threshold(threshold)
        .open()
}

fn fill(dir: &Path, lc: bool, n: u64) -> Res<Row> {
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
    let (p50_us, p99_us) = lat.percentiles();
    Ok(Row {
        variant: "none".into(),
        ops: n,
        secs,
        bytes: n * 116,
        p50_us,
        p99_us,
        ..Row::default()
    })
}

fn fill_sync(dir: &Path, lc: bool, n: u64) -> Res<Row> {
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
    let (p50_us, p99_us) = lat.percentiles();
    Ok(Row {
        variant: "sync-1t".into(),
        ops: n,
        secs,
        bytes: n * 116,
        p50_us,
        p99_us,
        ..Row::default()
    })
}

fn group_commit(dir: &Path, lc: bool, per_thread: u64) -> Res<Vec<Row>> {
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
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn read_random(dir: &Path, lc: bool, n: u64) -> Res<Row> {
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
    let (p50_us, p99_us) = lat.percentiles();
    Ok(Row {
        variant: "page-cache".into(),
        ops: n,
        secs,
        bytes: n * 100,
        p50_us,
        p99_us,
        ..Row::default()
    })
}

fn reopen(dir: &Path, lc: bool, n: u64) -> Res<Row> {
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

fn overwrite(dir: &Path, lc: bool, n: u64, keys: u64) -> Res<Row> {
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

fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes()[7])
        .collect()
}

fn big(dir: &Path, lc: bool, mib: u64) -> Res<Vec<Row>> {
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

fn big_stream(dir: &Path, lc: bool, mib: u64) -> Res<Row> {
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

fn index_memory(dir: &Path, lc: bool, n: u64) -> Res<Row> {
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
