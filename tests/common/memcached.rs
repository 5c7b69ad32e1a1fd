//! Real memcached servers for the tests: each on a free loopback port, killed by PID when
//! dropped. `./scripts/test` installs memcached when it is missing.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One memcached process.
pub struct Memcached {
    child: Option<Child>,
    pub port: u16,
    /// `127.0.0.1:PORT`
    pub addr: String,
    args: Vec<String>,
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Memcached {
    /// A server with `-m MIB` megabytes of memory and any `extra` arguments.
    pub fn start(mib: u32, extra: &[&str]) -> Memcached {
        let mut args = vec!["-m".to_string(), mib.to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        for _ in 0..20 {
            let port = free_port();
            let mut m = Memcached {
                child: None,
                port,
                addr: format!("127.0.0.1:{port}"),
                args: args.clone(),
            };
            if m.spawn() {
                return m;
            }
        }
        panic!("could not start memcached on a free port");
    }

    /// Starts the process on `self.port`; false if it exited (the port was taken).
    fn spawn(&mut self) -> bool {
        let mut cmd = Command::new("memcached");
        cmd.args(["-l", "127.0.0.1", "-p", &self.port.to_string(), "-U", "0"])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if running_as_root() {
            cmd.args(["-u", "root"]);
        }
        let mut child = cmd
            .spawn()
            .expect("memcached is installed (./scripts/test installs it with apt-get)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            if TcpStream::connect(&self.addr).is_ok() {
                // The port answered, but perhaps another test's server took it first and
                // this memcached is about to exit with "address in use" (a refused
                // connection later, found in CI): it must still run a moment after.
                std::thread::sleep(Duration::from_millis(100));
                if let Ok(Some(_)) = child.try_wait() {
                    return false;
                }
                self.child = Some(child);
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: the server is gone at once, with everything it held.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A fresh (empty) server on the same port.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.spawn() {
            assert!(
                Instant::now() < deadline,
                "memcached did not restart on {}",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One command over a raw text-protocol connection; the answer's lines up to `END`,
    /// `STORED`, `OK` or an error.
    pub fn raw(&self, command: &[u8]) -> Vec<String> {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.write_all(command).unwrap();
        let mut lines = Vec::new();
        let mut reader = BufReader::new(s);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 {
                return lines;
            }
            let line = line.trim_end().to_string();
            let done = matches!(line.as_str(), "END" | "STORED" | "OK" | "ERROR" | "DELETED")
                || line.starts_with("SERVER_ERROR")
                || line.starts_with("CLIENT_ERROR");
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    /// `curr_items` from `stats`.
    pub fn items(&self) -> u64 {
        self.raw(b"stats\r\n")
            .iter()
            .find_map(|l| l.strip_prefix("STAT curr_items "))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Memcached {
    fn drop(&mut self) {
        self.kill();
    }
}
