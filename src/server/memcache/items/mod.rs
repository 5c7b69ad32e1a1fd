//! Items as memcached has them — a value with client flags, an expiry and a CAS unique — kept
//! in a [`KvStore`] (the durable log), and the operations of memcached's commands on them.
//!
//! An item is stored under `NAMESPACE` + its key, as `flags (u32 LE) | cas (u64 LE) | state
//! (u8) | data`, with the store's TTL as its expiry. `state` holds the meta protocol's marks:
//! stale (invalidated by `md I`) and "a win token was handed out" (`W` sent by `mg`). Changes to one key (every command that reads before it
//! writes: `add`, `cas`, `append`, `incr`, `touch`…, and `set` so that CAS order holds) are
//! serialised on one of a set of striped locks; different keys never wait for each other.

mod access;
mod flush;
mod lease;
mod read;
mod store;

pub(super) use access::{Access, Seen};
pub(super) use lease::{Invalidate, Lease};
pub(super) use read::{Item, ItemRef};
pub use store::MemcacheStats;
use store::WROTE;
pub(super) use store::{
    BINARY, Cond, Delta, Exp, HEADER, Items, Mode, NAMESPACE, Outcome, STALE, Touch, WON,
    take_wrote,
};
