//! The shared page: what the process holding a log tells the [`Follower`](super::Follower)s
//! reading it from other processes, in a small file beside the log (`LOG.shared`) that every
//! side maps into memory.
//!
//! The holder publishes two words, both native-endian atomics (the page is shared on one
//! machine only):
//!
//! - **epoch** (64 bits): bumped at every open, compaction switch and recovery — each time the
//!   file at the log's path, or the bytes already published in it, may have changed;
//! - **state** (64 bits): the epoch's low 16 bits above the **published end** (48 bits: the
//!   index's offset width). Every record before the published end is complete, and its change
//!   is in the holder's index: with [`Durability::Sync`](crate::Durability::Sync) that is after
//!   its `fdatasync`, so a follower never reads a write that is not durable yet; in the other
//!   modes as soon as it is written, as the holder's own readers see it.
//!
//! A bump stores the epoch, then the state; a follower loads the state, then the epoch, and
//! trusts the pair only when the state's 16 bits are the epoch's (else a bump is under way:
//! it loads again). Checking a follower is up to date is two loads from memory: no system call
//! while nothing is written.
//!
//! Why a page and not `stat` and a read of the log's tail per `get`: the log is preallocated
//! (a tail of zeros that a reader cannot tell from a write in progress), a partly written record
//! cannot be told from damage, and with `Sync` the bytes are in the file before they are
//! durable. The holder alone knows where the published records end.
//!
//! The page is created by a handle opened with
//! [`followers`](super::DurableKVCacheBuilder::followers) and then kept by every handle that
//! opens the log while it exists (a handle that ignored it would leave its followers reading a
//! stale end). Deleting `LOG.shared` while no follower runs turns it off.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::index::MAX_OFFSET;

/// The page's first bytes: its format.
const MAGIC: &[u8; 16] = b"logcache-shared1";
/// The page's size in the file (one page: the map's granularity).
const PAGE: u64 = 4096;
const EPOCH_AT: usize = 16;
const STATE_AT: usize = 24;
const PID_AT: usize = 32;

/// The epoch's bits kept in the state word.
const EPOCH_BITS: u64 = 0xffff;

/// What a follower reads from the page: the epoch and the published end that goes with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Published {
    pub(super) epoch: u64,
    pub(super) end: u64,
}

fn pack(epoch: u64, end: u64) -> u64 {
    ((epoch & EPOCH_BITS) << 48) | end.min(MAX_OFFSET)
}

/// The holder's side: a writable map of the page.
#[derive(Debug)]
pub(super) struct SharedWriter {
    map: memmap2::MmapRaw,
    /// The current epoch. Bumps and publishes happen under the commit lock, in order.
    epoch: AtomicU64,
}

impl SharedWriter {
    /// Opens (creating when `create`) the page at `path` for the holder and starts a new epoch
    /// with the data ending at `end`; `Ok(None)` when there is no page and `create` is off.
    pub(super) fn open(path: &Path, create: bool, end: u64) -> io::Result<Option<SharedWriter>> {
        let file = match OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if !create && e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        // Never shortened or replaced: followers map this very file.
        if file.metadata()?.len() < PAGE {
            file.set_len(PAGE)?;
        }
        // `MmapRaw`: the page is shared memory that other processes change, so it is only ever
        // accessed through raw pointers and atomics, never as a Rust slice.
        let map = memmap2::MmapOptions::new()
            .len(PAGE as usize)
            .map_raw(&file)?;
        let mut magic = [0u8; MAGIC.len()];
        // SAFETY: the map is PAGE bytes of a file that is never cut (above: only ever
        // lengthened), so its first 16 bytes are readable and writable. A follower trusts the
        // page only once it reads the whole magic, and then only loads the words.
        unsafe {
            std::ptr::copy_nonoverlapping(map.as_ptr(), magic.as_mut_ptr(), MAGIC.len());
            if &magic != MAGIC {
                std::ptr::copy_nonoverlapping(MAGIC.as_ptr(), map.as_mut_ptr(), MAGIC.len());
            }
        }
        let writer = SharedWriter {
            map,
            epoch: AtomicU64::new(0),
        };
        let epoch = writer.word(EPOCH_AT).load(Ordering::Acquire);
        writer.epoch.store(epoch, Ordering::Relaxed);
        writer
            .word(PID_AT)
            .store(u64::from(std::process::id()), Ordering::Release);
        writer.bump(end);
        Ok(Some(writer))
    }

    fn word(&self, at: usize) -> &AtomicU64 {
        word(&self.map, at)
    }

    /// Starts a new epoch: the file at the log's path, or what it held before `end`, changed.
    pub(super) fn bump(&self, end: u64) {
        let epoch = self.epoch.load(Ordering::Relaxed).wrapping_add(1);
        self.epoch.store(epoch, Ordering::Relaxed);
        self.word(EPOCH_AT).store(epoch, Ordering::Release);
        self.word(STATE_AT)
            .store(pack(epoch, end), Ordering::Release);
    }

    /// Publishes that every record before `end` is complete and in the holder's index.
    pub(super) fn publish(&self, end: u64) {
        let epoch = self.epoch.load(Ordering::Relaxed);
        self.word(STATE_AT)
            .store(pack(epoch, end), Ordering::Release);
    }
}

/// The word of the page at byte `at` (one of the constants above) as an atomic.
fn word(map: &memmap2::MmapRaw, at: usize) -> &AtomicU64 {
    debug_assert!(at.is_multiple_of(8) && at + 8 <= map.len());
    // SAFETY: `at` is a multiple of 8 inside the PAGE bytes mapped (the constants above), and
    // a map starts on a page boundary, so the pointer is in bounds and aligned; it lives as
    // long as the map borrowed here. Every process accesses these bytes only through atomics
    // (a follower's map is read-only: it only loads).
    unsafe { AtomicU64::from_ptr(map.as_mut_ptr().add(at).cast::<u64>()) }
}

/// A follower's side: a read-only map of the page.
#[derive(Debug)]
pub(super) struct SharedReader {
    map: memmap2::MmapRaw,
}

impl SharedReader {
    /// Maps the page at `path`; `Ok(None)` when there is none or it was never initialized (no
    /// holder has published for followers).
    pub(super) fn open(path: &Path) -> io::Result<Option<SharedReader>> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if file.metadata()?.len() < PAGE {
            return Ok(None);
        }
        // Read-only, PAGE bytes of a file the holder never cuts; a program that cuts it
        // behind the engine's back can make a read fault (SIGBUS), as with any map.
        let map = memmap2::MmapOptions::new()
            .len(PAGE as usize)
            .map_raw_read_only(&file)?;
        let mut magic = [0u8; MAGIC.len()];
        // SAFETY: the first 16 of the PAGE bytes mapped.
        unsafe { std::ptr::copy_nonoverlapping(map.as_ptr(), magic.as_mut_ptr(), MAGIC.len()) };
        if &magic != MAGIC {
            return Ok(None);
        }
        Ok(Some(SharedReader { map }))
    }

    /// The current epoch and published end (a pair that belongs together).
    pub(super) fn load(&self) -> Published {
        loop {
            let state = word(&self.map, STATE_AT).load(Ordering::Acquire);
            let epoch = word(&self.map, EPOCH_AT).load(Ordering::Acquire);
            if state >> 48 == epoch & EPOCH_BITS {
                return Published {
                    epoch,
                    end: state & MAX_OFFSET,
                };
            }
            // A bump between the two loads: its state follows at once.
            std::hint::spin_loop();
        }
    }

    /// The process that last opened the log for writing.
    pub(super) fn holder(&self) -> u32 {
        u32::try_from(word(&self.map, PID_AT).load(Ordering::Acquire)).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follower_sees_what_the_holder_publishes() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("x.shared");
        assert!(SharedReader::open(&path)?.is_none());
        assert!(SharedWriter::open(&path, false, 10)?.is_none());
        let w = SharedWriter::open(&path, true, 10)?.ok_or(io::ErrorKind::NotFound)?;
        let r = SharedReader::open(&path)?.ok_or(io::ErrorKind::NotFound)?;
        assert_eq!(r.load(), Published { epoch: 1, end: 10 });
        assert_eq!(r.holder(), std::process::id());
        w.publish(99);
        assert_eq!(r.load(), Published { epoch: 1, end: 99 });
        w.bump(5);
        assert_eq!(r.load(), Published { epoch: 2, end: 5 });
        drop(w);
        // The next holder goes on from the page's epoch.
        let w = SharedWriter::open(&path, false, 7)?.ok_or(io::ErrorKind::NotFound)?;
        assert_eq!(r.load(), Published { epoch: 3, end: 7 });
        w.publish(MAX_OFFSET + 5);
        assert_eq!(r.load().end, MAX_OFFSET);
        Ok(())
    }

    #[test]
    fn the_epoch_wraps_in_the_state_word_but_not_in_its_own() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("x.shared");
        let w = SharedWriter::open(&path, true, 0)?.ok_or(io::ErrorKind::NotFound)?;
        let r = SharedReader::open(&path)?.ok_or(io::ErrorKind::NotFound)?;
        for _ in 0..EPOCH_BITS + 1 {
            w.bump(1);
        }
        // 65537 epochs: the state word's 16 bits are back to 1, the epoch word is not.
        assert_eq!(
            r.load(),
            Published {
                epoch: EPOCH_BITS + 2,
                end: 1
            }
        );
        Ok(())
    }
}
