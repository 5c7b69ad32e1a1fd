//! The other processes' side: requests sent to the holder over its Unix socket, on a small
//! pool of connections (one per thread that is in a call, kept for the next).

use std::io::{self, BufReader, BufWriter};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::ops::{Failure, Request, Response, decode_response, encode};
use crate::wire::receive;

/// Connections to one holder.
pub struct Client {
    path: PathBuf,
    idle: Mutex<Vec<Conn>>,
}

struct Conn {
    input: BufReader<UnixStream>,
    output: BufWriter<UnixStream>,
}

/// How a call ended.
pub enum Outcome {
    /// The holder answered.
    Answer(Result<Response, Failure>),
    /// The holder is stopping and did not run the request.
    Goodbye,
    /// The connection failed: `sent` when the request may have reached the holder (then
    /// whether it ran is unknown).
    Lost { error: io::Error, sent: bool },
}

impl Client {
    /// Connects to the holder serving `path` (one connection, to know it is there).
    pub fn connect(path: &Path) -> io::Result<Client> {
        let conn = Conn::open(path)?;
        Ok(Client {
            path: path.to_path_buf(),
            idle: Mutex::new(vec![conn]),
        })
    }

    /// Sends `req` and waits for the answer.
    pub fn call(&self, req: &Request<'_>) -> Outcome {
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        let mut conn = match pooled {
            Some(conn) => conn,
            None => match Conn::open(&self.path) {
                Ok(conn) => conn,
                Err(error) => return Outcome::Lost { error, sent: false },
            },
        };
        // A write that fails leaves the holder an incomplete frame, which it never runs.
        if let Err(error) = encode(req).send(&mut conn.output) {
            return Outcome::Lost { error, sent: false };
        }
        let answer = match receive(&mut conn.input) {
            Ok(Some(mut fields)) => decode_response(&mut fields),
            Ok(None) => Err(io::ErrorKind::UnexpectedEof.into()),
            Err(error) => Err(error),
        };
        match answer {
            Ok(Some(answer)) => {
                self.idle
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(conn);
                Outcome::Answer(answer)
            }
            Ok(None) => Outcome::Goodbye,
            Err(error) => Outcome::Lost { error, sent: true },
        }
    }
}

impl Conn {
    fn open(path: &Path) -> io::Result<Conn> {
        let stream = UnixStream::connect(path)?;
        Ok(Conn {
            input: BufReader::new(stream.try_clone()?),
            output: BufWriter::new(stream),
        })
    }
}
