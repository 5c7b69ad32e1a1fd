//! `logcache serve`: the HTTP object server, and the memcached front end (feature `server`).

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
    /// and manifest. With --memcached: the store's byte budget, items and objects together
    /// (memcached's -m). Unbounded when absent.
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
    /// Also speak memcached's text protocol on this address (e.g. 127.0.0.1:11211, or
    /// unix:/path/to/socket as memcached's -s), over the same embedded store: a memcached that
    /// keeps what it acknowledged through `kill -9`.
    #[arg(long, value_parser = parse_memcached_listen)]
    memcached: Option<MemcachedListen>,
    /// Let the memcached listener take a non-loopback address (its protocol has no
    /// authentication: only on a network you trust).
    #[arg(long)]
    memcached_remote: bool,
    /// The largest memcached item, in bytes (memcached's -I).
    #[arg(long, default_value = "1MiB", value_parser = crate::parse_size)]
    max_item_size: u64,
    /// memcached connections served at once (memcached's -c); more are refused and logged.
    #[arg(long, default_value_t = 1024)]
    memcached_max_connections: usize,
    /// Bytes of memcached values received and not yet stored, over all connections: past it
    /// a `set` waits for room (suffixes as above).
    #[arg(long, default_value = "256MiB", value_parser = crate::parse_size)]
    memcached_inflight: u64,
    /// Seconds a memcached client may take to read its replies before its connection is
    /// closed.
    #[arg(long, default_value_t = 30.0)]
    memcached_write_timeout: f64,
    /// Seconds a memcached connection may stay silent before it is closed (memcached's
    /// `-o idle_timeout`).
    #[arg(long, default_value_t = 300.0)]
    memcached_idle_timeout: f64,
    /// When a write is durable: `sync` (an answer means on disk; the default with
    /// --memcached), `interval:MS` or `none` (the default for HTTP alone, which syncs
    /// before every answer anyway).
    #[arg(long, value_parser = parse_durability)]
    durability: Option<logcache::Durability>,
    /// No HTTP object API listener: only the doors named (--memcached, --s3).
    #[arg(long)]
    no_http: bool,
    /// Also speak S3 on this address (e.g. 127.0.0.1:9000), over the same store: awscli,
    /// boto3, rclone and s3cmd work against it (docs/S3.md).
    #[arg(long)]
    s3: Option<std::net::SocketAddr>,
    /// The S3 credentials: one `ACCESS_KEY SECRET` pair per line. Without it the S3 door
    /// checks no signature and listens on loopback only.
    #[arg(long, requires = "s3")]
    s3_credentials: Option<std::path::PathBuf>,
    /// The region the S3 door reports.
    #[arg(long, default_value = "us-east-1", requires = "s3")]
    s3_region: String,
    /// Virtual-host-style S3: `BUCKET.DOMAIN` addresses BUCKET (path style always works).
    #[arg(long, requires = "s3")]
    s3_domain: Option<String>,
    /// Hours an unfinished S3 multipart upload and its parts are kept.
    #[arg(long, default_value_t = 24.0, requires = "s3")]
    s3_multipart_expiry_hours: f64,
}

/// Where the memcached door listens.
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "server"), allow(dead_code))]
pub enum MemcachedListen {
    Tcp(SocketAddr),
    Unix(std::path::PathBuf),
}

/// `HOST:PORT` or `unix:PATH`.
fn parse_memcached_listen(s: &str) -> Result<MemcachedListen, String> {
    if let Some(path) = s.strip_prefix("unix:") {
        if path.is_empty() {
            return Err("`unix:` needs a socket path, e.g. unix:/run/logcache.sock".into());
        }
        return Ok(MemcachedListen::Unix(path.into()));
    }
    s.parse()
        .map(MemcachedListen::Tcp)
        .map_err(|_| format!("`{s}`: give HOST:PORT (e.g. 127.0.0.1:11211) or unix:PATH"))
}

/// `sync`, `none` or `interval:MS`.
fn parse_durability(s: &str) -> Result<logcache::Durability, String> {
    use logcache::Durability;
    match s {
        "sync" => Ok(Durability::Sync),
        "none" => Ok(Durability::None),
        other => other
            .strip_prefix("interval:")
            .and_then(|ms| ms.parse::<u64>().ok())
            .filter(|&ms| ms > 0)
            .map(|ms| Durability::Interval(std::time::Duration::from_millis(ms)))
            .ok_or_else(|| format!("`{s}`: use sync, none or interval:MS (MS > 0)")),
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum WhenFull {
    Evict,
    Fail,
}

#[cfg(not(feature = "server"))]
pub fn run(_cli: &crate::Cli, _a: &Args) -> anyhow::Result<()> {
    anyhow::bail!(
        "this logcache was built without its servers; rebuild it with its default `server` \
         feature: `cargo build --release -p logcache-cli`"
    )
}

/// A timeout option as a [`Duration`](std::time::Duration): a positive number of seconds.
#[cfg(feature = "server")]
fn secs(name: &str, s: f64) -> anyhow::Result<std::time::Duration> {
    use anyhow::Context;
    std::time::Duration::try_from_secs_f64(s)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| format!("--{name} must be a positive number of seconds"))
}

#[cfg(feature = "server")]
pub fn run(cli: &crate::Cli, a: &Args) -> anyhow::Result<()> {
    use logcache::server::ServerConfig;
    use logcache::{AnyStore, Durability, StoreOptions, StoreSpec};

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

    if a.no_http && a.memcached.is_none() && a.s3.is_none() {
        anyhow::bail!("--no-http leaves no door open: give --memcached or --s3 too");
    }
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
    // fsync), so for HTTP alone the log needs no sync per block. Over memcached a PUT is
    // answered once every replica of every block and of the manifest has stored it.
    let durability = a.durability.unwrap_or(if a.memcached.is_some() {
        Durability::Sync
    } else {
        Durability::None
    });
    if a.memcached.is_some() && !spec.is_embedded() {
        return Err(crate::BadSpec(format!(
            "--memcached serves the embedded log, and `{spec}` is not one: give a path"
        ))
        .into());
    }
    let mut options = StoreOptions::default()
        .durability(durability)
        .token(config.token.clone());
    let mut cache_capacity = a.capacity;
    if a.memcached.is_some() {
        // Items and objects share the store: the budget is the store's (memcached's -m).
        options = options.max_bytes(a.capacity);
        cache_capacity = None;
    }
    // Served as its own type: over the embedded log, every call goes straight to it (no
    // `AnyStore` dispatch on the request path).
    let doors = Doors {
        config,
        cache_capacity,
        a,
        quiet: cli.quiet,
        spec: &spec,
    };
    match spec.open_with(&options)? {
        AnyStore::Embedded(log) => serve_store(doors, log)?.close()?,
        other => drop(serve_store(doors, other)?),
    }
    if !cli.quiet {
        eprintln!("logcache: stopped; the store is synced and closed");
    }
    Ok(())
}

/// What both doors are given besides the store.
#[cfg(feature = "server")]
struct Doors<'a> {
    config: logcache::server::ServerConfig,
    cache_capacity: Option<u64>,
    a: &'a Args,
    quiet: bool,
    spec: &'a logcache::StoreSpec,
}

/// Serves `store` through the doors asked for until a shutdown signal, then hands the store
/// back (every request finished, every connection closed) for the caller to close.
#[cfg(feature = "server")]
fn serve_store<S: logcache::KvStore + 'static>(doors: Doors<'_>, store: S) -> anyhow::Result<S> {
    use std::io::Write;
    use std::sync::Arc;
    use std::time::Duration;

    use anyhow::Context;
    use logcache::server::memcache::{MemcacheConfig, MemcacheServer};
    use logcache::server::{S3Server, Server, shutdown_signal};
    use logcache::{BigCache, FullPolicy};

    let Doors {
        config,
        cache_capacity,
        a,
        quiet,
        spec,
    } = doors;
    let store = Arc::new(store);
    if !quiet && !spec.is_embedded() {
        eprintln!(
            "logcache: serving {spec}: blocks of {} bytes",
            logcache::DEFAULT_BLOCK_SIZE.min(
                usize::try_from(logcache::KvStore::max_value_len(&store)).unwrap_or(usize::MAX)
            )
        );
    }
    let mut builder = BigCache::builder(Arc::clone(&store)).full_policy(match a.when_full {
        WhenFull::Evict => FullPolicy::EvictLru,
        WhenFull::Fail => FullPolicy::Fail,
    });
    if let Some(bytes) = cache_capacity {
        builder = builder.capacity_bytes(bytes);
    }
    let cache = Arc::new(builder.open()?);

    let memcached = match &a.memcached {
        None => None,
        Some(listen) => {
            let mut mc = MemcacheConfig::default();
            match listen {
                MemcachedListen::Tcp(addr) => mc.listen = *addr,
                MemcachedListen::Unix(path) => mc.unix_socket = Some(path.clone()),
            }
            mc.allow_remote = a.memcached_remote;
            mc.max_item_size = usize::try_from(a.max_item_size).unwrap_or(usize::MAX);
            mc.max_connections = a.memcached_max_connections;
            mc.max_inflight_bytes = usize::try_from(a.memcached_inflight).unwrap_or(usize::MAX);
            mc.write_timeout = secs("memcached-write-timeout", a.memcached_write_timeout)?;
            mc.idle_timeout = secs("memcached-idle-timeout", a.memcached_idle_timeout)?;
            mc.limit_maxbytes = a.capacity.unwrap_or(0);
            Some(MemcacheServer::bind(mc, Arc::clone(&store))?)
        }
    };

    let s3 = match a.s3 {
        None => None,
        Some(listen) => {
            let mut s3 = logcache::server::S3Config::default();
            s3.listen = listen;
            s3.region = a.s3_region.clone();
            s3.domain = a.s3_domain.clone();
            s3.multipart_expiry = secs(
                "s3-multipart-expiry-hours",
                a.s3_multipart_expiry_hours * 3600.0,
            )?;
            if let Some(path) = &a.s3_credentials {
                s3.credentials = logcache::server::S3Config::read_credentials(path)?;
            }
            s3.validate()?;
            Some(s3)
        }
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(a.max_connections.saturating_add(16))
        .thread_name("logcache-serve")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let shutdown = shutdown_signal()?;
        let s3 = match s3 {
            Some(s3) => Some(S3Server::bind(config.clone(), s3, cache.clone()).await?),
            None => None,
        };
        let server = match a.no_http {
            true => None,
            false => Some(Server::bind(config, cache.clone()).await?),
        };
        // The addresses are announced on standard output, best effort: a server whose
        // announcement nobody reads (a closed pipe: `logcache serve | head -1`, a supervisor
        // that reads one line) keeps serving rather than exit on EPIPE.
        let mut out = std::io::stdout().lock();
        if let Some(server) = &server {
            let _ = writeln!(out, "listening on http://{}", server.local_addr());
        }
        if let Some(s3) = &s3 {
            let _ = writeln!(out, "S3 on http://{}", s3.local_addr());
        }
        // One event loop for both doors: the memcached door is a task on this runtime.
        let memcached = match memcached {
            Some(mc) => {
                let _ = writeln!(out, "memcached protocol on {}", mc.endpoint());
                let stopper = mc.stopper();
                Some((stopper, tokio::spawn(mc.serve())))
            }
            None => None,
        };
        let _ = out.flush();
        drop(out);
        // One shutdown signal for every door: each waits for it on a watch channel.
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = tx.send(true);
        });
        let stop = move || {
            let mut rx = rx.clone();
            async move {
                let _ = rx.wait_for(|stopped| *stopped).await;
            }
        };
        let s3_task = s3.map(|s3| tokio::spawn(s3.run(stop())));
        match server {
            Some(server) => server.run(stop()).await?,
            None => stop().await,
        }
        if let Some(task) = s3_task {
            task.await.context("the S3 door stopped abnormally")??;
        }
        if let Some((stopper, task)) = memcached {
            stopper.stop();
            // Each connection ends after the request it is running.
            let _ = task.await;
        }
        anyhow::Ok(())
    })?;
    runtime.shutdown_timeout(Duration::from_secs(5));
    drop(
        Arc::try_unwrap(cache)
            .map_err(|_| anyhow::anyhow!("a request was still running at shutdown"))?,
    );
    Arc::try_unwrap(store)
        .map_err(|_| anyhow::anyhow!("a memcached connection was still open at shutdown"))
}
