//! One client connection on the event loop: bytes read into one buffer, requests framed
//! from it (a line, and a storage command's data block), answered in order into one output
//! buffer, written back when no complete request is left — so pipelined requests cost one
//! read and one write per batch.
//!
//! Bounds, whatever a client sends: a request line of at most [`MAX_LINE`] bytes; a data
//! block only once its length has been accepted (at most the item size) and the server-wide
//! budget of value bytes in flight has room for it (a `set` waits for room, never grows
//! memory past the budget); replies written within the write deadline or the connection is
//! closed; an idle connection closed after the idle timeout.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::Shared;
use super::text::{self, Block, Flow};
use crate::protocol::memcache::{LineEnd, line_end};
use crate::store::KvStore;
use crate::sync::lock;

/// The longest request line read (a `get` of many keys included); longer is refused and the
/// connection closed, so a client cannot make the server hold an endless line.
pub(super) const MAX_LINE: usize = 64 << 10;
/// Keys of a connection's pending writes remembered one by one; past this many, any read
/// waits for them.
const MAX_PENDING_KEYS: usize = 256;
/// Replies held before they are written even though requests are still waiting.
const OUT_HIGH_WATER: usize = 256 << 10;

/// The open connections, for `stats conns`.
#[derive(Debug, Default)]
pub(super) struct Conns {
    map: Mutex<HashMap<u64, (String, Arc<AtomicU64>)>>,
    next: AtomicU64,
}

impl Conns {
    /// Registers a connection from `peer`; its last-command clock.
    fn open(&self, peer: String, now_ms: u64) -> (u64, Arc<AtomicU64>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let clock = Arc::new(AtomicU64::new(now_ms));
        lock(&self.map).insert(id, (peer, Arc::clone(&clock)));
        (id, clock)
    }

    fn close(&self, id: u64) {
        lock(&self.map).remove(&id);
    }

    /// memcached's `stats conns` rows.
    pub(super) fn rows(&self, now_ms: u64) -> Vec<(String, String)> {
        let map = lock(&self.map);
        let mut ids: Vec<&u64> = map.keys().collect();
        ids.sort();
        let mut rows = Vec::with_capacity(ids.len() * 3);
        for id in ids {
            let Some((peer, last)) = map.get(id) else {
                continue;
            };
            let idle = now_ms.saturating_sub(last.load(Ordering::Relaxed)) / 1000;
            rows.push((format!("{id}:addr"), peer.clone()));
            rows.push((format!("{id}:state"), "conn_parse_cmd".to_string()));
            rows.push((format!("{id}:secs_since_last_cmd"), idle.to_string()));
        }
        rows
    }
}

/// What the connection is reading.
enum State {
    /// A request line.
    Line,
    /// The data block of `line`: `len` bytes and `\r\n`, with the in-flight budget it holds.
    Data {
        line: Bytes,
        len: usize,
        _permit: Option<tokio::sync::OwnedSemaphorePermit>,
    },
    /// A refused data block: this many bytes still to drop.
    Swallow(usize),
}

/// Why a connection ended early.
enum End {
    /// The client closed, quit, idled out or the server is stopping: nothing to report.
    Done,
    /// A socket error or a missed deadline, logged at debug level.
    Io(std::io::Error),
}

impl From<std::io::Error> for End {
    fn from(e: std::io::Error) -> Self {
        End::Io(e)
    }
}

/// Serves one connection until the client quits, errs, idles out or the server stops.
pub(super) async fn serve<S, IO>(io: IO, peer: String, shared: Arc<Shared<S>>)
where
    S: KvStore + 'static,
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let (id, last_cmd) = shared.conns.open(peer, shared.clock.now_millis());
    let mut conn = Conn {
        io,
        shared: Arc::clone(&shared),
        input: BytesMut::with_capacity(16 << 10),
        out: Vec::with_capacity(16 << 10),
        state: State::Line,
        last_cmd,
        pending: None,
        pending_keys: Some(Vec::new()),
    };
    match conn.run().await {
        End::Done => {}
        End::Io(e) => tracing::debug!("memcached connection ended: {e}"),
    }
    shared.conns.close(id);
}

struct Conn<S: KvStore + 'static, IO> {
    io: IO,
    shared: Arc<Shared<S>>,
    input: BytesMut,
    out: Vec<u8>,
    state: State,
    last_cmd: Arc<AtomicU64>,
    /// Writes answered in `out` whose fsync has not been awaited yet (deferred writes): the
    /// newest ticket, and where in `out` the first answer that depends on them starts.
    pending: Option<(crate::Ticket, usize)>,
    /// The keys of those writes (hashed), so that a read of another key need not wait;
    /// `None` once a write named any key (`flush_all`).
    pending_keys: Option<Vec<u64>>,
}

impl<S: KvStore + 'static, IO: AsyncRead + AsyncWrite + Unpin> Conn<S, IO> {
    async fn run(&mut self) -> End {
        // Two futures that live as long as the connection, registered once: a request that
        // made a timer and a stop watch of its own per read cost a timer-wheel insert and
        // removal and a clock read each (measured: ~2 % of the door's CPU at pipeline 1).
        let mut stop = self.shared.stop.subscribe();
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        tokio::pin!(stopped);
        // Capped so that an instant plus it cannot overflow (a century is "never").
        let idle = (self.shared.config.idle_timeout).min(Duration::from_secs(100 * 365 * 86_400));
        let idle_timer = tokio::time::sleep(idle);
        tokio::pin!(idle_timer);
        let mut last_read = tokio::time::Instant::now();
        loop {
            match self.process().await {
                Ok(Flow::Go) => {}
                Ok(Flow::Close) => {
                    return match self.flush().await {
                        Ok(()) => End::Done,
                        Err(e) => e,
                    };
                }
                Err(e) => return e,
            }
            if let Err(e) = self.flush().await {
                return e;
            }
            if *self.shared.stop.borrow() {
                return End::Done;
            }
            // The idle timer is armed for `idle` after some earlier read; when it fires, it
            // is moved to `idle` after the latest one, or the connection is closed if none
            // came in `idle`.
            let read = loop {
                tokio::select! {
                    r = self.io.read_buf(&mut self.input) => break r,
                    () = &mut idle_timer => {
                        let quiet_until = last_read + idle;
                        if tokio::time::Instant::now() >= quiet_until {
                            return End::Done;
                        }
                        idle_timer.as_mut().reset(quiet_until);
                    }
                    () = &mut stopped => return End::Done,
                }
            };
            match read {
                Ok(0) => return End::Done,
                Ok(_) => last_read = tokio::time::Instant::now(),
                Err(e) => return End::Io(e),
            }
        }
    }

    /// Waits for the writes answered so far to be durable. If their fsync fails, the
    /// answers that depend on them are never sent: the ones before are, and the connection
    /// is closed (the client sees its requests fail, never a `STORED` that was not kept).
    async fn settle(&mut self) -> Result<(), End> {
        let Some((ticket, mark)) = self.pending.take() else {
            return Ok(());
        };
        self.pending_keys = Some(Vec::new());
        let Some(log) = self.shared.items.log() else {
            return Ok(());
        };
        let Err(e) = self.shared.syncer.wait(log, ticket).await else {
            return Ok(());
        };
        super::log_store_error(&e);
        self.out.truncate(mark);
        let deadline = self.shared.config.write_timeout;
        let _ = tokio::time::timeout(deadline, self.io.write_all(&self.out)).await;
        self.out.clear();
        Err(End::Io(std::io::Error::other(format!(
            "closed: the writes answered could not be made durable ({e})"
        ))))
    }

    fn key_hash(key: &[u8]) -> u64 {
        use std::hash::BuildHasher;
        foldhash::fast::FixedState::with_seed(0x6b65).hash_one(key)
    }

    /// Whether `line` reads a key this connection's pending writes touched.
    fn reads_pending(&self, line: &[u8]) -> bool {
        let Some(written) = &self.pending_keys else {
            return true;
        };
        match text::keys(line) {
            text::Keys::None => false,
            text::Keys::All => true,
            text::Keys::Some(keys) => keys.iter().any(|k| written.contains(&Self::key_hash(k))),
        }
    }

    /// Records the keys a write names among the pending ones.
    fn remember_keys(&mut self, line: &[u8]) {
        match (text::keys(line), &mut self.pending_keys) {
            (text::Keys::All, written) => *written = None,
            (text::Keys::Some(keys), Some(written)) => {
                written.extend(keys.iter().map(|k| Self::key_hash(k)));
                // A long run of writes: the next read waits rather than scan them all.
                if written.len() > MAX_PENDING_KEYS {
                    self.pending_keys = None;
                }
            }
            _ => {}
        }
    }

    /// Folds the writes the last command made into `pending` (`mark`: where its answer
    /// starts in `out`); whether it wrote.
    fn note_writes(&mut self, mark: usize) -> bool {
        if !super::items::take_wrote() {
            return false;
        }
        let Some(ticket) = self.shared.items.log().and_then(|log| log.last_written()) else {
            return true;
        };
        self.pending = Some(match self.pending {
            Some((t, m)) => (t.max(ticket), m),
            None => (ticket, mark),
        });
        true
    }

    /// Writes the replies held, within the write deadline, once the writes they answer are
    /// durable.
    async fn flush(&mut self) -> Result<(), End> {
        self.settle().await?;
        if self.out.is_empty() {
            return Ok(());
        }
        // Tried once before the deadline is set: a reply that fits the socket's buffer (almost
        // every one) then costs no clock read and no timer.
        let deadline = self.shared.config.write_timeout;
        let mut write = std::pin::pin!(self.io.write_all(&self.out));
        let first = std::future::poll_fn(|cx| std::task::Poll::Ready(write.as_mut().poll(cx)));
        let written = match first.await {
            std::task::Poll::Ready(r) => Ok(r),
            std::task::Poll::Pending => tokio::time::timeout(deadline, write).await,
        };
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(End::Io(e)),
            Err(_) => {
                return Err(End::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the client did not read its replies within the write timeout",
                )));
            }
        }
        self.out.clear();
        if self.out.capacity() > 4 * OUT_HIGH_WATER {
            self.out.shrink_to(16 << 10);
        }
        Ok(())
    }

    /// Answers every complete request in the input buffer.
    async fn process(&mut self) -> Result<Flow, End> {
        loop {
            if self.out.len() >= OUT_HIGH_WATER {
                self.flush().await?;
            }
            match std::mem::replace(&mut self.state, State::Line) {
                State::Swallow(left) => {
                    let n = left.min(self.input.len());
                    self.input.advance(n);
                    if n < left {
                        self.state = State::Swallow(left - n);
                        return Ok(Flow::Go);
                    }
                }
                State::Data { line, len, _permit } => {
                    let whole = len.saturating_add(2);
                    if self.input.len() < whole {
                        self.input.reserve(whole - self.input.len());
                        self.state = State::Data { line, len, _permit };
                        return Ok(Flow::Go);
                    }
                    let data = self.input.split_to(whole).freeze();
                    if self.run_request(line, Some(data)).await? == Flow::Close {
                        return Ok(Flow::Close);
                    }
                }
                State::Line => {
                    if self.input.first() == Some(&0x80) {
                        self.refuse_binary();
                        return Ok(Flow::Close);
                    }
                    let (text, next) = match line_end(&self.input, MAX_LINE) {
                        LineEnd::Need => return Ok(Flow::Go),
                        LineEnd::TooLong => {
                            self.out
                                .extend_from_slice(b"CLIENT_ERROR line too long\r\n");
                            return Ok(Flow::Close);
                        }
                        LineEnd::Found { text, next } => (text, next),
                    };
                    let line = self.input.split_to(next).freeze().slice(..text);
                    self.last_cmd
                        .store(self.shared.clock.now_millis(), Ordering::Relaxed);
                    match text::block(&line, &self.shared) {
                        Block::None => {
                            if self.run_request(line, None).await? == Flow::Close {
                                return Ok(Flow::Close);
                            }
                        }
                        Block::Data(len) => {
                            let permit = self.shared.reserve(len).await;
                            self.state = State::Data {
                                line,
                                len,
                                _permit: permit,
                            };
                        }
                        Block::Refused {
                            len,
                            reply,
                            quiet,
                            discard,
                        } => {
                            if let Some(key) = discard {
                                let shared = Arc::clone(&self.shared);
                                let dropped = self
                                    .shared
                                    .call(true, move || shared.items.discard(&key))
                                    .await;
                                if let Err(e) = dropped {
                                    super::log_store_error(&e);
                                }
                                if self.note_writes(self.out.len()) {
                                    self.remember_keys(&line);
                                }
                            }
                            if !quiet {
                                self.out.extend_from_slice(reply);
                            }
                            self.state = State::Swallow(len.saturating_add(2));
                        }
                    }
                }
            }
        }
    }

    /// Runs one request: in place when it cannot wait long, on the store's own threads
    /// otherwise (a write that waits for its fsync), answers appended in order either way.
    async fn run_request(&mut self, line: Bytes, data: Option<Bytes>) -> Result<Flow, End> {
        let shared = &Arc::clone(&self.shared);
        let mark = self.out.len();
        if shared.items.store.failure().is_some() && text::writes(&line) {
            shared.recover().await;
        }
        if shared.items.flush_due() {
            let s = Arc::clone(shared);
            if let Err(e) = shared.call(true, move || s.items.run_due_flush()).await {
                super::log_store_error(&e);
            }
            if self.note_writes(mark) {
                self.pending_keys = None; // every key
            }
        }
        if shared.deferred {
            // A read sees only what is durable: when it names a key this connection wrote
            // and has not seen durable yet, it waits for that first.
            let writes = text::writes(&line);
            if !writes && self.pending.is_some() && self.reads_pending(&line) {
                self.settle().await?;
            }
            let flow = text::execute(&self.shared, &line, data.as_deref(), &mut self.out);
            if self.note_writes(mark) || writes {
                self.remember_keys(&line);
            }
            return Ok(flow);
        }
        if !shared.offload(&line) {
            return Ok(text::execute(shared, &line, data.as_deref(), &mut self.out));
        }
        let s = Arc::clone(shared);
        let ran = shared
            .call(true, move || {
                let mut out = Vec::new();
                let flow = text::execute(&s, &line, data.as_deref(), &mut out);
                Ok((out, flow))
            })
            .await;
        match ran {
            Ok((out, flow)) => {
                self.out.extend_from_slice(&out);
                Ok(flow)
            }
            Err(e) => {
                // The pool is gone (the server is stopping) or the call panicked.
                tracing::error!("memcached front end: a store call failed: {e}");
                self.out.extend_from_slice(
                    b"SERVER_ERROR the store failed; the server's log has the details\r\n",
                );
                Ok(Flow::Close)
            }
        }
    }

    /// A binary-protocol request (first byte 0x80): not spoken here. Answered at once with a
    /// binary "not supported" response (status 0x0083) echoing the request's opcode and
    /// opaque, then the connection is closed — so binary clients fail fast with a clear
    /// message instead of waiting for a timeout.
    fn refuse_binary(&mut self) {
        const MESSAGE: &[u8] = b"logcache speaks memcached's text and meta protocols only";
        let opcode = self.input.get(1).copied().unwrap_or(0);
        let opaque: [u8; 4] = self
            .input
            .get(12..16)
            .and_then(|o| o.try_into().ok())
            .unwrap_or([0; 4]);
        let mut header = [0u8; 24];
        header[0] = 0x81;
        header[1] = opcode;
        header[6..8].copy_from_slice(&0x0083u16.to_be_bytes());
        header[8..12].copy_from_slice(&(MESSAGE.len() as u32).to_be_bytes());
        header[12..16].copy_from_slice(&opaque);
        self.out.extend_from_slice(&header);
        self.out.extend_from_slice(MESSAGE);
        self.input.clear();
    }
}
