//! The README's curl examples and its cluster on one machine, run as written.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::memcached::Memcached;
use crate::common::served::{BIN, Served};

/// The README's lines between `<!-- NAME:start -->` and `<!-- NAME:end -->`.
fn readme_block(name: &str) -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    readme
        .split(&format!("<!-- {name}:start -->"))
        .nth(1)
        .and_then(|rest| rest.split(&format!("<!-- {name}:end -->")).next())
        .unwrap_or_else(|| panic!("the README has a {name} block"))
        .to_string()
}

/// Runs one README line with `sh` in `dir`; it must succeed.
fn run_sh(dir: &Path, line: &str) {
    let out = Command::new("sh")
        .current_dir(dir)
        .args(["-c", line])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{line}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the README block between `<!-- NAME:start -->` and `<!-- NAME:end -->` in `dir`:
/// a `logcache ... serve ... &` line starts the server (on a free port instead of 8080), the
/// other lines run with `sh`, each must succeed. Returns how many lines ran.
pub(crate) fn run_readme_block(name: &str, dir: &Path) -> usize {
    let block = readme_block(name);
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
            run_sh(dir, &line);
        }
        ran += 1;
    }
    let mut server = server.expect("the block starts a server");
    assert!(server.terminate().success());
    ran
}

#[test]
fn the_readme_curl_examples_run() {
    if crate::common::missing(&["curl"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("photo.jpg"), "not really a photo\n").unwrap();
    assert_eq!(run_readme_block("server-example", dir.path()), 12);
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

/// A process a README block started with `&`.
enum Job {
    Memcached(Memcached),
    Served(Served),
}

/// Runs the README's cluster block in `dir`: `memcached … &` and `logcache … serve … &` lines
/// start servers on free ports (the README's addresses are rewritten to theirs in every later
/// line), `kill %N` kills the N-th of them by PID, other lines run with `sh` and must succeed.
fn run_cluster_block(dir: &Path) -> usize {
    let block = readme_block("cluster-example");
    let mut jobs: Vec<Job> = Vec::new();
    let mut addrs: Vec<(String, String)> = Vec::new();
    let rewrite = |line: &str, addrs: &[(String, String)]| {
        addrs
            .iter()
            .fold(line.to_string(), |l, (from, to)| l.replace(from, to))
    };
    let mut ran = 0;
    for line in block
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("```"))
    {
        ran += 1;
        let words: Vec<String> = line
            .trim_end_matches(" &")
            .split_whitespace()
            .map(|w| w.trim_matches('\'').to_string())
            .collect();
        let after = |flag: &str| {
            let at = words.iter().position(|w| w == flag).unwrap();
            words[at + 1].clone()
        };
        if line.starts_with("memcached ") && line.ends_with(" &") {
            let m = Memcached::start(after("-m").parse().unwrap(), &[]);
            addrs.push((format!("127.0.0.1:{}", after("-p")), m.addr.clone()));
            jobs.push(Job::Memcached(m));
        } else if line.starts_with("logcache ") && line.ends_with(" &") {
            let listen = after("--listen");
            let mut cmd = Command::new(BIN);
            cmd.current_dir(dir);
            for w in &words[1..] {
                cmd.arg(if *w == listen {
                    "127.0.0.1:0".to_string()
                } else {
                    rewrite(w, &addrs)
                });
            }
            let served = Served::spawn(cmd, PathBuf::new());
            addrs.push((listen, served.addr.clone()));
            jobs.push(Job::Served(served));
        } else if let Some(n) = line.strip_prefix("kill %") {
            match &mut jobs[n.trim().parse::<usize>().unwrap() - 1] {
                Job::Memcached(m) => m.kill(),
                Job::Served(s) => {
                    s.terminate();
                }
            }
        } else {
            let line = rewrite(line, &addrs);
            let line = match line.strip_prefix("logcache ") {
                Some(rest) => format!("{BIN} {rest}"),
                None => line,
            };
            run_sh(dir, &line);
        }
    }
    ran
}

#[test]
fn the_readme_cluster_on_one_machine_runs() {
    if crate::common::missing(&["curl", "memcached"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut report = std::fs::File::create(dir.path().join("report.pdf")).unwrap();
    std::io::copy(&mut crate::common::data::Pattern::new(5 << 20), &mut report).unwrap();
    drop(report);
    assert_eq!(run_cluster_block(dir.path()), 15);
}
