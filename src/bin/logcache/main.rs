//! `logcache`: the command-line tool for a logcache store (objects of any size in BigCache over
//! the embedded DurableKVCache).
//!
//! ```text
//! logcache put KEY [FILE|-]     store a file (or standard input) as an object
//! logcache get KEY [-o FILE]    write an object to a file (or standard output)
//! logcache del KEY              delete an object
//! logcache ls [PREFIX]          list objects with their sizes
//! logcache stats [--json]       sizes and counters
//! logcache compact              rewrite the log without dead records
//! logcache check                verify every record and every object (exit 1 if damaged)
//! logcache dump                 print the log's records, control bytes escaped
//! logcache bench [--quick]      the benchmark runner (docs/BENCHMARKS.md)
//! ```
//!
//! `--data PATH` (or `LOGCACHE_DATA`) chooses the log; default `logcache.log`.

mod bench;
mod check;
mod compact;
mod del;
mod dump;
mod get;
mod ls;
mod progress;
mod put;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use logcache::{BigCache, Durability, DurableKVCache};

#[derive(Parser, Debug)]
#[command(
    name = "logcache",
    version,
    about = "A durable cache for values of any size"
)]
struct Cli {
    /// The log file of the store.
    #[arg(
        long,
        global = true,
        env = "LOGCACHE_DATA",
        default_value = "logcache.log"
    )]
    data: PathBuf,
    /// No progress bars or notes on standard error.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Store a file, or standard input, as the object KEY (replacing any previous one).
    Put(put::Args),
    /// Write the object KEY to a file, or to standard output.
    Get(get::Args),
    /// Delete the object KEY.
    Del(del::Args),
    /// List the objects (size and key), optionally only those whose key starts with PREFIX.
    Ls(ls::Args),
    /// Show sizes and counters of the store.
    Stats(stats::Args),
    /// Rewrite the log with only live records.
    Compact,
    /// Verify every record's checksum and every object's blocks. Exit code 1 if anything is
    /// damaged, 2 if the check could not run.
    Check,
    /// Print the log's records, one per line, control bytes escaped.
    Dump(dump::Args),
    /// Run the benchmarks against the raw-file baseline (work files in target/bench/).
    Bench(bench::Args),
}

/// Opens the store. Writes are made durable by an explicit sync before a command reports
/// success, so the log runs without a sync per block.
fn open(data: &std::path::Path) -> anyhow::Result<BigCache<DurableKVCache>> {
    let store = DurableKVCache::builder(data)
        .durability(Durability::None)
        .open()?;
    Ok(BigCache::new(store)?)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Put(a) => put::run(&cli, a),
        Command::Get(a) => get::run(&cli, a),
        Command::Del(a) => del::run(&cli, a),
        Command::Ls(a) => ls::run(&cli, a),
        Command::Stats(a) => stats::run(&cli, a),
        Command::Compact => compact::run(&cli),
        Command::Check => return check::run(&cli),
        Command::Dump(a) => dump::run(&cli, a),
        Command::Bench(a) => bench::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("logcache: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Bytes as text: printable ASCII as is, everything else escaped (`\t`, `\n`, `\xNN`).
fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}
