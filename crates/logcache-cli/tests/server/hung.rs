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

/// Three `logcache serve` nodes in `dir`, and the spec of a front end over them (R = 2,
/// deadline 1 s).
fn http_nodes(dir: &std::path::Path) -> (Vec<Served>, String) {
    let nodes: Vec<Served> = (0..3)
        .map(|i| Served::start_at(&dir.join(format!("node{i}.log")), &[]))
        .collect();
    let addrs: Vec<&str> = nodes.iter().map(|n| n.addr.as_str()).collect();
    let spec = format!("http://{}?replicas=2&timeout=1s", addrs.join(","));
    (nodes, spec)
}

/// Three memcached servers and the spec of a front end over them (R = 2, deadline 1 s).
fn memcached_servers() -> (Vec<Memcached>, String) {
    let servers: Vec<Memcached> = (0..3).map(|_| Memcached::start(64, &[])).collect();
    let addrs: Vec<&str> = servers.iter().map(|m| m.addr.as_str()).collect();
    let spec = format!("memcached://{}?replicas=2&timeout=1s", addrs.join(","));
    (servers, spec)
}

#[test]
fn a_hung_node_costs_an_http_ring_request_at_most_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, spec) = http_nodes(dir.path());
    hung_node_in(&spec, nodes[0].child.id(), dir.path());
}

#[test]
fn a_hung_server_costs_a_memcached_ring_request_at_most_its_deadline() {
    if crate::common::missing(&["memcached"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut servers, spec) = memcached_servers();
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
    if crate::common::missing(&["memcached"]) {
        return;
    }
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

/// Object `i`'s body at version `v`: a header naming both, then filler; small (inline) or
/// multi-block by `i`.
fn versioned(i: usize, v: u32) -> Vec<u8> {
    let len = if i.is_multiple_of(5) {
        (1 << 20) + 17
    } else {
        700
    };
    let mut body = format!("object {i} version {v}\n").into_bytes();
    let fill = (i as u8).wrapping_mul(31).wrapping_add(v as u8);
    body.resize(len, fill);
    body
}

/// The version a GET body is, checked byte for byte (never a mix of versions).
fn version_of(i: usize, body: &[u8]) -> u32 {
    let line = body.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let v: u32 = line
        .strip_prefix(&format!("object {i} version "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("object {i}: a body that is no version of it"));
    assert!(
        body == versioned(i, v),
        "object {i}: version {v} with other bytes"
    );
    v
}

/// What a key's history requires of a read: the last acknowledged operation, and the
/// operations made after it whose outcome is unknown (answered 502).
#[derive(Default, Clone)]
struct History {
    /// `Some(v)`: version `v` was acknowledged last; `None` with `deleted`: a delete was.
    acked: Option<u32>,
    deleted: bool,
    /// Versions written after the last acknowledged operation, answered 502.
    unknown: Vec<u32>,
}

impl History {
    /// A GET may return the last acknowledged version, or one written after it whose
    /// outcome is unknown; after an acknowledged delete, nothing or such a later version.
    fn allows(&self, got: Option<u32>) -> bool {
        match got {
            None => self.deleted || self.acked.is_none() || !self.unknown.is_empty(),
            Some(v) => self.acked == Some(v) || self.unknown.contains(&v),
        }
    }
}

/// A GET of every object: each within the deadline, each allowed by its history; the
/// slowest.
fn read_all(http: &ureq::Agent, front: &Served, history: &[History], when: &str) -> Duration {
    let mut worst = Duration::ZERO;
    for (i, h) in history.iter().enumerate() {
        let started = Instant::now();
        let mut r = http.get(front.object(&format!("s{i}"))).call().unwrap();
        let got = match r.status().as_u16() {
            200 => {
                let body = r.body_mut().with_config().limit(1 << 30).read_to_vec();
                Some(version_of(i, &body.unwrap()))
            }
            404 => None,
            other => panic!("{when}: GET s{i} answered {other}"),
        };
        let took = started.elapsed();
        assert!(took <= DEADLINE + SLACK, "{when}: GET s{i} took {took:?}");
        worst = worst.max(took);
        // A delete of unknown outcome allows absence; its marker is not a version.
        let allowed = h.allows(got) || (got.is_none() && h.unknown.contains(&u32::MAX));
        assert!(
            allowed,
            "{when}: s{i} read {got:?}; acknowledged {:?} (deleted: {}), unknown {:?}",
            h.acked, h.deleted, h.unknown
        );
    }
    worst
}

/// PUT, DELETE and conditional PUT streams over the ring `spec` with each of `pids` stopped
/// in turn (SIGSTOP), then resumed: every answer within the deadline; afterwards every read
/// follows the ring's rule (the last acknowledged version, or a later one answered 502 —
/// never an older one); one read pass leaves every replica with the same manifest.
fn streams_with_each_node_stopped(spec: &str, pids: &[u32], dir: &std::path::Path) {
    let front = serve_store(spec, &dir.join("front.err"), &[]);
    let http = agent();
    const KEYS: usize = 100;
    let mut history = vec![History::default(); KEYS];
    let mut version = 0u32;
    let mut worst = Duration::ZERO;
    let mut refused = 0;
    let timed = |what: &str, started: Instant| {
        let took = started.elapsed();
        assert!(took <= DEADLINE + SLACK, "{what} took {took:?}");
        took
    };
    for (i, h) in history.iter_mut().enumerate() {
        version += 1;
        let r = http
            .put(front.object(&format!("s{i}")))
            .send(&versioned(i, version)[..])
            .unwrap();
        assert_eq!(r.status(), 200);
        h.acked = Some(version);
    }
    for (round, &pid) in pids.iter().enumerate() {
        let stopped = Stopped::new(pid);
        for (i, h) in history.iter_mut().enumerate() {
            version += 1;
            let url = front.object(&format!("s{i}"));
            let started = Instant::now();
            let status = if (i + round).is_multiple_of(5) {
                http.delete(&url).call().unwrap().status().as_u16()
            } else if (i + round).is_multiple_of(7) {
                // Create-only: refused (412) while the object exists.
                http.put(&url)
                    .header("if-none-match", "*")
                    .send(&versioned(i, version)[..])
                    .unwrap()
                    .status()
                    .as_u16()
            } else {
                http.put(&url)
                    .send(&versioned(i, version)[..])
                    .unwrap()
                    .status()
                    .as_u16()
            };
            worst = worst.max(timed(&format!("round {round}: s{i}"), started));
            let deleting = (i + round).is_multiple_of(5);
            match status {
                200 | 204 if deleting => {
                    *h = History {
                        deleted: true,
                        ..History::default()
                    }
                }
                200 => {
                    *h = History {
                        acked: Some(version),
                        ..History::default()
                    }
                }
                404 if deleting => {} // already absent: nothing changed
                412 => {}             // the condition failed: nothing written
                502 if deleting => {
                    refused += 1;
                    h.unknown.push(u32::MAX) // a delete of unknown outcome
                }
                502 => {
                    refused += 1;
                    h.unknown.push(version)
                }
                other => panic!("round {round}: s{i} answered {other}"),
            }
        }
        // Reads while the node is stopped follow the rule too.
        worst = worst.max(read_all(
            &http,
            &front,
            &history,
            &format!("round {round}, stopped"),
        ));
        drop(stopped);
        // The node takes its backlog (writes that timed out may land now); a health check,
        // as a load balancer makes, finds it up again, so reads ask it and repair it.
        std::thread::sleep(Duration::from_millis(500));
        let health = http.get(format!("{}/healthz", front.url)).call().unwrap();
        assert_eq!(health.status(), 200);
        worst = worst.max(read_all(
            &http,
            &front,
            &history,
            &format!("round {round}, resumed"),
        ));
    }
    // After one read pass (above), every replica holds the same manifest.
    let ring: logcache::AnyStore = spec.parse::<logcache::StoreSpec>().unwrap().open().unwrap();
    for i in 0..KEYS {
        let mkey = [
            logcache::DEFAULT_NAMESPACE,
            b"m",
            format!("s{i}").as_bytes(),
        ]
        .concat();
        let copies = logcache::KvStore::get_copies(&ring, &mkey)
            .unwrap()
            .unwrap();
        assert_eq!(copies.len(), 2, "s{i}: both replicas answer");
        let held: Vec<Option<Vec<u8>>> = copies.into_iter().map(|(_, c)| c.map(|c| c.0)).collect();
        let shape = |c: &Option<Vec<u8>>| c.as_ref().map(|b| (b.len(), crc32fast::hash(b)));
        assert!(
            held[0] == held[1],
            "s{i}: the replicas differ after a read pass: {:?} / {:?}",
            shape(&held[0]),
            shape(&held[1])
        );
    }
    eprintln!(
        "{spec}: worst request with a node stopped: {worst:?}; {refused} of {} writes and \
         deletes answered 502",
        KEYS * pids.len()
    );
    assert!(
        refused > 0,
        "no write met a stopped node: the test tested nothing"
    );
}

#[test]
fn http_ring_streams_with_each_node_stopped_follow_the_write_rule() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, spec) = http_nodes(dir.path());
    let pids: Vec<u32> = nodes.iter().map(|n| n.child.id()).collect();
    streams_with_each_node_stopped(&spec, &pids, dir.path());
}

#[test]
fn memcached_ring_streams_with_each_server_stopped_follow_the_write_rule() {
    if crate::common::missing(&["memcached"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut servers, spec) = memcached_servers();
    let pids: Vec<u32> = servers.iter().map(|m| m.pid().unwrap()).collect();
    streams_with_each_node_stopped(&spec, &pids, dir.path());
    for m in &mut servers {
        m.kill();
    }
}
