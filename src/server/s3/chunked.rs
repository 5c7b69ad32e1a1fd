//! `aws-chunked` bodies, decoded as they arrive: the framing S3 clients use for
//! `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` (each chunk signed, the signatures chained) and
//! `STREAMING-UNSIGNED-PAYLOAD-TRAILER` (botocore ≥ 1.36 and AWS CLI ≥ 2.23 by default: plain
//! chunks, then trailers such as `x-amz-checksum-crc32`). Servers that stored the framing inside
//! the object are a known failure of S3 look-alikes; this decoder hands on the data alone.
//!
//! ```text
//! <hex size>[;chunk-signature=<64 hex>]\r\n<size bytes>\r\n      (repeated)
//! 0[;chunk-signature=<64 hex>]\r\n[<name>:<value>\r\n ...]\r\n   (the end, with trailers)
//! ```
//!
//! Input may arrive split anywhere. Memory stays bounded by the input: a chunk's data is passed
//! on as its bytes arrive (a chunk's declared size is never allocated), and a header or
//! trailer line longer than [`MAX_LINE`] is refused.

use sha2::{Digest, Sha256};

use super::sigv4::chunk_signature_of_hash;

/// The longest chunk-header or trailer line accepted.
pub(crate) const MAX_LINE: usize = 4096;

/// Why an `aws-chunked` body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChunkError {
    /// The framing is broken (S3: `IncompleteBody` / `InvalidRequest`).
    Malformed(&'static str),
    /// A chunk's signature does not match (S3: `SignatureDoesNotMatch`).
    Signature,
    /// The body ended before its last chunk (S3: `IncompleteBody`).
    Truncated,
}

/// How a chunk's signature is checked: with the signing key, the request's date and scope,
/// and the signature the chain has reached (the request's own for the first chunk).
#[derive(Debug, Clone)]
pub(crate) struct Signing {
    pub(crate) key: [u8; 32],
    pub(crate) amz_date: String,
    pub(crate) scope: String,
    pub(crate) previous: String,
}

#[derive(Debug)]
enum State {
    /// Reading a chunk's header line.
    Header,
    /// Passing on `left` more bytes of the current chunk.
    Data {
        left: u64,
    },
    /// Expecting the `\r\n` after a chunk's data.
    DataEnd,
    /// After the last chunk: reading trailer lines until an empty one.
    Trailers,
    Done,
}

/// The decoder of one body.
#[derive(Debug)]
pub(crate) struct Decoder {
    state: State,
    line: Vec<u8>,
    signing: Option<Signing>,
    /// The signature the current chunk must have (signed mode).
    expected: Option<String>,
    /// The current chunk's data, hashed as it passes (signed mode).
    hash: Sha256,
    trailers: Vec<(String, String)>,
}

impl Decoder {
    /// A decoder checking chunk signatures when `signing` is given (signed streaming), or
    /// plain chunks otherwise.
    pub(crate) fn new(signing: Option<Signing>) -> Decoder {
        Decoder {
            state: State::Header,
            line: Vec::new(),
            signing,
            expected: None,
            hash: Sha256::new(),
            trailers: Vec::new(),
        }
    }

    /// Decodes `input`, appending the object's bytes to `out`.
    pub(crate) fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), ChunkError> {
        while !input.is_empty() {
            match self.state {
                State::Header | State::Trailers => {
                    let Some(line) = self.take_line(&mut input)? else {
                        return Ok(());
                    };
                    if matches!(self.state, State::Header) {
                        self.header(&line)?;
                    } else {
                        self.trailer(&line)?;
                    }
                }
                State::Data { left } => {
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                    let (data, rest) = input.split_at(n);
                    out.extend_from_slice(data);
                    if self.signing.is_some() {
                        self.hash.update(data);
                    }
                    input = rest;
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data { left }
                    };
                }
                State::DataEnd => {
                    let Some(line) = self.take_line(&mut input)? else {
                        return Ok(());
                    };
                    if !line.is_empty() {
                        return Err(ChunkError::Malformed(
                            "a chunk's data is longer than its size",
                        ));
                    }
                    self.check_chunk()?;
                    self.state = State::Header;
                }
                State::Done => {
                    return Err(ChunkError::Malformed("bytes after the last chunk"));
                }
            }
        }
        Ok(())
    }

    /// Ends the body: the trailers (lower-case names), once the last chunk and its trailers
    /// have arrived whole.
    pub(crate) fn finish(self) -> Result<Vec<(String, String)>, ChunkError> {
        match self.state {
            State::Done => Ok(self.trailers),
            _ => Err(ChunkError::Truncated),
        }
    }

    /// The next line (without its `\r\n`), once whole; `None` while more input is needed.
    fn take_line(&mut self, input: &mut &[u8]) -> Result<Option<Vec<u8>>, ChunkError> {
        match input.iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.line.extend_from_slice(&input[..i]);
                *input = &input[i + 1..];
                if self.line.pop() != Some(b'\r') {
                    return Err(ChunkError::Malformed("a line does not end in CRLF"));
                }
                if self.line.len() > MAX_LINE {
                    return Err(ChunkError::Malformed(
                        "a chunk header or trailer is too long",
                    ));
                }
                Ok(Some(std::mem::take(&mut self.line)))
            }
            None => {
                self.line.extend_from_slice(input);
                *input = &[];
                if self.line.len() > MAX_LINE + 1 {
                    return Err(ChunkError::Malformed(
                        "a chunk header or trailer is too long",
                    ));
                }
                Ok(None)
            }
        }
    }

    fn header(&mut self, line: &[u8]) -> Result<(), ChunkError> {
        let line = std::str::from_utf8(line)
            .map_err(|_| ChunkError::Malformed("a chunk header is not text"))?;
        let (size, ext) = match line.split_once(';') {
            Some((s, e)) => (s, Some(e)),
            None => (line, None),
        };
        if size.is_empty() || size.len() > 16 {
            return Err(ChunkError::Malformed("a chunk size is not hex"));
        }
        let size = u64::from_str_radix(size, 16)
            .map_err(|_| ChunkError::Malformed("a chunk size is not hex"))?;
        self.expected = match (&self.signing, ext) {
            (Some(_), Some(ext)) => Some(
                ext.strip_prefix("chunk-signature=")
                    .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
                    .ok_or(ChunkError::Malformed(
                        "a chunk-signature is not 64 hex digits",
                    ))?
                    .to_ascii_lowercase(),
            ),
            (Some(_), None) => {
                return Err(ChunkError::Malformed("a signed chunk without a signature"));
            }
            (None, _) => None,
        };
        self.hash = Sha256::new();
        if size == 0 {
            // The last chunk: its signature covers no data.
            self.check_chunk()?;
            self.state = State::Trailers;
        } else {
            self.state = State::Data { left: size };
        }
        Ok(())
    }

    /// Checks the chunk just read (its data hashed as it passed; none for the last one)
    /// against its signature, in signed mode.
    fn check_chunk(&mut self) -> Result<(), ChunkError> {
        let Some(signing) = &mut self.signing else {
            return Ok(());
        };
        let hash = std::mem::replace(&mut self.hash, Sha256::new()).finalize();
        let computed = chunk_signature_of_hash(
            &signing.key,
            &signing.amz_date,
            &signing.scope,
            &signing.previous,
            &hash,
        );
        let expected = self.expected.take().unwrap_or_default();
        if computed != expected {
            return Err(ChunkError::Signature);
        }
        signing.previous = computed;
        Ok(())
    }

    fn trailer(&mut self, line: &[u8]) -> Result<(), ChunkError> {
        if line.is_empty() {
            self.state = State::Done;
            return Ok(());
        }
        let line = std::str::from_utf8(line)
            .map_err(|_| ChunkError::Malformed("a trailer is not text"))?;
        let (name, value) = line
            .split_once(':')
            .ok_or(ChunkError::Malformed("a trailer without `:`"))?;
        if self.trailers.len() >= 16 {
            return Err(ChunkError::Malformed("too many trailers"));
        }
        self.trailers
            .push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::s3::sigv4::signing_key;

    /// The decoded bytes and the trailers.
    type Decoded = (Vec<u8>, Vec<(String, String)>);

    fn decode_in_pieces(
        body: &[u8],
        piece: usize,
        signing: Option<Signing>,
    ) -> Result<Decoded, ChunkError> {
        let mut d = Decoder::new(signing);
        let mut out = Vec::new();
        for part in body.chunks(piece.max(1)) {
            d.feed(part, &mut out)?;
        }
        let trailers = d.finish()?;
        Ok((out, trailers))
    }

    /// The S3 API reference's chunked upload (66,560 bytes of `a`), framed as its client sends
    /// it, decoded whole and split at every size from 1 byte up.
    #[test]
    fn the_s3_reference_chunked_body_decodes_with_its_signatures() {
        let sigs = [
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
        ];
        let mut body = Vec::new();
        for (len, sig) in [(65536usize, sigs[0]), (1024, sigs[1]), (0, sigs[2])] {
            body.extend_from_slice(format!("{len:x};chunk-signature={sig}\r\n").as_bytes());
            body.extend(std::iter::repeat_n(b'a', len));
            if len > 0 {
                body.extend_from_slice(b"\r\n");
            }
        }
        body.extend_from_slice(b"\r\n");
        assert_eq!(body.len(), 66824, "the example's Content-Length");
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let signing = Signing {
            key: signing_key(secret, "20130524", "us-east-1", "s3"),
            amz_date: "20130524T000000Z".into(),
            scope: "20130524/us-east-1/s3/aws4_request".into(),
            previous: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9".into(),
        };
        for piece in [1, 2, 7, 100, 4096, 65536, 1 << 20] {
            let (data, trailers) = decode_in_pieces(&body, piece, Some(signing.clone())).unwrap();
            assert_eq!(data.len(), 66560, "piece {piece}");
            assert!(data.iter().all(|&b| b == b'a'));
            assert!(trailers.is_empty());
        }
        // One byte of data changed: that chunk's signature fails.
        let mut bad = body.clone();
        bad[5000] = b'b';
        assert_eq!(
            decode_in_pieces(&bad, 4096, Some(signing.clone())),
            Err(ChunkError::Signature)
        );
        // Another seed (another request's signature): the first chunk fails.
        let mut other = signing;
        other.previous = "0".repeat(64);
        assert_eq!(
            decode_in_pieces(&body, 4096, Some(other)),
            Err(ChunkError::Signature)
        );
    }

    #[test]
    fn unsigned_chunks_with_trailers_decode() {
        let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        for piece in 1..body.len() {
            let (data, trailers) = decode_in_pieces(body, piece, None).unwrap();
            assert_eq!(data, b"hello world");
            assert_eq!(
                trailers,
                [("x-amz-checksum-crc32".to_string(), "DUoRhQ==".to_string())]
            );
        }
    }

    #[test]
    fn broken_framing_is_refused_and_never_allocates_a_declared_size() {
        let cases: [(&[u8], ChunkError); 6] = [
            (b"zz\r\n", ChunkError::Malformed("a chunk size is not hex")),
            (
                b"5\r\nhello!!\r\n",
                ChunkError::Malformed("a chunk's data is longer than its size"),
            ),
            (
                b"5\nhello\r\n",
                ChunkError::Malformed("a line does not end in CRLF"),
            ),
            (
                b"0\r\n\r\nmore",
                ChunkError::Malformed("bytes after the last chunk"),
            ),
            (b"5\r\nhel", ChunkError::Truncated),
            (b"ffffffffffffffff\r\nab", ChunkError::Truncated),
        ];
        for (body, want) in cases {
            assert_eq!(
                decode_in_pieces(body, 3, None).map(|_| ()),
                Err(want),
                "{body:?}"
            );
        }
        let long = vec![b'1'; MAX_LINE + 10];
        assert!(matches!(
            decode_in_pieces(&long, 100, None),
            Err(ChunkError::Malformed(_))
        ));
        // A signed body's chunk must carry its signature.
        let signing = Signing {
            key: [0; 32],
            amz_date: String::new(),
            scope: String::new(),
            previous: String::new(),
        };
        assert_eq!(
            decode_in_pieces(b"5\r\nhello\r\n", 10, Some(signing)).map(|_| ()),
            Err(ChunkError::Malformed("a signed chunk without a signature"))
        );
    }
}
