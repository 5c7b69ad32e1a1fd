//! [`BigCache`]: objects of any size over any [`KvStore`], in blocks under a manifest.
//!
//! `set` writes an object's blocks under keys unique to this version of it, then the manifest
//! under the user's key: the manifest is the commit point, so a reader sees the whole old
//! object or the whole new one, never a mix. The old version's blocks are deleted after.

mod attributes;
mod builder;
mod cache;
mod keys;
mod manifest;
mod pool;
mod reclaim;
mod recover;
mod replicas;
mod stats;
pub(crate) mod stream;

pub use attributes::{Attributes, Digest, MAX_ATTRIBUTES};
pub use builder::{BigCacheBuilder, FullPolicy};
pub(crate) use cache::Allow;
use cache::STRIPES;
pub use cache::{BigCache, DEFAULT_BLOCK_SIZE, DEFAULT_INLINE_MAX, DEFAULT_NAMESPACE};
pub use recover::{ObjectProblem, Verification};
pub use stats::BigStats;
pub use stream::{BigReader, BigWriter, Committed};
