//! Running the real `logcache` binary from the tests.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The `logcache` binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_logcache");

/// Runs `logcache --data DATA ARGS...` and collects its output.
pub fn logcache(data: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("run logcache")
}

/// Runs `logcache --data DATA ARGS...` with `input` on its standard input.
pub fn logcache_with_input(data: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .arg("--data")
        .arg(data)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run logcache");
    // A command that refuses before reading (a locked store) closes its input: the write
    // then fails with a broken pipe, and the output says why.
    let _ = child.stdin.take().unwrap().write_all(input);
    child.wait_with_output().unwrap()
}

/// The standard output of a run that must have succeeded.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A temporary directory and a store path inside it.
pub fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store.log");
    (dir, data)
}
