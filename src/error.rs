//! The crate's one error type.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in logcache.
///
/// Variants separate the cases a caller acts on differently: retry or give up on [`Error::Io`],
/// repair or salvage on [`Error::Corrupt`], wait for the other process on [`Error::Locked`],
/// reopen on [`Error::Poisoned`]. `Display` says what happened and what to do; the underlying
/// cause, where there is one, comes from [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O call failed.
    #[error("I/O error during {op} on {path}")]
    Io {
        /// The file or directory the call was made on.
        path: PathBuf,
        /// What was being done (`"write"`, `"fsync"`, `"rename"`, ...).
        op: &'static str,
        /// The error the operating system returned.
        #[source]
        source: io::Error,
    },

    /// The log holds bytes that are not a valid record where a record must be.
    ///
    /// Raised at open in [`RecoveryMode::Strict`](crate::RecoveryMode::Strict) for a damaged
    /// record followed by intact ones, and in every mode for a file that is not a logcache log.
    #[error("{path} is corrupt at byte {offset}: {reason}")]
    Corrupt {
        /// The log file.
        path: PathBuf,
        /// Byte offset of the first damaged byte.
        offset: u64,
        /// What is wrong there, and what to do about it.
        reason: String,
    },

    /// The path cannot hold a log: it names something that is not a regular file (a
    /// directory, a device, a named pipe), or a file with more than one name (hard links), for
    /// which the lock could not keep a second writer out. Nothing was created or changed.
    #[error("cannot use {path} as a log: {reason}")]
    BadPath {
        /// The path as resolved (symbolic links followed).
        path: PathBuf,
        /// What the path names, and what to do instead.
        reason: String,
    },

    /// The file exists but is not a logcache log: it does not start with the file header.
    /// It was not changed.
    #[error(
        "{path} is not a logcache log (it does not start with the `logcache<TAB>1` header); \
         nothing was changed: check the path"
    )]
    NotALog {
        /// The file.
        path: PathBuf,
    },

    /// The file is a logcache log in a format version this build cannot read. It was not
    /// changed.
    #[error(
        "{path} is a logcache log of format version {version}, and this build reads version 1; \
         open it with the logcache release that wrote it"
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version its header names.
        version: String,
    },

    /// An object's manifest is of a BigCache layout version this build cannot read (written
    /// by a newer release). It was not changed.
    #[error(
        "the object {key} has a manifest of BigCache layout version {version}, and this build \
         reads versions 1 to 3; nothing was removed: use the logcache release that wrote it"
    )]
    UnsupportedManifest {
        /// The object's key, with bytes other than printable ASCII escaped.
        key: String,
        /// The version the manifest names.
        version: u8,
    },

    /// A conditional write or delete found the object not in the state it required (a
    /// create-only write found one, or the object changed since it was read).
    #[error(
        "the object {key} is not in the state the {op} required (it exists, is absent, or \
         changed since it was read); nothing was changed: read it again and decide anew"
    )]
    PreconditionFailed {
        /// The object's key, with bytes other than printable ASCII escaped.
        key: String,
        /// `write` or `delete`.
        op: &'static str,
    },

    /// A write was asked of a handle opened read-only.
    #[error("{path} is open read-only; open it again without `read_only` to change it")]
    ReadOnly {
        /// The log file.
        path: PathBuf,
    },

    /// A record read back from the log does not match its checksum (the media changed it).
    #[error(
        "checksum mismatch in {path} at byte {offset}: stored {expected:08x}, computed \
         {actual:08x}; the value is lost, delete the key or run compaction"
    )]
    ChecksumMismatch {
        /// The log file.
        path: PathBuf,
        /// Byte offset of the record.
        offset: u64,
        /// The CRC32 stored in the record.
        expected: u32,
        /// The CRC32 of the bytes actually read.
        actual: u32,
    },

    /// Another handle (in this process or another) has the cache open.
    #[error(
        "{path} is locked by another open handle{}; close it first or use another path",
        holder.map(|pid| format!(" (process {pid})")).unwrap_or_default()
    )]
    Locked {
        /// The lock file (`<log path>.lock`).
        path: PathBuf,
        /// The process id recorded in the lock file by the holder, when readable.
        holder: Option<u32>,
    },

    /// A [`Follower`](crate::Follower) was opened on a log that no writer shares: no handle
    /// opened with [`followers`](crate::DurableKVCacheBuilder::followers) has written it.
    #[error(
        "{path} is not shared with followers: open the log with `followers(true)` in the \
         process that writes it, then follow it"
    )]
    NotShared {
        /// The shared page that is missing (`<log path>.shared`).
        path: PathBuf,
    },

    /// A key or value is larger than the configured limit (or the log than its format allows).
    #[error(
        "{what} of {len} bytes is over the limit of {max} bytes; split it (BigCache does) or raise the limit"
    )]
    TooLarge {
        /// `"key"`, `"value"`, `"record"`, or `"log"` (a log cannot grow past 256 TiB).
        what: &'static str,
        /// The size given.
        len: u64,
        /// The largest size accepted.
        max: u64,
    },

    /// Not enough free disk space to run a compaction; the log is untouched.
    #[error(
        "not enough free space in {path} to compact: {needed} bytes needed, {available} \
         available; free some space or delete entries"
    )]
    NoSpace {
        /// The directory that holds the log.
        path: PathBuf,
        /// Bytes the compaction needs (the live data plus a margin).
        needed: u64,
        /// Bytes available.
        available: u64,
    },

    /// The cache has no room for the item and its options say not to evict.
    #[error("the cache is full: delete entries or raise its capacity")]
    Full,

    /// An earlier write or fsync failed, so what is on disk is no longer known; the handle
    /// refuses further writes rather than retry and trust a failed fsync.
    #[error(
        "the handle is poisoned by an earlier failure ({reason}); call recover() once the cause \
         is fixed (a full disk has room again), or drop it and reopen the cache"
    )]
    Poisoned {
        /// The failure that poisoned the handle.
        reason: String,
    },

    /// Loading a missing value (read-through: the store behind a tier, or a loader) failed.
    /// Every caller waiting on the same load gets this error.
    #[error("loading the value failed: {reason}; the cache holds nothing for the key")]
    Load {
        /// What the load reported.
        reason: String,
    },

    /// The caller's mistake: an argument or a setting out of range (a zero block size, a
    /// malformed store spec, a metadata value with a newline). Fix the call; retrying it
    /// unchanged fails again. The HTTP server answers `400` to a client's.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The operation is not one this store can do (memcached's `flush_all` over a store
    /// that cannot list its keys). Use a store that can; the HTTP server answers `501`.
    #[error("{what} is not supported by this store: {hint}")]
    Unsupported {
        /// The operation.
        what: String,
        /// What to do instead.
        hint: String,
    },

    /// An object writer cannot go on: an earlier write of it failed (that error was
    /// returned then), it was already committed, or it was dropped before its commit.
    /// Nothing of it was published; start the write again with a new writer.
    #[error(
        "this object writer cannot continue: {reason}; nothing was published, start a new write"
    )]
    WriterClosed {
        /// Why.
        reason: String,
    },

    /// Data a store holds for logcache's own bookkeeping is damaged (the memcached front
    /// end's CAS mark): not a log record, so without a path and offset. Delete the damaged
    /// entry or start from an empty store.
    #[error("{what} is damaged: {reason}")]
    Damaged {
        /// What was read.
        what: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A remote node (a memcached server, a `logcache serve` node) could not be reached, timed
    /// out, answered with an error, or spoke a protocol this client does not understand.
    /// A [`ShardedStore`](crate::ShardedStore) marks such a node down and retries it later.
    /// The underlying error (a socket's, the HTTP client's), when there is one, is the
    /// [`source`](std::error::Error::source).
    ///
    /// The message is the node and the reason, which says what to do (a node that cannot be
    /// reached: check that it runs; a timeout: it may be hung; a refused token: give the
    /// client the node's token).
    #[error("node {node} failed: {reason}")]
    Remote {
        /// The node's address (`host:port` or URL).
        node: String,
        /// What went wrong.
        reason: String,
        /// The cause, when it is another error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// An operating-system call about no one file failed: binding a listening address,
    /// installing a signal handler, a stream handed back an I/O error of its own.
    #[error("{what} failed")]
    System {
        /// What was being done (`"bind 127.0.0.1:8080"`).
        what: String,
        /// The error the operating system returned.
        #[source]
        source: io::Error,
    },

    /// A worker (a thread, a blocking task) panicked or was cancelled before it finished:
    /// what it was doing did not complete. The log has the panic message; retry.
    #[error("{what} did not complete: its worker {reason}")]
    Worker {
        /// What the worker was doing.
        what: String,
        /// `"panicked"`, or what stopped it.
        reason: String,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether the disk (or a quota, or a file-size limit) had no room for a write: free space,
    /// then retry. [`Error::NoSpace`], and [`Error::Io`] with `StorageFull`, `QuotaExceeded`
    /// or `FileTooLarge`.
    pub fn is_storage_full(&self) -> bool {
        match self {
            Error::NoSpace { .. } => true,
            Error::Io { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::StorageFull
                    | io::ErrorKind::QuotaExceeded
                    | io::ErrorKind::FileTooLarge
            ),
            _ => false,
        }
    }

    pub(crate) fn remote(node: &str, reason: impl std::fmt::Display) -> Self {
        Error::Remote {
            node: node.to_string(),
            reason: reason.to_string(),
            source: None,
        }
    }

    /// What a node-level error says of `node`, for a message that names several nodes: a
    /// [`Error::Remote`]'s reason alone (its node is named by the caller), anything else whole.
    pub(crate) fn reason_for_node(&self) -> String {
        match self {
            Error::Remote { reason, .. } => reason.clone(),
            other => other.to_string(),
        }
    }

    /// [`Error::Remote`] with `cause` as its source.
    pub(crate) fn remote_from(
        node: &str,
        reason: impl std::fmt::Display,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Remote {
            node: node.to_string(),
            reason: reason.to_string(),
            source: Some(Box::new(cause)),
        }
    }

    pub(crate) fn system(what: impl std::fmt::Display, source: io::Error) -> Self {
        Error::System {
            what: what.to_string(),
            source,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            op,
            source,
        }
    }
}
