//! The files of one log: the log itself, its directory, and the names beside it — the lock,
//! a compaction's output, the hint file and the name the hint is written under first.

use std::path::{Path, PathBuf};

/// Every name the engine uses for one log, derived once from the log's resolved path.
#[derive(Debug)]
pub(super) struct Paths {
    /// The log file (absolute, symbolic links followed).
    pub(super) log: PathBuf,
    /// Its directory: fsynced after each rename and removal.
    pub(super) dir: PathBuf,
    /// `LOG.lock`: held (flock) for as long as a handle is open.
    pub(super) lock: PathBuf,
    /// `LOG.compact`: a compaction writes the new log here, then renames it over the log.
    pub(super) compact: PathBuf,
    /// `LOG.hint`: the index written at close and after a compaction.
    pub(super) hint: PathBuf,
    /// `LOG.hint.tmp`: the hint before its rename into place.
    pub(super) hint_temp: PathBuf,
    /// `LOG.shared`: the page the holder publishes for followers (shared.rs).
    pub(super) shared: PathBuf,
}

impl Paths {
    pub(super) fn new(log: &Path) -> Paths {
        Paths {
            log: log.to_path_buf(),
            dir: parent_dir(log),
            lock: sibling(log, ".lock"),
            compact: sibling(log, ".compact"),
            hint: sibling(log, ".hint"),
            hint_temp: sibling(log, ".hint.tmp"),
            shared: sibling(log, ".shared"),
        }
    }
}

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_sits_beside_the_log() {
        let p = Paths::new(Path::new("/data/cache.log"));
        assert_eq!(p.dir, Path::new("/data"));
        assert_eq!(p.lock, Path::new("/data/cache.log.lock"));
        assert_eq!(p.compact, Path::new("/data/cache.log.compact"));
        assert_eq!(p.hint, Path::new("/data/cache.log.hint"));
        assert_eq!(p.hint_temp, Path::new("/data/cache.log.hint.tmp"));
        assert_eq!(Paths::new(Path::new("bare.log")).dir, Path::new("."));
    }
}
