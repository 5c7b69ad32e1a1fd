//! Opening a log: lock, file header, replay into the index, torn-tail truncation.

use std::io;
use std::path::Path;
use std::sync::Arc;

use super::builder::Options;
use super::index::Index;
use super::stats::RecoveryStats;
use crate::error::{Error, Result};
use crate::fs::{FileHandle, FileSystem, LockGuard, lock_holder};
use crate::log::file::check_file_header;
use crate::log::record::FILE_HEADER;
use crate::log::replay::{Summary as ReplaySummary, replay, replay_after};
use crate::options::RecoveryMode;

use super::hint;
use super::paths::Paths;

/// What open hands to the engine.
pub(super) struct Opened {
    pub(super) paths: Paths,
    pub(super) lock: LockGuard,
    pub(super) file: Arc<dyn FileHandle>,
    pub(super) index: Index,
    pub(super) data_end: u64,
    pub(super) last_seq: u64,
    /// Where the last record starts, when known (for the hint written at close).
    pub(super) last_at: Option<u64>,
    pub(super) recovery: RecoveryStats,
}

/// Removes `path` if it is there, and makes the removal durable (fsyncs `dir`).
pub(super) fn remove_durably(fs: &dyn FileSystem, path: &Path, dir: &Path) -> Result<()> {
    if fs.exists(path).map_err(|e| Error::io("stat", path, e))? {
        fs.remove(path).map_err(|e| Error::io("remove", path, e))?;
        fs.sync_dir(dir).map_err(|e| Error::io("fsync", dir, e))?;
    }
    Ok(())
}

/// Opens the log at `path`, already resolved and checked by
/// [`check_log_path`](crate::log::file::check_log_path) (`exists` says whether a file is there).
pub(super) fn open_log(path: &Path, exists: bool, opts: &Options) -> Result<Opened> {
    let fs = &*opts.fs;
    let paths = Paths::new(path);
    let dir = &paths.dir;
    let io_err = |op| move |e| Error::io(op, path, e);
    if opts.read_only && !exists {
        return Err(io_err("open")(io::ErrorKind::NotFound.into()));
    }
    let lock_path = &paths.lock;
    let lock = fs.lock(lock_path).map_err(|e| {
        if e.kind() == io::ErrorKind::WouldBlock {
            Error::Locked {
                holder: lock_holder(fs, lock_path),
                path: lock_path.clone(),
            }
        } else {
            Error::io("lock", lock_path, e)
        }
    })?;

    // A compaction that did not reach its rename left this behind; the log is intact. (And a
    // hint that was never renamed into place.)
    if !opts.read_only {
        remove_durably(fs, &paths.compact, dir)?;
        remove_durably(fs, &paths.hint_temp, dir)?;
    }

    if opts.read_only {
        // Nothing is written, so no name needs to be durable first.
    } else if needs_creating(fs, path)? {
        create_log(fs, path, &paths.compact, dir)?;
    } else {
        // A previous handle may have renamed a compacted log into place and failed (or died)
        // before its directory fsync: make that name durable before anything is written to
        // the file behind it. (Found by the I/O-error harness.)
        fs.sync_dir(dir).map_err(|e| Error::io("fsync", dir, e))?;
    }
    let file = fs.open(path, false).map_err(io_err("open"))?;
    let len = file.size().map_err(io_err("stat"))?;
    check_file_header(path, &*file, len)?;

    let Replayed {
        mut index,
        summary,
        expired,
        from_hint,
        hint_used,
        last_at,
    } = match load_hint(path, &file, len, opts)? {
        Some(r) => r,
        None => {
            let (index, summary, expired) = replay_index(path, &file, len, opts)?;
            Replayed {
                index,
                last_at: summary.last_at,
                summary,
                expired,
                from_hint: 0,
                hint_used: false,
            }
        }
    };

    // What the log held is main (S3-FIFO's probation is for keys written from now on).
    index.opened();

    // A hint that was not used may describe bytes this open is about to cut (a Strict open
    // of a log whose prefix was damaged since): gone, durably, before the cut.
    if !hint_used && !opts.read_only {
        remove_durably(fs, &paths.hint, dir)?;
    }

    // Torn tail or preallocated space: cut back to the last intact record and make the cut
    // durable before anything is appended after it.
    if len > summary.data_end && !opts.read_only {
        file.truncate(summary.data_end)
            .map_err(io_err("truncate"))?;
        file.sync_data().map_err(io_err("fsync"))?;
    }
    Ok(Opened {
        paths,
        lock,
        file,
        index,
        data_end: summary.data_end,
        last_seq: summary.last_seq,
        last_at,
        recovery: RecoveryStats {
            hint_entries: from_hint,
            records_replayed: summary.records,
            damaged_regions: summary.damaged_regions,
            damaged_bytes: summary.damaged_bytes,
            torn_tail_bytes: summary.torn_tail_bytes,
            truncated_bytes: len - summary.data_end,
            expired,
        },
    })
}

/// The index an open starts from.
struct Replayed {
    index: Index,
    summary: ReplaySummary,
    expired: u64,
    /// Entries that came from the hint file.
    from_hint: u64,
    /// Whether a hint file was used.
    hint_used: bool,
    last_at: Option<u64>,
}

/// The index from the hint file and the log's tail after it, when there is a hint that
/// decodes and matches the log (else `None`: replay the whole log). Only in
/// [`RecoveryMode::Salvage`]: `Strict` promises to look at every record at open.
fn load_hint(
    path: &Path,
    file: &Arc<dyn FileHandle>,
    len: u64,
    opts: &Options,
) -> Result<Option<Replayed>> {
    if !opts.hint_file || opts.recovery_mode != RecoveryMode::Salvage {
        return Ok(None);
    }
    let hint_path = Paths::new(path).hint;
    let loaded = match hint::load(path, &hint_path, file, len, opts) {
        Ok(loaded) => loaded,
        Err("none") => return Ok(None),
        Err(why) => {
            tracing::info!(
                "{}: hint file not used ({why}); replaying the whole log",
                hint_path.display()
            );
            return Ok(None);
        }
    };
    let hint::Loaded {
        mut index,
        covered,
        entries,
        mut expired,
    } = loaded;
    let now = opts.clock.now_millis();
    let summary = replay_after(
        path,
        &**file,
        covered.end..len,
        opts.max_value_len,
        opts.recovery_mode,
        Some(covered.last_seq),
        |event| {
            if index.apply_replayed(event, now, 0, 0) {
                expired += 1;
            }
        },
    )?;
    Ok(Some(Replayed {
        index,
        last_at: summary.last_at.or(Some(covered.last_at)),
        summary,
        expired,
        from_hint: entries,
        hint_used: true,
    }))
}

/// Replays the log's records before byte `end` into a fresh index over `file`; also returns
/// the replay's summary and how many entries were found already expired.
pub(super) fn replay_index(
    path: &Path,
    file: &Arc<dyn FileHandle>,
    end: u64,
    opts: &Options,
) -> Result<(Index, ReplaySummary, u64)> {
    let now = opts.clock.now_millis();
    let mut index = Index::new(Arc::clone(file));
    let mut expired = 0u64;
    let summary = replay(
        path,
        &**file,
        FILE_HEADER.len() as u64..end,
        opts.max_value_len,
        opts.recovery_mode,
        |event| {
            if index.apply_replayed(event, now, 0, 0) {
                expired += 1;
            }
        },
    )?;
    Ok((index, summary, expired))
}

/// Whether `path` is missing, empty, or a prefix of the file header (a log whose creation an
/// older version did not finish): then it holds no data and is created anew.
fn needs_creating(fs: &dyn FileSystem, path: &Path) -> Result<bool> {
    if !fs.exists(path).map_err(|e| Error::io("stat", path, e))? {
        return Ok(true);
    }
    let file = fs
        .open(path, false)
        .map_err(|e| Error::io("open", path, e))?;
    let len = file.size().map_err(|e| Error::io("stat", path, e))?;
    if len >= FILE_HEADER.len() as u64 {
        return Ok(false);
    }
    let mut head = vec![0u8; len as usize];
    file.read_exact_at(&mut head, 0)
        .map_err(|e| Error::io("read", path, e))?;
    Ok(FILE_HEADER.starts_with(&head))
}

/// Creates the log atomically: the header goes into the `.compact` sibling, which is synced,
/// renamed over `path` and the directory synced. So a file at `path` either does not exist or
/// starts with a durable header, whatever a crash interrupts (a log created in place could come
/// back after a crash as a few zero or garbage bytes that no later open would accept).
fn create_log(fs: &dyn FileSystem, path: &Path, temp: &Path, dir: &Path) -> Result<()> {
    let temp_err = |op| move |e| Error::io(op, temp, e);
    let file = fs.open(temp, true).map_err(temp_err("create"))?;
    file.truncate(0).map_err(temp_err("truncate"))?;
    file.write_at(FILE_HEADER, 0).map_err(temp_err("write"))?;
    file.sync_data().map_err(temp_err("fsync"))?;
    drop(file);
    fs.rename(temp, path).map_err(temp_err("rename"))?;
    fs.sync_dir(dir).map_err(|e| Error::io("fsync", dir, e))
}
