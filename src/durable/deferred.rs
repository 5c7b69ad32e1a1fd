//! Group commit driven from outside: writes appended now, their durability awaited later.
//!
//! An event loop serving many clients cannot block a thread per write waiting for its
//! `fdatasync` ([`Durability::Sync`]). With these calls it appends each write at once
//! ([`set_deferred`](DurableKVCache::set_deferred), [`delete_deferred`](DurableKVCache::delete_deferred)),
//! holds the client's answer, and has one thread of its own wait for the newest
//! [`Ticket`] ([`wait_durable`](DurableKVCache::wait_durable)): every write appended while an
//! fsync runs is covered by the next one, so one fsync answers every client that wrote
//! meanwhile. A deferred write is published — visible to [`get`](DurableKVCache::get) —
//! only once durable, as a `Sync` put is; [`get_latest`](DurableKVCache::get_latest) also
//! sees the writes still waiting, for read-modify-write under the caller's own lock.
//!
//! In the other durability modes a write is published at once and there is nothing to wait
//! for: the calls return no ticket.

use std::sync::Arc;
use std::time::Duration;

use super::write::Ticket;
use super::{DurableKVCache, check_key};
use crate::error::Result;
use crate::log::record::Op;
use crate::options::Durability;
use crate::sync::lock;

impl DurableKVCache {
    /// Appends a put of `key` (until `ttl` from now, when given) and returns without waiting
    /// for its fsync: the ticket to pass to [`wait_durable`](Self::wait_durable) before
    /// telling anyone it is stored (`None` unless the mode is [`Durability::Sync`], where it is
    /// published and as durable as the mode promises already). Checked like
    /// [`set`](Self::set).
    pub fn set_deferred(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: Option<Duration>,
    ) -> Result<Option<Ticket>> {
        let (key, value) = (key.as_ref(), value.as_ref());
        self.check_set(key, value)?;
        let expiry = match ttl {
            Some(ttl) => crate::clock::expiry_after(&*self.inner.opts.clock, ttl),
            None => 0,
        };
        let (_, ticket) = self.inner.append_record(key, value, Op::Put, expiry)?;
        crate::counters::bump(&self.inner.counters.sets);
        self.inner.maybe_compact();
        Ok(ticket)
    }

    /// Appends a delete of `key` without waiting for its fsync: whether it had a live value
    /// (counting writes still waiting), and the ticket as for
    /// [`set_deferred`](Self::set_deferred) (`None` too when nothing was written).
    pub fn delete_deferred(&self, key: impl AsRef<[u8]>) -> Result<(bool, Option<Ticket>)> {
        let key = key.as_ref();
        check_key(key)?;
        let (removed, ticket) = self.inner.append_record(key, &[], Op::Delete, 0)?;
        if removed {
            crate::counters::bump(&self.inner.counters.deletes);
        }
        self.inner.maybe_compact();
        Ok((removed, ticket))
    }

    /// The newest value of `key` with its expiry, counting writes appended and not yet
    /// durable (which [`get`](Self::get) does not show). For read-modify-write under a lock
    /// of the caller's, whose answer must then wait for the ticket of what it read
    /// ([`last_written`](Self::last_written) covers it).
    pub fn get_latest(&self, key: impl AsRef<[u8]>) -> Result<Option<(Vec<u8>, u64)>> {
        let key = key.as_ref();
        let inner = &*self.inner;
        if inner.opts.durability == Durability::Sync {
            let waiting = {
                let c = lock(&inner.group.commit);
                c.pending
                    .iter()
                    .rev()
                    .find(|p| &*p.key == key)
                    .map(|p| (p.change, Arc::clone(&c.file)))
            };
            if let Some((change, file)) = waiting {
                let Some(entry) = change else {
                    return Ok(None); // a delete waiting for its fsync
                };
                if entry.is_expired(inner.opts.clock.now_millis()) {
                    return Ok(None);
                }
                let mut value = Vec::new();
                inner.read_value_into(&file, &entry, key, &mut value)?;
                return Ok(Some((value, entry.expiry)));
            }
        }
        self.get_with_expiry(key)
    }

    /// The ticket of the newest record written so far, by anyone (`None` unless the mode is
    /// [`Durability::Sync`]): waiting for it covers every write before it.
    pub fn last_written(&self) -> Option<Ticket> {
        if self.inner.opts.durability != Durability::Sync {
            return None;
        }
        let c = lock(&self.inner.group.commit);
        Some(Ticket {
            seq: c.written_seq,
            generation: c.generation,
        })
    }

    /// Whether the write of `ticket` is durable and published (no waiting, no fsync).
    pub fn is_durable(&self, ticket: Ticket) -> bool {
        let c = lock(&self.inner.group.commit);
        c.generation == ticket.generation && c.synced_seq >= ticket.seq
    }

    /// Returns once the write of `ticket`, and every write before it, is on stable storage
    /// and published, leading a group fsync when no other thread is. Fails as a `Sync` put
    /// fails when its fsync does, or when a [`recover`](Self::recover) discarded the write.
    pub fn wait_durable(&self, ticket: Ticket) -> Result<()> {
        self.inner.sync_write(ticket.seq, ticket.generation)
    }
}
