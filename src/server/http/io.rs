//! Connection plumbing: a socket wrapper that records when bytes last moved (for the idle
//! timeout), and a GET's response body, fed by an [`AsyncBigReader`].

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::future::AsyncBigReader;

use super::metrics::{Counters, add};

/// When bytes last moved on a connection, in milliseconds since `epoch`.
#[derive(Debug)]
pub(crate) struct Activity {
    epoch: Instant,
    last: AtomicU64,
}

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Activity {
            epoch: Instant::now(),
            last: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let now = self.epoch.elapsed().as_millis() as u64;
        self.last.store(now, Ordering::Relaxed);
    }

    /// When bytes last moved.
    pub(crate) fn last(&self) -> Instant {
        self.epoch + std::time::Duration::from_millis(self.last.load(Ordering::Relaxed))
    }
}

/// A stream that touches its [`Activity`] whenever a read or write moves bytes.
pub(crate) struct Tracked<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> Tracked<T> {
    pub(crate) fn new(inner: T, activity: Arc<Activity>) -> Self {
        activity.touch();
        Tracked { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A GET's response body: the object's first chunk (read before the answer started), then
/// the rest from its [`AsyncBigReader`]. A damaged block ends the body with an error, so the
/// client sees a short body, never wrong bytes.
pub(crate) struct ObjectBody {
    first: Option<Bytes>,
    reader: AsyncBigReader,
    len: u64,
    counters: Arc<Counters>,
}

impl ObjectBody {
    pub(crate) fn new(
        first: Option<Bytes>,
        reader: AsyncBigReader,
        len: u64,
        counters: Arc<Counters>,
    ) -> Self {
        ObjectBody {
            first,
            reader,
            len,
            counters,
        }
    }
}

impl http_body::Body for ObjectBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<http_body::Frame<Bytes>, Self::Error>>> {
        let next = match self.first.take() {
            Some(first) => Some(Ok(first)),
            None => ready!(self.reader.poll_next_chunk(cx)),
        };
        Poll::Ready(match next {
            Some(Ok(bytes)) => {
                add(&self.counters.bytes_sent, bytes.len() as u64);
                Some(Ok(http_body::Frame::data(bytes)))
            }
            Some(Err(e)) => {
                tracing::warn!("streaming an object broke off: {e}");
                Some(Err(std::io::Error::other(e)))
            }
            None => None,
        })
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.len)
    }
}
