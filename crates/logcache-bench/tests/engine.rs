//! The engine benchmark runner, run for real at quick size: it measures logcache and the raw
//! baseline in child processes and reports both (no timing is asserted).

use std::process::Command;

#[test]
fn the_engine_runner_reports_logcache_and_the_raw_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_engine"))
        .current_dir(dir.path())
        .args(["--quick", "fill", "index-memory"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("fill") && text.contains("logcache") && text.contains("raw"),
        "{text}"
    );
    assert!(text.contains("rss_bytes_per_key"), "{text}");
}

#[test]
fn the_engine_runner_refuses_an_unknown_workload_by_name() {
    let out = Command::new(env!("CARGO_BIN_EXE_engine"))
        .arg("no-such-workload")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no-such-workload") && err.contains("fill"),
        "{err}"
    );
}
