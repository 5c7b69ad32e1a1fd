//! Connections to one memcached server: the line protocol on a socket, and the pool of idle
//! connections (a failure on a reused one is retried once on a fresh one).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use super::{MAX_LINE, MemcachedStore};
use crate::counters::bump;
use crate::error::{Error, Result};

/// One open connection.
#[derive(Debug)]
pub(super) struct Conn {
    pub(super) reader: BufReader<TcpStream>,
    /// Taken from the pool (not freshly connected).
    pub(super) reused: bool,
}

/// What went wrong on a connection: the connection is dropped either way.
pub(super) enum Failure {
    Io(std::io::Error),
    Protocol(String),
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Io(e)
    }
}

pub(super) type ConnResult<T> = std::result::Result<T, Failure>;

impl Conn {
    pub(super) fn send(&mut self, parts: &[&[u8]]) -> ConnResult<()> {
        let stream = self.reader.get_mut();
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if total <= 64 << 10 {
            stream.write_all(&parts.concat())?;
        } else {
            for part in parts {
                stream.write_all(part)?;
            }
        }
        Ok(())
    }

    /// One response line without its `\r\n`, at most [`MAX_LINE`] bytes.
    pub(super) fn line(&mut self) -> ConnResult<Vec<u8>> {
        let mut line = Vec::new();
        (&mut self.reader)
            .take(MAX_LINE as u64 + 2)
            .read_until(b'\n', &mut line)?;
        if line.last() != Some(&b'\n') {
            return Err(if line.len() > MAX_LINE {
                Failure::Protocol("a response line is too long".into())
            } else {
                Failure::Io(std::io::ErrorKind::UnexpectedEof.into())
            });
        }
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(line)
    }

    /// `n` data bytes and their `\r\n`; the buffer grows with the bytes actually read.
    pub(super) fn data(&mut self, n: u64) -> ConnResult<Vec<u8>> {
        let mut data = Vec::with_capacity(n.min(64 << 10) as usize);
        (&mut self.reader).take(n).read_to_end(&mut data)?;
        let mut end = [0u8; 2];
        self.reader.read_exact(&mut end)?;
        if data.len() as u64 != n || &end != b"\r\n" {
            return Err(Failure::Protocol("a value ended early".into()));
        }
        Ok(data)
    }

    pub(super) fn stats(&mut self, group: &str) -> ConnResult<Vec<(String, String)>> {
        self.send(&[b"stats ", group.as_bytes(), b"\r\n"])?;
        let mut out = Vec::new();
        loop {
            let line = self.line()?;
            if line == b"END" {
                return Ok(out);
            }
            let text = String::from_utf8_lossy(&line);
            let mut fields = text.splitn(3, ' ');
            match (fields.next(), fields.next(), fields.next()) {
                (Some("STAT"), Some(k), Some(v)) => out.push((k.to_string(), v.to_string())),
                _ => return Err(Failure::Protocol(format!("unexpected stats line {text:?}"))),
            }
        }
    }
}

/// Whether a socket error is its read or write timeout running out (`EAGAIN` on Linux).
fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

pub(super) fn unexpected(line: &[u8]) -> Failure {
    Failure::Protocol(format!(
        "unexpected answer {:?}",
        String::from_utf8_lossy(&line[..line.len().min(200)])
    ))
}

impl MemcachedStore {
    pub(super) fn open(&self) -> Result<Conn> {
        let mut last = None;
        for addr in &self.addrs {
            match TcpStream::connect_timeout(addr, self.connect_timeout) {
                Ok(stream) => {
                    let setup = stream
                        .set_nodelay(true)
                        .and_then(|()| stream.set_read_timeout(Some(self.io_timeout)))
                        .and_then(|()| stream.set_write_timeout(Some(self.io_timeout)));
                    if let Err(e) = setup {
                        last = Some(e);
                        continue;
                    }
                    bump(&self.counters.connects);
                    return Ok(Conn {
                        reader: BufReader::with_capacity(64 << 10, stream),
                        reused: false,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        bump(&self.counters.errors);
        Err(match last {
            Some(e) if is_timeout(&e) => Error::remote_from(
                &self.node,
                format_args!(
                    "cannot connect within {:?} (timed out): check that it is running and \
                     reachable",
                    self.connect_timeout
                ),
                e,
            ),
            Some(e) => Error::remote_from(
                &self.node,
                "cannot connect: check that it is running and reachable",
                e,
            ),
            None => Error::remote(&self.node, "cannot connect: no address"),
        })
    }

    pub(super) fn take(&self) -> Result<Conn> {
        let pooled = crate::sync::lock(&self.pool).pop();
        match pooled {
            Some(mut c) => {
                c.reused = true;
                Ok(c)
            }
            None => self.open(),
        }
    }

    pub(super) fn put_back(&self, conn: Conn) {
        let mut pool = crate::sync::lock(&self.pool);
        if pool.len() < self.max_idle {
            pool.push(conn);
        }
    }

    pub(super) fn failed(&self, f: Failure) -> Error {
        bump(&self.counters.errors);
        match f {
            // The socket's error is EAGAIN ("Resource temporarily unavailable"), which only
            // misleads: the reason says what happened.
            Failure::Io(e) if is_timeout(&e) => {
                Error::remote(&self.node, crate::remote::timed_out(self.io_timeout))
            }
            Failure::Io(e) => Error::remote_from(
                &self.node,
                "the connection broke: check that it is running and reachable",
                e,
            ),
            Failure::Protocol(what) => Error::remote(&self.node, what),
        }
    }

    /// Runs `op` on a connection; a failure on a reused connection is retried once on a new
    /// one (the old may have been closed by a server restart).
    pub(super) fn with_conn<T>(&self, op: impl Fn(&mut Conn) -> ConnResult<T>) -> Result<T> {
        bump(&self.counters.requests);
        let mut conn = self.take()?;
        match op(&mut conn) {
            Ok(v) => {
                self.put_back(conn);
                Ok(v)
            }
            // Not after a timeout: the server is slow or hung, and a fresh connection would
            // only double what the caller waits.
            Err(Failure::Io(e)) if conn.reused && !is_timeout(&e) => {
                drop(conn);
                let mut fresh = self.open()?;
                let v = op(&mut fresh).map_err(|f| self.failed(f))?;
                self.put_back(fresh);
                Ok(v)
            }
            Err(f) => Err(self.failed(f)),
        }
    }
}
