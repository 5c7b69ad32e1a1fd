//! `logcache._native`: the engine for Python. The classes users see (`logcache.Cache`,
//! `logcache.DurableKVCache`) are written in Python over [`Store`] (python/logcache/); this
//! module keeps bytes in and bytes out, releases the GIL for every call that reads, writes or
//! waits, and turns the engine's errors into Python exceptions with the engine's messages.

#![deny(missing_docs)]

mod client;
mod engines;
mod objects;
mod ops;
mod server;
mod store;
mod wire;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use pyo3::exceptions::{PyException, PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use logcache::{Durability, Eviction};
use ops::{Failure, Kind, Request, Response};

pyo3::create_exception!(logcache, Error, PyException, "Any failure of the cache.");
pyo3::create_exception!(
    logcache,
    CacheLocked,
    Error,
    "Another program holds the cache and does not serve it to this process."
);
pyo3::create_exception!(logcache, TooLarge, Error, "A key or value over the limit.");
pyo3::create_exception!(
    logcache,
    Poisoned,
    Error,
    "An earlier write or fsync failed; reopen the cache."
);
pyo3::create_exception!(logcache, Corrupt, Error, "Damaged bytes in the log.");
pyo3::create_exception!(logcache, ReadOnly, Error, "The cache was opened read-only.");
pyo3::create_exception!(
    logcache,
    HolderLost,
    Error,
    "The process holding the cache went away during a call whose effect is unknown (an incr, \
     add or pop): check and retry."
);

/// The Python exception for a failure, with its message.
pub(crate) fn to_py(f: Failure) -> PyErr {
    let m = f.message;
    match f.kind {
        Kind::Locked => CacheLocked::new_err(m),
        Kind::TooLarge => TooLarge::new_err(m),
        Kind::Poisoned => Poisoned::new_err(m),
        Kind::Corrupt => Corrupt::new_err(m),
        Kind::ReadOnly => ReadOnly::new_err(m),
        Kind::HolderLost => HolderLost::new_err(m),
        Kind::InvalidArgument => PyValueError::new_err(m),
        Kind::NotInteger => PyTypeError::new_err(m),
        Kind::Overflow => PyOverflowError::new_err(m),
        Kind::Io | Kind::Other => Error::new_err(m),
    }
}

fn durability(s: &str) -> PyResult<Durability> {
    let bad = || {
        PyValueError::new_err(format!(
            "durability {s:?}: use \"sync\", \"none\" or \"interval:<n>ms\" (or <n>s)"
        ))
    };
    Ok(match s {
        "sync" => Durability::Sync,
        "none" => Durability::None,
        _ => {
            let every = s.strip_prefix("interval:").ok_or_else(bad)?;
            let (n, unit) = match every.strip_suffix("ms") {
                Some(n) => (n, 0.001),
                None => (every.strip_suffix('s').ok_or_else(bad)?, 1.0),
            };
            let n: f64 = n.trim().parse().map_err(|_| bad())?;
            Durability::Interval(Duration::try_from_secs_f64(n * unit).map_err(|_| bad())?)
        }
    })
}

fn ttl(seconds: Option<f64>) -> PyResult<Option<Duration>> {
    seconds
        .map(|s| {
            Duration::try_from_secs_f64(s.max(0.0))
                .map_err(|_| PyValueError::new_err(format!("expire={s}: not a number of seconds")))
        })
        .transpose()
}

/// The engine under one path, as this process reaches it (holder or client).
#[pyclass(module = "logcache._native", frozen)]
struct Store {
    inner: Arc<store::Store>,
    objects: OnceLock<objects::Objects>,
}

impl Store {
    fn objects(&self, py: Python<'_>) -> PyResult<objects::Objects> {
        if let Some(o) = self.objects.get() {
            return Ok(Arc::clone(o));
        }
        let o = py.detach(|| objects::open(&self.inner)).map_err(to_py)?;
        Ok(Arc::clone(self.objects.get_or_init(|| o)))
    }

    fn call(&self, py: Python<'_>, req: &Request<'_>) -> PyResult<Response> {
        py.detach(|| self.inner.call(req)).map_err(to_py)
    }
}

fn unexpected(_: Response) -> PyErr {
    to_py(Failure::unexpected())
}

type Found<'py> = Option<(Bound<'py, PyBytes>, u64)>;

#[pymethods]
impl Store {
    #[new]
    #[pyo3(signature = (path, durability="sync", size_limit=None, eviction="s3-fifo", compaction_threshold=None, timeout=10.0))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        durability: &str,
        size_limit: Option<u64>,
        eviction: &str,
        compaction_threshold: Option<u64>,
        timeout: f64,
    ) -> PyResult<Self> {
        let eviction = match eviction {
            "s3-fifo" | "none" => Eviction::S3Fifo,
            "clock" => Eviction::Clock,
            "fifo" => Eviction::Fifo,
            other => {
                return Err(PyValueError::new_err(format!(
                    "eviction_policy {other:?}: use \"s3-fifo\", \"clock\", \"fifo\" or \"none\""
                )));
            }
        };
        let config = store::Config {
            socket: store::Config::socket_for(&path),
            log: path,
            durability: self::durability(durability)?,
            max_bytes: size_limit,
            eviction,
            compaction_threshold,
            timeout: Duration::try_from_secs_f64(timeout.max(0.0))
                .map_err(|_| PyValueError::new_err("timeout: a number of seconds"))?,
        };
        let inner = py.detach(|| store::Store::open(config)).map_err(to_py)?;
        Ok(Store {
            inner: Arc::new(inner),
            objects: OnceLock::new(),
        })
    }

    /// `(value, expiry in Unix ms or 0)`, or None.
    fn get<'py>(&self, py: Python<'py>, key: &[u8]) -> PyResult<Found<'py>> {
        found(py, self.call(py, &Request::Get { key })?)
    }

    #[pyo3(signature = (key, value, expire=None))]
    fn set(&self, py: Python<'_>, key: &[u8], value: &[u8], expire: Option<f64>) -> PyResult<()> {
        let ttl = ttl(expire)?;
        self.call(py, &Request::Set { key, value, ttl }).map(drop)
    }

    #[pyo3(signature = (key, value, expire=None))]
    fn add(&self, py: Python<'_>, key: &[u8], value: &[u8], expire: Option<f64>) -> PyResult<bool> {
        let ttl = ttl(expire)?;
        boolean(self.call(py, &Request::Add { key, value, ttl })?)
    }

    fn delete(&self, py: Python<'_>, key: &[u8]) -> PyResult<bool> {
        boolean(self.call(py, &Request::Delete { key })?)
    }

    /// Removes the key and returns what `get` would have.
    fn take<'py>(&self, py: Python<'py>, key: &[u8]) -> PyResult<Found<'py>> {
        found(py, self.call(py, &Request::Take { key })?)
    }

    #[pyo3(signature = (key, delta, default=None))]
    fn incr(
        &self,
        py: Python<'_>,
        key: &[u8],
        delta: i64,
        default: Option<i64>,
    ) -> PyResult<Option<i64>> {
        match self.call(
            py,
            &Request::Incr {
                key,
                delta,
                default,
            },
        )? {
            Response::Counter(n) => Ok(n),
            r => Err(unexpected(r)),
        }
    }

    #[pyo3(signature = (key, expire=None))]
    fn touch(&self, py: Python<'_>, key: &[u8], expire: Option<f64>) -> PyResult<bool> {
        let ttl = ttl(expire)?;
        boolean(self.call(py, &Request::Touch { key, ttl })?)
    }

    fn contains(&self, py: Python<'_>, key: &[u8]) -> PyResult<bool> {
        boolean(self.call(py, &Request::Contains { key })?)
    }

    fn len(&self, py: Python<'_>) -> PyResult<u64> {
        int(self.call(py, &Request::Len)?)
    }

    /// The live keys, in the order of their last write.
    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        match self.call(py, &Request::Keys)? {
            Response::Keys(keys) => Ok(keys.iter().map(|k| PyBytes::new(py, k)).collect()),
            r => Err(unexpected(r)),
        }
    }

    fn clear(&self, py: Python<'_>) -> PyResult<u64> {
        int(self.call(py, &Request::Clear)?)
    }

    fn expire(&self, py: Python<'_>) -> PyResult<u64> {
        int(self.call(py, &Request::Expire)?)
    }

    fn sync(&self, py: Python<'_>) -> PyResult<()> {
        self.call(py, &Request::Sync).map(drop)
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let values = match self.call(py, &Request::Stats)? {
            Response::Stats(values) => values,
            r => return Err(unexpected(r)),
        };
        let d = PyDict::new(py);
        for (name, v) in ops::STATS.iter().zip(values) {
            d.set_item(name, v)?;
        }
        Ok(d)
    }

    /// The process id of the holder (this process's when it is the holder).
    fn holder_pid(&self, py: Python<'_>) -> PyResult<u32> {
        py.detach(|| self.inner.holder()).map_err(to_py)
    }

    /// How many reads this process answered from the log itself (as a client, through its
    /// follower) instead of asking the holder.
    fn reads_here(&self) -> u64 {
        self.inner.reads_here()
    }

    /// The log file's path.
    #[getter]
    fn path(&self) -> PathBuf {
        self.inner.config.log.clone()
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.inner.close()).map_err(to_py)
    }

    /// A writer for a large object under `key` (objects live in their own store beside the
    /// cache: `<log>.objects`).
    #[pyo3(signature = (key, expire=None))]
    fn open_writer(
        &self,
        py: Python<'_>,
        key: Vec<u8>,
        expire: Option<f64>,
    ) -> PyResult<objects::Writer> {
        let ttl = ttl(expire)?;
        let big = self.objects(py)?;
        py.detach(|| objects::Writer::open(big, key, ttl))
            .map_err(to_py)
    }

    /// A reader of the large object under `key`, or None.
    fn open_reader(&self, py: Python<'_>, key: Vec<u8>) -> PyResult<Option<objects::Reader>> {
        let big = self.objects(py)?;
        py.detach(|| objects::Reader::open(big, key)).map_err(to_py)
    }

    /// Deletes the large object under `key`; returns whether there was one.
    fn delete_object(&self, py: Python<'_>, key: Vec<u8>) -> PyResult<bool> {
        let big = self.objects(py)?;
        py.detach(|| big.delete(&key).map_err(Failure::from))
            .map_err(to_py)
    }
}

fn found(py: Python<'_>, r: Response) -> PyResult<Found<'_>> {
    match r {
        Response::Value(v) => Ok(v.map(|(v, exp)| (PyBytes::new(py, &v), exp))),
        r => Err(unexpected(r)),
    }
}

fn boolean(r: Response) -> PyResult<bool> {
    match r {
        Response::Bool(b) => Ok(b),
        r => Err(unexpected(r)),
    }
}

fn int(r: Response) -> PyResult<u64> {
    match r {
        Response::Int(n) => Ok(n),
        r => Err(unexpected(r)),
    }
}

/// The module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Store>()?;
    m.add_class::<objects::Writer>()?;
    m.add_class::<objects::Reader>()?;
    m.add("Error", py.get_type::<Error>())?;
    m.add("CacheLocked", py.get_type::<CacheLocked>())?;
    m.add("TooLarge", py.get_type::<TooLarge>())?;
    m.add("Poisoned", py.get_type::<Poisoned>())?;
    m.add("Corrupt", py.get_type::<Corrupt>())?;
    m.add("ReadOnly", py.get_type::<ReadOnly>())?;
    m.add("HolderLost", py.get_type::<HolderLost>())?;
    Ok(())
}
