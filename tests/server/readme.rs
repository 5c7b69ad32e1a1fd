//! The README's curl examples, run as written.

use std::path::Path;
use std::process::Command;

use crate::common::served::{BIN, Served};

/// Runs the README block between `<!-- NAME:start -->` and `<!-- NAME:end -->` in `dir`:
/// a `logcache ... serve ... &` line starts the server (on a free port instead of 8080), the
/// other lines run with `sh`, each must succeed. Returns how many lines ran.
pub(crate) fn run_readme_block(name: &str, dir: &Path) -> usize {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block = readme
        .split(&format!("<!-- {name}:start -->"))
        .nth(1)
        .and_then(|rest| rest.split(&format!("<!-- {name}:end -->")).next())
        .unwrap_or_else(|| panic!("the README has a {name} block"));
    let mut server: Option<Served> = None;
    let mut ran = 0;
    for line in block
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("```"))
    {
        if let Some(command) = line
            .strip_prefix("logcache ")
            .and_then(|l| l.strip_suffix(" &"))
        {
            let mut cmd = Command::new(BIN);
            cmd.current_dir(dir)
                .args(command.split_whitespace())
                .args(["--listen", "127.0.0.1:0"]);
            server = Some(Served::spawn(cmd, dir.join("demo.log")));
        } else {
            let line = match &server {
                Some(s) => line.replace("127.0.0.1:8080", &s.addr),
                None => line.to_string(),
            };
            let out = Command::new("sh")
                .current_dir(dir)
                .args(["-c", &line])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{line}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        ran += 1;
    }
    let mut server = server.expect("the block starts a server");
    assert!(server.terminate().success());
    ran
}

#[test]
fn the_readme_curl_examples_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("photo.jpg"), "not really a photo\n").unwrap();
    assert_eq!(run_readme_block("server-example", dir.path()), 10);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("copy.jpg")).unwrap(),
        "not really a photo\n"
    );
    // The token example, in a fresh directory.
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(run_readme_block("server-token-example", dir.path()), 3);
    let token = std::fs::read_to_string(dir.path().join("token")).unwrap();
    assert_eq!(token.len(), 48, "{token:?}");
}
