//! Read-modify-write on one key, atomic against every other write to the cache: `update` and
//! what is built on it (`add`, `replace`, `incr`, `touch`, `compare_and_swap`, `take`).
//!
//! The decision runs under the writer lock, after the key's newest value (a change still
//! waiting for its fsync included) is read back from the log; the record it asks for is
//! appended before the lock is released, so no other write can fall between the read and the
//! write. The fsync, as for any write, is waited for outside the lock (group commit).

use std::sync::Arc;
use std::time::Duration;

use super::DurableKVCache;
use super::check_key;
use crate::error::{Error, Result};
use crate::log::record::Op;

/// What an [`update`](DurableKVCache::update) closure decides for the key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// Leave the key as it is: nothing is written.
    Keep,
    /// Set the key to `value`, expiring at `expiry` (Unix milliseconds, 0 = never; see
    /// [`DurableKVCache::expiry_after`]).
    Set {
        /// The new value.
        value: Vec<u8>,
        /// When it expires: Unix milliseconds, 0 = never.
        expiry: u64,
    },
    /// Remove the key (nothing is written when it has no value).
    Delete,
}

/// The value an [`update`](DurableKVCache::update) closure is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Current<'a> {
    /// The key's value.
    pub value: &'a [u8],
    /// When it expires: Unix milliseconds, 0 = never.
    pub expiry: u64,
}

impl DurableKVCache {
    /// The expiry (Unix milliseconds by the cache's clock) of a value written now with `ttl`:
    /// what [`Change::Set`] takes. `None` gives 0, never.
    pub fn expiry_after(&self, ttl: Option<Duration>) -> u64 {
        ttl.map_or(0, |ttl| {
            crate::clock::expiry_after(&*self.inner.opts.clock, ttl)
        })
    }

    /// Reads `key`'s value, lets `decide` choose what becomes of it, and writes that — with no
    /// other write to the cache between the read and the write. Returns what `decide` returned
    /// beside the change, once the change is as durable as the [`Durability`] mode promises.
    ///
    /// `decide` runs under the cache's writer lock: keep it short (no I/O, no other call on
    /// this cache — that would deadlock). Reads go on meanwhile. An absent or expired key is
    /// shown as `None`.
    ///
    /// ```
    /// use logcache::{Change, DurableKVCache};
    /// # let dir = tempfile::tempdir()?;
    /// let cache = DurableKVCache::open(dir.path().join("cache.log"))?;
    /// // Append to a list kept as one value, atomically.
    /// for item in [b"a", b"b"] {
    ///     cache.update("list", |cur| {
    ///         let mut value = cur.map(|c| c.value.to_vec()).unwrap_or_default();
    ///         value.extend_from_slice(item);
    ///         (Change::Set { value, expiry: 0 }, ())
    ///     })?;
    /// }
    /// assert_eq!(cache.get("list")?.as_deref(), Some(&b"ab"[..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// [`Durability`]: crate::Durability
    pub fn update<T>(
        &self,
        key: impl AsRef<[u8]>,
        decide: impl FnOnce(Option<Current<'_>>) -> (Change, T),
    ) -> Result<T> {
        let key = key.as_ref();
        check_key(key)?;
        let inner = &*self.inner;
        let sync = inner.opts.durability == crate::Durability::Sync;
        let w = inner.writer()?;
        let now = inner.opts.clock.now_millis();
        let entry = inner.current(key, sync).filter(|e| !e.is_expired(now));
        let mut buf = Vec::new();
        if let Some(entry) = &entry {
            let file = Arc::clone(&w.file);
            inner.read_value_into(&file, entry, key, &mut buf)?;
        }
        let (change, out) = decide(entry.as_ref().map(|e| Current {
            value: &buf,
            expiry: e.expiry,
        }));
        // `None`: nothing written; `Some(ticket)`: written, with what to wait for (a ticket
        // only in Sync mode).
        let written = match change {
            Change::Keep => None,
            Change::Set { value, expiry } => {
                self.check_set(key, &value)?;
                let ticket = inner.append_held(w, key, &value, Op::Put, expiry)?;
                crate::counters::bump(&inner.counters.sets);
                Some(ticket)
            }
            Change::Delete if entry.is_none() && inner.opts.max_bytes.is_none() => None,
            Change::Delete => {
                let ticket = inner.append_held(w, key, &[], Op::Delete, 0)?;
                if entry.is_some() {
                    crate::counters::bump(&inner.counters.deletes);
                }
                Some(ticket)
            }
        };
        if let Some(ticket) = written {
            if let Some(ticket) = ticket {
                inner.sync_write(ticket.seq, ticket.generation)?;
            }
            inner.maybe_compact();
        }
        Ok(out)
    }

    /// Sets `key` to `value` only when it has no live value; returns whether it did.
    /// `ttl`: `None` never expires.
    pub fn add(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        self.set_if(key.as_ref(), value.as_ref(), ttl, false)
    }

    /// Sets `key` to `value` only when it has a live value; returns whether it did.
    pub fn replace(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        self.set_if(key.as_ref(), value.as_ref(), ttl, true)
    }

    /// `add` (`present == false`) and `replace` (`true`).
    fn set_if(
        &self,
        key: &[u8],
        value: &[u8],
        ttl: Option<Duration>,
        present: bool,
    ) -> Result<bool> {
        let expiry = self.expiry_after(ttl);
        self.update(key, |cur| {
            if cur.is_some() != present {
                return (Change::Keep, false);
            }
            let value = value.to_vec();
            (Change::Set { value, expiry }, true)
        })
    }

    /// Adds `delta` to the number `key` holds (decimal ASCII, as memcached keeps counters) and
    /// returns the new number; the value keeps its expiry. An absent key starts from `initial`
    /// (`None`: nothing is written and the answer is `None`).
    ///
    /// A value that is not a decimal `i64` gives [`Error::InvalidArgument`]; a result outside
    /// `i64` gives the same error and writes nothing.
    pub fn incr(
        &self,
        key: impl AsRef<[u8]>,
        delta: i64,
        initial: Option<i64>,
    ) -> Result<Option<i64>> {
        self.update(key, |cur| {
            let (start, expiry) = match cur {
                None => match initial {
                    None => return (Change::Keep, Ok(None)),
                    Some(start) => (start, 0),
                },
                Some(cur) => match parse_i64(cur.value) {
                    Some(n) => (n, cur.expiry),
                    None => {
                        return (
                            Change::Keep,
                            Err(Error::InvalidArgument(
                                "incr on a value that is not a decimal integer; set it to a \
                                 number first"
                                    .into(),
                            )),
                        );
                    }
                },
            };
            match start.checked_add(delta) {
                Some(n) => (
                    Change::Set {
                        value: n.to_string().into_bytes(),
                        expiry,
                    },
                    Ok(Some(n)),
                ),
                None => (
                    Change::Keep,
                    Err(Error::InvalidArgument(format!(
                        "incr by {delta} would take {start} outside a 64-bit signed integer"
                    ))),
                ),
            }
        })?
    }

    /// Gives `key`'s live value a new expiry (`None`: never); returns whether it had one.
    /// The value is written again with it.
    pub fn touch(&self, key: impl AsRef<[u8]>, ttl: Option<Duration>) -> Result<bool> {
        let expiry = self.expiry_after(ttl);
        self.update(key, |cur| match cur {
            None => (Change::Keep, false),
            Some(cur) => (
                Change::Set {
                    value: cur.value.to_vec(),
                    expiry,
                },
                true,
            ),
        })
    }

    /// Replaces `key`'s value by `new` (`None`: deletes it) only when its value is `expected`
    /// (`None`: it has none); returns whether it did. A new value never expires.
    pub fn compare_and_swap(
        &self,
        key: impl AsRef<[u8]>,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool> {
        self.update(key, |cur| {
            if cur.map(|c| c.value) != expected {
                return (Change::Keep, false);
            }
            let change = match new {
                Some(value) => Change::Set {
                    value: value.to_vec(),
                    expiry: 0,
                },
                None => Change::Delete,
            };
            (change, true)
        })
    }

    /// Removes `key` and returns the value it had, atomically: of two callers, one gets it.
    pub fn take(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        self.update(key, |cur| match cur {
            None => (Change::Keep, None),
            Some(cur) => (Change::Delete, Some(cur.value.to_vec())),
        })
    }
}

/// A decimal `i64` (an optional `-`, digits), as `incr` keeps numbers.
fn parse_i64(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.trim().parse().ok()
}
