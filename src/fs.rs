//! The file-system seam: every byte the engine reads or writes goes through these two traits.
//!
//! The engine never calls `std::fs` directly. [`StdFileSystem`] is the real implementation; a
//! test can plug in a simulated one (crash states, injected I/O errors) through
//! [`DurableKVCacheBuilder::file_system`](crate::DurableKVCacheBuilder::file_system), the way
//! RocksDB's `Env`/`FileSystem` and redb's `StorageBackend` are used.

use std::any::Any;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One open file, readable and writable at explicit offsets.
///
/// Implementations must be usable from several threads at once: positional reads run
/// concurrently with one writer appending and another thread calling [`sync_data`].
///
/// [`sync_data`]: FileHandle::sync_data
pub trait FileHandle: Send + Sync + fmt::Debug {
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read (0 at end of file).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes all of `buf` at `offset`, extending the file when needed.
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// The file's current size in bytes.
    fn size(&self) -> io::Result<u64>;
    /// Makes the file's data (and the metadata needed to read it back) durable: `fdatasync`.
    fn sync_data(&self) -> io::Result<()>;
    /// Sets the file's length, cutting or zero-extending it.
    fn truncate(&self, len: u64) -> io::Result<()>;
    /// Reserves space so that the file is at least `len` bytes long, reading as zeros past the
    /// old end (`posix_fallocate`). Writing and syncing into reserved space does not change the
    /// file size, which makes `fdatasync` cheaper.
    fn allocate(&self, len: u64) -> io::Result<()>;

    /// The file's first `len` bytes mapped into memory read-only, for reads without a system
    /// call; `None` when the implementation does not map (the default: every read goes through
    /// [`read_at`](Self::read_at)). The engine copies from a mapping only while holding a lock
    /// that any cut of the file ([`truncate`](Self::truncate) below a mapped length) waits for
    /// and that drops the mapping first, so its own reads never touch a page past the end of
    /// the file. Only [`StdFileSystem`]'s files map (`mmap(2)`): [`Mapping`] has no public
    /// constructor.
    fn map(&self, len: u64) -> io::Result<Option<Mapping>> {
        let _ = len;
        Ok(None)
    }

    /// Reads exactly `buf.len()` bytes at `offset`, or fails with `UnexpectedEof`.
    fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(buf, offset) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// A read-only memory map of a file's first bytes ([`FileHandle::map`]).
///
/// `memmap2` rather than `libc::mmap` by hand: it owns the unmapping and the length checks.
#[derive(Debug)]
pub struct Mapping(memmap2::Mmap);

impl Mapping {
    /// The mapped bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// What kind of file system object a path names (symbolic links followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A named pipe.
    Fifo,
    /// A character device (`/dev/null`, a terminal).
    CharDevice,
    /// A block device (a disk).
    BlockDevice,
    /// A Unix domain socket.
    Socket,
    /// Anything else.
    Other,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::File => "a regular file",
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a named pipe (FIFO)",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Socket => "a socket",
            FileKind::Other => "not a regular file",
        })
    }
}

/// What [`FileSystem::stat`] reports about a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo {
    /// The kind of object.
    pub kind: FileKind,
    /// How many names (hard links) the object has.
    pub links: u64,
}

/// A guard that holds an exclusive lock until dropped.
pub type LockGuard = Box<dyn Any + Send + Sync>;

/// Directory-level operations and file opening.
pub trait FileSystem: Send + Sync + fmt::Debug {
    /// Opens `path` for reading and writing; creates it (empty) when `create` is set and it is
    /// missing. Fails with `NotFound` otherwise.
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn FileHandle>>;
    /// Atomically replaces `to` with `from` (`rename(2)`).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Whether `path` exists.
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// What `path` names, following symbolic links; `None` when nothing is there.
    fn stat(&self, path: &Path) -> io::Result<Option<FileInfo>>;
    /// `path` made absolute with every symbolic link resolved, its last component included;
    /// a last component that does not exist (yet) is kept as it is. The engine derives its
    /// lock and compaction files from this path, so that every name of one log shares them.
    fn resolve(&self, path: &Path) -> io::Result<PathBuf>;
    /// Makes the directory's entries durable (creates, renames, removes): `fsync` on the
    /// directory.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// The paths of the entries of `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;
    /// Takes an exclusive lock on `path` (created when missing), held until the guard drops.
    /// Fails with `WouldBlock` when another handle holds it.
    fn lock(&self, path: &Path) -> io::Result<LockGuard>;
    /// Bytes available to this process on the file system holding `dir`.
    fn available_space(&self, dir: &Path) -> io::Result<u64>;
}

/// Symbolic links followed before giving up, as Linux's `MAXSYMLINKS`.
const MAX_LINK_HOPS: usize = 40;

/// The real file system, through `std::fs` and `fs2`.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFileSystem;

#[derive(Debug)]
struct StdFile(File);

impl FileHandle for StdFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.0.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(buf, offset)
    }
    fn size(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn truncate(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn allocate(&self, len: u64) -> io::Result<()> {
        // Explicit path: since Rust 1.89 std's inherent File methods shadow some fs2 ones.
        fs2::FileExt::allocate(&self.0, len)
    }
    fn map(&self, len: u64) -> io::Result<Option<Mapping>> {
        let Ok(len) = usize::try_from(len) else {
            return Ok(None);
        };
        if len == 0 || len as u64 > self.size()? {
            return Ok(None);
        }
        // SAFETY: the mapping is read-only and private to the engine, which reads it only
        // below the file's length under the index lock that every cut of the file takes and
        // that drops the mapping before the cut (DESIGN.md, "Reads"). The file is locked
        // against other logcache processes; a program that cuts a locked log behind the
        // engine's back can make a read fault (SIGBUS), as with any memory-mapped store.
        let map = unsafe { memmap2::MmapOptions::new().len(len).map(&self.0)? };
        Ok(Some(Mapping(map)))
    }
}

impl FileSystem for StdFileSystem {
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn FileHandle>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(path)?;
        Ok(Arc::new(StdFile(file)))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }
    fn stat(&self, path: &Path) -> io::Result<Option<FileInfo>> {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let t = meta.file_type();
        let kind = if t.is_file() {
            FileKind::File
        } else if t.is_dir() {
            FileKind::Directory
        } else if t.is_fifo() {
            FileKind::Fifo
        } else if t.is_char_device() {
            FileKind::CharDevice
        } else if t.is_block_device() {
            FileKind::BlockDevice
        } else if t.is_socket() {
            FileKind::Socket
        } else {
            FileKind::Other
        };
        Ok(Some(FileInfo {
            kind,
            links: meta.nlink(),
        }))
    }
    fn resolve(&self, path: &Path) -> io::Result<PathBuf> {
        // Follows the last component by hand: `canonicalize` fails for a link whose target
        // does not exist yet, and the log is then created at the target, not over the link.
        let mut path = path.to_path_buf();
        for _ in 0..MAX_LINK_HOPS {
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => {
                    let target = std::fs::read_link(&path)?;
                    path = match path.parent() {
                        Some(dir) => dir.join(target), // an absolute target replaces `dir`
                        None => target,
                    };
                }
                Ok(_) => return std::fs::canonicalize(&path),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let name = path.file_name().ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidInput, "the path names no file")
                    })?;
                    let dir = match path.parent() {
                        Some(p) if !p.as_os_str().is_empty() => p,
                        _ => Path::new("."),
                    };
                    return Ok(std::fs::canonicalize(dir)?.join(name));
                }
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "too many levels of symbolic links",
        ))
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        std::fs::read_dir(dir)?
            .map(|entry| entry.map(|e| e.path()))
            .collect()
    }
    fn lock(&self, path: &Path) -> io::Result<LockGuard> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        // std's flock-based lock: per open file description, so a second handle in the same
        // process is refused too.
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
        // Record the holder so a refused opener can say who has it; best effort only.
        file.set_len(0)?;
        file.write_all(format!("{}\n", std::process::id()).as_bytes())?;
        Ok(Box::new(HeldLock(file)))
    }
    fn available_space(&self, dir: &Path) -> io::Result<u64> {
        fs2::available_space(dir)
    }
}

/// A file whose `flock` this handle holds; dropping it unlocks the file before closing it.
///
/// Closing alone is not enough: a lock belongs to the open file description, which a child
/// forked by any thread of the process shares until it execs (even with close-on-exec), so a
/// reopen right after a close could be refused `Locked` by the parent's own lock. An explicit
/// unlock releases it for every copy of the descriptor.
struct HeldLock(File);

impl Drop for HeldLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// Reads the process id a lock holder wrote into `path`, if any.
pub(crate) fn lock_holder(fs: &dyn FileSystem, path: &Path) -> Option<u32> {
    let file = fs.open(path, false).ok()?;
    let mut buf = [0u8; 16];
    let n = file.read_at(&mut buf, 0).ok()?;
    let text = std::str::from_utf8(buf.get(..n)?).ok()?;
    text.trim().parse().ok()
}
