//! Helpers shared by the integration tests (the CLI crate's tests include this module too:
//! crates/logcache-cli/tests/common/mod.rs).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub mod data;
pub mod memcached;
use logcache::{Durability, DurableKVCache};

/// Whether a system tool a test needs is absent; the test then returns at once. Names are the
/// Debian packages `./scripts/test` installs: `memcached`, `curl`, `nutcracker`,
/// `libmemcached-tools` (memccp and friends), `python3-pymemcache` (the system python3 with
/// pymemcache). A plain `cargo test` on a machine without them skips such tests with a line
/// on standard error; `./scripts/test` sets `LOGCACHE_REQUIRE_TOOLS`, under which a missing
/// tool fails the test instead (it installed them all).
pub fn missing(packages: &[&str]) -> bool {
    let absent: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !tool_present(p))
        .collect();
    if absent.is_empty() {
        return false;
    }
    let what = absent.join(", ");
    assert!(
        std::env::var_os("LOGCACHE_REQUIRE_TOOLS").is_none(),
        "this test needs {what}, which is not installed (./scripts/test installs it with apt-get)"
    );
    eprintln!("skipped: this test needs {what} (./scripts/test installs it with apt-get)");
    true
}

/// Whether one of [`missing`]'s packages is installed.
fn tool_present(package: &str) -> bool {
    let on_path = |program: &str| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
    };
    match package {
        "libmemcached-tools" => on_path("memccp"),
        "nutcracker" => Path::new("/usr/sbin/nutcracker").is_file(),
        "python3-pymemcache" => std::process::Command::new("/usr/bin/python3")
            .args(["-c", "import pymemcache"])
            .output()
            .is_ok_and(|o| o.status.success()),
        program => on_path(program),
    }
}

/// A temporary directory and a log path inside it.
pub fn temp_log() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache_data.log");
    (dir, path)
}

/// Makes a named pipe at `path` (mkfifo(1): std has no call for it).
pub fn mkfifo(path: &Path) {
    let made = std::process::Command::new("mkfifo").arg(path).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo {}", path.display());
}

/// Opens with `Durability::None` (fast; a clean close still syncs).
pub fn open_fast(path: &Path) -> DurableKVCache {
    DurableKVCache::builder(path)
        .durability(Durability::None)
        .open()
        .unwrap()
}

/// Opens with `Durability::None` and no automatic compaction (a test compacts when it says).
pub fn open_uncompacted(path: &Path) -> DurableKVCache {
    DurableKVCache::builder(path)
        .durability(Durability::None)
        .compaction_threshold(0)
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

/// A `KvStore` in a `HashMap`, listing keys, with an optional failure of the n-th `set` and a
/// configurable largest value: for BigCache tests that need to look inside the store.
#[derive(Debug)]
pub struct MapStore {
    pub map: Mutex<std::collections::HashMap<Vec<u8>, Vec<u8>>>,
    pub max_value: u64,
    /// Fail every `set` once this many have happened (`u64::MAX`: never).
    pub fail_sets_after: AtomicU64,
    pub sets: AtomicU64,
    /// `get`s served (reads of values).
    pub gets: AtomicU64,
}

impl MapStore {
    pub fn new(max_value: u64) -> Self {
        MapStore {
            map: Mutex::default(),
            max_value,
            fail_sets_after: AtomicU64::new(u64::MAX),
            sets: AtomicU64::new(0),
            gets: AtomicU64::new(0),
        }
    }

    /// Keys starting with `prefix`.
    pub fn count_prefix(&self, prefix: &[u8]) -> usize {
        self.map
            .lock()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with(prefix))
            .count()
    }
}

impl logcache::KvStore for MapStore {
    fn get(&self, key: &[u8]) -> logcache::Result<Option<Vec<u8>>> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        Ok(self.map.lock().unwrap().get(key).cloned())
    }
    fn set(&self, key: &[u8], value: &[u8]) -> logcache::Result<()> {
        if self.sets.fetch_add(1, Ordering::SeqCst) >= self.fail_sets_after.load(Ordering::SeqCst) {
            return Err(logcache::Error::Full);
        }
        if value.len() as u64 > self.max_value {
            return Err(logcache::Error::TooLarge {
                what: "value",
                len: value.len() as u64,
                max: self.max_value,
            });
        }
        self.map
            .lock()
            .unwrap()
            .insert(key.to_vec(), value.to_vec());
        Ok(())
    }
    fn set_with_ttl(&self, key: &[u8], value: &[u8], _ttl: Duration) -> logcache::Result<()> {
        self.set(key, value)
    }
    fn delete(&self, key: &[u8]) -> logcache::Result<bool> {
        Ok(self.map.lock().unwrap().remove(key).is_some())
    }
    fn max_value_len(&self) -> u64 {
        self.max_value
    }
    fn keys_with_prefix(&self, prefix: &[u8]) -> logcache::Result<Option<Vec<Vec<u8>>>> {
        Ok(Some(
            self.map
                .lock()
                .unwrap()
                .keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect(),
        ))
    }
}

/// BigCache's block-key and manifest-key prefixes under the default namespace.
pub const BLOCKS: &[u8] = b"\xffbcb";
pub const MANIFESTS: &[u8] = b"\xffbcm";

/// Block records BigCache holds in `store` (default namespace).
pub fn block_count(store: &impl logcache::KvStore) -> usize {
    store.keys_with_prefix(BLOCKS).unwrap().unwrap().len()
}

/// What BigCache charges an object of `size` bytes under a `key`-byte key against
/// `capacity_bytes`, as docs/FORMAT.md lays the manifest out: the key, a 46-byte manifest
/// with 4 bytes per block, and the blocks; an object of at most `inline_max` bytes is inside
/// its manifest instead.
pub fn big_charge(key: usize, size: u64, block: u64, inline_max: u64) -> u64 {
    let key = key as u64;
    if size <= inline_max {
        key + 46 + size
    } else {
        key + 46 + 4 * size.div_ceil(block) + size
    }
}

/// A ring over `nodes` with `replicas` copies and short backoffs (50 ms up to 400 ms), so
/// that a restarted node is tried again quickly.
pub fn fast_ring<S: logcache::KvStore>(
    nodes: impl IntoIterator<Item = (String, S)>,
    replicas: usize,
) -> logcache::ShardedStore<S> {
    logcache::ShardedStore::builder()
        .replicas(replicas)
        .backoff(Duration::from_millis(50), Duration::from_millis(400))
        .build(nodes)
        .unwrap()
}

/// Now, in Unix milliseconds (how expiries are reported).
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A tmpfs of `size` mounted for one test, unmounted when dropped.
pub struct Tmpfs(pub PathBuf);

impl Tmpfs {
    pub fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}
