//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use logcache::fs::{FileHandle, FileSystem, LockGuard, StdFileSystem};
use logcache::{Durability, DurableKVCache};

/// A temporary directory and a log path inside it.
pub fn temp_log() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache_data.log");
    (dir, path)
}

/// Opens with `Durability::None` (fast; a clean close still syncs).
pub fn open_fast(path: &Path) -> DurableKVCache {
    DurableKVCache::builder(path)
        .durability(Durability::None)
        .open()
        .unwrap()
}

/// Byte offsets where each record starts, found by re-reading the file: the header line
/// first, then each record's claimed length.
pub fn record_offsets(path: &Path) -> Vec<(usize, usize)> {
    let bytes = std::fs::read(path).unwrap();
    let mut pos = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    let mut out = Vec::new();
    while pos < bytes.len() {
        let fields: Vec<&[u8]> = bytes[pos..].splitn(7, |&b| b == b'\t').take(6).collect();
        if fields.len() < 6 || fields[0].iter().all(|&b| b == 0) {
            break;
        }
        let num = |f: &[u8]| std::str::from_utf8(f).unwrap().parse::<usize>().unwrap();
        let header_len: usize = fields.iter().map(|f| f.len() + 1).sum();
        let len = header_len + num(fields[4]) + 1 + num(fields[5]) + 1;
        out.push((pos, len));
        pos += len;
    }
    out
}

/// What a [`FaultFs`] should do.
#[derive(Debug, Default)]
pub struct Faults {
    /// Fail every log write once this many have happened (`u64::MAX`: never).
    pub fail_writes_after: AtomicU64,
    /// Fail every sync once this many have happened (`u64::MAX`: never).
    pub fail_syncs_after: AtomicU64,
    /// Writes and syncs seen.
    pub writes: AtomicU64,
    pub syncs: AtomicU64,
    /// When set, the first sync waits (up to 10 s) until this many writes have happened.
    pub gate_first_sync_on_writes: AtomicU64,
    gate: (Mutex<()>, Condvar),
    gated: AtomicBool,
}

impl Faults {
    pub fn new() -> Arc<Self> {
        Arc::new(Faults {
            fail_writes_after: AtomicU64::new(u64::MAX),
            fail_syncs_after: AtomicU64::new(u64::MAX),
            ..Faults::default()
        })
    }
}

/// The real file system with injected failures and a gate for group-commit tests.
#[derive(Debug)]
pub struct FaultFs(pub Arc<Faults>);

#[derive(Debug)]
struct FaultFile {
    inner: Arc<dyn FileHandle>,
    faults: Arc<Faults>,
}

impl FileHandle for FaultFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let f = &self.faults;
        let n = f.writes.fetch_add(1, Ordering::SeqCst);
        if n >= f.fail_writes_after.load(Ordering::SeqCst) {
            // Half the bytes land, like a real short write before ENOSPC.
            let _ = self.inner.write_at(&buf[..buf.len() / 2], offset);
            return Err(io::Error::other("injected write failure"));
        }
        let r = self.inner.write_at(buf, offset);
        let _g = f.gate.0.lock().unwrap();
        f.gate.1.notify_all();
        r
    }
    fn size(&self) -> io::Result<u64> {
        self.inner.size()
    }
    fn sync_data(&self) -> io::Result<()> {
        let f = &self.faults;
        let want = f.gate_first_sync_on_writes.load(Ordering::SeqCst);
        if want > 0 && !f.gated.swap(true, Ordering::SeqCst) {
            let guard = f.gate.0.lock().unwrap();
            let _unused = f
                .gate
                .1
                .wait_timeout_while(guard, Duration::from_secs(10), |_| {
                    f.writes.load(Ordering::SeqCst) < want
                })
                .unwrap();
        }
        let n = f.syncs.fetch_add(1, Ordering::SeqCst);
        if n >= f.fail_syncs_after.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected fsync failure"));
        }
        self.inner.sync_data()
    }
    fn truncate(&self, len: u64) -> io::Result<()> {
        self.inner.truncate(len)
    }
    fn allocate(&self, len: u64) -> io::Result<()> {
        self.inner.allocate(len)
    }
}

impl FileSystem for FaultFs {
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn FileHandle>> {
        Ok(Arc::new(FaultFile {
            inner: StdFileSystem.open(path, create)?,
            faults: Arc::clone(&self.0),
        }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        StdFileSystem.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        StdFileSystem.remove(path)
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        StdFileSystem.exists(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        StdFileSystem.sync_dir(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        StdFileSystem.list(dir)
    }
    fn lock(&self, path: &Path) -> io::Result<LockGuard> {
        StdFileSystem.lock(path)
    }
    fn available_space(&self, dir: &Path) -> io::Result<u64> {
        StdFileSystem.available_space(dir)
    }
}
