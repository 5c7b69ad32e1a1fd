//! `logcache serve`: the HTTP object server (feature `server`).

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to listen on. Anything but loopback needs a token.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Read the bearer token from this file (first line). Every request must then send
    /// `Authorization: Bearer <token>`. Wins over --token and LOGCACHE_TOKEN.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// The bearer token (prefer --token-file: a command line is visible to other users).
    #[arg(long, env = "LOGCACHE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Largest object a PUT may store (bytes; K, M, G, KiB, MiB, GiB suffixes).
    #[arg(long, default_value = "1GiB", value_parser = crate::parse_size)]
    max_object_size: u64,
    /// Capacity in bytes (suffixes as above): each object is charged its size plus its key
    /// and manifest. Unbounded when absent.
    #[arg(long, value_parser = crate::parse_size)]
    capacity: Option<u64>,
    /// What a full store does with a new object: evict least recently used ones, or refuse
    /// it with 507.
    #[arg(long, value_enum, default_value_t = WhenFull::Evict)]
    when_full: WhenFull,
    /// Seconds allowed for a request head to arrive.
    #[arg(long, default_value_t = 10.0)]
    header_timeout: f64,
    /// Seconds a request body may stall before the upload is abandoned (408).
    #[arg(long, default_value_t = 30.0)]
    body_timeout: f64,
    /// Seconds without a byte moving before a connection is closed.
    #[arg(long, default_value_t = 60.0)]
    idle_timeout: f64,
    /// Connections served at once (more wait in the listen backlog).
    #[arg(long, default_value_t = 256)]
    max_connections: usize,
    /// Seconds in-flight requests get to finish after SIGINT/SIGTERM.
    #[arg(long, default_value_t = 30.0)]
    shutdown_grace: f64,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum WhenFull {
    Evict,
    Fail,
}

#[cfg(not(feature = "server"))]
pub fn run(_cli: &crate::Cli, _a: &Args) -> anyhow::Result<()> {
    anyhow::bail!(
        "this logcache was built without the HTTP server; rebuild it with \
         `cargo build --release --features server --bin logcache`"
    )
}

#[cfg(feature = "server")]
pub fn run(cli: &crate::Cli, a: &Args) -> anyhow::Result<()> {
    use std::io::Write;
    use std::sync::Arc;
    use std::time::Duration;

    use anyhow::Context;
    use logcache::server::{Server, ServerConfig, shutdown_signal};
    use logcache::{BigCache, Durability, DurableKVCache, FullPolicy};

    let secs = |name: &str, s: f64| -> anyhow::Result<Duration> {
        Duration::try_from_secs_f64(s)
            .ok()
            .filter(|d| !d.is_zero())
            .with_context(|| format!("--{name} must be a positive number of seconds"))
    };
    let token = match (&a.token_file, &a.token) {
        (Some(path), _) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the token file {}", path.display()))?
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string(),
        ),
        (None, token) => token.clone(),
    };
    let mut config = ServerConfig::default();
    config.listen = a.listen;
    config.token = token;
    config.max_object_size = a.max_object_size;
    config.header_timeout = secs("header-timeout", a.header_timeout)?;
    config.body_timeout = secs("body-timeout", a.body_timeout)?;
    config.idle_timeout = secs("idle-timeout", a.idle_timeout)?;
    config.shutdown_grace = secs("shutdown-grace", a.shutdown_grace)?;
    config.max_connections = a.max_connections;
    config.validate()?;

    // Each PUT/DELETE syncs the store before it is answered (concurrent syncs share one
    // fsync), so the log needs no sync per block.
    let store = DurableKVCache::builder(&cli.data)
        .durability(Durability::None)
        .open()?;
    let mut builder = BigCache::builder(store).full_policy(match a.when_full {
        WhenFull::Evict => FullPolicy::EvictLru,
        WhenFull::Fail => FullPolicy::Fail,
    });
    if let Some(bytes) = a.capacity {
        builder = builder.capacity_bytes(bytes);
    }
    let cache = Arc::new(builder.open()?);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(a.max_connections.saturating_add(16))
        .thread_name("logcache-http")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let shutdown = shutdown_signal()?;
        let server = Server::bind(config, cache.clone()).await?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{}", server.local_addr())?;
        out.flush()?;
        drop(out);
        server.run(shutdown).await?;
        anyhow::Ok(())
    })?;
    runtime.shutdown_timeout(Duration::from_secs(5));
    let cache = Arc::try_unwrap(cache)
        .map_err(|_| anyhow::anyhow!("a request was still running at shutdown"))?;
    cache.into_store().close()?;
    if !cli.quiet {
        eprintln!("logcache: stopped; the store is synced and closed");
    }
    Ok(())
}
