//! `scale [--quick] [--keys N,N,...] [--plot FILE] [--json FILE]`: the engine's cost curve
//! from a million keys to fifty million (16-byte keys, 100-byte values), each size in a child
//! process of its own so its peak RSS is its own:
//!
//! - **fill**: every key through `set_many`, one `sync`;
//! - **index**: resident bytes per key after the fill (the index and little else: the values
//!   are in the page cache, not in the process);
//! - **get**: a million gets at keys spread over the whole range, then the same million again
//!   (**get, warm**: the log's pages are mapped by then; the first round at 50M keys pays a
//!   first-touch page fault for most gets, a long-running process pays each once);
//! - **reopen (hint)**: a clean close writes the hint; open and read one key;
//! - **reopen (replay)**: the same without the hint (`hint_file(false)`): every record read;
//! - **compaction**: half the keys written again, then one `compact()` of the log (one third
//!   dead), in MB/s of live data;
//! - **peak RSS** of the child.
//!
//! ```text
//! cargo run --release -p logcache-bench --bin scale                      # 1M, 10M, 50M (~6 min)
//! cargo run --release -p logcache-bench --bin scale -- --quick           # 100k, 1M (CI)
//! cargo run --release -p logcache-bench --bin scale -- --keys 1000000,20000000
//! cargo run --release -p logcache-bench --bin scale -- --plot docs/scale.svg --json docs/scale.jsonl
//! ```
//!
//! Work files go to `target/bench/scale-N/` and are removed as each size ends (50M keys take
//! about 16 GB on disk at the peak: the log, its hint and the compaction's copy).

mod plot;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use logcache::{Durability, DurableKVCache};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// One size's figures, by name (what the child prints as one JSON line).
type Figures = BTreeMap<String, f64>;

/// The rows of the table: (figure, unit, how to print it).
const ROWS: [(&str, &str); 10] = [
    ("fill_per_sec", "puts/s"),
    ("index_bytes_per_key", "B/key"),
    ("get_per_sec", "gets/s"),
    ("get_warm_per_sec", "gets/s"),
    ("reopen_hint_ms", "ms"),
    ("reopen_replay_ms", "ms"),
    ("compaction_secs", "s"),
    ("compaction_mb_per_sec", "MB/s"),
    ("close_ms", "ms"),
    ("peak_rss_mib", "MiB"),
];

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.first().map(String::as_str) == Some("--child") {
        child(&args)
    } else {
        runner(&args)
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scale: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn value_of<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    let i = args.iter().position(|a| a == flag)?;
    args.get(i + 1).map(String::as_str)
}

fn runner(args: &[String]) -> Res<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let sizes: Vec<u64> = match value_of(args, "--keys") {
        Some(list) => list
            .split(',')
            .map(|s| s.trim().replace('_', "").parse::<u64>())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("--keys takes numbers, e.g. 1000000,10000000: {e}"))?,
        None if quick => vec![100_000, 1_000_000],
        None => vec![1_000_000, 10_000_000, 50_000_000],
    };
    if sizes.iter().any(|&n| n < 1000) {
        return Err("every size must be at least 1000 keys".into());
    }
    let work = PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()))
        .join("bench");
    std::fs::create_dir_all(&work)?;
    let exe = std::env::current_exe()?;
    let mut all: Vec<(u64, Figures)> = Vec::new();
    for &n in &sizes {
        let dir = work.join(format!("scale-{n}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        eprintln!("scale: {n} keys …");
        let out = Command::new(&exe)
            .args(["--child", &n.to_string()])
            .arg(&dir)
            .output()?;
        let _ = std::fs::remove_dir_all(&dir);
        if !out.status.success() {
            return Err(format!(
                "the child for {n} keys failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let figures: Figures = text
            .lines()
            .find_map(|l| serde_json::from_str(l).ok())
            .ok_or_else(|| format!("no figures from the child for {n} keys:\n{text}"))?;
        all.push((n, figures));
    }
    print_table(&all);
    if let Some(path) = value_of(args, "--json") {
        let mut lines = String::new();
        for (n, f) in &all {
            let mut m = serde_json::Map::new();
            m.insert("keys".into(), (*n).into());
            for (k, v) in f {
                m.insert(k.clone(), (*v).into());
            }
            lines.push_str(&serde_json::Value::Object(m).to_string());
            lines.push('\n');
        }
        std::fs::write(path, lines)?;
    }
    if let Some(path) = value_of(args, "--plot") {
        std::fs::write(path, plot::svg(&all))?;
        eprintln!("scale: plot written to {path}");
    }
    Ok(())
}

fn print_table(all: &[(u64, Figures)]) {
    let head: Vec<String> = all
        .iter()
        .map(|(n, _)| format!("{} keys", group(*n)))
        .collect();
    println!("| figure | unit | {} |", head.join(" | "));
    println!("|---|---|{}", "---|".repeat(all.len()));
    for (name, unit) in ROWS {
        let cells: Vec<String> = all
            .iter()
            .map(|(_, f)| f.get(name).map_or("–".into(), |v| fmt(*v)))
            .collect();
        println!("| {name} | {unit} | {} |", cells.join(" | "));
    }
    // The targets of the cost curve, against the smallest size.
    let Some((n0, f0)) = all.first() else {
        return;
    };
    for (n, f) in all.iter().skip(1) {
        let per_million = |f: &Figures, k: &str, n: u64| f.get(k).map(|v| v / (n as f64 / 1e6));
        let get = |f: &Figures, k: &str| f.get(k).copied().unwrap_or(f64::NAN);
        println!(
            "{} keys: reopen {:.1} ms per million keys from the hint, {:.1} by replay; \
             get rate {:.2}× the rate at {} (warm {:.2}×); fill {:.2}×, compaction {:.2}× (MB/s)",
            group(*n),
            per_million(f, "reopen_hint_ms", *n).unwrap_or(f64::NAN),
            per_million(f, "reopen_replay_ms", *n).unwrap_or(f64::NAN),
            get(f, "get_per_sec") / get(f0, "get_per_sec"),
            group(*n0),
            get(f, "get_warm_per_sec") / get(f0, "get_warm_per_sec"),
            get(f, "fill_per_sec") / get(f0, "fill_per_sec"),
            get(f, "compaction_mb_per_sec") / get(f0, "compaction_mb_per_sec"),
        );
    }
}

/// `12345678` → `12,345,678`.
fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn fmt(v: f64) -> String {
    if v >= 1000.0 {
        group(v.round() as u64)
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn key(i: u64) -> [u8; 16] {
    let mut k = *b"key-000000000000";
    let mut x = i;
    for b in k.iter_mut().rev().take(12) {
        *b = b'0' + (x % 10) as u8;
        x /= 10;
    }
    k
}

fn value(i: u64, round: u64) -> [u8; 100] {
    let mut v = [0u8; 100];
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

fn rss_kib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with(field))?;
            line.get(field.len()..)?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(f64::NAN)
}

fn open(path: &Path, hint: bool) -> logcache::Result<DurableKVCache> {
    // `LOGCACHE_SCALE_MMAP=0`: reads with `pread` (mmap_reads off), for comparison.
    let mmap = std::env::var("LOGCACHE_SCALE_MMAP").as_deref() != Ok("0");
    DurableKVCache::builder(path)
        .durability(Durability::None)
        .compaction_threshold(0)
        .hint_file(hint)
        .mmap_reads(mmap)
        .open()
}

fn check(cache: &DurableKVCache, i: u64, round: u64) -> Res<()> {
    match cache.get(key(i))? {
        Some(v) if v[..] == value(i, round)[..] => Ok(()),
        other => Err(format!("key {i}: wrong value ({:?} bytes)", other.map(|v| v.len())).into()),
    }
}

/// One size, in this process: prints its figures as one JSON line.
fn child(args: &[String]) -> Res<()> {
    let n: u64 = args.get(1).ok_or("--child N DIR")?.parse()?;
    let dir = PathBuf::from(args.get(2).ok_or("--child N DIR")?);
    let path = dir.join("scale.log");
    let mut f = Figures::new();
    let rss_before = rss_kib("VmRSS:");

    let cache = open(&path, true)?;
    let started = Instant::now();
    cache.set_many((0..n).map(|i| (key(i), value(i, 0))))?;
    cache.sync()?;
    f.insert(
        "fill_per_sec".into(),
        n as f64 / started.elapsed().as_secs_f64(),
    );
    let index = (rss_kib("VmRSS:") - rss_before) * 1024.0 / n as f64;
    f.insert("index_bytes_per_key".into(), index);

    // A million gets (or n) at keys spread over the whole range.
    let gets = n.min(1_000_000);
    let step = (n / 2 + 1..n).find(|s| gcd(*s, n) == 1).unwrap_or(1);
    // The same keys twice: the second round finds the log's pages mapped.
    for name in ["get_per_sec", "get_warm_per_sec"] {
        let started = Instant::now();
        for j in 0..gets {
            check(&cache, (j * step) % n, 0)?;
        }
        f.insert(name.into(), gets as f64 / started.elapsed().as_secs_f64());
    }

    let started = Instant::now();
    cache.close()?;
    f.insert("close_ms".into(), started.elapsed().as_secs_f64() * 1e3);

    let started = Instant::now();
    let cache = open(&path, true)?;
    check(&cache, n / 3, 0)?;
    f.insert(
        "reopen_hint_ms".into(),
        started.elapsed().as_secs_f64() * 1e3,
    );
    drop(cache);

    let started = Instant::now();
    let cache = open(&path, false)?;
    check(&cache, n / 3, 0)?;
    f.insert(
        "reopen_replay_ms".into(),
        started.elapsed().as_secs_f64() * 1e3,
    );

    // Half the keys again (a third of the log dead), then one compaction.
    cache.set_many((0..n / 2).map(|i| (key(i), value(i, 1))))?;
    cache.sync()?;
    let live_bytes = cache.stats().live_bytes;
    let started = Instant::now();
    cache.compact()?;
    let secs = started.elapsed().as_secs_f64();
    f.insert("compaction_secs".into(), secs);
    f.insert(
        "compaction_mb_per_sec".into(),
        live_bytes as f64 / secs / 1e6,
    );
    check(&cache, 1, 1)?;
    check(&cache, n - 1, 0)?;
    f.insert("peak_rss_mib".into(), rss_kib("VmHWM:") / 1024.0);
    drop(cache);
    println!("{}", serde_json::to_string(&f)?);
    Ok(())
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}
