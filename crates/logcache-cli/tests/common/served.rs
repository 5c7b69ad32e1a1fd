//! A real `logcache serve` process for the tests: on a free loopback port (or a given one, to
//! restart a node where it was), killed by PID when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub use super::cli::BIN;

/// A running `logcache serve`, killed when dropped.
pub struct Served {
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub addr: String,
    pub data: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Served {
    /// Starts the server on a port the kernel picks, in a fresh directory.
    pub fn start(args: &[&str]) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("store.log");
        let mut s = Served::start_at(&data, args);
        s._dir = Some(dir);
        s
    }

    pub fn start_at(data: &Path, args: &[&str]) -> Served {
        Served::listen_at(data, "127.0.0.1:0", args)
    }

    /// Serves the store at `data` on `listen` (`127.0.0.1:PORT`).
    pub fn listen_at(data: &Path, listen: &str, args: &[&str]) -> Served {
        let mut cmd = Command::new(BIN);
        cmd.arg("--data")
            .arg(data)
            .args(["serve", "--listen", listen])
            .args(args);
        Served::spawn(cmd, data.to_path_buf())
    }

    /// Runs `cmd` (a `logcache ... serve --listen 127.0.0.1:0 ...`) and waits for its
    /// `listening on` line.
    pub fn spawn(mut cmd: Command, data: PathBuf) -> Served {
        cmd.stderr(Stdio::inherit());
        Served::spawn_keeping_stderr(cmd, data)
    }

    /// As [`spawn`](Self::spawn), with standard error wherever `cmd` sends it.
    pub fn spawn_keeping_stderr(mut cmd: Command, data: PathBuf) -> Served {
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .expect("start logcache serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        let addr = url.trim_start_matches("http://").to_string();
        Served {
            child,
            url,
            addr,
            data,
            _dir: None,
        }
    }

    pub fn object(&self, key: &str) -> String {
        format!("{}/v1/objects/{key}", self.url)
    }

    /// The server's peak resident set (VmHWM), in bytes.
    pub fn peak_rss(&self) -> u64 {
        super::data::peak_rss_kib(&self.child.id().to_string()) * 1024
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.stop_with("TERM")
    }

    /// Sends signal `name`, then waits for the exit status.
    pub fn stop_with(&mut self, name: &str) -> std::process::ExitStatus {
        signal(&self.child, name);
        self.child.wait().unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{name}");
}
