//! `logcache serve`, run for real: the binary on a free loopback port, driven by ureq, curl
//! and raw sockets. One test binary, one module per topic: transfers (a 1 GiB round trip under
//! 64 MiB of server RSS, 413 before the body, a full server), the token, path-like keys, slow,
//! stalled and 100 concurrent clients, the server's life (lock, graceful shutdown, headers,
//! stats, metrics), the README's curl examples, and hostile or careless use.

#[path = "../common/mod.rs"]
mod common;

mod auth;
mod clients;
mod conditional;
mod hung;
mod keys;
mod lifecycle;
mod misuse;
mod observability;
mod ranges;
mod readme;
mod stores;
mod transfer;

use std::io::Read;
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

/// An agent that hands back every status instead of turning 4xx/5xx into errors.
pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .new_agent()
}

pub(crate) fn etag_of(r: &ureq::http::Response<ureq::Body>) -> String {
    let tag = r.headers().get("etag").expect("an ETag header");
    tag.to_str().unwrap().to_string()
}

pub(crate) fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "-o", "-", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl is installed (scripts/test installs it)");
    assert!(out.status.success(), "curl {args:?}: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap(), body.to_string())
}

/// Reads until the peer closes; `Ok(n)` with the bytes seen, `Err` if it never closed within
/// `limit` (a generous liveness bound, not a speed check).
pub(crate) fn read_until_closed(s: &mut TcpStream, limit: Duration) -> Result<Vec<u8>, String> {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(seen),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(seen),
            Err(e) => return Err(format!("still open after {limit:?}: {e}")),
        }
    }
}
