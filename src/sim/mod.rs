//! A simulated file system for crash and fault-injection tests (feature `sim`).
//!
//! [`SimFs`] implements [`FileSystem`](crate::fs::FileSystem) in memory and remembers, for every file, what is durable
//! (covered by `sync_data`) and what only the page cache holds, and for every directory which
//! names are durable (covered by `sync_dir`). A test arms a crash after the k-th mutating
//! operation ([`SimFs::crash_after`]): from then on every operation fails, as if the process
//! had died, and [`SimFs::crash_images`] returns the file systems a machine could come back
//! with — the model of RocksDB's `FaultInjectionTestFS` and redb's `CrashBackend`:
//!
//! - each file's unsynced bytes: all lost, a random prefix kept, replaced by zeros, replaced
//!   by garbage, or all kept;
//! - each directory's changes since its last `sync_dir` (creates, renames, removes): undone
//!   or kept.
//!
//! It also injects I/O errors ([`SimFs::fail`]): the n-th operation of a kind fails, once or
//! from then on.

mod codec;
mod file;
mod fs;

pub use codec::*;
use fs::MAX_SIM_FILE;
pub use fs::{DataLoss, OpKind, SimFs};
