//! Small reads from the memory map of the log (`mmap_reads`, on by default): right values
//! across the map's growth and compactions, damage still found, and no read ever touches a
//! page that a recovery cut from the file — readers hammer the cache while it recovers (a
//! read past the file's end would kill the test with SIGBUS).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use logcache::fs::{FileHandle, FileInfo, FileSystem, LockGuard, Mapping, StdFileSystem};
use logcache::{Durability, DurableKVCache, Error};

mod common;
use common::{record_offsets, temp_log};

fn value(i: u64, round: u64) -> Vec<u8> {
    format!("value {i} of round {round} ")
        .repeat(4)
        .into_bytes()
}

/// The real file system, whose files fail `fdatasync` while `fail_syncs` is set.
#[derive(Debug, Clone, Default)]
struct FailingSyncs {
    fail_syncs: Arc<AtomicBool>,
}

#[derive(Debug)]
struct File {
    inner: Arc<dyn FileHandle>,
    fail_syncs: Arc<AtomicBool>,
}

impl FileHandle for File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.inner.write_at(buf, offset)
    }
    fn size(&self) -> io::Result<u64> {
        self.inner.size()
    }
    fn sync_data(&self) -> io::Result<()> {
        if self.fail_syncs.load(Ordering::SeqCst) {
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
    fn map(&self, len: u64) -> io::Result<Option<Mapping>> {
        self.inner.map(len)
    }
}

impl FileSystem for FailingSyncs {
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn FileHandle>> {
        Ok(Arc::new(File {
            inner: StdFileSystem.open(path, create)?,
            fail_syncs: Arc::clone(&self.fail_syncs),
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
    fn stat(&self, path: &Path) -> io::Result<Option<FileInfo>> {
        StdFileSystem.stat(path)
    }
    fn resolve(&self, path: &Path) -> io::Result<PathBuf> {
        StdFileSystem.resolve(path)
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

#[test]
fn values_read_right_as_the_map_grows_and_after_compactions() {
    for mmap in [true, false] {
        let (_dir, path) = temp_log();
        let cache = DurableKVCache::builder(&path)
            .durability(Durability::None)
            .mmap_reads(mmap)
            .open()
            .unwrap();
        // ~40 MB of records: the log reserves space (and the map grows) many times over.
        for round in 0..3u64 {
            for i in 0..100_000u64 {
                cache.put(i.to_string(), value(i, round)).unwrap();
            }
            for i in (0..100_000u64).step_by(7) {
                assert_eq!(cache.get(i.to_string()).unwrap(), Some(value(i, round)));
            }
        }
        cache.compact().unwrap();
        for i in (0..100_000u64).step_by(3) {
            assert_eq!(cache.get(i.to_string()).unwrap(), Some(value(i, 2)));
        }
        cache.close().unwrap();
        let cache = DurableKVCache::builder(&path)
            .mmap_reads(mmap)
            .open()
            .unwrap();
        for i in (0..100_000u64).step_by(5) {
            assert_eq!(cache.get(i.to_string()).unwrap(), Some(value(i, 2)));
        }
    }
}

#[test]
fn damage_is_found_in_a_mapped_record() {
    let (_dir, path) = temp_log();
    let cache = DurableKVCache::open(&path).unwrap();
    cache.put("a", "aaaaaaaa").unwrap();
    cache.put("b", "bbbbbbbb").unwrap();
    assert_eq!(cache.get("a").unwrap().as_deref(), Some(&b"aaaaaaaa"[..]));
    let (start, len) = record_offsets(&path)[0];
    // Through a second descriptor, as another program would: the map sees the page change.
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    let mut byte = [0u8; 1];
    std::os::unix::fs::FileExt::read_exact_at(
        &std::fs::File::open(&path).unwrap(),
        &mut byte,
        (start + len - 3) as u64,
    )
    .unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, &[byte[0] ^ 1], (start + len - 3) as u64)
        .unwrap();
    let err = cache.get("a").unwrap_err();
    assert!(matches!(err, Error::ChecksumMismatch { .. }), "{err}");
    assert_eq!(cache.get("b").unwrap().as_deref(), Some(&b"bbbbbbbb"[..]));
}

#[test]
fn a_recovery_cut_never_meets_a_read_of_the_map() {
    let (_dir, path) = temp_log();
    let fs = FailingSyncs::default();
    let cache = Arc::new(
        DurableKVCache::builder(&path)
            .durability(Durability::None)
            .compaction_threshold(0)
            .file_system(Arc::new(fs.clone()))
            .open()
            .unwrap(),
    );
    for i in 0..2_000u64 {
        cache.put(i.to_string(), value(i, 0)).unwrap();
    }
    cache.sync().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|t| {
            let (cache, stop) = (Arc::clone(&cache), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut reads = 0u64;
                let mut i = t;
                while !stop.load(Ordering::SeqCst) {
                    // A read that looked its entry up just before the cut and reads after it
                    // fails (end of file or another record there); never a wrong value.
                    let key = (i % 40_000).to_string();
                    match cache.get(&key) {
                        Ok(Some(v)) => assert!(
                            v.starts_with(format!("value {} of", (i % 40_000) % 2_000).as_bytes()),
                            "{key}"
                        ),
                        Ok(None)
                        | Err(
                            Error::ChecksumMismatch { .. }
                            | Error::Corrupt { .. }
                            | Error::Io { op: "read", .. },
                        ) => {}
                        Err(e) => panic!("{e}"),
                    }
                    reads += 1;
                    i += 7;
                }
                reads
            })
        })
        .collect();
    for cycle in 1..=20u64 {
        // Unsynced records past the synced end, read through the map, then a failed fsync:
        // recovery cuts them while the readers run.
        for i in 0..2_000u64 {
            cache
                .put((cycle * 2_000 + i).to_string(), value(i, cycle))
                .unwrap();
        }
        fs.fail_syncs.store(true, Ordering::SeqCst);
        assert!(cache.sync().is_err());
        fs.fail_syncs.store(false, Ordering::SeqCst);
        assert!(cache.recover().unwrap(), "cycle {cycle}");
        assert_eq!(cache.get((cycle * 2_000).to_string()).unwrap(), None);
        assert_eq!(cache.get("5").unwrap(), Some(value(5, 0)));
    }
    stop.store(true, Ordering::SeqCst);
    let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(reads > 0);
}
