//! The log file as a whole: which paths may hold a log, and the file header that says a file
//! is one.
//!
//! The rules (docs/DESIGN.md, "Paths, links and other files"):
//! - the path is resolved first (every symbolic link followed), so every name of a log leads
//!   to the same lock and compaction files beside the real file, and compaction renames
//!   beside it instead of replacing a link with a regular file;
//! - only a regular file, or nothing, may be there: a directory, device, named pipe or socket
//!   is refused before anything is created or changed;
//! - a writable log must have exactly one name. A hard link is a second name the lock file
//!   (derived from the name) cannot see, so it would let a second writer in; it is refused.

use std::path::{Path, PathBuf};

use super::record::FILE_HEADER;
use crate::error::{Error, Result};
use crate::fs::{FileHandle, FileInfo, FileKind, FileSystem};

/// Resolves `path` and checks what is there. Returns the resolved path and whether a file
/// exists there. `writable`: the caller will write (then more than one name is refused).
pub(crate) fn check_log_path(
    fs: &dyn FileSystem,
    path: &Path,
    writable: bool,
) -> Result<(PathBuf, bool)> {
    let resolved = fs
        .resolve(path)
        .map_err(|e| Error::io("resolve", path, e))?;
    let bad = |reason: String| Error::BadPath {
        path: resolved.clone(),
        reason,
    };
    match fs
        .stat(&resolved)
        .map_err(|e| Error::io("stat", &resolved, e))?
    {
        None => Ok((resolved, false)),
        Some(FileInfo {
            kind: FileKind::File,
            links,
        }) => {
            if writable && links > 1 {
                return Err(bad(format!(
                    "the file has {links} names (hard links), and the lock can keep a second \
                     writer out only when there is one; remove the other names (`find -samefile`) \
                     or copy the log"
                )));
            }
            Ok((resolved, true))
        }
        Some(FileInfo { kind, .. }) => Err(bad(format!(
            "it is {kind}, not a regular file; name a file (it is created when missing)"
        ))),
    }
}

/// Checks that a file of `len` bytes starts with the version-1 file header. A file that does
/// not is never modified.
pub(crate) fn check_file_header(path: &Path, file: &dyn FileHandle, len: u64) -> Result<()> {
    let head_len = FILE_HEADER.len();
    let mut head = vec![0u8; head_len.min(usize::try_from(len).unwrap_or(head_len))];
    file.read_exact_at(&mut head, 0)
        .map_err(|e| Error::io("read", path, e))?;
    if head == FILE_HEADER {
        return Ok(());
    }
    match head.strip_prefix(b"logcache\t".as_slice()) {
        Some(version) if !version.is_empty() => Err(Error::UnsupportedVersion {
            path: path.to_path_buf(),
            version: String::from_utf8_lossy(version).trim_end().to_string(),
        }),
        _ => Err(Error::NotALog {
            path: path.to_path_buf(),
        }),
    }
}
