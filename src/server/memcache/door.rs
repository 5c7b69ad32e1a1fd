//! [`MemcacheServer`]: the memcached door's settings, its accept loop over TCP and Unix
//! sockets, the connection and descriptor limits, and the in-flight budget.

use super::{MemcacheStats, conn, syncer, text, workers};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, watch};

use super::items::Items;
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::future::Pool;
use crate::store::{KvStore, Waits};

/// What `version` answers.
pub(super) const VERSION: &str = concat!("1.6.0-logcache-", env!("CARGO_PKG_VERSION"));

/// Configures a [`MemcacheServer`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MemcacheConfig {
    /// Address to listen on (default `127.0.0.1:11211`). Anything but loopback must be asked
    /// for with [`allow_remote`](Self::allow_remote): memcached's protocol has no
    /// authentication.
    pub listen: SocketAddr,
    /// Listen on this Unix socket instead of `listen` (memcached's `-s`). A stale socket
    /// file left by a server that is gone is replaced; a live one is refused.
    pub unix_socket: Option<PathBuf>,
    /// Accept clients from other machines (default false).
    pub allow_remote: bool,
    /// The largest value, in bytes (memcached's `-I`; default 1 MiB). Reported as
    /// `item_size_max` by `stats settings`.
    pub max_item_size: usize,
    /// Connections served at once (memcached's `-c`; default 1024). Further clients are
    /// answered `SERVER_ERROR too many open connections` and closed, and a warning is logged.
    pub max_connections: usize,
    /// A connection without a request for this long is closed (default 300 s).
    pub idle_timeout: Duration,
    /// A connection whose client does not take its replies within this long is closed
    /// (default 30 s), so a client that never reads cannot hold a connection forever.
    pub write_timeout: Duration,
    /// Bytes of values read from clients and not yet stored, over all connections (default
    /// 256 MiB, at least `max_item_size`): past it a storage command waits for room, so many
    /// large `set`s at once cannot exhaust memory.
    pub max_inflight_bytes: usize,
    /// Threads that run writes waiting for an `fdatasync` (default 8): the writes of all
    /// connections share fsyncs, so a few threads carry many connections.
    pub write_threads: usize,
    /// Event-loop threads serving TCP connections (default 2, memcached's `-t`), each a
    /// single-threaded runtime a connection stays on; reported as `threads` by `stats`.
    pub threads: usize,
    /// The store's byte budget, reported as `limit_maxbytes` (0: none).
    pub limit_maxbytes: u64,
}

impl Default for MemcacheConfig {
    fn default() -> Self {
        MemcacheConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 11211)),
            unix_socket: None,
            allow_remote: false,
            max_item_size: 1 << 20,
            max_connections: 1024,
            idle_timeout: Duration::from_secs(300),
            write_timeout: Duration::from_secs(30),
            max_inflight_bytes: 256 << 20,
            write_threads: 12,
            threads: 2,
            limit_maxbytes: 0,
        }
    }
}

/// Logs a failed store call: one line per kind of failure a second at most, so a full disk
/// refusing every write does not flood the log.
pub(super) fn log_store_error(e: &Error) {
    static LAST: AtomicU64 = AtomicU64::new(0);
    static SUPPRESSED: AtomicU64 = AtomicU64::new(0);
    let now = SystemClock.now_millis() / 1000;
    let last = LAST.load(Ordering::Relaxed);
    if now > last
        && LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        let suppressed = SUPPRESSED.swap(0, Ordering::Relaxed);
        if suppressed > 0 {
            tracing::error!(
                "memcached front end: {e} ({suppressed} more store failures in the last second)"
            );
        } else {
            tracing::error!("memcached front end: {e}");
        }
    } else {
        SUPPRESSED.fetch_add(1, Ordering::Relaxed);
    }
}

/// What every connection shares.
pub(super) struct Shared<S: KvStore> {
    pub(super) items: Items<S>,
    pub(super) config: MemcacheConfig,
    pub(super) started: Instant,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) curr_connections: AtomicU64,
    pub(super) total_connections: AtomicU64,
    pub(super) rejected_connections: AtomicU64,
    pub(super) conns: conn::Conns,
    /// `true` once the server is stopping.
    pub(super) stop: watch::Sender<bool>,
    /// The budget of value bytes in flight, in permits of one byte.
    pub(super) inflight: Arc<Semaphore>,
    /// When the last recovery was tried (Unix milliseconds).
    pub(super) last_recovery: AtomicU64,
    /// Which store calls wait long, and the threads that run them.
    pub(super) waits: Waits,
    pub(super) pool: Pool,
    /// Writes go to the embedded log deferred, their fsyncs run by `syncer`'s thread.
    pub(super) deferred: bool,
    pub(super) syncer: syncer::Syncer,
}

impl<S: KvStore> Shared<S> {
    /// Whether a request runs off the event loop.
    pub(super) fn offload(&self, line: &[u8]) -> bool {
        if self.deferred {
            return false;
        }
        match self.waits {
            Waits::Never => false,
            Waits::Writes => text::writes(line),
            _ => true,
        }
    }

    /// Value bytes held now.
    pub(super) fn inflight_bytes(&self) -> usize {
        self.config
            .max_inflight_bytes
            .saturating_sub(self.inflight.available_permits())
    }
}

impl<S: KvStore + 'static> Shared<S> {
    /// Runs a store call that writes (`write`) or reads: on the pool when such calls wait
    /// long, in place otherwise.
    pub(super) async fn call<T: Send + 'static>(
        &self,
        write: bool,
        work: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let waits = match self.waits {
            _ if self.deferred => false,
            Waits::Never => false,
            Waits::Writes => write,
            _ => true,
        };
        if waits {
            self.pool.run(work).await
        } else {
            work()
        }
    }

    /// A store that refuses writes after a failure (a full disk, a failed fsync) is
    /// recovered in place by the next write, at most once a second — whatever other doors
    /// are open, so a memcached-only server comes back without a restart once there is room.
    pub(super) async fn recover(self: &Arc<Self>) {
        let now = self.clock.now_millis();
        let last = self.last_recovery.load(Ordering::Relaxed);
        if now < last.saturating_add(1000)
            || self
                .last_recovery
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let s = Arc::clone(self);
        match self.call(true, move || s.items.store.recover()).await {
            Ok(true) => tracing::warn!("memcached front end: the store recovered; writes resume"),
            Ok(false) => {}
            Err(e) => tracing::debug!("memcached front end: the store cannot recover yet: {e}"),
        }
    }

    /// Room for a value of `len` bytes in the in-flight budget, waiting until there is.
    pub(super) async fn reserve(&self, len: usize) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let n = u32::try_from(len).ok().filter(|&n| n > 0)?;
        Arc::clone(&self.inflight).acquire_many_owned(n).await.ok()
    }
}

/// The listening socket.
pub(super) enum Listener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener, PathBuf),
}

/// A memcached-protocol server over a store; see the [module docs](crate::server::memcache).
pub struct MemcacheServer<S: KvStore + 'static> {
    pub(super) listener: Listener,
    pub(super) shared: Arc<Shared<S>>,
}

impl<S: KvStore + 'static> std::fmt::Debug for MemcacheServer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemcacheServer")
            .field("listen", &self.endpoint())
            .finish_non_exhaustive()
    }
}

/// Stops a running [`MemcacheServer`] from another thread.
#[derive(Clone)]
pub struct MemcacheStopper<S: KvStore + 'static> {
    pub(super) shared: Arc<Shared<S>>,
}

impl<S: KvStore + 'static> std::fmt::Debug for MemcacheStopper<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemcacheStopper").finish_non_exhaustive()
    }
}

impl<S: KvStore + 'static> MemcacheStopper<S> {
    /// Stops accepting and ends every connection once its current request is answered;
    /// [`MemcacheServer::run`] / [`serve`](MemcacheServer::serve) then return.
    pub fn stop(&self) {
        self.shared.stop.send_replace(true);
    }
}

impl<S: KvStore + 'static> MemcacheServer<S> {
    /// Binds the listener. A non-loopback address without `allow_remote` is refused, and so
    /// are limits that cannot work together.
    pub fn bind(config: MemcacheConfig, store: S) -> Result<Self> {
        if config.unix_socket.is_none() && !config.listen.ip().is_loopback() && !config.allow_remote
        {
            return Err(Error::InvalidArgument(format!(
                "{}: memcached's protocol has no authentication; listen on a loopback address, \
                 or allow other machines explicitly (--memcached-remote)",
                config.listen
            )));
        }
        if config.max_item_size == 0 || config.max_item_size as u64 > store.max_value_len() {
            return Err(Error::InvalidArgument(format!(
                "an item size of {} bytes is not in 1..={} (the store's largest value)",
                config.max_item_size,
                store.max_value_len()
            )));
        }
        if config.max_inflight_bytes < config.max_item_size
            || u32::try_from(config.max_item_size).is_err()
        {
            return Err(Error::InvalidArgument(format!(
                "a budget of {} bytes in flight cannot hold one item of {} bytes: raise it to at \
                 least the item size",
                config.max_inflight_bytes, config.max_item_size
            )));
        }
        let listener = match &config.unix_socket {
            None => {
                let l = std::net::TcpListener::bind(config.listen)
                    .map_err(|e| Error::system(format!("binding {}", config.listen), e))?;
                l.set_nonblocking(true)
                    .map_err(|e| Error::system("a non-blocking listener", e))?;
                Listener::Tcp(l)
            }
            Some(path) => Listener::Unix(bind_unix(path)?, path.clone()),
        };
        raise_fd_limit();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let waits = store.waits();
        let items = Items::new(store, config.max_item_size, Arc::clone(&clock))?;
        let deferred = items.log().is_some();
        let (stop, _) = watch::channel(false);
        Ok(MemcacheServer {
            listener,
            shared: Arc::new(Shared {
                items,
                inflight: Arc::new(Semaphore::new(config.max_inflight_bytes)),
                pool: Pool::with_name(config.write_threads, "logcache-memcached-write"),
                config,
                started: Instant::now(),
                clock,
                curr_connections: AtomicU64::new(0),
                total_connections: AtomicU64::new(0),
                rejected_connections: AtomicU64::new(0),
                conns: conn::Conns::default(),
                last_recovery: AtomicU64::new(0),
                deferred,
                syncer: syncer::Syncer::new(),
                stop,
                waits,
            }),
        })
    }

    /// The address it listens on (the port the system chose for port 0); for a Unix socket,
    /// the configured TCP address, unused ([`endpoint`](Self::endpoint) names the socket).
    pub fn local_addr(&self) -> SocketAddr {
        match &self.listener {
            Listener::Tcp(l) => l.local_addr().unwrap_or(self.shared.config.listen),
            Listener::Unix(..) => self.shared.config.listen,
        }
    }

    /// Where clients connect: `127.0.0.1:11211`, or `unix:/path` for a Unix socket.
    pub fn endpoint(&self) -> String {
        match &self.listener {
            Listener::Tcp(_) => self.local_addr().to_string(),
            Listener::Unix(_, path) => format!("unix:{}", path.display()),
        }
    }

    /// What it has counted so far.
    pub fn stats(&self) -> MemcacheStats {
        let mut stats = MemcacheStats::default();
        self.shared.items.counts.fill(&mut stats);
        stats
    }

    /// A handle that stops the server from another thread.
    pub fn stopper(&self) -> MemcacheStopper<S> {
        MemcacheStopper {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Serves until stopped, accepting on the calling thread; returns once every connection
    /// has ended.
    pub fn run(self) {
        // The connections run on the door's own worker threads; this runtime only accepts.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        match runtime {
            Ok(rt) => rt.block_on(self.serve()),
            Err(e) => tracing::error!("memcached front end: cannot start its runtime: {e}"),
        }
    }

    /// Serves until stopped, accepting on the current tokio runtime; returns once every
    /// connection has ended (a connection ends after the request it is running). TCP
    /// connections run on [`MemcacheConfig::threads`] event-loop threads of the door's own,
    /// Unix-socket ones on the current runtime.
    pub async fn serve(self) {
        let MemcacheServer { listener, shared } = self;
        let mut stop = shared.stop.subscribe();
        let fsyncs = if shared.deferred {
            let s = Arc::clone(&shared);
            let spawned = std::thread::Builder::new()
                .name("logcache-memcached-sync".into())
                .spawn(move || {
                    if let Some(log) = s.items.log() {
                        s.syncer.work(log);
                    }
                });
            match spawned {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::error!("memcached front end: cannot start its fsync thread: {e}");
                    return;
                }
            }
        } else {
            None
        };
        let mut tasks = tokio::task::JoinSet::new();
        let workers = match workers::Workers::start(shared.config.threads) {
            Ok(w) => w,
            Err(e) => {
                tracing::error!("memcached front end: cannot start its threads: {e}");
                return;
            }
        };
        match listener {
            Listener::Tcp(l) => match tokio::net::TcpListener::from_std(l) {
                Ok(l) => loop {
                    let accepted = tokio::select! {
                        a = l.accept() => a,
                        _ = stop.wait_for(|s| *s) => break,
                    };
                    while tasks.try_join_next().is_some() {}
                    match accepted {
                        Ok((stream, peer)) => {
                            let _ = stream.set_nodelay(true);
                            // Moved to its worker's runtime: registered with that one's reactor.
                            match stream.into_std() {
                                Ok(std) => admit(
                                    &shared,
                                    &mut tasks,
                                    Some(workers.next()),
                                    move || tokio::net::TcpStream::from_std(std),
                                    format!("tcp:{peer}"),
                                ),
                                Err(e) => accept_failed(e).await,
                            }
                        }
                        Err(e) => accept_failed(e).await,
                    }
                },
                Err(e) => tracing::error!("memcached front end: cannot listen: {e}"),
            },
            Listener::Unix(l, path) => {
                match tokio::net::UnixListener::from_std(l) {
                    Ok(l) => loop {
                        let accepted = tokio::select! {
                            a = l.accept() => a,
                            _ = stop.wait_for(|s| *s) => break,
                        };
                        while tasks.try_join_next().is_some() {}
                        match accepted {
                            Ok((stream, _)) => {
                                let peer = format!("unix:{}", path.display());
                                admit(&shared, &mut tasks, None, move || Ok(stream), peer);
                            }
                            Err(e) => accept_failed(e).await,
                        }
                    },
                    Err(e) => tracing::error!("memcached front end: cannot listen: {e}"),
                }
                let _ = std::fs::remove_file(&path);
            }
        }
        while tasks.join_next().await.is_some() {}
        let _ = tokio::task::spawn_blocking(move || workers.stop()).await;
        shared.syncer.stop();
        if let Some(t) = fsyncs {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

/// Serves the connection `open` gives (on `on`, a worker's runtime, or this one), or refuses
/// it when `max_connections` are open.
pub(super) fn admit<S, IO>(
    shared: &Arc<Shared<S>>,
    tasks: &mut tokio::task::JoinSet<()>,
    on: Option<&tokio::runtime::Handle>,
    open: impl FnOnce() -> std::io::Result<IO> + Send + 'static,
    peer: String,
) where
    S: KvStore + 'static,
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let spawn = |tasks: &mut tokio::task::JoinSet<()>, task| match on {
        Some(handle) => {
            tasks.spawn_on(task, handle);
        }
        None => {
            tasks.spawn(task);
        }
    };
    if shared.curr_connections.load(Ordering::Relaxed) as usize >= shared.config.max_connections {
        let n = shared.rejected_connections.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            tracing::warn!(
                "memcached front end: {n} connection(s) refused so far: {} are open, the \
                 limit (raise --memcached-max-connections)",
                shared.config.max_connections
            );
        }
        let refuse: std::pin::Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
            use tokio::io::AsyncWriteExt;
            let refusal = b"SERVER_ERROR too many open connections\r\n";
            if let Ok(mut stream) = open() {
                let _ =
                    tokio::time::timeout(Duration::from_secs(1), stream.write_all(refusal)).await;
            }
        });
        spawn(tasks, refuse);
        return;
    }
    shared.curr_connections.fetch_add(1, Ordering::Relaxed);
    shared.total_connections.fetch_add(1, Ordering::Relaxed);
    let shared = Arc::clone(shared);
    let serve: std::pin::Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
        match open() {
            Ok(stream) => conn::serve(stream, peer, Arc::clone(&shared)).await,
            Err(e) => tracing::debug!("memcached front end: a connection failed: {e}"),
        }
        shared.curr_connections.fetch_sub(1, Ordering::Relaxed);
    });
    spawn(tasks, serve);
}

/// An accept failed: out of file descriptors (EMFILE/ENFILE) is logged and waited out, so
/// the loop does not spin; anything else is logged at debug level.
pub(super) async fn accept_failed(e: std::io::Error) {
    if matches!(e.raw_os_error(), Some(23 | 24)) {
        tracing::error!(
            "memcached front end: out of file descriptors ({e}); connections wait in the \
             backlog (raise `ulimit -n`)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    } else {
        tracing::debug!("memcached front end: accept failed: {e}");
    }
}

/// Binds a Unix socket at `path`, replacing a stale socket file nobody listens on.
pub(super) fn bind_unix(path: &std::path::Path) -> Result<std::os::unix::net::UnixListener> {
    use std::os::unix::net::{UnixListener, UnixStream};
    let bind = || {
        let l = UnixListener::bind(path)?;
        l.set_nonblocking(true)?;
        Ok::<_, std::io::Error>(l)
    };
    match bind() {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            if UnixStream::connect(path).is_ok() {
                return Err(Error::system(
                    format!("{}: another server listens on this socket", path.display()),
                    e,
                ));
            }
            std::fs::remove_file(path)
                .map_err(|e| Error::system(format!("removing the stale {}", path.display()), e))?;
            bind().map_err(|e| Error::system(format!("binding {}", path.display()), e))
        }
        Err(e) => Err(Error::system(format!("binding {}", path.display()), e)),
    }
}

/// Raises the soft limit on open files to the hard limit, so the common `ulimit -n 1024`
/// does not cap the connections served (a connection is one descriptor).
pub(super) fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            let before = lim.rlim_cur;
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                tracing::debug!("open files limit raised from {before} to {}", lim.rlim_max);
            }
        }
    }
}
