//! A handle's backend, chosen at open and changed when it must be: the engine itself in the
//! process that holds the cache (which also serves it on a Unix socket), a client of that
//! process in every other one. When the holder goes away, the next call of any client opens
//! the cache itself — the first to get the lock becomes the holder, the others its clients.
//! A handle inherited across `fork` is never used by the child: it is set aside without being
//! closed, and the child becomes a client of its parent.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use logcache::{Durability, DurableKVCache, Error, Eviction, Follower};

use crate::client::{Client, Outcome};
use crate::engines::Engines;
use crate::ops::{Failure, Kind, Request, Response, execute};
use crate::server::Server;

/// Counts the forks this process came out of (as the child): a handle opened under another
/// count was inherited.
pub static FORKS: AtomicU64 = AtomicU64::new(0);

extern "C" fn after_fork_in_child() {
    FORKS.fetch_add(1, Ordering::SeqCst);
}

/// Registers the fork counter once per process.
pub fn watch_forks() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: the handler only increments an atomic, which is async-signal-safe.
        unsafe {
            libc::pthread_atfork(None, None, Some(after_fork_in_child));
        }
    });
}

/// How to open the cache.
#[derive(Debug, Clone)]
pub struct Config {
    pub log: PathBuf,
    pub socket: PathBuf,
    pub durability: Durability,
    pub max_bytes: Option<u64>,
    pub eviction: Eviction,
    pub compaction_threshold: Option<u64>,
    /// How long an open waits for a holder that has the lock but does not answer yet.
    pub timeout: Duration,
}

impl Config {
    /// The socket for the log at `log`: beside it when the name fits a Unix socket address,
    /// else in the temporary directory under a hash of the log's full path.
    pub fn socket_for(log: &Path) -> PathBuf {
        let beside = log.with_extension(match log.extension() {
            Some(ext) => format!("{}.sock", ext.to_string_lossy()),
            None => "sock".into(),
        });
        if beside.as_os_str().len() < 100 {
            return beside;
        }
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        log.hash(&mut h);
        std::env::temp_dir().join(format!("logcache-{:016x}.sock", h.finish()))
    }
}

/// The engine and the server of the process that holds the cache.
pub struct Local {
    pub engines: Arc<Engines>,
    server: Server,
}

/// Where calls go.
pub enum Backend {
    Local(Local),
    /// A client of the holder: writes and everything else over its socket; gets (and
    /// membership) read the log here when a follower could be opened (logcache::Follower: no
    /// round trip), over the socket otherwise.
    Remote {
        client: Client,
        holder: u32,
        follower: Option<Box<Follower>>,
    },
}

/// A read a follower answers in this process, if `req` is one; `None` to send it over the
/// socket (not a read, or the follower failed: the holder answers or says why).
fn follow(follower: &Follower, req: &Request<'_>) -> Option<Response> {
    match req {
        Request::Get { key } => follower.get_with_expiry(key).ok().map(Response::Value),
        Request::Contains { key } => follower.contains(key).ok().map(Response::Bool),
        _ => None,
    }
}

struct Slot {
    backend: Option<Arc<Backend>>,
    forks: u64,
    closed: bool,
}

/// A handle: its configuration and its current backend.
pub struct Store {
    pub config: Config,
    slot: Mutex<Slot>,
    /// Reads a follower answered in this process.
    reads_here: AtomicU64,
}

fn closed() -> Failure {
    Failure {
        kind: Kind::Other,
        message: "the cache is closed; open it again".into(),
    }
}

impl Store {
    /// Opens (or joins) the cache.
    pub fn open(config: Config) -> Result<Store, Failure> {
        watch_forks();
        let backend = open_backend(&config)?;
        Ok(Store {
            config,
            slot: Mutex::new(Slot {
                backend: Some(Arc::new(backend)),
                forks: FORKS.load(Ordering::SeqCst),
                closed: false,
            }),
            reads_here: AtomicU64::new(0),
        })
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The backend to use now: opened again after a fork or a lost holder.
    pub fn backend(&self) -> Result<Arc<Backend>, Failure> {
        let mut slot = self.slot();
        if slot.closed {
            return Err(closed());
        }
        let forks = FORKS.load(Ordering::SeqCst);
        if slot.forks != forks {
            if let Some(inherited) = slot.backend.take() {
                set_aside(inherited, &self.config.log);
            }
            slot.forks = forks;
        }
        if let Some(b) = &slot.backend {
            return Ok(Arc::clone(b));
        }
        let b = Arc::new(open_backend(&self.config)?);
        slot.backend = Some(Arc::clone(&b));
        Ok(b)
    }

    /// Forgets `lost` (if it is still the backend): the next call opens again.
    fn lost(&self, lost: &Arc<Backend>) {
        let mut slot = self.slot();
        if slot.backend.as_ref().is_some_and(|b| Arc::ptr_eq(b, lost)) {
            slot.backend = None;
        }
    }

    /// Runs `req` where the cache is.
    pub fn call(&self, req: &Request<'_>) -> Result<Response, Failure> {
        let deadline = Instant::now() + self.config.timeout;
        loop {
            let backend = self.backend()?;
            let client = match &*backend {
                Backend::Local(local) => return execute(&local.engines, req),
                Backend::Remote {
                    client, follower, ..
                } => {
                    if let Some(answer) = follower.as_ref().and_then(|f| follow(f, req)) {
                        self.reads_here.fetch_add(1, Ordering::Relaxed);
                        return Ok(answer);
                    }
                    client
                }
            };
            match client.call(req) {
                Outcome::Answer(answer) => return answer,
                Outcome::Goodbye => self.lost(&backend),
                Outcome::Lost { error, sent } => {
                    self.lost(&backend);
                    if (sent && !req.idempotent()) || Instant::now() > deadline {
                        return Err(error.into());
                    }
                }
            }
        }
    }

    /// Reads a follower answered in this process (a client's gets: no round trip).
    pub fn reads_here(&self) -> u64 {
        self.reads_here.load(Ordering::Relaxed)
    }

    /// The holder's process id (this process's when it holds the cache).
    pub fn holder(&self) -> Result<u32, Failure> {
        Ok(match &*self.backend()? {
            Backend::Local(_) => std::process::id(),
            Backend::Remote { holder, .. } => *holder,
        })
    }

    /// Closes the handle: as the holder, stops serving (each client's current request is
    /// answered first) and closes the engine.
    pub fn close(&self) -> Result<(), Failure> {
        let (backend, inherited) = {
            let mut slot = self.slot();
            slot.closed = true;
            (
                slot.backend.take(),
                slot.forks != FORKS.load(Ordering::SeqCst),
            )
        };
        let Some(backend) = backend else {
            return Ok(());
        };
        if inherited {
            set_aside(backend, &self.config.log);
            return Ok(());
        }
        let Ok(backend) = Arc::try_unwrap(backend) else {
            // A call still running in another thread holds it: the last one drops it.
            return Ok(());
        };
        if let Backend::Local(Local {
            engines,
            mut server,
        }) = backend
        {
            server.stop();
            if let Ok(engines) = Arc::try_unwrap(engines) {
                engines.close()?;
            }
        }
        Ok(())
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// A backend inherited across `fork`: never closed here (that would close the parent's
/// engine or unlock its lock); its memory is leaked, and the descriptors of the lock file —
/// whose `flock` the child shares with the parent — are closed, so the lock goes with the
/// parent.
fn set_aside(backend: Arc<Backend>, log: &Path) {
    if matches!(&*backend, Backend::Local(_)) {
        close_inherited_lock(log);
        std::mem::forget(backend);
    }
    // A client's connections are the child's copies of the parent's: closing them (drop) does
    // not end the parent's.
}

/// Closes this process's descriptors of `<log>.lock` (Linux: found through /proc/self/fd).
fn close_inherited_lock(log: &Path) {
    let mut lock = log.as_os_str().to_owned();
    lock.push(".lock");
    let lock = std::fs::canonicalize(PathBuf::from(lock)).ok();
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    for fd in fds.flatten() {
        let target = std::fs::read_link(fd.path()).ok();
        if target.is_some()
            && target == lock
            && let Some(n) = fd.file_name().to_str().and_then(|s| s.parse::<i32>().ok())
        {
            {
                // SAFETY: the descriptor belongs to a handle this process will never use
                // (leaked above); closing it leaves the parent's own descriptor open.
                unsafe {
                    libc::close(n);
                }
            }
        }
    }
}

/// Opens the cache as its holder, or connects to the holder; waits (up to the timeout) for a
/// holder that has the lock but is not serving yet.
fn open_backend(config: &Config) -> Result<Backend, Failure> {
    let deadline = Instant::now() + config.timeout;
    loop {
        let mut b = DurableKVCache::builder(&config.log)
            .durability(config.durability)
            .followers(true);
        if let Some(max) = config.max_bytes {
            b = b.max_bytes(max).eviction(config.eviction);
        }
        if let Some(n) = config.compaction_threshold {
            b = b.compaction_threshold(n);
        }
        let locked = match b.open() {
            Ok(cache) => {
                let engines = Arc::new(Engines::new(cache, config.durability));
                let server =
                    Server::start(&config.socket, Arc::clone(&engines)).map_err(|e| Failure {
                        kind: Kind::Io,
                        message: format!(
                            "cannot serve the cache to other processes on {}: {e}",
                            config.socket.display()
                        ),
                    })?;
                return Ok(Backend::Local(Local { engines, server }));
            }
            Err(e @ Error::Locked { .. }) => e,
            Err(e) => return Err(e.into()),
        };
        if let Ok(client) = Client::connect(&config.socket)
            && let Outcome::Answer(Ok(Response::Int(pid))) = client.call(&Request::Pid)
        {
            let holder = u32::try_from(pid).unwrap_or(0);
            // The holder serves the log: it publishes for followers (it opened with
            // `followers(true)`). Without a follower every get goes over the socket.
            let follower = Follower::open(&config.log).ok().map(Box::new);
            return Ok(Backend::Remote {
                client,
                holder,
                follower,
            });
        }
        if Instant::now() > deadline {
            let mut failure = Failure::from(locked);
            failure.message.push_str(
                "; it does not serve the cache to other processes (a program that is not the \
                 Python binding?), or did not within the timeout",
            );
            return Err(failure);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
