//! `logcache serve`: the HTTP object server (feature `server`).

use std::net::SocketAddr;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to listen on. Anything but loopback needs a token.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
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
    use logcache::{AnyStore, BigCache, Durability, FullPolicy, StoreOptions, StoreSpec};

    let secs = |name: &str, s: f64| -> anyhow::Result<Duration> {
        Duration::try_from_secs_f64(s)
            .ok()
            .filter(|d| !d.is_zero())
            .with_context(|| format!("--{name} must be a positive number of seconds"))
    };
    // The global --token-file / --token / LOGCACHE_TOKEN: what clients must send, and what
    // this server sends to the nodes of an http:// ring.
    let token = cli.token()?;
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

    let spec = cli.spec()?;
    if let StoreSpec::Http { nodes, .. } = &spec
        && nodes.len() == 1
    {
        return Err(crate::BadSpec(format!(
            "serving `{spec}` would put a second server in front of one: point clients at it \
             directly, or name two or more nodes to serve a ring of them"
        ))
        .into());
    }
    // Each PUT/DELETE syncs the store before it is answered (concurrent syncs share one
    // fsync), so the log needs no sync per block. Over memcached a PUT is answered once every
    // replica of every block and of the manifest has stored it.
    let options = StoreOptions::default()
        .durability(Durability::None)
        .token(config.token.clone());
    let store = spec.open_with(&options)?;
    if !cli.quiet && !spec.is_embedded() {
        eprintln!(
            "logcache: serving {spec}: blocks of {} bytes",
            logcache::DEFAULT_BLOCK_SIZE.min(
                usize::try_from(logcache::KvStore::max_value_len(&store)).unwrap_or(usize::MAX)
            )
        );
    }
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
    if let AnyStore::Embedded(log) = cache.into_store() {
        log.close()?;
    }
    if !cli.quiet {
        eprintln!("logcache: stopped; the store is synced and closed");
    }
    Ok(())
}
