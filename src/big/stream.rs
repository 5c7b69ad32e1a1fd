//! Streaming: [`BigWriter`] (`io::Write`, publish with `commit`) and [`BigReader`]
//! (`io::Read`), each holding about one block in memory.

use std::io;

use super::BigCache;
use super::attributes::Attributes;
use super::manifest::{Manifest, VersionId};
use super::pool::Reservation;
use crate::error::{Error, Result};
use crate::store::KvStore;

/// Wraps an [`Error`] for the `io` traits.
fn to_io(e: Error) -> io::Error {
    io::Error::other(e)
}

/// Recovers the [`Error`] inside an `io::Error` made by [`to_io`]; other I/O errors become
/// [`Error::System`].
/// What [`Error::System`] says of a stream's own I/O error.
const STREAM: &str = "streaming an object";

pub(crate) fn unwrap_io(e: io::Error) -> Error {
    if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        match e.into_inner().map(|inner| inner.downcast::<Error>()) {
            Some(Ok(err)) => return *err,
            Some(Err(other)) => return Error::system(STREAM, io::Error::other(other)),
            None => {}
        }
        return Error::system(STREAM, io::Error::other("lost error"));
    }
    Error::system(STREAM, e)
}

/// What [`BigWriter::commit`] published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Committed {
    /// The object's size in bytes.
    pub size: u64,
    /// CRC32 of the whole object, as [`BigReader::crc32`] reports it.
    pub crc32: u32,
    /// The version written, as [`BigReader::version`] reports it: unique to this write, so
    /// it serves as a strong entity tag.
    pub version: u128,
}

/// Writes one object block by block; nothing is visible until [`commit`](Self::commit).
/// Dropping it without committing deletes the blocks it wrote and frees their reservation.
/// Created by [`BigCache::writer`].
pub struct BigWriter<'a, S: KvStore> {
    cache: &'a BigCache<S>,
    key: Vec<u8>,
    id: VersionId,
    buf: Vec<u8>,
    crcs: Vec<u32>,
    whole: crc32fast::Hasher,
    size: u64,
    /// Bytes reserved in the pool for this write (written blocks included).
    reservation: Reservation,
    /// The object's TTL, for the manifest.
    ttl: Option<std::time::Duration>,
    /// Content type and metadata, for the manifest.
    attrs: Attributes,
    failed: bool,
    done: bool,
}

impl<S: KvStore> std::fmt::Debug for BigWriter<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BigWriter")
            .field("size", &self.size)
            .field("blocks", &self.crcs.len())
            .finish_non_exhaustive()
    }
}

impl<S: KvStore> BigCache<S> {
    /// A streaming writer for the object under `key`: write any number of bytes, then
    /// [`commit`](BigWriter::commit). Memory stays at about one block whatever the size.
    pub fn writer(&self, key: impl AsRef<[u8]>) -> Result<BigWriter<'_, S>> {
        self.check_key(key.as_ref())?;
        Ok(BigWriter {
            cache: self,
            key: key.as_ref().to_vec(),
            id: self.new_id(),
            buf: Vec::new(),
            crcs: Vec::new(),
            whole: crc32fast::Hasher::new(),
            size: 0,
            reservation: Reservation::default(),
            ttl: None,
            attrs: Attributes::default(),
            failed: false,
            done: false,
        })
    }

    /// As [`writer`](Self::writer), for an object that expires `ttl` after it is committed
    /// (see [`set_with_ttl`](BigCache::set_with_ttl)).
    pub fn writer_with_ttl(
        &self,
        key: impl AsRef<[u8]>,
        ttl: std::time::Duration,
    ) -> Result<BigWriter<'_, S>> {
        let mut w = self.writer(key)?;
        w.ttl = Some(ttl);
        Ok(w)
    }

    /// A streaming reader of the object under `key`, or `None` when there is none. It holds
    /// one block at a time and checks each block's CRC as it goes and the object's CRC at the
    /// end.
    ///
    /// It implements `io::Seek`: after a seek only the blocks read are loaded.
    ///
    /// The version being read stays readable to its end: a replace, delete or eviction
    /// during the read takes effect for everyone else at once, but the old version's blocks
    /// are deleted only when its last reader is dropped (meanwhile they no longer count
    /// against the capacity). Only damage, or another handle over the same store removing
    /// the blocks, can break a read, and then `read` fails with `InvalidData` rather than
    /// return bytes of another version.
    pub fn reader(&self, key: impl AsRef<[u8]>) -> Result<Option<BigReader<'_, S>>> {
        let key = key.as_ref();
        if self.check_expired(key) {
            super::stats::bump(&self.counters.misses);
            return Ok(None);
        }
        let mkey = self.manifest_key(key);
        let pinned = {
            let _stripe = self.stripe(key);
            match self.manifest_copy(key, &mkey, true) {
                Ok(Some((bytes, expiry))) => Manifest::decode(&bytes)
                    .filter(|m| u64::from(m.block_size) <= self.store.max_value_len())
                    .inspect(|m| self.pin(&m.id))
                    .map(|m| (m, expiry)),
                Ok(None) => {
                    super::stats::bump(&self.counters.misses);
                    return Ok(None);
                }
                Err(Error::ChecksumMismatch { .. } | Error::Corrupt { .. }) => None,
                Err(e) => return Err(e),
            }
        };
        let Some((manifest, expiry)) = pinned else {
            // Damaged: loading it again outside the stripe removes it.
            let _ = self.load_manifest(key, &mkey)?;
            super::stats::bump(&self.counters.misses);
            return Ok(None);
        };
        crate::sync::lock(&self.pool).touch(key);
        super::stats::bump(&self.counters.hits);
        // An inline object is its one block, in hand (decoding checked its CRC).
        let mut whole = crc32fast::Hasher::new();
        let block = manifest.inline.clone().unwrap_or_default();
        whole.update(&block);
        Ok(Some(BigReader {
            cache: self,
            key: key.to_vec(),
            manifest,
            expiry,
            next: 0,
            block,
            pos: 0,
            whole,
            finished: false,
            offset: 0,
            skip: 0,
            whole_checked: true,
        }))
    }
}

impl<S: KvStore> BigWriter<'_, S> {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.size
    }

    fn write_block(&mut self) -> Result<()> {
        let cache = self.cache;
        cache.reserve(&self.key, &mut self.reservation, self.buf.len() as u64)?;
        let index = self.crcs.len() as u64;
        cache
            .store
            .set(&cache.block_key(&self.id, index), &self.buf)?;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&self.buf);
        self.crcs.push(crc.clone().finalize());
        // The object's CRC is combined from the blocks' CRCs: no second pass over the bytes.
        self.whole.combine(&crc);
        self.buf.clear();
        Ok(())
    }

    /// Sets the content type and metadata stored with the object (checked here: see
    /// [`Attributes::check`]).
    pub fn set_attributes(&mut self, attrs: Attributes) -> Result<()> {
        attrs.check()?;
        self.attrs = attrs;
        Ok(())
    }

    /// Publishes the object: writes the last block, then the manifest, and returns its size,
    /// checksum and version. On error nothing is published and the blocks are deleted.
    pub fn commit(self) -> Result<Committed> {
        self.publish(None)
    }

    /// Publishes the object only if `allow`, given the version of the object under the key
    /// at the commit point (`None`: there is none), returns `true`; otherwise nothing is
    /// published, the blocks are deleted and the result is [`Error::PreconditionFailed`].
    /// The check and the publication are one step for every handle on this `BigCache` (the
    /// key's commits and deletes are serialised): of many create-only writers
    /// (`|current| current.is_none()`) exactly one wins. Handles in other processes over a
    /// shared remote store are not serialised with this one.
    ///
    /// `allow` runs under the key's lock: keep it short, and do not touch the cache from it.
    pub fn commit_if(self, allow: impl FnOnce(Option<u128>) -> bool) -> Result<Committed> {
        self.publish(Some(Box::new(allow)))
    }

    fn publish(mut self, allow: Option<super::Allow<'_>>) -> Result<Committed> {
        if self.failed {
            return Err(Error::WriterClosed {
                reason: "a write to it failed earlier".into(),
            });
        }
        // A small object goes inside its manifest: one store record instead of two.
        let inline = self.crcs.is_empty() && self.buf.len() <= self.cache.inline_max;
        if inline {
            self.whole.update(&self.buf);
        } else if !self.buf.is_empty() {
            self.write_block()?;
        }
        let manifest = Manifest {
            size: self.size,
            block_size: self.cache.block_size as u32,
            id: self.id,
            object_crc: self.whole.clone().finalize(),
            block_crcs: std::mem::take(&mut self.crcs),
            inline: inline.then(|| std::mem::take(&mut self.buf)),
            attrs: std::mem::take(&mut self.attrs),
            stamp: self.cache.stamp(),
        };
        let mut sent = false;
        let result = self.cache.commit(
            &self.key,
            &manifest,
            &mut self.reservation,
            self.ttl,
            allow,
            &mut sent,
        );
        let unknown =
            sent && matches!(result, Err(Error::Remote { .. })) && self.cache.store.replicas() > 1;
        if unknown {
            // Some replicas may hold the manifest (a hung node may still apply it): its
            // blocks must stay, or that version would read as damaged. If it never becomes
            // visible they are orphans, removed at the next open over a listing store.
            crate::sync::lock(&self.cache.pool).release(std::mem::take(&mut self.reservation));
            self.done = true;
        } else if result.is_err() {
            self.crcs = manifest.block_crcs; // so that drop deletes them
        } else {
            self.done = true;
        }
        result.map(|()| Committed {
            size: manifest.size,
            crc32: manifest.object_crc,
            version: u128::from_be_bytes(manifest.id),
        })
    }
}

impl<S: KvStore> io::Write for BigWriter<'_, S> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(to_io(Error::WriterClosed {
                reason: "a write to it failed earlier".into(),
            }));
        }
        let room = self.cache.block_size - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        self.size += n as u64;
        if self.buf.len() == self.cache.block_size
            && let Err(e) = self.write_block()
        {
            self.failed = true;
            return Err(to_io(e));
        }
        Ok(n)
    }

    /// Does nothing: blocks are written when full, the last one by `commit`.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<S: KvStore> Drop for BigWriter<'_, S> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Blocks written, and the one whose set may have failed half way.
        let written = self.crcs.len() as u64;
        self.cache.delete_blocks(&self.id, written + 1);
        crate::sync::lock(&self.cache.pool).release(self.reservation);
    }
}

impl<S: KvStore> Drop for BigReader<'_, S> {
    fn drop(&mut self) {
        self.cache.unpin(&self.manifest.id);
    }
}

/// Reads one object block by block; see [`BigCache::reader`].
pub struct BigReader<'a, S: KvStore> {
    cache: &'a BigCache<S>,
    key: Vec<u8>,
    manifest: Manifest,
    /// Absolute expiry in Unix milliseconds, as the store reports it (0: none or unknown).
    expiry: u64,
    next: u64,
    block: Vec<u8>,
    pos: usize,
    whole: crc32fast::Hasher,
    finished: bool,
    /// Bytes of the object before the next one `read` returns.
    offset: u64,
    /// Bytes of the next block loaded to pass over (a seek into its middle).
    skip: usize,
    /// Whether the object's CRC is checked at the end: only a read from offset 0 sees every
    /// byte (after a seek each block is still checked against its own CRC).
    whole_checked: bool,
}

impl<S: KvStore> std::fmt::Debug for BigReader<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BigReader")
            .field("len", &self.manifest.size)
            .field("next_block", &self.next)
            .finish_non_exhaustive()
    }
}

impl<S: KvStore> BigReader<'_, S> {
    /// The object's size in bytes.
    pub fn len(&self) -> u64 {
        self.manifest.size
    }

    /// Whether the object is empty.
    pub fn is_empty(&self) -> bool {
        self.manifest.size == 0
    }

    /// The object's CRC32 (IEEE), from its manifest.
    pub fn crc32(&self) -> u32 {
        self.manifest.object_crc
    }

    /// The version being read: unique to the write that made it (see
    /// [`Committed::version`]), so usable as a strong entity tag.
    pub fn version(&self) -> u128 {
        u128::from_be_bytes(self.manifest.id)
    }

    /// The object's content type and metadata, as written.
    pub fn attributes(&self) -> &Attributes {
        &self.manifest.attrs
    }

    /// When the object expires, in Unix milliseconds: `None` without a TTL (or over a store
    /// that does not report expiries).
    pub fn expires_at(&self) -> Option<u64> {
        (self.expiry != 0).then_some(self.expiry)
    }

    fn broken(&self, what: &str) -> io::Error {
        let mkey = self.cache.manifest_key(&self.key);
        self.cache.remove_broken(&self.key, &mkey, &self.manifest);
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{what}: the object was replaced, evicted or damaged during the read"),
        )
    }
}

impl<S: KvStore> BigReader<'_, S> {
    /// Makes sure unread bytes are in hand, loading (and checking) the next block when the
    /// current one is used up. `false` at the end of the object, once its CRC has held.
    fn fill(&mut self) -> io::Result<bool> {
        while self.pos == self.block.len() {
            if self.next >= self.manifest.blocks() {
                if !self.finished {
                    self.finished = true;
                    if self.whole_checked
                        && self.whole.clone().finalize() != self.manifest.object_crc
                    {
                        return Err(self.broken("object checksum mismatch"));
                    }
                }
                return Ok(false);
            }
            match self
                .cache
                .load_block(&self.manifest, self.next)
                .map_err(to_io)?
            {
                Ok((block, crc)) => {
                    self.whole.combine(&crc);
                    self.pos = self.skip.min(block.len());
                    self.skip = 0;
                    self.block = block;
                    self.next += 1;
                }
                Err(fault) => {
                    let what = format!("block {} {fault}", self.next);
                    return Err(self.broken(&what));
                }
            }
        }
        Ok(true)
    }

    /// The next piece of the object as an owned buffer, without copying it: the rest of the
    /// block in hand, else the next block whole (checked as by `read`); `None` at the end,
    /// once the object's CRC has held. Mixes freely with `read`.
    pub fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        if !self.fill()? {
            return Ok(None);
        }
        let rest = if self.pos == 0 {
            std::mem::take(&mut self.block)
        } else {
            let rest = self.block.split_off(self.pos);
            self.block.clear();
            rest
        };
        self.pos = 0;
        self.offset += rest.len() as u64;
        Ok(Some(rest))
    }
}

impl<S: KvStore> io::Read for BigReader<'_, S> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if !self.fill()? {
            return Ok(0);
        }
        let n = out.len().min(self.block.len() - self.pos);
        out[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        self.offset += n as u64;
        Ok(n)
    }
}

impl<S: KvStore> io::Seek for BigReader<'_, S> {
    /// Moves to any offset; the next read loads only the block holding it (a read at the end
    /// of a 1 GiB object loads one block). Positions past the end read as the end. Each block
    /// is still checked against its CRC; the whole object's CRC only on a read from offset 0.
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        let size = self.manifest.size;
        let target = match to {
            io::SeekFrom::Start(n) => Some(n),
            io::SeekFrom::End(d) => size.checked_add_signed(d),
            io::SeekFrom::Current(d) => self.offset.checked_add_signed(d),
        }
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "a seek before the start of the object",
            )
        })?;
        self.offset = target;
        self.finished = false;
        self.whole = crc32fast::Hasher::new();
        self.whole_checked = target == 0;
        self.pos = 0;
        self.skip = 0;
        self.block.clear();
        let at = target.min(size);
        if let Some(data) = &self.manifest.inline {
            // The inline object is in the manifest: no block to load.
            self.block = data.get(at as usize..).unwrap_or_default().to_vec();
            self.next = 0;
            if target == 0 {
                self.whole.update(data);
            } else {
                self.finished = true;
            }
            return Ok(target);
        }
        let bs = u64::from(self.manifest.block_size);
        self.next = at / bs;
        self.skip = (at % bs) as usize;
        Ok(target)
    }
}
