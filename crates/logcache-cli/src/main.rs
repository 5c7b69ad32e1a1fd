//! `logcache`: the command-line tool for a logcache store (objects of any size in BigCache over
//! the embedded DurableKVCache, a memcached ring or a ring of logcache servers; or the objects
//! of one running `logcache serve`).
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
//! logcache serve [--listen ADDR] the HTTP object server (feature `server`; docs/SERVER.md)
//! ```
//!
//! `--store SPEC` (or `LOGCACHE_STORE`) chooses the store: a path, `memcached://HOST:PORT[,…]`
//! or `http://HOST:PORT[,…]` (`logcache::StoreSpec`); `--data PATH` (or `LOGCACHE_DATA`) is
//! the short form of a path. Default `logcache.log`.

mod check;
mod compact;
mod del;
mod dump;
mod get;
mod ls;
mod progress;
mod put;
mod serve;
mod stats;
mod target;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use logcache::StoreSpec;

#[derive(Parser, Debug)]
#[command(
    name = "logcache",
    version,
    about = "A durable cache for values of any size"
)]
struct Cli {
    /// The store: a log file's path, memcached://HOST:PORT[,HOST:PORT…][?replicas=R], or
    /// http://HOST:PORT[,…][?replicas=R] (one node: that server's objects; several: a ring).
    /// Wins over --data.
    #[arg(long, global = true, env = "LOGCACHE_STORE")]
    store: Option<String>,
    /// The log file of the embedded store (the short form of --store PATH) [default:
    /// logcache.log].
    #[arg(long, global = true, env = "LOGCACHE_DATA")]
    data: Option<PathBuf>,
    /// Read the bearer token of http:// stores from this file (first line); `serve` also
    /// requires it of its own clients. Wins over --token and LOGCACHE_TOKEN.
    #[arg(long, global = true)]
    token_file: Option<PathBuf>,
    /// The bearer token (prefer --token-file: a command line is visible to other users).
    #[arg(long, global = true, env = "LOGCACHE_TOKEN", hide_env_values = true)]
    token: Option<String>,
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
    /// Serve the store over HTTP (PUT/GET/HEAD/DELETE /v1/objects/KEY; see docs/SERVER.md).
    /// Stops on SIGINT or SIGTERM after in-flight requests finish.
    Serve(Box<serve::Args>),
}

/// A store specification that does not parse: one line, exit code 2.
#[derive(Debug)]
struct BadSpec(String);

impl std::fmt::Display for BadSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadSpec {}

impl Cli {
    /// The store the command works on: --store, else --data, else `logcache.log`.
    fn spec(&self) -> anyhow::Result<StoreSpec> {
        match (&self.store, &self.data) {
            (Some(s), _) => s
                .parse()
                .map_err(|e: logcache::Error| BadSpec(e.to_string()).into()),
            (None, Some(path)) => Ok(StoreSpec::Path(path.clone())),
            (None, None) => Ok(StoreSpec::Path(PathBuf::from("logcache.log"))),
        }
    }

    /// The embedded log's path, for the commands that read the log itself.
    fn log_path(&self, command: &str) -> anyhow::Result<PathBuf> {
        match self.spec()? {
            StoreSpec::Path(path) => Ok(path),
            other => Err(BadSpec(format!(
                "`{command}` works on the embedded log only, and `{other}` is not one: give                  its path with --data or --store (on the machine that holds it)"
            ))
            .into()),
        }
    }

    /// The token for http:// stores: --token-file, else --token or `LOGCACHE_TOKEN`.
    fn token(&self) -> anyhow::Result<Option<String>> {
        use anyhow::Context;
        match (&self.token_file, &self.token) {
            (Some(path), _) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the token file {}", path.display()))?;
                Ok(Some(
                    text.lines().next().unwrap_or_default().trim().to_string(),
                ))
            }
            (None, token) => Ok(token.clone()),
        }
    }
}

/// Parses a byte count: a number with an optional `K`/`M`/`G`/`T` (×1000) or
/// `KiB`/`MiB`/`GiB`/`TiB` (×1024) suffix.
fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a size (e.g. 1048576, 64MiB, 1G)"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit `{other}` (use K, M, G, KiB, MiB, GiB)"
            ));
        }
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("`{s}` is too large"))
}

/// Log lines on standard error through `tracing-subscriber`: the server's access log
/// (target `logcache::access`, level INFO) and the library's other messages, all `tracing`
/// events; dependencies' `log` records are bridged. `LOGCACHE_LOG` is an `EnvFilter` directive: `error`, `warn` (the
/// default), `info` (adds one line per HTTP request), `debug`, `off`, or per target such as
/// `warn,logcache::access=info`.
fn init_log() {
    use tracing_subscriber::EnvFilter;
    let spec = std::env::var("LOGCACHE_LOG").unwrap_or_default();
    let spec = if spec.trim().is_empty() {
        "warn"
    } else {
        spec.as_str()
    };
    let (filter, bad) = match EnvFilter::builder().parse(spec) {
        Ok(f) => (f, None),
        Err(e) => (EnvFilter::new("warn"), Some(e)),
    };
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init()
        .is_ok();
    if let (true, Some(e)) = (installed, bad) {
        tracing::warn!("LOGCACHE_LOG={spec:?} is not a log filter ({e}); using `warn`");
    }
}

fn main() -> ExitCode {
    init_log();
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
        Command::Serve(a) => serve::run(&cli, a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away (`logcache ls | head -1`): stop quietly, as
        // `cat` does.
        Err(e) if broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<BadSpec>().is_some() => {
            eprintln!("logcache: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("logcache: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether `e` comes from writing to a pipe whose reader has gone.
fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Writes one line to standard output, returning the error `println!` would panic on (a
/// closed pipe).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}
pub(crate) use outln;

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
