//! The holder's side: the process that opened the cache serves it on a Unix socket to the
//! other processes that open the same path.
//!
//! A thread per connection: the clients are a machine's worker processes (each keeps a few
//! connections, one per thread that is in a call), not the internet, and a blocked thread
//! costs nothing while its worker is idle. Closing stops the accept loop; every connection
//! finishes the request it is running and answers those already sent, then sends a goodbye
//! frame (`x`: nothing after it was run) and closes, so its client knows to send its next
//! request — even an `incr` — to the next holder. The engine is closed after that, by the
//! caller.

use std::io::{BufReader, BufWriter};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use std::os::fd::AsRawFd;

use crate::engines::Engines;
use crate::ops::{GOODBYE, decode_and_run, encode_response, execute};
use crate::wire::{Frame, receive};

/// The socket being served and its threads.
pub struct Server {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Server {
    /// Binds `path` (a socket file left by a holder that died is removed first: whoever holds
    /// the lock owns the name) and serves `cache` on it.
    pub fn start(path: &Path, cache: Arc<Engines>) -> std::io::Result<Server> {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let listener = UnixListener::bind(path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let (stop, conns) = (Arc::clone(&stop), Arc::clone(&conns));
            std::thread::Builder::new()
                .name("logcache-serve".into())
                .spawn(move || accept_loop(&listener, &cache, &stop, &conns))?
        };
        Ok(Server {
            path: path.to_path_buf(),
            stop,
            accept: Some(accept),
            conns,
        })
    }

    /// Stops serving: no new connection; each open one ends after its current request.
    pub fn stop(&mut self) {
        // The accept loop sees it within its poll interval (the socket file may be gone:
        // no connection is needed to stop it).
        self.stop.store(true, Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        let conns = std::mem::take(&mut *lock(&self.conns));
        for thread in conns {
            let _ = thread.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.accept.is_some() {
            self.stop();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn accept_loop(
    listener: &UnixListener,
    cache: &Arc<Engines>,
    stop: &Arc<AtomicBool>,
    conns: &Mutex<Vec<JoinHandle<()>>>,
) {
    loop {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        if !readable(listener.as_raw_fd(), 100) {
            continue;
        }
        let Ok((stream, _)) = listener.accept() else {
            continue;
        };
        let cache = Arc::clone(cache);
        let stop = Arc::clone(stop);
        let spawned = std::thread::Builder::new()
            .name("logcache-conn".into())
            .spawn(move || serve(stream, &cache, &stop));
        if let Ok(thread) = spawned {
            let mut conns = lock(conns);
            // Connections that ended are joined here, so the list holds the open ones.
            let (done, open): (Vec<_>, Vec<_>) = conns.drain(..).partition(|t| t.is_finished());
            *conns = open;
            conns.push(thread);
            drop(conns);
            for t in done {
                let _ = t.join();
            }
        }
    }
}

/// Answers one connection's requests until it closes (or sends a malformed frame), or the
/// server stops: then, once no request is waiting, a goodbye frame.
fn serve(stream: UnixStream, cache: &Engines, stop: &AtomicBool) {
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let fd = stream.as_raw_fd();
    let mut input = BufReader::new(stream);
    let mut output = BufWriter::new(write_half);
    loop {
        if input.buffer().is_empty() && !readable(fd, 100) {
            if stop.load(Ordering::SeqCst) {
                let _ = Frame::new(GOODBYE).send(&mut output);
                return;
            }
            continue;
        }
        let Ok(Some(mut fields)) = receive(&mut input) else {
            return;
        };
        let Ok(answer) = decode_and_run(&mut fields, |req| execute(cache, req)) else {
            return;
        };
        if encode_response(&answer).send(&mut output).is_err() {
            return;
        }
    }
}

/// Whether `fd` has bytes to read (or is closed) within `ms` milliseconds.
fn readable(fd: std::os::fd::RawFd, ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call; `fd` is open (we own its stream).
    let n = unsafe { libc::poll(&mut p, 1, ms) };
    n != 0
}
