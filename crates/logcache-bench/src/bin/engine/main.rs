//! `engine [--quick] [--repeat N] [--json FILE] [WORKLOAD...]`: every workload on
//! logcache and on the raw baseline (`raw.rs`) in the same run, each in a child process of its
//! own (so peak RSS is the workload's), reported as a table with logcache/raw ratios and as JSON
//! lines (docs/BENCHMARKS.md).
//!
//! ```text
//! cargo run --release -p logcache-bench --bin engine                     # every workload
//! cargo run --release -p logcache-bench --bin engine -- --quick          # 1/100 of the sizes (CI)
//! cargo run --release -p logcache-bench --bin engine -- fill read-random # some workloads
//! cargo run --release -p logcache-bench --bin engine -- --json out.jsonl # JSON lines to a file too
//! cargo run --release -p logcache-bench --bin engine -- --repeat 5       # median of 5, interleaved
//! ```
//!
//! Work files go to `target/bench/` and are removed as each workload ends.

mod measure;
mod raw;
mod workloads;

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use measure::{Row, proc_status};
use workloads::*;

fn main() -> std::process::ExitCode {
    match runner(std::env::args().skip(1).collect()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("engine: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

const WORKLOADS: [&str; 10] = [
    "fill",
    "fill-sync",
    "group-commit",
    "read-random",
    "reopen",
    "overwrite",
    "compaction",
    "big",
    "big-stream",
    "index-memory",
];

/// The runner's result type.
type Res<T> = Result<T, Box<dyn std::error::Error>>;

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

/// Runs the benchmark runner with `args` (the command line). Children re-run the current
/// executable as `engine --child WORKLOAD ENGINE full|quick`.
fn runner(args: Vec<String>) -> Res<()> {
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
        "compaction" => compaction(&dir, lc, scale.records * 100)?,
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
