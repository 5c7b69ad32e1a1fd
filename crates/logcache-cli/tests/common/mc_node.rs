//! `logcache serve --memcached` nodes for the tests: each on a free loopback port, SIGKILLed
//! when dropped, and a [`Session`] that reads a request's whole answer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::cli::BIN;

/// A running node, SIGKILLed when dropped (a failing test leaves no process behind).
pub struct Node(pub Child);

impl Node {
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `logcache serve --memcached 127.0.0.1:0 --no-http` on `data`; its address.
pub fn start_node(data: &std::path::Path, extra: &[&str]) -> (Node, String) {
    start_node_at(data, "127.0.0.1:0", extra)
}

/// The same on `listen` (a node restarted where it was).
pub fn start_node_at(data: &std::path::Path, listen: &str, extra: &[&str]) -> (Node, String) {
    start_node_with(data, listen, extra, Stdio::inherit())
}

/// The same with the node's standard error going to `stderr`.
pub fn start_node_with(
    data: &std::path::Path,
    listen: &str,
    extra: &[&str],
    stderr: Stdio,
) -> (Node, String) {
    // LOGCACHE_TEST_BIN runs the tests against another build (an older one, to see a
    // regression test fail there).
    let bin = std::env::var("LOGCACHE_TEST_BIN").unwrap_or_else(|_| BIN.to_string());
    let mut child = Command::new(bin)
        .arg("--data")
        .arg(data)
        .args(["serve", "--memcached", listen, "--no-http"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("memcached protocol on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (Node(child), addr)
}

/// A connection that sends one request and reads its whole answer: the request is followed
/// by `version`, and the answer is everything before the `VERSION` line.
pub struct Session {
    /// The connection (for raw writes and reads).
    pub stream: BufReader<TcpStream>,
    last_cas: String,
}

impl Session {
    pub fn open(addr: &str) -> Session {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Session {
            stream: BufReader::new(stream),
            last_cas: "0".into(),
        }
    }

    /// Sends `request` (`{CAS}` stands for the last CAS value this session saw) and returns
    /// the answer with CAS values masked.
    pub fn ask(&mut self, request: &[u8]) -> String {
        let request = String::from_utf8_lossy(request).replace("{CAS}", &self.last_cas);
        let s = self.stream.get_mut();
        s.write_all(request.as_bytes()).unwrap();
        s.write_all(b"version\r\n").unwrap();
        let mut answer = String::new();
        loop {
            let mut line = Vec::new();
            self.stream.read_until(b'\n', &mut line).unwrap();
            assert!(!line.is_empty(), "closed after {request:?}");
            let line = String::from_utf8_lossy(&line).into_owned();
            if line.starts_with("VERSION ") {
                return answer;
            }
            // Meta return flags: CAS values (`c123`) are numbered differently.
            let line = if ["VA ", "HD", "EN", "NF", "NS", "EX"]
                .iter()
                .any(|p| line.starts_with(p))
            {
                let masked: Vec<String> = line
                    .trim_end()
                    .split(' ')
                    .map(|w| match w.strip_prefix('c') {
                        Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                            "cCAS".to_string()
                        }
                        _ => w.to_string(),
                    })
                    .collect();
                format!("{}\r\n", masked.join(" "))
            } else {
                line
            };
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.first() == Some(&"VALUE") && words.len() == 5 {
                self.last_cas = words[4].to_string();
                answer.push_str(&format!(
                    "VALUE {} {} {} CAS\r\n",
                    words[1], words[2], words[3]
                ));
                // The data line, then on.
                let len: usize = words[3].parse().unwrap();
                let mut data = vec![0u8; len + 2];
                self.stream.read_exact(&mut data).unwrap();
                answer.push_str(&String::from_utf8_lossy(&data));
                continue;
            }
            answer.push_str(&line);
        }
    }
}
