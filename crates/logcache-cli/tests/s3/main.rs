//! The S3 door (`logcache serve --s3`) driven by clients the project did not write: awscli,
//! boto3, rclone and s3cmd (./scripts/test installs them; a plain `cargo test` skips what is
//! missing), and kill -9 during multipart uploads. The Rust `object_store` crate's suite is
//! in `object_store/`, a workspace of its own.

#[path = "../common/mod.rs"]
mod common;

mod awscli;
mod boto3;
mod crash;
mod rclone;
mod readme;
mod refusals;
mod s3cmd;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::served::BIN;

pub(crate) const KEY: &str = "AKIDLOGCACHETEST";
pub(crate) const SECRET: &str = "test/secret+key";

/// A running `logcache serve --no-http --s3`, killed when dropped.
pub(crate) struct S3 {
    pub(crate) child: Child,
    /// `http://127.0.0.1:PORT`
    pub(crate) endpoint: String,
    pub(crate) dir: tempfile::TempDir,
}

impl S3 {
    /// With credentials ([`KEY`], [`SECRET`]), in a fresh directory.
    pub(crate) fn start() -> S3 {
        let dir = tempfile::tempdir().unwrap();
        S3::start_in(dir, true)
    }

    /// In `dir` (its store `objects.log`), with or without credentials.
    pub(crate) fn start_in(dir: tempfile::TempDir, signed: bool) -> S3 {
        S3::start_with(dir, signed, &[])
    }

    /// As [`start_in`](Self::start_in), with more arguments to `serve`.
    pub(crate) fn start_with(dir: tempfile::TempDir, signed: bool, args: &[&str]) -> S3 {
        let data = dir.path().join("objects.log");
        let mut cmd = Command::new(BIN);
        cmd.arg("--data")
            .arg(&data)
            .args(["serve", "--no-http", "--s3", "127.0.0.1:0"])
            .args(args);
        if signed {
            let creds = dir.path().join("credentials");
            std::fs::write(&creds, format!("# test keys\n{KEY} {SECRET}\n")).unwrap();
            cmd.arg("--s3-credentials").arg(&creds);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let endpoint = line
            .trim()
            .strip_prefix("S3 on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        S3 {
            child,
            endpoint,
            dir,
        }
    }

    /// kill -9, then the directory, to start again in.
    pub(crate) fn kill9(mut self) -> tempfile::TempDir {
        common::served::signal(&self.child, "KILL");
        let _ = self.child.wait();
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }

    /// A client command with this server's credentials and nothing of the user's AWS setup.
    pub(crate) fn client(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("AWS_ACCESS_KEY_ID", KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", self.dir.path().join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.dir.path().join("no-aws-credentials"),
            )
            // A custom CA bundle (set on some machines) makes rclone refuse plain HTTP.
            .env_remove("AWS_CA_BUNDLE")
            .env_remove("AWS_PROFILE");
        cmd
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `cmd`, asserts it succeeded, and returns its standard output.
pub(crate) fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A file of `len` bytes, distinct for each `seed`.
pub(crate) fn file(dir: &Path, name: &str, len: usize, seed: u64) -> PathBuf {
    let mut buf = vec![0u8; len];
    common::data::fill(&mut buf, seed.wrapping_mul(1 << 40));
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, buf).unwrap();
    path
}

/// Whether two files hold the same bytes.
pub(crate) fn same(a: &Path, b: &Path) -> bool {
    std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
}
