//! Hung nodes — stopped with SIGSTOP, as a hung machine is, rather than killed — cost a request
//! at most the node deadline (issue 27): reads go to the other replica, `/healthz` answers,
//! writes fail or succeed within the deadline, and the CLI says "timed out" within it, over a
//! ring of `logcache serve` nodes and over memcached.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::agent;
use crate::common::cli::BIN;
use crate::common::data::Pattern;
use crate::common::memcached::Memcached;
use crate::common::served::Served;
use crate::stores::serve_store;

/// The ring's node deadline in these tests (`?timeout=1s`).
const DEADLINE: Duration = Duration::from_secs(1);
/// What a request may take beyond the deadline (the healthy replica's own work, a loaded
/// machine): a bound on a hang, not a speed check.
const SLACK: Duration = Duration::from_secs(1);

fn body_of(i: usize) -> Vec<u8> {
    // Small inline objects and multi-block ones (blocks are 1 MiB).
    let len = if i.is_multiple_of(2) {
        1000 + i
    } else {
        (3 << 20) + i
    };
    let mut v = Vec::with_capacity(len);
    std::io::copy(
        &mut std::io::Read::take(Pattern::new(len as u64 + i as u64), len as u64),
        &mut v,
    )
    .unwrap();
    v
}

/// Sends SIGCONT on drop, so a failed assertion never leaves a stopped process behind.
struct Stopped(u32);

impl Stopped {
    fn new(pid: u32) -> Stopped {
        kill("STOP", pid);
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        kill("CONT", self.0);
    }
}

fn kill(signal: &str, pid: u32) {
    let ok = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{signal} {pid}");
}

#[test]
fn a_hung_node_costs_an_http_ring_request_at_most_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let nodes: Vec<Served> = (0..3)
        .map(|i| Served::start_at(&dir.path().join(format!("node{i}.log")), &[]))
        .collect();
    let spec = format!(
        "http://{}?replicas=2&timeout=1s",
        nodes
            .iter()
            .map(|n| n.addr.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    hung_node_in(&spec, nodes[0].child.id(), dir.path());
}

#[test]
fn a_hung_server_costs_a_memcached_ring_request_at_most_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let mut servers: Vec<Memcached> = (0..3).map(|_| Memcached::start(64, &[])).collect();
    let spec = format!(
        "memcached://{}?replicas=2&timeout=1s",
        servers
            .iter()
            .map(|m| m.addr.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    hung_node_in(&spec, servers[0].pid().unwrap(), dir.path());
    for m in &mut servers {
        m.kill();
    }
}

/// A front end over the ring `spec`; objects stored, then the node `pid` stopped: every GET,
/// `/healthz` and PUT answered within the deadline, reads with their bytes; after SIGCONT every
/// acknowledged object reads back.
fn hung_node_in(spec: &str, pid: u32, dir: &std::path::Path) {
    let front = serve_store(spec, &dir.join("front.err"), &[]);
    let http = agent();
    const OBJECTS: usize = 12;
    for i in 0..OBJECTS {
        let r = http
            .put(front.object(&format!("o{i}")))
            .send(&body_of(i)[..])
            .unwrap();
        assert_eq!(r.status(), 200, "PUT o{i}");
    }

    let stopped = Stopped::new(pid);
    let mut worst = Duration::ZERO;
    let mut timed = |what: String, started: Instant| {
        let took = started.elapsed();
        assert!(
            took <= DEADLINE + SLACK,
            "{what} took {took:?} with a node stopped (deadline {DEADLINE:?})"
        );
        worst = worst.max(took);
    };
    // Twice over, so that reads after the node's backoff ends are timed too.
    for round in 0..2 {
        for i in 0..OBJECTS {
            let started = Instant::now();
            reads_back(&http, &front, i, "with a node stopped");
            timed(format!("round {round}: GET o{i}"), started);
        }
        let started = Instant::now();
        let mut r = http.get(format!("{}/healthz", front.url)).call().unwrap();
        assert_eq!(
            r.status(),
            200,
            "{}",
            r.body_mut().read_to_string().unwrap()
        );
        timed(format!("round {round}: /healthz"), started);
        std::thread::sleep(Duration::from_millis(300));
    }
    // Writes are answered within the deadline too: stored on every replica (200) or refused
    // (502) when a replica is the stopped node.
    let mut acknowledged = Vec::new();
    for i in OBJECTS..OBJECTS + 8 {
        let started = Instant::now();
        let r = http
            .put(front.object(&format!("o{i}")))
            .send(&body_of(i)[..])
            .unwrap();
        assert!(
            matches!(r.status().as_u16(), 200 | 502),
            "PUT o{i}: {}",
            r.status()
        );
        if r.status() == 200 {
            acknowledged.push(i);
        }
        timed(format!("PUT o{i}"), started);
    }
    drop(stopped);
    eprintln!(
        "{spec}: worst request with a node stopped: {worst:?}; {} of 8 writes acknowledged",
        acknowledged.len()
    );
    for i in (0..OBJECTS).chain(acknowledged) {
        reads_back(&http, &front, i, "after SIGCONT");
    }
}

/// GET of object `i` through `front`: `200` and its bytes.
fn reads_back(http: &ureq::Agent, front: &Served, i: usize, when: &str) {
    let mut r = http.get(front.object(&format!("o{i}"))).call().unwrap();
    assert_eq!(r.status(), 200, "GET o{i} {when}");
    let got = r
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .unwrap();
    assert!(got == body_of(i), "GET o{i} {when}: other bytes");
}

/// The CLI against a stopped node (default deadline, 2 s) and a stopped memcached: an error
/// that says it timed out, within the deadline, where it used to hang 61 s (node) or say
/// "Resource temporarily unavailable (os error 11)" (memcached).
#[test]
fn the_cli_against_a_hung_server_says_it_timed_out_within_the_deadline() {
    let node = Served::start(&[]);
    let mut memcached = Memcached::start(16, &[]);
    let default = logcache::DEFAULT_NODE_TIMEOUT;
    for (spec, pid) in [
        (format!("http://{}", node.addr), node.child.id()),
        (
            format!("memcached://{}", memcached.addr),
            memcached.pid().unwrap(),
        ),
    ] {
        let stopped = Stopped::new(pid);
        let started = Instant::now();
        let out = Command::new(BIN)
            .args(["--store", &spec, "get", "k"])
            .output()
            .unwrap();
        let took = started.elapsed();
        drop(stopped);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{spec}: {err}");
        assert!(err.contains("timed out"), "{spec}: {err}");
        assert!(!err.contains("os error 11"), "{spec}: {err}");
        assert!(
            took <= default + SLACK,
            "{spec}: the CLI took {took:?} against a stopped server"
        );
    }
    memcached.kill();
}
