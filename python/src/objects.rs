//! Large objects as Python file-like objects: BigCache over the objects' log, reached like
//! every other operation (the engine in the holder, the socket elsewhere), so every process
//! can stream objects of any size.
//!
//! A `BigWriter`/`BigReader` borrows its `BigCache`; a Python object cannot hold a borrow, so
//! each stream runs on a thread of its own that owns the cache (an `Arc`) and the borrow, and
//! the Python object talks to it over bounded channels (a few blocks in flight, never the
//! whole object).

use std::io::Write;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use logcache::{BigCache, DEFAULT_MAX_VALUE_LEN, Error, KvStore, Result as LcResult};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::ops::{Failure, Request, Response};
use crate::store::Store;
use crate::to_py;

/// The objects' log as a [`KvStore`], through the handle's backend.
pub struct ObjectsKv(pub Arc<Store>);

fn engine_error(f: Failure) -> Error {
    Error::Remote {
        node: "the cache's holder".into(),
        reason: f.message,
        source: None,
    }
}

impl KvStore for ObjectsKv {
    fn get(&self, key: &[u8]) -> LcResult<Option<Vec<u8>>> {
        Ok(self.get_with_expiry(key)?.map(|(v, _)| v))
    }

    fn get_with_expiry(&self, key: &[u8]) -> LcResult<Option<(Vec<u8>, u64)>> {
        match self
            .0
            .call(&Request::ObjectGet { key })
            .map_err(engine_error)?
        {
            Response::Value(v) => Ok(v),
            _ => Err(engine_error(Failure::unexpected())),
        }
    }

    fn set(&self, key: &[u8], value: &[u8]) -> LcResult<()> {
        let req = Request::ObjectSet {
            key,
            value,
            ttl: None,
        };
        self.0.call(&req).map(drop).map_err(engine_error)
    }

    fn set_with_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) -> LcResult<()> {
        let req = Request::ObjectSet {
            key,
            value,
            ttl: Some(ttl),
        };
        self.0.call(&req).map(drop).map_err(engine_error)
    }

    fn delete(&self, key: &[u8]) -> LcResult<bool> {
        match self
            .0
            .call(&Request::ObjectDelete { key })
            .map_err(engine_error)?
        {
            Response::Bool(b) => Ok(b),
            _ => Err(engine_error(Failure::unexpected())),
        }
    }

    fn max_value_len(&self) -> u64 {
        DEFAULT_MAX_VALUE_LEN
    }
}

/// The objects' cache of a handle.
pub type Objects = Arc<BigCache<ObjectsKv>>;

/// Opens BigCache over the handle's objects.
pub fn open(store: &Arc<Store>) -> Result<Objects, Failure> {
    Ok(Arc::new(BigCache::new(ObjectsKv(Arc::clone(store)))?))
}

enum ToWriter {
    Chunk(Vec<u8>),
    Commit,
}

/// A large object being written (`Cache.open_writer`): visible to readers, whole, once
/// `close()` returns; dropped without `close()`, nothing of it is kept.
#[pyclass(module = "logcache._native")]
pub struct Writer {
    tx: Option<SyncSender<ToWriter>>,
    done: Mutex<Option<Receiver<LcResult<u64>>>>,
    written: u64,
}

impl Writer {
    /// Starts the writer's thread.
    pub fn open(big: Objects, key: Vec<u8>, ttl: Option<Duration>) -> Result<Writer, Failure> {
        let (tx, rx) = sync_channel::<ToWriter>(4);
        let (done_tx, done_rx) = sync_channel(1);
        let (ready_tx, ready_rx) = sync_channel(1);
        std::thread::Builder::new()
            .name("logcache-writer".into())
            .spawn(move || {
                let w = match ttl {
                    Some(ttl) => big.writer_with_ttl(&key, ttl),
                    None => big.writer(&key),
                };
                let mut w = match w {
                    Ok(w) => {
                        let _ = ready_tx.send(Ok(()));
                        w
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let mut failed = None;
                for msg in rx {
                    match msg {
                        ToWriter::Chunk(c) => {
                            if failed.is_none()
                                && let Err(e) = w.write_all(&c)
                            {
                                failed = Some(Error::System {
                                    what: "writing the object".into(),
                                    source: e,
                                });
                            }
                        }
                        ToWriter::Commit => {
                            let r = match failed.take() {
                                Some(e) => Err(e),
                                None => w.commit().map(|c| c.size),
                            };
                            let _ = done_tx.send(r);
                            return;
                        }
                    }
                }
                // The channel closed without a commit: the writer is dropped, the object
                // abandoned.
            })
            .map_err(spawn_failed)?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => return Err(Failure::unexpected()),
        }
        Ok(Writer {
            tx: Some(tx),
            done: Mutex::new(Some(done_rx)),
            written: 0,
        })
    }
}

#[pymethods]
impl Writer {
    /// Appends `data`; returns its length.
    fn write(&mut self, py: Python<'_>, data: Vec<u8>) -> PyResult<usize> {
        let n = data.len();
        let tx = self.tx.as_ref().ok_or_else(|| closed_err("written to"))?;
        py.detach(|| tx.send(ToWriter::Chunk(data)))
            .map_err(|_| crate::Error::new_err("the object's writer failed; see close()"))?;
        self.written += n as u64;
        Ok(n)
    }

    /// Bytes written so far.
    fn tell(&self) -> u64 {
        self.written
    }

    /// Commits the object; returns its size. The object is durable (per the cache's
    /// durability) and visible once this returns.
    fn close(&mut self, py: Python<'_>) -> PyResult<u64> {
        let Some(tx) = self.tx.take() else {
            return Ok(self.written);
        };
        let done = self.done.lock().ok().and_then(|mut d| d.take());
        let r = py.detach(move || {
            let _ = tx.send(ToWriter::Commit);
            done.and_then(|d| d.recv().ok())
        });
        match r {
            Some(Ok(size)) => Ok(size),
            Some(Err(e)) => Err(to_py(e.into())),
            None => Err(crate::Error::new_err("the object's writer stopped")),
        }
    }

    /// Drops what was written: nothing of the object is kept.
    fn abort(&mut self) {
        self.tx = None;
    }

    /// Whether `close()` or `abort()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.tx.is_none()
    }
}

fn spawn_failed(e: std::io::Error) -> Failure {
    Failure::from(Error::System {
        what: "starting the object's thread".into(),
        source: e,
    })
}

fn closed_err(what: &str) -> PyErr {
    pyo3::exceptions::PyValueError::new_err(format!("a closed object cannot be {what}"))
}

/// A large object being read (`Cache.open_reader`), one block ahead, each block's CRC checked.
#[pyclass(module = "logcache._native")]
pub struct Reader {
    rx: Option<Mutex<Receiver<std::io::Result<Vec<u8>>>>>,
    pending: Vec<u8>,
    at: usize,
    size: u64,
}

impl Reader {
    /// Starts the reader's thread; `None` when there is no such object.
    pub fn open(big: Objects, key: Vec<u8>) -> Result<Option<Reader>, Failure> {
        let (tx, rx) = sync_channel(2);
        let (ready_tx, ready_rx) = sync_channel(1);
        std::thread::Builder::new()
            .name("logcache-reader".into())
            .spawn(move || {
                let mut r = match big.reader(&key) {
                    Ok(Some(r)) => {
                        let _ = ready_tx.send(Ok(Some(r.len())));
                        r
                    }
                    Ok(None) => {
                        let _ = ready_tx.send(Ok(None));
                        return;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                loop {
                    let chunk = r.next_chunk();
                    let end = !matches!(chunk, Ok(Some(_)));
                    let msg = match chunk {
                        Ok(Some(c)) => Ok(c),
                        Ok(None) => Ok(Vec::new()),
                        Err(e) => Err(e),
                    };
                    if tx.send(msg).is_err() || end {
                        return;
                    }
                }
            })
            .map_err(spawn_failed)?;
        match ready_rx.recv() {
            Ok(Ok(Some(size))) => Ok(Some(Reader {
                rx: Some(Mutex::new(rx)),
                pending: Vec::new(),
                at: 0,
                size,
            })),
            Ok(Ok(None)) => Ok(None),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(Failure::unexpected()),
        }
    }
}

#[pymethods]
impl Reader {
    /// Up to `size` bytes (all that is left when `size` is negative); `b""` at the end.
    #[pyo3(signature = (size=-1))]
    fn read<'py>(&mut self, py: Python<'py>, size: i64) -> PyResult<Bound<'py, PyBytes>> {
        let want = usize::try_from(size).unwrap_or(usize::MAX);
        let mut out = Vec::new();
        while out.len() < want {
            if self.at == self.pending.len() {
                let Some(rx) = &self.rx else { break };
                let next = py.detach(|| match rx.lock() {
                    Ok(rx) => rx.recv().ok(),
                    Err(_) => None,
                });
                match next {
                    Some(Ok(chunk)) if !chunk.is_empty() => {
                        self.pending = chunk;
                        self.at = 0;
                    }
                    Some(Err(e)) => {
                        self.rx = None;
                        return Err(crate::Corrupt::new_err(format!("reading the object: {e}")));
                    }
                    _ => {
                        self.rx = None;
                        break;
                    }
                }
            }
            let take = (want - out.len()).min(self.pending.len() - self.at);
            out.extend_from_slice(&self.pending[self.at..self.at + take]);
            self.at += take;
        }
        Ok(PyBytes::new(py, &out))
    }

    /// The object's size in bytes.
    #[getter]
    fn size(&self) -> u64 {
        self.size
    }

    /// Stops reading.
    fn close(&mut self) {
        self.rx = None;
        self.pending = Vec::new();
        self.at = 0;
    }
}
