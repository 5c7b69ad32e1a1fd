//! [`AsyncBigWriter`] and [`AsyncBigReader`]: an object streamed in and out of a
//! [`BigCache`] from async code. A blocking thread holds the [`BigWriter`](crate::BigWriter) or
//! [`BigReader`](crate::BigReader); bytes cross in a bounded channel of a few chunks, so memory
//! stays at about one block plus the channel whatever the size, and a slow side holds the
//! other back.

use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc::error::SendError;
use tokio::sync::mpsc::{self, OwnedPermit};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::worker;
use crate::big::stream::unwrap_io;
use crate::big::{Attributes, BigCache, Committed};
use crate::error::{Error, Result};
use crate::store::KvStore;

/// Chunks buffered between the async side and the blocking thread.
const CHANNEL: usize = 4;
/// The most bytes one `poll_write` takes (so a huge `write_all` is cut into chunks).
const MAX_CHUNK: usize = 256 << 10;

/// What [`AsyncBigWriter::commit_if`] checks.
type Allow = Box<dyn FnOnce(Option<u128>) -> bool + Send>;

/// The commit request the blocking thread waits for once the data channel closes.
struct Commit {
    attrs: Attributes,
    allow: Option<Allow>,
}

type Reserving = Pin<Box<dyn Future<Output = Result<OwnedPermit<Bytes>, SendError<()>>> + Send>>;

/// Writes one object from async code: `AsyncWrite` (or [`send`](Self::send) for owned
/// chunks without a copy), then [`commit`](Self::commit). Nothing is visible until the commit;
/// dropping the writer without committing publishes nothing and deletes what it wrote.
/// Made by [`AsyncBigCache::writer`](super::AsyncBigCache::writer).
pub struct AsyncBigWriter {
    tx: mpsc::Sender<Bytes>,
    commit: Option<oneshot::Sender<Commit>>,
    /// The blocking thread (`None` once its failure has been collected).
    task: Option<JoinHandle<Result<Committed>>>,
    reserving: Option<Reserving>,
    attrs: Attributes,
    written: u64,
}

impl std::fmt::Debug for AsyncBigWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncBigWriter")
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl AsyncBigWriter {
    /// Starts the blocking thread that writes `key` into `cache`.
    pub(super) fn start<S: KvStore + 'static>(
        cache: Arc<BigCache<S>>,
        key: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<Self> {
        // Refuse a bad key here rather than at the first write.
        cache.check_key(&key)?;
        let (tx, mut rx) = mpsc::channel::<Bytes>(CHANNEL);
        let (commit_tx, commit_rx) = oneshot::channel::<Commit>();
        let task = tokio::task::spawn_blocking(move || {
            let mut w = match ttl {
                Some(ttl) => cache.writer_with_ttl(&key, ttl)?,
                None => cache.writer(&key)?,
            };
            while let Some(bytes) = rx.blocking_recv() {
                w.write_all(&bytes).map_err(unwrap_io)?;
            }
            // The data is in: commit only if asked (a dropped writer never asks).
            let Ok(commit) = commit_rx.blocking_recv() else {
                return Err(Error::WriterClosed {
                    reason: "it was dropped before its commit".into(),
                });
            };
            w.set_attributes(commit.attrs)?;
            match commit.allow {
                Some(allow) => w.commit_if(allow),
                None => w.commit(),
            }
        });
        Ok(AsyncBigWriter {
            tx,
            commit: Some(commit_tx),
            task: Some(task),
            reserving: None,
            attrs: Attributes::default(),
            written: 0,
        })
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Sets the content type and metadata stored with the object (checked here).
    pub fn set_attributes(&mut self, attrs: Attributes) -> Result<()> {
        attrs.check()?;
        self.attrs = attrs;
        Ok(())
    }

    /// Sends an owned chunk without copying it; waits while the channel is full.
    pub async fn send(&mut self, chunk: Bytes) -> Result<()> {
        let len = chunk.len() as u64;
        if self.tx.send(chunk).await.is_err() {
            return Err(self.failure().await);
        }
        self.written += len;
        Ok(())
    }

    /// Publishes the object once every byte is written, and returns what was committed.
    pub async fn commit(self) -> Result<Committed> {
        self.finish(None).await
    }

    /// Publishes the object only if `allow`, given the current version under the key (`None`:
    /// absent), returns `true`, checked at the commit point as
    /// [`BigWriter::commit_if`](crate::BigWriter::commit_if); else
    /// [`Error::PreconditionFailed`] and nothing is published.
    pub async fn commit_if(
        self,
        allow: impl FnOnce(Option<u128>) -> bool + Send + 'static,
    ) -> Result<Committed> {
        self.finish(Some(Box::new(allow))).await
    }

    /// Gives the object up: nothing is published, and once this returns the blocks written are
    /// deleted and their reservation freed (dropping the writer does the same, in the
    /// background).
    pub async fn abort(self) {
        let AsyncBigWriter {
            tx, commit, task, ..
        } = self;
        drop(commit);
        drop(tx);
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    async fn finish(mut self, allow: Option<Allow>) -> Result<Committed> {
        let commit = Commit {
            attrs: std::mem::take(&mut self.attrs),
            allow,
        };
        if let Some(tx) = self.commit.take() {
            let _ = tx.send(commit);
        }
        let AsyncBigWriter { tx, task, .. } = self;
        drop(tx); // the data channel closes: the thread goes on to the commit
        match task {
            Some(task) => task.await.map_err(|e| worker("an object write", e))?,
            None => Err(stopped()),
        }
    }

    /// Why the blocking thread stopped taking bytes: its error (collected once).
    async fn failure(&mut self) -> Error {
        match self.task.take() {
            Some(task) => match task.await {
                Ok(Err(e)) => e,
                Ok(Ok(_)) => Error::WriterClosed {
                    reason: "it was already committed".into(),
                },
                Err(e) => worker("an object write", e),
            },
            None => stopped(),
        }
    }
}

impl AsyncWrite for AsyncBigWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let this = &mut *self;
        let reserving = this
            .reserving
            .get_or_insert_with(|| Box::pin(this.tx.clone().reserve_owned()));
        let reserved = ready!(reserving.as_mut().poll(cx));
        this.reserving = None;
        match reserved {
            Ok(permit) => {
                let n = buf.len().min(MAX_CHUNK);
                permit.send(Bytes::copy_from_slice(&buf[..n]));
                this.written += n as u64;
                Poll::Ready(Ok(n))
            }
            // The thread stopped on an error; `commit` returns it.
            Err(_) => Poll::Ready(Err(std::io::Error::other(
                "the store stopped taking this object's bytes; commit() returns why",
            ))),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Does nothing: an object is published by [`commit`](AsyncBigWriter::commit) alone.
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The error of a writer whose failure was already reported.
fn stopped() -> Error {
    Error::WriterClosed {
        reason: "a write to it failed earlier (reported then)".into(),
    }
}

/// One piece of a streamed object: bytes, or why the stream broke off.
type Chunk = std::result::Result<Bytes, Error>;

/// What is known of the object being read, from its manifest.
#[derive(Debug, Clone)]
struct Info {
    len: u64,
    crc32: u32,
    version: u128,
    expires_at: Option<u64>,
    attrs: Attributes,
}

/// Reads one object from async code: `AsyncRead`, or [`next_chunk`](Self::next_chunk) for
/// owned chunks without a copy. Each block is checked against its CRC as it is read; damage
/// ends the stream with an error, never wrong bytes. The version being read stays readable
/// until the reader is dropped (as [`BigCache::reader`]). Made by
/// [`AsyncBigCache::reader`](super::AsyncBigCache::reader).
pub struct AsyncBigReader {
    info: Info,
    /// The part to read, sent before the first read (`None` once sent).
    plan: Option<oneshot::Sender<(u64, u64)>>,
    range: (u64, u64),
    rx: mpsc::Receiver<Chunk>,
    current: Bytes,
    failed: bool,
}

impl std::fmt::Debug for AsyncBigReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncBigReader")
            .field("len", &self.info.len)
            .finish_non_exhaustive()
    }
}

impl AsyncBigReader {
    /// Opens `key` on a blocking thread: `None` when there is no such object.
    pub(super) async fn open<S: KvStore + 'static>(
        cache: Arc<BigCache<S>>,
        key: Vec<u8>,
    ) -> Result<Option<Self>> {
        let (info_tx, info_rx) = oneshot::channel::<Result<Option<Info>>>();
        let (plan_tx, plan_rx) = oneshot::channel::<(u64, u64)>();
        let (tx, rx) = mpsc::channel::<Chunk>(CHANNEL / 2);
        tokio::task::spawn_blocking(move || {
            let mut reader = match cache.reader(&key) {
                Ok(Some(r)) => r,
                Ok(None) => return drop(info_tx.send(Ok(None))),
                Err(e) => return drop(info_tx.send(Err(e))),
            };
            let info = Info {
                len: reader.len(),
                crc32: reader.crc32(),
                version: reader.version(),
                expires_at: reader.expires_at(),
                attrs: reader.attributes().clone(),
            };
            if info_tx.send(Ok(Some(info))).is_err() {
                return;
            }
            // Wait for the part to read; a reader dropped first releases the version here.
            let Ok((start, len)) = plan_rx.blocking_recv() else {
                return;
            };
            if len == 0 {
                return;
            }
            if let Err(e) = std::io::Seek::seek(&mut reader, std::io::SeekFrom::Start(start)) {
                let _ = tx.blocking_send(Err(unwrap_io(e)));
                return;
            }
            let mut left = len;
            loop {
                match reader.next_chunk() {
                    Ok(Some(mut chunk)) => {
                        chunk.truncate(usize::try_from(left).unwrap_or(usize::MAX));
                        left -= chunk.len() as u64;
                        if tx.blocking_send(Ok(Bytes::from(chunk))).is_err() || left == 0 {
                            return; // done, or the reader went away
                        }
                    }
                    Ok(None) => return,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(unwrap_io(e)));
                        return;
                    }
                }
            }
        });
        let info = match info_rx.await {
            Ok(found) => found?,
            Err(e) => return Err(worker("opening an object", e)),
        };
        Ok(info.map(|info| AsyncBigReader {
            range: (0, info.len),
            info,
            plan: Some(plan_tx),
            rx,
            current: Bytes::new(),
            failed: false,
        }))
    }

    /// The object's size in bytes.
    pub fn len(&self) -> u64 {
        self.info.len
    }

    /// Whether the object is empty.
    pub fn is_empty(&self) -> bool {
        self.info.len == 0
    }

    /// The object's CRC32, from its manifest.
    pub fn crc32(&self) -> u32 {
        self.info.crc32
    }

    /// The version being read (see [`Committed::version`]).
    pub fn version(&self) -> u128 {
        self.info.version
    }

    /// When the object expires (Unix ms), if it has a TTL.
    pub fn expires_at(&self) -> Option<u64> {
        self.info.expires_at
    }

    /// The object's content type and metadata.
    pub fn attributes(&self) -> &Attributes {
        &self.info.attrs
    }

    /// Reads only `start..end` of the object (clamped to its size) — only the blocks that
    /// part touches are loaded. Must come before the first read; an error after it.
    pub fn set_range(&mut self, range: std::ops::Range<u64>) -> Result<()> {
        if self.plan.is_none() {
            return Err(Error::InvalidArgument(
                "set_range must come before the first read".into(),
            ));
        }
        let start = range.start.min(self.info.len);
        let end = range.end.clamp(start, self.info.len);
        self.range = (start, end - start);
        Ok(())
    }

    fn start(&mut self) {
        if let Some(plan) = self.plan.take() {
            let _ = plan.send(self.range);
        }
    }

    /// The next chunk polled: `None` at the end.
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Chunk>> {
        if self.failed {
            return Poll::Ready(None);
        }
        self.start();
        let next = ready!(self.rx.poll_recv(cx));
        if matches!(next, Some(Err(_))) {
            self.failed = true;
        }
        Poll::Ready(next)
    }

    /// The next piece of the object as it was read (a block, or the part of one in range),
    /// without a copy; `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        std::future::poll_fn(|cx| self.poll_next_chunk(cx))
            .await
            .transpose()
    }
}

impl AsyncRead for AsyncBigReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        while self.current.is_empty() {
            match ready!(self.poll_chunk(cx)) {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Poll::Ready(Err(std::io::Error::other(e))),
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = buf.remaining().min(self.current.len());
        let chunk = self.current.split_to(n);
        buf.put_slice(&chunk);
        Poll::Ready(Ok(()))
    }
}

impl AsyncBigReader {
    /// Polls the next chunk, for code that implements its own body or stream type.
    pub fn poll_next_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes>>> {
        if !self.current.is_empty() {
            return Poll::Ready(Some(Ok(std::mem::take(&mut self.current))));
        }
        self.poll_chunk(cx)
    }
}
