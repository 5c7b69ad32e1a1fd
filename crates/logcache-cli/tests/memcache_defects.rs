//! Regression tests for the memcached door's defects found by hostile use and by memcached's
//! own test suite (issue 26), each through real sockets against a `logcache serve
//! --memcached` node; where memcached 1.6 answers sanely, the same bytes are sent to a real
//! memcached and the answers must match. `LOGCACHE_TEST_BIN=path` runs them against another
//! build (each failed on the thread-per-connection front end).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::Tmpfs;
use common::mc_node::{Session, start_node, start_node_with};
use common::memcached::Memcached;

/// Sends each request to memcached and to a node; the answers must match.
fn same_as_memcached(script: &[Vec<u8>], node_args: &[&str]) {
    let memcached = Memcached::start(64, &[]);
    let dir = tempfile::tempdir().unwrap();
    let (mut node, addr) = start_node(&dir.path().join("items.log"), node_args);
    let mut theirs = Session::open(&memcached.addr);
    let mut ours = Session::open(&addr);
    for request in script {
        let want = theirs.ask(request);
        let got = ours.ask(request);
        let shown = String::from_utf8_lossy(&request[..request.len().min(80)]).into_owned();
        assert_eq!(got, want, "request {shown:?}");
    }
    node.kill();
}

fn lines(script: &[&[u8]]) -> Vec<Vec<u8>> {
    script.iter().map(|s| s.to_vec()).collect()
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            out.push(if i <= c.len() {
                A[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

/// Defect 1: a `b` key holding CR LF or a space never reaches a reply line raw.
#[test]
fn meta_keys_asked_back_come_in_base64_never_raw() {
    if common::missing(&["memcached"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_node, addr) = start_node(&dir.path().join("items.log"), &[]);
    let mut s = Session::open(&addr);
    let evil = b"X\r\nFAKE! a b";
    let k = base64(evil);
    let stored = s.ask(format!("ms {k} 5 b k\r\nhello\r\n").as_bytes());
    assert_eq!(stored, format!("HD k{k} b\r\n"));
    assert_eq!(
        s.ask(format!("mg {k} b k v\r\n").as_bytes()),
        format!("VA 5 k{k} b\r\nhello\r\n")
    );
    assert_eq!(
        s.ask(format!("ms {k} 1 b k\r\n7\r\n").as_bytes()),
        format!("HD k{k} b\r\n")
    );
    assert_eq!(
        s.ask(format!("ma {k} b k v\r\n").as_bytes()),
        format!("VA 1 k{k} b\r\n8\r\n")
    );
    assert_eq!(
        s.ask(format!("md {k} b k\r\n").as_bytes()),
        format!("HD k{k} b\r\n")
    );
    assert_eq!(
        s.ask(format!("mg {k} b k v\r\n").as_bytes()),
        format!("EN k{k} b\r\n")
    );
    // And as memcached answers them, hits and misses, binary and plain.
    let h = base64(b"hello");
    same_as_memcached(
        &lines(&[
            format!("mg {h} b k v\r\n").as_bytes(),
            format!("ms {h} 2 b k c\r\nhi\r\n").as_bytes(),
            format!("mg {h} b k v s\r\n").as_bytes(),
            format!("md {h} b k q\r\n").as_bytes(),
            format!("ma {h} b k N0 J3 v\r\n").as_bytes(),
            b"ms foo 3 k\r\nbar\r\n",
            b"mg Zm9v b k v\r\n",
        ]),
        &[],
    );
}

/// Defect 2: lengths past what memcached takes are refused at once, never waited for or
/// wrapped; nothing after them is swallowed or run out of place.
#[test]
fn lengths_past_32_bits_are_refused_at_once() {
    if common::missing(&["memcached"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_node, addr) = start_node(&dir.path().join("items.log"), &[]);
    let mut s = Session::open(&addr);
    for len in ["2147483648", "4294967296", "9223372036854775807", "-1"] {
        // `ask` follows the request with `version`: answered, so nothing was swallowed.
        assert_eq!(
            s.ask(format!("set k 0 0 {len}\r\n").as_bytes()),
            "CLIENT_ERROR bad command line format\r\n",
            "{len}"
        );
    }
    assert_eq!(
        s.ask(b"ms k 18446744073709551614 T0\r\n"),
        "CLIENT_ERROR bad command line format\r\n"
    );
    assert_eq!(
        s.ask(b"set k 0 0 2\r\nok\r\nget k\r\n"),
        "STORED\r\nVALUE k 0 2\r\nok\r\nEND\r\n"
    );
    same_as_memcached(
        &lines(&[
            b"set k 0 0 2147483648\r\n",
            b"ms k 18446744073709551614\r\nab\r\n",
            b"ms k 2147483648\r\n",
            b"set k 0 0 -5\r\nab\r\n",
        ]),
        &[],
    );
}

/// Defect 3: `noreply` silences every answer, errors included, so replies stay in step.
#[test]
fn noreply_commands_send_nothing_even_on_errors() {
    if common::missing(&["memcached", "python3-pymemcache"]) {
        return;
    }
    let big = [
        &b"set big 0 0 2000000 noreply\r\n"[..],
        &vec![b'x'; 2_000_000],
        b"\r\n",
    ]
    .concat();
    same_as_memcached(
        &[
            b"set n 0 0 1\r\na\r\n".to_vec(),
            big,
            b"set k 0 0 5 noreply\r\nabcdefg\r\n".to_vec(),
            b"incr n 1 noreply\r\n".to_vec(),
            b"touch n abc noreply\r\n".to_vec(),
            b"delete n 5 noreply\r\n".to_vec(),
            b"flush_all abc noreply\r\n".to_vec(),
            b"cas n 0 0 1 abc noreply\r\nx\r\n".to_vec(),
            b"verbosity x noreply\r\n".to_vec(),
            b"get n\r\n".to_vec(),
        ],
        &[],
    );
    // pymemcache sets with noreply by default: a refused set must not shift later replies.
    let dir = tempfile::tempdir().unwrap();
    let (_node, addr) = start_node(&dir.path().join("items.log"), &[]);
    let port = addr.rsplit(':').next().unwrap();
    let script = r#"
import sys
from pymemcache.client.base import Client
c = Client(("127.0.0.1", int(sys.argv[1])))
c.set("ok", b"1")
c.set("big", b"x" * 2000000)
c.incr("ok", 1, noreply=True)
c.set("k", b"v")
assert c.get("k") == b"v", c.get("k")
assert c.get("ok") == b"2"
print("in step")
"#;
    let out = Command::new("/usr/bin/python3")
        .args(["-c", script, port])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn threads_of(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Defect 4: a delayed `flush_all` is one timestamp, not a thread; a Unix time is read as
/// one; SIGTERM with flushes pending still closes the store cleanly.
#[test]
fn delayed_flushes_are_a_timestamp_and_unix_times_count() {
    let dir = tempfile::tempdir().unwrap();
    let (mut node, addr) = start_node_with(
        &dir.path().join("items.log"),
        "127.0.0.1:0",
        &[],
        Stdio::piped(),
    );
    let mut s = Session::open(&addr);
    let many = "flush_all 100\r\n".repeat(2000);
    assert_eq!(s.ask(many.as_bytes()), "OK\r\n".repeat(2000));
    let threads = threads_of(node.0.id());
    assert!(
        threads < 40,
        "{threads} threads after 2,000 delayed flushes"
    );
    assert_eq!(
        s.ask(b"flush_all 0\r\n"),
        "OK\r\n",
        "cancels the pending one"
    );

    // A Unix time in the past flushes now; -1 too.
    assert_eq!(s.ask(b"set a 0 0 1\r\n1\r\n"), "STORED\r\n");
    assert_eq!(s.ask(b"flush_all 1000000000\r\nget a\r\n"), "OK\r\nEND\r\n");
    assert_eq!(s.ask(b"set a 0 0 1\r\n1\r\n"), "STORED\r\n");
    assert_eq!(s.ask(b"flush_all -1\r\nget a\r\n"), "OK\r\nEND\r\n");

    // A Unix time two seconds ahead: the item is there until then, gone after.
    assert_eq!(s.ask(b"set b 0 0 1\r\n2\r\n"), "STORED\r\n");
    let at = unix_now() + 2;
    assert_eq!(s.ask(format!("flush_all {at}\r\n").as_bytes()), "OK\r\n");
    if unix_now() < at {
        assert_eq!(s.ask(b"get b\r\n"), "VALUE b 0 1\r\n2\r\nEND\r\n");
    }
    while unix_now() <= at {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(s.ask(b"get b\r\n"), "END\r\n");

    // SIGTERM with a flush pending and a connection open: a clean close.
    assert_eq!(s.ask(b"flush_all 1000\r\n"), "OK\r\n");
    let killed = Command::new("kill")
        .args(["-TERM", &node.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = node.0.wait().unwrap();
    let mut err = String::new();
    node.0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{status:?}: {err}");
    assert!(err.contains("the store is synced and closed"), "{err}");
}

/// Defect 5: a binary-protocol request is answered at once (a binary "not supported"
/// response), not left waiting for the idle timeout.
#[test]
fn binary_requests_are_refused_at_once() {
    if common::missing(&["libmemcached-tools"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_node, addr) = start_node(&dir.path().join("items.log"), &[]);
    let mut c = TcpStream::connect(&addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // A binary GET of "k", opaque 0xdeadbeef.
    let mut get = vec![0x80, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 1];
    get.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    get.extend_from_slice(&[0; 8]);
    get.push(b'k');
    c.write_all(&get).unwrap();
    let mut header = [0u8; 24];
    c.read_exact(&mut header)
        .expect("an answer before the timeout");
    assert_eq!(header[0], 0x81, "a binary response");
    assert_eq!(u16::from_be_bytes([header[6], header[7]]), 0x0083);
    assert_eq!(
        header[12..16],
        [0xde, 0xad, 0xbe, 0xef],
        "the opaque echoed"
    );
    let len = u32::from_be_bytes([header[8], header[9], header[10], header[11]]) as usize;
    let mut message = vec![0u8; len];
    c.read_exact(&mut message).unwrap();
    assert!(String::from_utf8_lossy(&message).contains("text"));

    // libmemcached's tools in binary mode fail fast with an error.
    let started = Instant::now();
    let out = Command::new("timeout")
        .args([
            "60",
            "memccat",
            "--binary",
            &format!("--servers={addr}"),
            "k",
        ])
        .output()
        .unwrap();
    assert_ne!(
        out.status.code(),
        Some(124),
        "memccat --binary hung: {out:?}"
    );
    assert!(!out.status.success(), "{out:?}");
    eprintln!(
        "memccat --binary: {:?} after {:?}: {}",
        out.status.code(),
        started.elapsed(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Defect 6: with the memcached door alone, a full disk refuses writes, logs about it
/// without a line per write, and recovers in place once there is room.
#[test]
fn a_memcached_only_node_recovers_from_a_full_disk_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = Tmpfs::mount(&dir.path().join("disk"), "8m") else {
        let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
        assert!(!root, "root could not mount a tmpfs");
        eprintln!("not root: the full-disk test needs a tmpfs mount and is not run");
        return;
    };
    let data = disk.0.join("items.log");
    let (mut node, addr) = start_node_with(&data, "127.0.0.1:0", &[], Stdio::piped());
    let filler = disk.0.join("filler");
    let free = fs2::available_space(&disk.0).unwrap();
    std::fs::write(&filler, vec![0u8; (free - (2 << 20)) as usize]).unwrap();
    let mut s = Session::open(&addr);
    let value = vec![b'v'; 500_000];
    let set = |i: usize| {
        [
            format!("set k{i} 0 0 {}\r\n", value.len()).as_bytes(),
            &value,
            b"\r\n",
        ]
        .concat()
    };
    let mut stored = 0;
    let refusal = loop {
        let answer = s.ask(&set(stored));
        if answer != "STORED\r\n" {
            break answer;
        }
        stored += 1;
        assert!(stored < 20, "the disk never filled");
    };
    assert!(refusal.contains("no space left"), "{refusal}");
    for _ in 0..200 {
        assert!(s.ask(&set(99)).starts_with("SERVER_ERROR"));
    }
    assert_eq!(s.ask(b"get k0\r\n").len(), value.len() + 26, "reads go on");
    std::fs::remove_file(&filler).unwrap();
    // Recovery is tried at most once a second: the first writes after may still fail.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = s.ask(&set(100));
        if answer == "STORED\r\n" {
            break;
        }
        assert!(Instant::now() < deadline, "never recovered: {answer}");
        std::thread::sleep(Duration::from_millis(200));
    }
    for i in 0..stored {
        let got = s.ask(format!("get k{i}\r\n").as_bytes());
        assert!(got.starts_with(&format!("VALUE k{i} 0 500000\r\n")), "k{i}");
    }
    node.kill();
    let mut err = String::new();
    node.0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let errors = err.lines().filter(|l| l.contains("ERROR")).count();
    assert!(
        (1..=40).contains(&errors),
        "{errors} error lines for ~200 refused writes:\n{err}"
    );
}

/// Defect 7: answers memcached 1.6's own test suite checks, as memcached gives them.
#[test]
fn edge_cases_from_memcacheds_suite_answer_as_memcached() {
    if common::missing(&["memcached"]) {
        return;
    }
    same_as_memcached(
        &lines(&[
            // `ma` with a TTL sets it.
            b"ma cnt N0 J5 T100 v t\r\n",
            b"mg cnt t v\r\n",
            b"ma cnt T200 t\r\n",
            b"mg cnt t\r\n",
            // A refused oversize set drops the old value.
            b"set big 0 0 2\r\nhi\r\n",
            &[
                &b"set big 0 0 2000000\r\n"[..],
                &vec![b'x'; 2_000_000],
                b"\r\n",
            ]
            .concat(),
            b"get big\r\n",
            // Late stale writes and recache wins.
            b"set st 0 0 1\r\na\r\n",
            b"gets st\r\n",
            b"md st I\r\n",
            b"ms st 1 I C{CAS}\r\nb\r\n",
            b"mg st v\r\n",
            b"mg st v\r\n",
            b"verbosity invalid\r\n",
            b"verbosity 1\r\n",
            // Duplicate flags, base64 padding, opaque length.
            b"mg foo v v\r\n",
            b"mg foo k k\r\n",
            b"ms foo 2 T1 T2\r\nhi\r\n",
            b"mg foo O1234567890123456789012345678901234567890\r\n",
            b"mg foo O12345678901234567890123456789012\r\n",
            b"mg foo O1234567890123456789012345678901\r\n",
            b"mg aGVsbG8 b k v\r\n",
            b"mg aGVsbG8=== b\r\n",
            b"mg a*b= b\r\n",
            // Exptimes as memcached reads them: 2^31 wraps to the past, 2^32+1 to one second.
            b"set e 0 2147483648 1\r\na\r\n",
            b"get e\r\n",
            b"set f 0 -9223372036854775809 1\r\na\r\n",
            b"set g 0 -2147483649 1\r\na\r\n",
            b"get g\r\n",
            // A NUL ends the line.
            b"set a\0b 0 0 1\r\na\r\n",
            b"get a\0b\r\n",
            // Counters as strtoull reads them.
            b"set n 0 0 3\r\n 12\r\n",
            b"incr n 1\r\n",
            b"set z 0 0 21\r\n000000000000000000012\r\n",
            b"incr z 1\r\n",
            b"get z\r\n",
            b"gat 10\r\n",
            b"gat\r\n",
            b"touch k abc\r\n",
            b"touch k\r\n",
            b"shutdown\r\n",
            b"stats detail on\r\n",
            b"stats detail dump\r\n",
            b"stats detail off\r\n",
            b"stats reset\r\n",
            b"stats bogus\r\n",
        ]),
        &["--max-item-size", "1MiB"],
    );
}

/// `stats` subcommands monitoring clients send end in `END`, as memcached's do.
#[test]
fn stats_subcommands_end_as_memcacheds_do() {
    let dir = tempfile::tempdir().unwrap();
    let (_node, addr) = start_node(&dir.path().join("items.log"), &[]);
    let mut c = BufReader::new(TcpStream::connect(&addr).unwrap());
    c.get_ref()
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    c.get_mut().write_all(b"set a 0 0 1\r\n1\r\n").unwrap();
    let mut line = String::new();
    c.read_line(&mut line).unwrap();
    for sub in ["", " items", " slabs", " sizes", " conns", " settings"] {
        c.get_mut()
            .write_all(format!("stats{sub}\r\n").as_bytes())
            .unwrap();
        loop {
            line.clear();
            c.read_line(&mut line).unwrap();
            assert!(
                line.starts_with("STAT ") || line == "END\r\n",
                "stats{sub}: {line:?}"
            );
            if line == "END\r\n" {
                break;
            }
        }
    }
}

fn fds_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

/// Defect 8: one descriptor per connection, the soft fd limit raised (a node started under
/// `ulimit -Sn 256` serves 600 clients), a client that never reads its replies is cut off
/// after the write timeout, and values in flight are bounded server-wide.
#[test]
fn connections_cost_one_descriptor_and_cannot_hold_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("items.log");
    let bin = std::env::var("LOGCACHE_TEST_BIN").unwrap_or_else(|_| common::cli::BIN.to_string());
    let script = format!(
        "ulimit -Sn 256 && exec {bin} --data {} serve --memcached 127.0.0.1:0 --no-http \
         --memcached-write-timeout 1",
        data.display()
    );
    let mut child = Command::new("bash")
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let mut node = common::mc_node::Node(child);
    let addr = first.trim().strip_prefix("memcached protocol on ").unwrap();
    let pid = node.0.id();
    let base_fds = fds_of(pid);
    let mut clients = Vec::new();
    for i in 0..600 {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        c.write_all(b"version\r\n").unwrap();
        clients.push((i, c));
    }
    for (i, c) in &mut clients {
        let mut buf = [0u8; 8];
        c.read_exact(&mut buf)
            .unwrap_or_else(|e| panic!("client {i} not served: {e}"));
        assert_eq!(&buf, b"VERSION ", "client {i}");
    }
    let fds = fds_of(pid);
    assert!(
        fds <= base_fds + 600 + 10,
        "{fds} descriptors for 600 connections"
    );
    drop(clients);

    // A client that pipelines reads of a 512 KiB value and never reads a reply.
    let mut s = Session::open(addr);
    let value = vec![b'v'; 512 << 10];
    let set = [&b"set big 0 0 524288\r\n"[..], &value, b"\r\n"].concat();
    assert_eq!(s.ask(&set), "STORED\r\n");
    let mut hog = TcpStream::connect(addr).unwrap();
    hog.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let gets = "get big\r\n".repeat(64);
    let mut sent = 0;
    while sent < 4096 && hog.write_all(gets.as_bytes()).is_ok() {
        sent += 1;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stats = s.ask(b"stats\r\n");
        if stats.contains("STAT curr_connections 1\r\n") {
            break;
        }
        assert!(Instant::now() < deadline, "the hog is still connected");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(hog);

    // Six 64 MiB sets at once under a 64 MiB in-flight budget: they take turns.
    node.kill();
    let (mut node, addr) = start_node(
        &data,
        &[
            "--max-item-size",
            "64MiB",
            "--memcached-inflight",
            "64MiB",
            "--durability",
            "none",
        ],
    );
    let big = vec![b'b'; 64 << 20];
    let writers: Vec<_> = (0..6)
        .map(|i| {
            let addr = addr.clone();
            let big = big.clone();
            std::thread::spawn(move || {
                let mut s = Session::open(&addr);
                let set = [
                    format!("set v{i} 0 0 {}\r\n", big.len()).as_bytes(),
                    &big,
                    b"\r\n",
                ]
                .concat();
                assert_eq!(s.ask(&set), "STORED\r\n");
            })
        })
        .collect();
    drop(big);
    for w in writers {
        w.join().unwrap();
    }
    let hwm = vm_hwm_kib(node.0.id());
    eprintln!("peak RSS for six 64 MiB sets at once: {} MiB", hwm / 1024);
    assert!(
        hwm < 700 << 10,
        "peak RSS {} MiB: values in flight are not bounded",
        hwm / 1024
    );
    node.kill();
}

/// Writes answered before their fsync is awaited (deferred, group commit) are still read
/// back by the same connection in the same pipeline, and by another once answered.
#[test]
fn a_pipeline_reads_its_own_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (_node, addr) = start_node(&dir.path().join("items.log"), &[]);
    let mut s = Session::open(&addr);
    let pipeline =
        b"set k 0 0 1\r\n1\r\nget k\r\nincr k 5\r\nget k\r\nset j 0 0 1 noreply\r\n2\r\n\
mg j v\r\nappend j 0 0 1\r\n3\r\ngets j\r\ndelete k\r\nget k\r\nflush_all\r\nget j\r\n";
    let want = "STORED\r\nVALUE k 0 1\r\n1\r\nEND\r\n6\r\nVALUE k 0 1\r\n6\r\nEND\r\n\
VA 1\r\n2\r\nSTORED\r\nVALUE j 0 2 CAS\r\n23\r\nEND\r\nDELETED\r\nEND\r\nOK\r\nEND\r\n";
    assert_eq!(s.ask(pipeline), want);
    let mut other = Session::open(&addr);
    assert_eq!(other.ask(b"set x 0 0 1\r\n9\r\n"), "STORED\r\n");
    assert_eq!(s.ask(b"get x\r\n"), "VALUE x 0 1\r\n9\r\nEND\r\n");
}

/// What current clients send: `mg … h` (fetched before), `… l` (seconds since last access),
/// `… u` (no access recorded) answer as memcached's own t/metaget.t expects, the same bytes
/// as memcached 1.6 for the fetch sequence; `me` gives memcached's debug line; `ms … MA N`
/// creates on a miss (memcached 1.6.22+; 1.6.18 answers NS).
#[test]
fn hit_and_access_flags_debug_lines_and_append_vivify() {
    if common::missing(&["memcached"]) {
        return;
    }
    same_as_memcached(
        &lines(&[
            b"ms hitflag 3 T100\r\nhit\r\n",
            b"mg hitflag s t h\r\n",
            b"mg hitflag s t h\r\n",
            b"ms hitflag 3 T100\r\nnew\r\n",
            b"mg hitflag h\r\n",
            b"ms noupdate 3 T100\r\nhit\r\n",
            b"mg noupdate s t u h\r\n",
            b"mg noupdate s t h\r\n",
            b"mg noupdate s t u h\r\n",
            b"get noupdate\r\n",
            b"mg noupdate h v\r\n",
            b"set viaget 0 0 1\r\nx\r\n",
            b"get viaget\r\n",
            b"mg viaget h\r\n",
            b"mg missing h l\r\n",
            b"me missing\r\n",
        ]),
        &[],
    );

    let dir = tempfile::tempdir().unwrap();
    let (mut node, addr) = start_node(&dir.path().join("items.log"), &[]);
    let mut s = Session::open(&addr);
    assert_eq!(s.ask(b"ms la_test 2 T100\r\nla\r\n"), "HD\r\n");
    assert_eq!(s.ask(b"mg la_test l h\r\n"), "HD l0 h0\r\n");
    std::thread::sleep(Duration::from_millis(2100));
    // Over a second since the last access (the fetch above), and fetched.
    let answer = s.ask(b"mg la_test l h\r\n");
    let l: u64 = answer
        .split(' ')
        .find_map(|f| f.strip_prefix('l'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no l flag in {answer:?}"));
    assert!(l >= 2, "{answer:?}");
    assert!(answer.ends_with(" h1\r\n"), "{answer:?}");
    // This fetch was an access: the time starts again.
    assert_eq!(s.ask(b"mg la_test l\r\n"), "HD l0\r\n");

    // `me`: memcached's line; it records no access.
    assert_eq!(s.ask(b"set dbg 0 0 5\r\nhello\r\n"), "STORED\r\n");
    let me = s.ask(b"me dbg\r\n");
    assert!(
        me.starts_with("ME dbg exp=-1 la=0 cas=") && me.ends_with(" fetch=no cls=1 size=25\r\n"),
        "{me:?}"
    );
    assert!(s.ask(b"me dbg\r\n").contains(" fetch=no "));
    assert_eq!(s.ask(b"get dbg\r\n"), "VALUE dbg 0 5\r\nhello\r\nEND\r\n");
    assert!(s.ask(b"me dbg\r\n").contains(" fetch=yes "));
    assert_eq!(s.ask(b"me nothere\r\n"), "EN\r\n");
    // A base64 key comes back in base64: a key with a space or CR LF cannot split the line.
    let key = base64(b"a b\r\nX");
    assert_eq!(
        s.ask(format!("ms {key} 1 b T50\r\nv\r\n").as_bytes()),
        "HD\r\n"
    );
    let me = s.ask(format!("me {key} b\r\n").as_bytes());
    assert!(me.starts_with(&format!("ME {key} exp=5")), "{me:?}");
    assert_eq!(me.matches("\r\n").count(), 1, "{me:?}");

    // `ms … MA N<ttl>`: created from the data on a miss, with N's TTL; without N, NS.
    assert_eq!(s.ask(b"ms viv 3 MA N100\r\nabc\r\n"), "HD\r\n");
    assert_eq!(s.ask(b"mg viv v t\r\n"), "VA 3 t100\r\nabc\r\n");
    assert_eq!(s.ask(b"ms viv 3 MA N100\r\ndef\r\n"), "HD\r\n");
    assert_eq!(s.ask(b"mg viv v\r\n"), "VA 6\r\nabcdef\r\n");
    assert_eq!(s.ask(b"ms viv2 3 MP\r\nabc\r\n"), "NS\r\n");
    assert_eq!(s.ask(b"ms viv3 3 MP N0\r\nxyz\r\n"), "HD\r\n");
    assert_eq!(s.ask(b"mg viv3 v t\r\n"), "VA 3 t-1\r\nxyz\r\n");
    // In set mode `N` means nothing: the item gets T's TTL (none).
    assert_eq!(s.ask(b"ms viv4 1 N100\r\nv\r\n"), "HD\r\n");
    assert_eq!(s.ask(b"mg viv4 t\r\n"), "HD t-1\r\n");
    node.kill();
}

/// `--memcached-idle-timeout`: a silent connection is closed once the timeout has passed,
/// while one that keeps sending is not — however many timeouts its session spans (the
/// connection keeps one timer and moves it to the latest read when it fires).
#[test]
fn silent_connections_close_after_the_idle_timeout_busy_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    let (mut node, addr) = start_node(
        &dir.path().join("items.log"),
        &["--memcached-idle-timeout", "0.5"],
    );
    let mut silent = TcpStream::connect(&addr).unwrap();
    let mut busy = Session::open(&addr);
    let started = Instant::now();
    // Four idle timeouts of requests 100 ms apart: each answered.
    while started.elapsed() < Duration::from_secs(2) {
        assert_eq!(busy.ask(b"mn\r\n"), "MN\r\n");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The silent one was closed by the server: its read ends (EOF), it does not time out.
    silent
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut byte = [0u8; 1];
    assert_eq!(silent.read(&mut byte).unwrap(), 0, "closed by the server");
    // And the busy one, silent from now on, is closed in turn.
    assert_eq!(busy.ask(b"mn\r\n"), "MN\r\n");
    assert_eq!(
        busy.stream.read(&mut byte).unwrap(),
        0,
        "closed by the server"
    );
    // A zero or negative timeout is refused with a message.
    let refused = Command::new(common::cli::BIN)
        .args(["--data"])
        .arg(dir.path().join("other.log"))
        .args(["serve", "--memcached", "127.0.0.1:0", "--no-http"])
        .args(["--memcached-idle-timeout", "0"])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("--memcached-idle-timeout must be a positive number of seconds"),
        "{err}"
    );
    node.kill();
}
