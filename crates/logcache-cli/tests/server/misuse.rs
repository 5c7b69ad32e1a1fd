//! Guards `logcache serve` against hostile and careless use: a second name for its log
//! (once acknowledged writes vanished), a chunked upload larger than the capacity (once it
//! emptied the cache), clients without the token holding every connection slot, a full disk
//! (once `500` with the server's path, then `503` until a restart), aborted uploads growing the
//! log without bound, the token file against `LOGCACHE_TOKEN`, and transfer codings the server
//! does not decode (once stored still encoded).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::common::Tmpfs;
use crate::common::cli::{BIN, logcache_with_input as cli};
use crate::common::data::pattern;
use crate::common::served::Served;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .new_agent()
}

/// Sends `request` on a fresh connection and reads until the server closes it (or 30 s).
fn raw(addr: &str, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn status_and_body(r: ureq::http::Response<ureq::Body>) -> (u16, String) {
    let status = r.status().as_u16();
    (status, r.into_body().read_to_string().unwrap_or_default())
}

#[test]
fn a_second_name_for_the_log_cannot_write_while_serve_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.log");
    let link = dir.path().join("link.log");
    let hard = dir.path().join("hard.log");
    assert!(cli(&real, &["put", "seed", "-"], b"seed").status.success());
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let mut server = Served::start_at(&real, &[]);
    let out = cli(&link, &["put", "c1", "-"], b"cli");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a put through a link while serve runs: {err}"
    );
    assert!(err.contains("locked"), "{err}");
    assert!(err.contains("real.log.lock"), "{err}");
    std::fs::hard_link(&real, &hard).unwrap();
    let out = cli(&hard, &["put", "c2", "-"], b"cli");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a put through a hard link: {err}");
    assert!(err.contains("hard links"), "{err}");
    // The server's writes are all there after it stops.
    let r = agent().put(server.object("s1")).send("served").unwrap();
    assert_eq!(r.status(), 200);
    assert!(server.terminate().success());
    std::fs::remove_file(&hard).unwrap();
    let out = cli(&link, &["get", "s1"], b"");
    assert_eq!(out.stdout, b"served");
    let out = cli(&link, &["ls"], b"");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "6\ts1\n4\tseed\n");
}

#[test]
fn a_chunked_upload_larger_than_the_capacity_evicts_nothing() {
    let server = Served::start(&["--capacity", "8MiB"]);
    let agent = agent();
    let objects: Vec<(String, Vec<u8>)> = (0..3)
        .map(|i| (format!("o{i}"), pattern(2_000_000, i)))
        .collect();
    for (key, value) in &objects {
        let r = agent.put(server.object(key)).send(&value[..]).unwrap();
        assert_eq!(r.status(), 200);
    }
    // No Content-Length: the size is learnt only as the body arrives.
    let body = std::io::Cursor::new(vec![9u8; 9 << 20]);
    let (status, body) = status_and_body(
        agent
            .put(server.object("big"))
            .send(ureq::SendBody::from_owned_reader(body))
            .unwrap(),
    );
    assert_eq!(status, 507, "{body}");
    for (key, value) in &objects {
        let r = agent.get(server.object(key)).call().unwrap();
        assert_eq!(
            r.status(),
            200,
            "{key} was evicted for an upload that failed"
        );
        assert!(r.into_body().read_to_vec().unwrap() == *value);
    }
    assert_eq!(
        agent.get(server.object("big")).call().unwrap().status(),
        404
    );
    let (_, stats) = status_and_body(
        agent
            .get(format!("{}/v1/stats", server.url))
            .call()
            .unwrap(),
    );
    assert!(stats.contains("\"evictions\":0"), "{stats}");
    assert!(stats.contains("\"reserved_bytes\":0"), "{stats}");
}

#[test]
fn clients_without_the_token_cannot_hold_the_connections() {
    if crate::common::missing(&["curl"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "right-token\n").unwrap();
    let server = Served::start(&[
        "--token-file",
        token_file.to_str().unwrap(),
        "--max-connections",
        "3",
    ]);
    let stop = Arc::new(AtomicBool::new(false));
    let trickles: Vec<_> = (0..3)
        .map(|_| {
            let addr = server.addr.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(&addr).unwrap();
                s.write_all(
                    b"PUT /v1/objects/k HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n\
                      Content-Length: 100000\r\n\r\n",
                )
                .unwrap();
                // A byte every 200 ms, until told to stop or the server closes.
                let mut reader = s.try_clone().unwrap();
                let writer = std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) && s.write_all(b"x").is_ok() {
                        std::thread::sleep(Duration::from_millis(200));
                    }
                });
                reader
                    .set_read_timeout(Some(Duration::from_secs(60)))
                    .unwrap();
                let mut answer = Vec::new();
                let closed = reader.read_to_end(&mut answer).is_ok();
                let _ = writer.join();
                (closed, String::from_utf8_lossy(&answer).into_owned())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500)); // the three hold their connections
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "60",
            "-H",
            "Authorization: Bearer right-token",
        ])
        .arg(format!("{}/healthz", server.url))
        .output()
        .unwrap();
    stop.store(true, Ordering::SeqCst);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok\n",
        "an authorised client got no connection: {out:?}"
    );
    for t in trickles {
        let (closed, answer) = t.join().unwrap();
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        assert!(closed, "the server closed the connection after the 401");
    }
}

#[test]
fn a_full_disk_answers_507_and_the_server_recovers_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = Tmpfs::mount(&dir.path().join("disk"), "12m") else {
        let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
        assert!(!root, "root could not mount a tmpfs");
        eprintln!("not root: the full-disk test needs a tmpfs mount and is not run");
        return;
    };
    let data = disk.0.join("srv.log");
    let mut server = Served::start_at(&data, &[]);
    let agent = agent();
    // Leave about 4 MiB free.
    let filler = disk.0.join("filler");
    let free = fs2::available_space(&disk.0).unwrap();
    std::fs::write(&filler, vec![0u8; (free - (4 << 20)) as usize]).unwrap();

    let mut stored = Vec::new();
    let (status, body) = loop {
        let i = stored.len();
        let value = pattern(700_000, i as u8);
        let (status, body) = status_and_body(
            agent
                .put(server.object(&format!("o{i}")))
                .send(&value[..])
                .unwrap(),
        );
        if status != 200 {
            break (status, body);
        }
        stored.push(value);
        assert!(stored.len() < 20, "the disk never filled");
    };
    assert_eq!(status, 507, "{body}");
    assert!(body.contains("no space left"), "{body}");
    assert!(
        !body.contains(&*disk.0.to_string_lossy()),
        "a server path in {body}"
    );
    let (status, body) =
        status_and_body(agent.get(format!("{}/healthz", server.url)).call().unwrap());
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("refuses writes"), "{body}");
    // Reads go on.
    let r = agent.get(server.object("o0")).call().unwrap();
    assert!(r.into_body().read_to_vec().unwrap() == stored[0]);

    // Room again: writes succeed again without a restart.
    std::fs::remove_file(&filler).unwrap();
    let value = pattern(700_000, 200);
    let (status, body) =
        status_and_body(agent.put(server.object("after")).send(&value[..]).unwrap());
    assert_eq!(status, 200, "{body}");
    let (status, _) = status_and_body(agent.get(format!("{}/healthz", server.url)).call().unwrap());
    assert_eq!(status, 200);
    stored.push(value);
    let check = |agent: &ureq::Agent, url: &dyn Fn(&str) -> String| {
        for (i, value) in stored.iter().enumerate() {
            let key = if i + 1 == stored.len() {
                "after".to_string()
            } else {
                format!("o{i}")
            };
            let r = agent.get(url(&key)).call().unwrap();
            assert_eq!(r.status(), 200, "{key}");
            assert!(r.into_body().read_to_vec().unwrap() == *value, "{key}");
        }
    };
    check(&agent, &|k| server.object(k));
    assert!(server.terminate().success());
    let out = Command::new(BIN)
        .arg("--data")
        .arg(&data)
        .arg("check")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let server = Served::start_at(&data, &[]);
    check(&agent, &|k| server.object(k));
}

#[test]
fn aborted_uploads_do_not_grow_the_log_without_bound() {
    let server = Served::start(&[]);
    let r = agent()
        .put(server.object("live"))
        .send(&pattern(1 << 20, 1)[..])
        .unwrap();
    assert_eq!(r.status(), 200);
    let chunk = pattern(1 << 20, 2);
    for i in 0..100 {
        // Announce 4 MiB, send 3, hang up: the blocks written are deleted (dead bytes).
        let mut s = TcpStream::connect(&server.addr).unwrap();
        let head = format!(
            "PUT /v1/objects/aborted{i} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            4 << 20
        );
        s.write_all(head.as_bytes()).unwrap();
        for _ in 0..3 {
            s.write_all(&chunk).unwrap();
        }
        s.shutdown(std::net::Shutdown::Both).unwrap();
    }
    // 300 MiB of dead blocks were written; with 1 MiB live the log must come back under
    // live + the 64 MiB dead-bytes floor (+ preallocation and the file header).
    let bound = (1 << 20) + (64 << 20) + (16 << 20);
    let mut size = u64::MAX;
    for _ in 0..600 {
        size = std::fs::metadata(&server.data).unwrap().len();
        if size <= bound {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(size <= bound, "log of {size} bytes for 1 MiB of live data");
    let r = agent().get(server.object("live")).call().unwrap();
    assert!(r.into_body().read_to_vec().unwrap() == pattern(1 << 20, 1));
}

#[test]
fn the_token_file_wins_over_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "from-the-file\n").unwrap();
    let mut cmd = Command::new(BIN);
    cmd.env("LOGCACHE_TOKEN", "from-the-environment")
        .arg("--data")
        .arg(dir.path().join("s.log"))
        .args(["serve", "--listen", "127.0.0.1:0", "--token-file"])
        .arg(&token_file);
    let server = Served::spawn(cmd, dir.path().join("s.log"));
    let healthz = format!("{}/healthz", server.url);
    let with = |token: &str| {
        agent()
            .get(&healthz)
            .header("authorization", format!("Bearer {token}"))
            .call()
            .unwrap()
            .status()
    };
    assert_eq!(with("from-the-file"), 200);
    assert_eq!(with("from-the-environment"), 401);
}

#[test]
fn transfer_codings_it_does_not_decode_are_refused_and_hash_goes_as_23() {
    let server = Served::start(&[]);
    let answer = raw(
        &server.addr,
        b"PUT /v1/objects/coded HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
          Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 501"), "{answer}");
    assert_eq!(
        agent().get(server.object("coded")).call().unwrap().status(),
        404
    );
    // Plain chunked is fine.
    let answer = raw(
        &server.addr,
        b"PUT /v1/objects/plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
          Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // `#` starts a fragment in a URL, which never names a key: a key with `#` is sent as %23.
    let r = agent().put(server.object("a%23b")).send("hash").unwrap();
    assert_eq!(r.status(), 200);
    let (status, body) = status_and_body(agent().get(server.object("a%23b")).call().unwrap());
    assert_eq!((status, body.as_str()), (200, "hash"));
    let (_, list) = status_and_body(
        agent()
            .get(format!("{}/v1/objects", server.url))
            .call()
            .unwrap(),
    );
    assert!(list.contains("\"key\":\"a%23b\""), "{list}");
}
