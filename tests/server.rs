//! `logcache serve`, run for real: the binary on a free loopback port, driven by ureq, curl
//! and raw sockets. A 1 GiB round trip under 64 MiB of server RSS, 413 before the body, 401
//! without the token, path-like keys, slow and stalled clients, 100 concurrent clients, a
//! graceful shutdown, and the README's curl examples.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::served::{BIN, Served, signal};

/// An agent that hands back every status instead of turning 4xx/5xx into errors.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .new_agent()
}

fn etag_of(r: &ureq::http::Response<ureq::Body>) -> String {
    let tag = r.headers().get("etag").expect("an ETag header");
    tag.to_str().unwrap().to_string()
}

/// A deterministic byte stream, so a GiB need not be held to compare.
fn fill(buf: &mut [u8], offset: u64) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = ((offset + i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8;
    }
}

/// `len` bytes of [`fill`], produced as read.
struct Pattern {
    pos: u64,
    len: u64,
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min((self.len - self.pos) as usize);
        fill(&mut buf[..n], self.pos);
        self.pos += n as u64;
        Ok(n)
    }
}

fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "-o", "-", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl is installed (scripts/test installs it)");
    assert!(out.status.success(), "curl {args:?}: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap(), body.to_string())
}

#[test]
fn a_1_gib_object_round_trips_under_64_mib_of_server_memory() {
    const SIZE: u64 = 1 << 30;
    let server = Served::start(&[]);
    let agent = agent();
    let started = Instant::now();
    let mut put = agent
        .put(server.object("big/one-gib"))
        .header("content-length", SIZE.to_string())
        .send(ureq::SendBody::from_owned_reader(Pattern {
            pos: 0,
            len: SIZE,
        }))
        .unwrap();
    assert_eq!(put.status(), 200, "{:?}", put.body_mut().read_to_string());
    let put_tag = etag_of(&put);
    let put_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut get = agent.get(server.object("big/one-gib")).call().unwrap();
    assert_eq!(get.status(), 200);
    assert_eq!(
        get.headers().get("content-length").unwrap(),
        &SIZE.to_string()
    );
    assert_eq!(
        get.headers().get("etag").unwrap().to_str().unwrap(),
        put_tag
    );
    let mut reader = get.body_mut().as_reader();
    let (mut buf, mut want) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    let mut pos = 0u64;
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        fill(&mut want[..n], pos);
        assert!(buf[..n] == want[..n], "bytes differ in the MiB at {pos}");
        pos += n as u64;
    }
    assert_eq!(pos, SIZE);
    let get_secs = started.elapsed().as_secs_f64();
    let rss = server.peak_rss();
    println!(
        "1 GiB: PUT {:.0} MB/s, GET {:.0} MB/s, server peak RSS {:.1} MiB",
        SIZE as f64 / put_secs / 1e6,
        SIZE as f64 / get_secs / 1e6,
        rss as f64 / (1 << 20) as f64
    );
    assert!(rss < 64 << 20, "server peak RSS {rss} bytes");
}

#[test]
fn oversize_objects_get_413_before_the_body_is_read() {
    let server = Served::start(&["--max-object-size", "1MiB"]);
    // Only the head is sent: the answer must come without the body.
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "PUT /v1/objects/huge HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        10u64 << 30
    )
    .unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 413");

    // ureq, with a body just over the limit: sent whole without waiting (the server reads
    // and drops it after answering, so the client gets to read the answer), and with
    // `Expect: 100-continue` (the body is never sent).
    let agent = agent();
    let r = agent
        .put(server.object("over"))
        .send(&vec![7u8; (1 << 20) + 1][..])
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = agent
        .put(server.object("over"))
        .header("expect", "100-continue")
        .send(&vec![7u8; 2 << 20][..])
        .unwrap();
    assert_eq!(r.status(), 413);
    // curl, chunked (no Content-Length) over the limit: refused once the limit is passed.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("two-mib");
    std::fs::write(&file, vec![1u8; 2 << 20]).unwrap();
    let (code, body) = curl(&[
        "-H",
        "Transfer-Encoding: chunked",
        "-T",
        file.to_str().unwrap(),
        &server.object("chunked"),
    ]);
    assert_eq!(code, 413, "{body}");
    assert!(body.contains("--max-object-size"), "{body}");
    // Nothing of either was stored; exactly the limit is fine.
    let mut r = agent
        .get(format!("{}/v1/stats", server.url))
        .call()
        .unwrap();
    let stats = r.body_mut().read_to_string().unwrap();
    assert!(stats.contains("\"too_large\":4"), "{stats}");
    assert!(stats.contains("\"reserved_blocks\":0"), "{stats}");
    for key in ["huge", "over", "chunked"] {
        assert_eq!(agent.get(server.object(key)).call().unwrap().status(), 404);
    }
    let r = agent
        .put(server.object("exact"))
        .send(&vec![7u8; 1 << 20][..])
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn a_full_server_evicts_or_refuses_and_never_evicts_for_an_object_that_cannot_fit() {
    let server = Served::start(&["--capacity", "3MiB"]);
    let agent = agent();
    for key in ["a", "b"] {
        let r = agent
            .put(server.object(key))
            .send(&vec![1u8; 1 << 20][..])
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // Larger than the whole capacity: 507 up front; nothing was evicted for it.
    let r = agent
        .put(server.object("huge"))
        .send(&vec![2u8; 4 << 20][..])
        .unwrap();
    assert_eq!(r.status(), 507);
    for key in ["a", "b"] {
        assert_eq!(agent.get(server.object(key)).call().unwrap().status(), 200);
    }
    // One that fits evicts the least recently used ("a" was read first).
    let r = agent
        .put(server.object("c"))
        .send(&vec![3u8; 2 << 20][..])
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(agent.get(server.object("a")).call().unwrap().status(), 404);
    assert_eq!(agent.get(server.object("c")).call().unwrap().status(), 200);

    // With --when-full fail: 507 and everything kept.
    let server = Served::start(&["--capacity", "2MiB", "--when-full", "fail"]);
    let r = agent
        .put(server.object("a"))
        .send(&vec![1u8; 2 << 20][..])
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut r = agent
        .put(server.object("b"))
        .send(&vec![1u8; 10][..])
        .unwrap();
    assert_eq!(r.status(), 507);
    assert!(r.body_mut().read_to_string().unwrap().contains("full"));
    // Chunked (size unknown up front), 32 MiB: the store refuses at its first block, and the
    // client, still sending, reads the 507 rather than meeting a reset connection.
    let body = std::io::Cursor::new(vec![4u8; 32 << 20]);
    let r = agent
        .put(server.object("c"))
        .send(ureq::SendBody::from_owned_reader(body))
        .unwrap();
    assert_eq!(r.status(), 507);
    assert_eq!(agent.get(server.object("a")).call().unwrap().status(), 200);
}

#[test]
fn a_token_protected_server_answers_401_without_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "s3cret-token-for-tests\n").unwrap();
    let server = Served::start(&["--token-file", token_file.to_str().unwrap()]);
    let agent = agent();
    for path in [
        "/v1/objects/k",
        "/v1/stats",
        "/metrics",
        "/healthz",
        "/v1/objects",
    ] {
        let url = format!("{}{path}", server.url);
        let r = agent.get(&url).call().unwrap();
        assert_eq!(r.status(), 401, "{path}");
        assert!(r.headers().get("www-authenticate").is_some());
        let r = agent
            .get(&url)
            .header("authorization", "Bearer s3cret-token-for-tesTS")
            .call()
            .unwrap();
        assert_eq!(r.status(), 401, "{path} with a wrong token");
    }
    let r = agent.put(server.object("k")).send("no token").unwrap();
    assert_eq!(r.status(), 401);
    let (code, _) = curl(&["-T", token_file.to_str().unwrap(), &server.object("k")]);
    assert_eq!(code, 401);
    // With the token.
    let auth = "Bearer s3cret-token-for-tests";
    let r = agent
        .put(server.object("k"))
        .header("authorization", auth)
        .send("with token")
        .unwrap();
    assert_eq!(r.status(), 200);
    let (code, body) = curl(&["-H", &format!("Authorization: {auth}"), &server.object("k")]);
    assert_eq!((code, body.as_str()), (200, "with token"));
    // Nothing was stored by the refused PUTs.
    let mut r = agent
        .get(format!("{}/v1/stats", server.url))
        .header("authorization", auth)
        .call()
        .unwrap();
    let stats = r.body_mut().read_to_string().unwrap();
    assert!(stats.contains("\"unauthorized\":12"), "{stats}");
    assert!(stats.contains("\"sets\":1"), "{stats}");
}

#[test]
fn a_non_loopback_address_without_a_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("--data")
        .arg(dir.path().join("s.log"))
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to listen on 0.0.0.0:0 without a token"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn path_like_keys_are_stored_and_returned_as_keys() {
    let server = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8]); 5] = [
        ("../../etc/passwd", b"../../etc/passwd"),
        ("%2e%2e%2f", b"../"),
        ("a/b/c", b"a/b/c"),
        ("..%2F..%2Fsecret", b"../../secret"),
        ("%00%FF%0A%09tab", b"\0\xff\n\ttab"),
    ];
    for (i, (raw, _)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("v{i}"));
        std::fs::write(&file, format!("value {i}")).unwrap();
        // --path-as-is: curl must not resolve the dots itself.
        let (code, body) = curl(&[
            "--path-as-is",
            "-T",
            file.to_str().unwrap(),
            &server.object(raw),
        ]);
        assert_eq!(code, 200, "PUT {raw}: {body}");
    }
    let agent = agent();
    for (i, (raw, _)) in cases.iter().enumerate() {
        let (code, body) = curl(&["--path-as-is", &server.object(raw)]);
        assert_eq!(
            (code, body.as_str()),
            (200, format!("value {i}").as_str()),
            "{raw}"
        );
    }
    // The same keys, spelled fully percent-encoded, through ureq.
    for (i, (_, key)) in cases.iter().enumerate() {
        let encoded: String = key.iter().map(|b| format!("%{b:02X}")).collect();
        let mut r = agent.get(server.object(&encoded)).call().unwrap();
        assert_eq!(r.status(), 200, "{encoded}");
        assert_eq!(r.body_mut().read_to_string().unwrap(), format!("value {i}"));
    }
    // The listing returns exactly these keys.
    let mut r = agent
        .get(format!("{}/v1/objects", server.url))
        .call()
        .unwrap();
    let listing = r.body_mut().read_to_string().unwrap();
    for key in [
        "\"../../etc/passwd\"",
        "\"../\"",
        "\"a/b/c\"",
        "\"../../secret\"",
        "\"%00%FF%0A%09tab\"",
    ] {
        assert!(
            listing.contains(&format!("\"key\":{key}")),
            "{key} in {listing}"
        );
    }
    // Nothing was written anywhere but the store's own files.
    let mut names: Vec<String> = std::fs::read_dir(server.data.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["store.log", "store.log.lock"]);
    // Bad escapes and an empty key are refused.
    assert_eq!(
        agent.get(server.object("%zz")).call().unwrap().status(),
        400
    );
    assert_eq!(
        agent.put(server.object("")).send("x").unwrap().status(),
        404
    );
}

/// Reads until the peer closes; `Ok(n)` with the bytes seen, `Err` if it never closed within
/// `limit` (a generous liveness bound, not a speed check).
fn read_until_closed(s: &mut TcpStream, limit: Duration) -> Result<Vec<u8>, String> {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(seen),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(seen),
            Err(e) => return Err(format!("still open after {limit:?}: {e}")),
        }
    }
}

#[test]
fn slow_and_stalled_clients_are_disconnected() {
    let server = Served::start(&[
        "--header-timeout",
        "1",
        "--body-timeout",
        "1",
        "--idle-timeout",
        "3",
    ]);
    let limit = Duration::from_secs(30);
    // Half a header, then one more byte every 300 ms (so the connection is never idle): the
    // header timeout, not the idle one, must end it.
    let mut half = TcpStream::connect(&server.addr).unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHo").unwrap();
    let mut trickle = half.try_clone().unwrap();
    let trickler = std::thread::spawn(move || {
        let started = Instant::now();
        while trickle.write_all(b"x").is_ok() && started.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    // No bytes at all.
    let mut silent = TcpStream::connect(&server.addr).unwrap();
    // A body that stalls: 408, nothing stored.
    let mut stalled = TcpStream::connect(&server.addr).unwrap();
    stalled
        .write_all(
            b"PUT /v1/objects/stalled HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789",
        )
        .unwrap();
    // A keep-alive connection left idle after a request.
    let mut idle = TcpStream::connect(&server.addr).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();

    read_until_closed(&mut half, limit).unwrap();
    trickler.join().unwrap();
    read_until_closed(&mut silent, limit).unwrap();
    let answer = read_until_closed(&mut stalled, limit).unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let answer = read_until_closed(&mut idle, limit).unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // The server still serves, and stored nothing for the stalled upload.
    let agent = agent();
    assert_eq!(
        agent.get(server.object("stalled")).call().unwrap().status(),
        404
    );
    let mut r = agent
        .get(format!("{}/v1/stats", server.url))
        .call()
        .unwrap();
    let stats = r.body_mut().read_to_string().unwrap();
    assert!(stats.contains("\"body_timeouts\":1"), "{stats}");
    assert!(stats.contains("\"objects\":0"), "{stats}");
}

/// A value that carries its own key, version and checksum, so any GET can be checked.
fn tagged_value(key: &str, version: u64, len: usize) -> Vec<u8> {
    let mut v = format!("{key}\t{version}\t").into_bytes();
    let mut body = vec![0u8; len];
    fill(&mut body, version.wrapping_mul(7919) ^ key.len() as u64);
    v.extend_from_slice(&body);
    let crc = crc32fast::hash(&v);
    v.extend_from_slice(&crc.to_le_bytes());
    v
}

fn check_tagged(key: &str, v: &[u8]) -> u64 {
    assert!(v.len() >= 4, "{key}: {} bytes", v.len());
    let (data, crc) = v.split_at(v.len() - 4);
    assert_eq!(crc32fast::hash(data).to_le_bytes(), crc, "{key}: checksum");
    let text = String::from_utf8_lossy(&data[..data.len().min(64)]).into_owned();
    let mut fields = text.split('\t');
    assert_eq!(fields.next(), Some(key), "a value of another key");
    fields.next().unwrap().parse().unwrap()
}

#[test]
fn a_hundred_clients_mixing_put_get_delete() {
    let secs: u64 = std::env::var("LOGCACHE_SERVER_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let mut server = Served::start(&[]);
    let url = server.url.clone();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let threads: Vec<_> = (0..100u64)
        .map(|client| {
            let url = url.clone();
            std::thread::spawn(move || {
                let agent = agent();
                let mut rng = client.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1;
                let mut next = move || {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng
                };
                // Own keys: this client is their only writer, so a GET must return exactly
                // the last PUT (or 404 after a DELETE).
                let mut own: Vec<Option<(Vec<u8>, String)>> = vec![None; 3];
                let mut ops = 0u64;
                while Instant::now() < deadline {
                    let r = next();
                    let shared = r % 4 == 0;
                    let slot = (r >> 8) as usize % if shared { 8 } else { own.len() };
                    let key = if shared {
                        format!("shared/{slot}")
                    } else {
                        format!("c{client}/{slot}")
                    };
                    let object = format!("{url}/v1/objects/{key}");
                    let len = match (r >> 16) % 20 {
                        0 => 1_500_000 + (r >> 24) as usize % 100_000, // two blocks
                        1..=4 => 0,
                        _ => (r >> 24) as usize % 20_000,
                    };
                    match (r >> 40) % 10 {
                        0..=3 => {
                            let value = tagged_value(&key, next(), len);
                            let resp = agent.put(&object).send(&value[..]).unwrap();
                            assert_eq!(resp.status(), 200, "PUT {key}");
                            let tag = resp.headers().get("etag").unwrap().to_str().unwrap();
                            if !shared {
                                own[slot] = Some((value, tag.to_string()));
                            }
                        }
                        4 => {
                            let status = agent.delete(&object).call().unwrap().status();
                            assert!(status == 204 || status == 404, "DELETE {key}: {status}");
                            if !shared {
                                let expected = if own[slot].take().is_some() { 204 } else { 404 };
                                assert_eq!(status, expected, "DELETE {key}");
                            }
                        }
                        _ => {
                            let mut resp = agent.get(&object).call().unwrap();
                            let status = resp.status();
                            let tag = resp
                                .headers()
                                .get("etag")
                                .map(|t| t.to_str().unwrap().to_string());
                            let body = resp
                                .body_mut()
                                .with_config()
                                .limit(4 << 20)
                                .read_to_vec()
                                .unwrap();
                            if shared {
                                assert!(status == 200 || status == 404, "GET {key}: {status}");
                                if status == 200 {
                                    check_tagged(&key, &body);
                                }
                            } else {
                                match &own[slot] {
                                    Some((value, put_tag)) => {
                                        assert_eq!(status, 200, "GET {key}");
                                        assert!(body == *value, "GET {key}: other bytes");
                                        assert_eq!(tag.as_deref(), Some(put_tag.as_str()));
                                    }
                                    None => assert_eq!(status, 404, "GET {key}"),
                                }
                            }
                        }
                    }
                    ops += 1;
                }
                ops
            })
        })
        .collect();
    let ops: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    println!("100 clients, {secs} s: {ops} requests");
    assert!(ops >= 100, "every client made requests");
    let status = server.stop_with("INT"); // Ctrl-C
    assert!(status.success(), "{status:?}");
    // Every object of the last state is there for the next process, whole.
    let out = Command::new(BIN)
        .arg("--data")
        .arg(&server.data)
        .arg("check")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn the_store_is_locked_while_the_server_runs() {
    let mut server = Served::start(&[]);
    let out = Command::new(BIN)
        .arg("--data")
        .arg(&server.data)
        .args(["get", "anything"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("(process {})", server.child.id())),
        "names the server's process: {err}"
    );
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
}

#[test]
fn shutdown_on_sigterm_finishes_the_request_in_flight() {
    let mut server = Served::start(&[]);
    let data = server.data.clone();
    // Half a body in flight when the signal arrives; the rest after.
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.write_all(b"PUT /v1/objects/inflight HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    signal(&server.child, "TERM");
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(b"56789").unwrap();
    let answer = read_until_closed(&mut s, Duration::from_secs(30)).unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    // The store was synced and closed: the object is there for the next process.
    let out = Command::new(BIN)
        .arg("--data")
        .arg(&data)
        .args(["get", "inflight"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0123456789");
}

#[test]
fn head_etags_ttl_delete_stats_and_metrics() {
    let server = Served::start(&[]);
    let agent = agent();
    let r = agent.put(server.object("k")).send("hello").unwrap();
    let tag = etag_of(&r);
    let r = agent.head(server.object("k")).call().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("content-length").unwrap(), "5");
    assert_eq!(r.headers().get("etag").unwrap().to_str().unwrap(), tag);
    let r = agent
        .get(server.object("k"))
        .header("if-none-match", &tag)
        .call()
        .unwrap();
    assert_eq!(r.status(), 304);
    // A replace changes the ETag.
    let r = agent.put(server.object("k")).send("hello!").unwrap();
    assert_ne!(r.headers().get("etag").unwrap().to_str().unwrap(), tag);
    // TTL by header.
    let r = agent
        .put(server.object("short"))
        .header("x-logcache-ttl", "1")
        .send("brief")
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = agent
        .put(server.object("hour"))
        .header("x-logcache-ttl", "3600")
        .send("an hour")
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = agent.head(server.object("hour")).call().unwrap();
    let expires: u64 = r.headers()["x-logcache-expires-at"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let now_ms = common::unix_ms();
    assert!(
        expires > now_ms + 3_590_000 && expires <= now_ms + 3_600_000,
        "{expires} vs {now_ms}"
    );
    let r = agent.get(server.object("k")).call().unwrap();
    assert!(
        r.headers().get("x-logcache-expires-at").is_none(),
        "no TTL, no header"
    );
    let r = agent
        .put(server.object("bad-ttl"))
        .header("x-logcache-ttl", "soon")
        .send("x")
        .unwrap();
    assert_eq!(r.status(), 400);
    std::thread::sleep(Duration::from_millis(2200));
    assert_eq!(
        agent.get(server.object("short")).call().unwrap().status(),
        404
    );
    // DELETE.
    assert_eq!(
        agent.delete(server.object("k")).call().unwrap().status(),
        204
    );
    assert_eq!(
        agent.delete(server.object("k")).call().unwrap().status(),
        404
    );
    assert_eq!(agent.head(server.object("k")).call().unwrap().status(), 404);
    // Stats and metrics.
    let mut r = agent
        .get(format!("{}/v1/stats", server.url))
        .call()
        .unwrap();
    assert_eq!(r.headers().get("content-type").unwrap(), "application/json");
    let stats = r.body_mut().read_to_string().unwrap();
    assert!(stats.contains("\"PUT\":5"), "{stats}");
    assert!(stats.contains("\"DELETE\":2"), "{stats}");
    let mut r = agent.get(format!("{}/metrics", server.url)).call().unwrap();
    let metrics = r.body_mut().read_to_string().unwrap();
    assert!(
        metrics.contains("logcache_http_requests_total{method=\"PUT\"} 5"),
        "{metrics}"
    );
    assert!(
        metrics.contains("# TYPE logcache_objects gauge"),
        "{metrics}"
    );
    let mut r = agent.get(format!("{}/healthz", server.url)).call().unwrap();
    assert_eq!(r.body_mut().read_to_string().unwrap(), "ok\n");
    assert_eq!(
        agent
            .get(format!("{}/nope", server.url))
            .call()
            .unwrap()
            .status(),
        404
    );
}

/// Runs the README block between `<!-- NAME:start -->` and `<!-- NAME:end -->` in `dir`:
/// a `logcache ... serve ... &` line starts the server (on a free port instead of 8080), the
/// other lines run with `sh`, each must succeed. Returns how many lines ran.
fn run_readme_block(name: &str, dir: &Path) -> usize {
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
