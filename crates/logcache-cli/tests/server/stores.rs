//! `--store` on every front door: `serve` over memcached servers and over a ring of
//! `logcache serve` nodes, the CLI against a running server and against a memcached ring, and
//! every malformed specification. Real memcached and logcache processes on free loopback
//! ports, killed by PID.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::cli::{BIN, ok};
use crate::common::data::{Pattern, read_pattern};
use crate::common::memcached::Memcached;
use crate::common::served::Served;
use crate::{agent, curl};

/// `logcache --store SPEC serve` on a free port, its standard error in `log`.
pub(crate) fn serve_store(spec: &str, log: &Path, extra: &[&str]) -> Served {
    let mut cmd = Command::new(BIN);
    cmd.args(["--store", spec, "serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stderr(std::fs::File::create(log).unwrap());
    Served::spawn_keeping_stderr(cmd, PathBuf::new())
}

/// `logcache --store SPEC ARGS…`.
fn cli(spec: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["--store", spec])
        .args(args)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Writes `len` bytes of the test pattern to a file.
fn pattern_file(path: &Path, len: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    std::io::copy(&mut Pattern::new(len), &mut f).unwrap();
    f.flush().unwrap();
}

/// Whether `file` holds exactly the first `len` bytes of the pattern (`prefix`: any prefix of
/// them, for a cut stream).
fn holds_pattern(file: &Path, len: u64, prefix: bool) -> bool {
    // curl creates its output file with the first byte: a stream cut before it leaves none.
    let (n, same) = match std::fs::File::open(file) {
        Ok(mut f) => read_pattern(&mut f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (0, true),
        Err(e) => panic!("{e}"),
    };
    same && (n == len || (prefix && n < len))
}

/// `curl` GET into `out`: the HTTP status, and whether curl saw the transfer complete.
fn curl_get(url: &str, out: &Path) -> (u16, bool) {
    let o = Command::new("curl")
        .args([
            "-sS",
            "-o",
            out.to_str().unwrap(),
            "-w",
            "%{http_code}",
            url,
        ])
        .output()
        .unwrap();
    let code = String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    (code, o.status.success())
}

fn three_memcached() -> Vec<Memcached> {
    (0..3)
        .map(|_| Memcached::start(256, &["-I", "1m"]))
        .collect()
}

fn spec_of(scheme: &str, addrs: &[&str], replicas: usize) -> String {
    format!("{scheme}://{}?replicas={replicas}", addrs.join(","))
}

#[test]
fn a_100_mib_file_over_three_memcached_round_trips_and_outlives_a_killed_server() {
    if crate::common::missing(&["curl", "memcached"]) {
        return;
    }
    let mut mc = three_memcached();
    let addrs: Vec<&str> = mc.iter().map(|m| m.addr.as_str()).collect();
    let dir = tempfile::tempdir().unwrap();
    let server = serve_store(
        &spec_of("memcached", &addrs, 2),
        &dir.path().join("log"),
        &[],
    );
    let file = dir.path().join("in");
    pattern_file(&file, 100 << 20);
    let (code, body) = curl(&["-T", file.to_str().unwrap(), &server.object("film")]);
    assert_eq!(code, 200, "{body}");
    let out = dir.path().join("out");
    assert_eq!(curl_get(&server.object("film"), &out), (200, true));
    assert!(holds_pattern(&out, 100 << 20, false), "byte-exact");
    // Every block and the manifest are on two servers: one may go.
    mc[1].kill();
    assert_eq!(curl_get(&server.object("film"), &out), (200, true));
    assert!(
        holds_pattern(&out, 100 << 20, false),
        "byte-exact with a server gone"
    );
    // memcached cannot list keys: the listing says so.
    let (code, body) = curl(&[&format!("{}/v1/objects", server.url)]);
    assert_eq!(code, 501, "{body}");
    assert!(body.contains("cannot list"), "{body}");
}

/// `/healthz` over a ring tells the truth: `200` while any node answers (one killed: still
/// `200`), `503` naming every node when none does, `200` again once one is back.
#[test]
fn healthz_over_a_ring_is_503_only_when_no_node_answers() {
    if crate::common::missing(&["memcached"]) {
        return;
    }
    let mut mc = three_memcached();
    let addrs: Vec<&str> = mc.iter().map(|m| m.addr.as_str()).collect();
    let dir = tempfile::tempdir().unwrap();
    let server = serve_store(
        &spec_of("memcached", &addrs, 1),
        &dir.path().join("log"),
        &[],
    );
    let healthz = format!("{}/healthz", server.url);
    assert_eq!(curl(&[&healthz]), (200, "ok\n".to_string()));
    mc[0].kill();
    assert_eq!(curl(&[&healthz]).0, 200, "two of three answer");
    mc[1].kill();
    mc[2].kill();
    let (code, body) = curl(&[&healthz]);
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("no node answers"), "{body}");
    for m in &mc {
        assert!(body.contains(&m.addr), "{body} names {}", m.addr);
    }
    mc[2].restart();
    assert_eq!(curl(&[&healthz]).0, 200, "one is back");
}

#[test]
fn with_one_copy_a_lost_block_is_a_404_or_a_cut_stream_never_wrong_bytes() {
    if crate::common::missing(&["curl", "memcached"]) {
        return;
    }
    for lose in ["kill", "flush_all"] {
        let mut mc = three_memcached();
        let addrs: Vec<&str> = mc.iter().map(|m| m.addr.as_str()).collect();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let server = serve_store(&spec_of("memcached", &addrs, 1), &log, &[]);
        let file = dir.path().join("in");
        pattern_file(&file, 20 << 20);
        let (code, body) = curl(&["-T", file.to_str().unwrap(), &server.object("doc")]);
        assert_eq!(code, 200, "{body}");
        match lose {
            "kill" => mc[0].kill(),
            _ => {
                let _ = mc[0].raw(b"flush_all\r\n");
            }
        }
        let out = dir.path().join("out-after-loss");
        let (code, complete) = curl_get(&server.object("doc"), &out);
        // 20 blocks over 3 servers: the lost one held some of them.
        match code {
            404 => {}
            200 => {
                assert!(!complete, "{lose}: a whole 200 although blocks were lost");
                assert!(holds_pattern(&out, 20 << 20, true), "{lose}: wrong bytes");
                let logged = std::fs::read_to_string(&log).unwrap();
                assert!(logged.contains("broke off"), "{lose}: {logged}");
            }
            other => panic!("{lose}: status {other}"),
        }
        drop(server);
    }
}

#[test]
fn serve_over_a_ring_of_logcache_nodes_and_the_cli_see_the_same_objects() {
    if crate::common::missing(&["curl"]) {
        return;
    }
    let mut nodes: Vec<Served> = (0..3).map(|_| Served::start(&[])).collect();
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
    let addrs: Vec<&str> = addrs.iter().map(String::as_str).collect();
    let spec = spec_of("http", &addrs, 2);
    let dir = tempfile::tempdir().unwrap();
    let front = serve_store(&spec, &dir.path().join("log"), &[]);
    let file = dir.path().join("in");
    pattern_file(&file, 10 << 20);
    let (code, body) = curl(&["-T", file.to_str().unwrap(), &front.object("disk.img")]);
    assert_eq!(code, 200, "{body}");
    // The CLI on the same ring reads what the front end wrote, and lists it.
    let out = dir.path().join("out");
    ok(&cli(
        &spec,
        &["get", "disk.img", "-o", out.to_str().unwrap()],
    ));
    assert!(holds_pattern(&out, 10 << 20, false));
    assert_eq!(
        ok(&cli(&spec, &["ls"])),
        format!("{}\tdisk.img\n", 10 << 20)
    );
    // A node goes: two copies of everything, still served.
    nodes[0].terminate();
    assert_eq!(curl_get(&front.object("disk.img"), &out), (200, true));
    assert!(holds_pattern(&out, 10 << 20, false));
}

#[test]
fn the_cli_reaches_a_running_server_and_the_lock_error_says_how() {
    let server = Served::start(&[]);
    let spec = format!("http://{}", server.addr);
    // 200 MiB through a pipe, in and out.
    let mut put = Command::new(BIN)
        .args(["--store", &spec, "put", "big", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::copy(&mut Pattern::new(200 << 20), &mut put.stdin.take().unwrap()).unwrap();
    let out = put.wait_with_output().unwrap();
    assert!(
        stderr(&out).contains("stored big (209715200 bytes)"),
        "{out:?}"
    );
    // What curl sees is what the CLI stored.
    let r = agent().head(server.object("big")).call().unwrap();
    assert_eq!(r.headers()["content-length"], "209715200");
    let mut get = Command::new(BIN)
        .args(["--store", &spec, "get", "big"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (n, same) = read_pattern(&mut get.stdout.take().unwrap());
    assert!(same, "byte-exact through the pipe");
    assert!(get.wait().unwrap().success());
    assert_eq!(n, 200 << 20);

    ok(&cli(&spec, &["put", "small", "/dev/null"]));
    assert_eq!(
        ok(&cli(&spec, &["ls"])),
        "209715200\tbig\n0\tsmall\n",
        "sizes and keys, as for a log"
    );
    let listed: serde_json::Value =
        serde_json::from_str(&ok(&cli(&spec, &["ls", "--json"]))).unwrap();
    assert_eq!(listed[0]["key"], "big");
    assert_eq!(listed[1]["size"], 0);
    let stats = ok(&cli(&spec, &["stats"]));
    assert!(
        stats.contains(&format!("store                {spec}")),
        "{stats}"
    );
    assert!(stats.contains("objects              2"), "{stats}");
    let doc: serde_json::Value =
        serde_json::from_str(&ok(&cli(&spec, &["stats", "--json"]))).unwrap();
    assert_eq!(doc["objects"], 2);
    ok(&cli(&spec, &["del", "small"]));
    let gone = cli(&spec, &["get", "small"]);
    assert!(!gone.status.success());
    assert!(stderr(&gone).contains("no object \"small\""), "{gone:?}");

    // The log itself is locked by the server: the error says how to reach it.
    let locked = Command::new(BIN)
        .arg("--data")
        .arg(&server.data)
        .args(["get", "big"])
        .output()
        .unwrap();
    assert!(!locked.status.success());
    let message = stderr(&locked);
    assert!(message.contains("--store http://"), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");
}

#[test]
fn the_cli_on_a_memcached_ring_stores_reads_and_shows_each_node() {
    if crate::common::missing(&["memcached"]) {
        return;
    }
    let mut mc: Vec<Memcached> = (0..2)
        .map(|_| Memcached::start(64, &["-I", "1m"]))
        .collect();
    let addrs: Vec<&str> = mc.iter().map(|m| m.addr.as_str()).collect();
    let spec = spec_of("memcached", &addrs, 2);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in");
    pattern_file(&file, 5 << 20);
    ok(&cli(&spec, &["put", "k", file.to_str().unwrap()]));
    let out = dir.path().join("out");
    ok(&cli(&spec, &["get", "k", "-o", out.to_str().unwrap()]));
    assert!(holds_pattern(&out, 5 << 20, false));
    let ls = cli(&spec, &["ls"]);
    assert!(!ls.status.success());
    assert!(stderr(&ls).contains("cannot list"), "{ls:?}");
    let stats = ok(&cli(&spec, &["stats"]));
    for a in &addrs {
        assert!(stats.contains(a), "{stats}");
    }
    mc[0].kill();
    ok(&cli(&spec, &["get", "k", "-o", out.to_str().unwrap()]));
    assert!(
        holds_pattern(&out, 5 << 20, false),
        "served by the other copy"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&ok(&cli(&spec, &["stats", "--json"]))).unwrap();
    assert_eq!(doc["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(doc["store"], spec);
    // A write must reach every copy: with a server gone, a delete fails and names it (the
    // server may come back holding the object).
    let del = cli(&spec, &["del", "k"]);
    assert!(!del.status.success());
    assert!(stderr(&del).contains(&mc[0].addr), "{del:?}");
    // It did delete the copy it reached: with the server back (empty), the object is gone.
    mc[0].restart();
    let get = cli(&spec, &["get", "k"]);
    assert!(stderr(&get).contains("no object \"k\""), "{get:?}");
}

#[test]
fn a_malformed_store_is_one_line_naming_the_bad_part_and_exit_2() {
    for (spec, says) in [
        ("ftp://h:1", "unknown scheme `ftp`"),
        ("memcached://h", "`h` has no port"),
        ("memcached://h:99999", "port `99999`"),
        ("memcached://h:1?replicas=2", "replicas `2`"),
        ("http://h:1?color=red", "unknown option `color`"),
        ("http://:1", "is not a host"),
    ] {
        for args in [&["get", "k"][..], &["serve"], &["ls"]] {
            let out = cli(spec, args);
            assert_eq!(out.status.code(), Some(2), "{spec} {args:?}: {out:?}");
            let err = stderr(&out);
            assert!(err.contains(says), "{spec}: {err}");
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }
    // The commands that read the log itself need one.
    for command in ["check", "compact", "dump"] {
        let out = cli("memcached://127.0.0.1:1", &[command]);
        assert_eq!(out.status.code(), Some(2), "{command}: {out:?}");
        assert!(stderr(&out).contains("embedded log only"), "{out:?}");
    }
    // Serving one logcache server from another adds nothing.
    let out = cli("http://127.0.0.1:1", &["serve"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        stderr(&out).contains("point clients at it directly"),
        "{out:?}"
    );
}

/// Messages of a ring whose nodes are all unreachable name each node once with its reason,
/// without the hint nested twice; a blank or multi-line store is refused before anything is
/// created (issue 27).
#[test]
fn ring_failures_and_odd_store_specs_read_plainly() {
    // Two loopback ports nothing listens on.
    let ports: Vec<u16> = (0..2)
        .map(|_| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        })
        .collect();
    let spec = format!("memcached://127.0.0.1:{},127.0.0.1:{}", ports[0], ports[1]);
    let out = cli(&spec, &["get", "k"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("no server of the ring answers"), "{err}");
    // One failure, each node's reason inside it once: no error nested in another.
    assert_eq!(err.matches(" failed:").count(), 1, "{err}");
    assert_eq!(err.matches("check that it is running").count(), 2, "{err}");
    assert!(!err.contains("a ring marks it down"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    for (store, says) in [
        (" ", "a path of only spaces"),
        ("cache.log ", "begins or ends with a space"),
        ("cache\nlog", "control character"),
    ] {
        let out = Command::new(BIN)
            .current_dir(dir.path())
            .env("LOGCACHE_STORE", store)
            .args(["put", "k", "-"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{store:?}: {err}");
        assert!(err.contains(says), "{store:?}: {err}");
    }
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "files created: {left:?}");
}
