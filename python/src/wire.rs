//! The framing between a cache's holder and the other processes that opened it: one request,
//! one response, each a length-prefixed frame of length-prefixed fields, over a Unix socket.
//!
//! Why not the memcached meta protocol the server already speaks: the binding's operations
//! (a typed `incr`, `take`, keys in write order, `clear`, `expire`, the stats) are not all
//! memcached verbs, and both ends are this crate, so a frame that needs no text parsing is
//! the shorter path. Every length is checked against the bytes that are there: a frame is
//! read with `Read::take`, so a lying length allocates nothing it was not sent.

use std::io::{self, Read, Write};

/// The largest frame either side accepts: a value at the engine's largest (256 MiB) and room.
pub const MAX_FRAME: u64 = (256 << 20) + (1 << 20);

/// Builds one frame.
#[derive(Default)]
pub struct Frame {
    buf: Vec<u8>,
}

impl Frame {
    /// A frame whose first byte is `tag` (the operation or the answer's kind).
    pub fn new(tag: u8) -> Frame {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[0; 8]);
        buf.push(tag);
        Frame { buf }
    }

    /// Appends a byte string.
    pub fn bytes(mut self, b: &[u8]) -> Frame {
        self.buf.extend_from_slice(&(b.len() as u64).to_le_bytes());
        self.buf.extend_from_slice(b);
        self
    }

    /// Appends a number.
    pub fn u64(mut self, n: u64) -> Frame {
        self.buf.extend_from_slice(&n.to_le_bytes());
        self
    }

    /// Appends a signed number.
    pub fn i64(self, n: i64) -> Frame {
        self.u64(n as u64)
    }

    /// Sends the frame.
    pub fn send(mut self, out: &mut impl Write) -> io::Result<()> {
        let len = (self.buf.len() - 8) as u64;
        self.buf[..8].copy_from_slice(&len.to_le_bytes());
        out.write_all(&self.buf)?;
        out.flush()
    }
}

/// Reads one frame; `None` at a clean end of stream (the other side closed between frames).
pub fn receive(input: &mut impl Read) -> io::Result<Option<Fields>> {
    let mut len = [0u8; 8];
    match input.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u64::from_le_bytes(len);
    if len == 0 || len > MAX_FRAME {
        return Err(bad("frame length out of range"));
    }
    let mut buf = Vec::new();
    input.take(len).read_to_end(&mut buf)?;
    if buf.len() as u64 != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Some(Fields { buf, at: 0 }))
}

/// The fields of a frame received, read in order.
pub struct Fields {
    buf: Vec<u8>,
    at: usize,
}

impl Fields {
    /// The frame's first byte.
    pub fn tag(&mut self) -> io::Result<u8> {
        let b = *self.buf.get(self.at).ok_or_else(|| bad("empty frame"))?;
        self.at += 1;
        Ok(b)
    }

    /// The next number.
    pub fn u64(&mut self) -> io::Result<u64> {
        let end = self.at + 8;
        let b = self
            .buf
            .get(self.at..end)
            .ok_or_else(|| bad("short frame"))?;
        let mut n = [0u8; 8];
        n.copy_from_slice(b);
        self.at = end;
        Ok(u64::from_le_bytes(n))
    }

    /// The next signed number.
    pub fn i64(&mut self) -> io::Result<i64> {
        Ok(self.u64()? as i64)
    }

    /// The next byte string.
    pub fn bytes(&mut self) -> io::Result<Vec<u8>> {
        let len = usize::try_from(self.u64()?).map_err(|_| bad("field too long"))?;
        let end = self
            .at
            .checked_add(len)
            .ok_or_else(|| bad("field too long"))?;
        let b = self
            .buf
            .get(self.at..end)
            .ok_or_else(|| bad("short frame"))?;
        self.at = end;
        Ok(b.to_vec())
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}
