//! The server's life: the store's lock while it runs, a graceful shutdown, and the API's
//! headers, stats and metrics.

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use crate::common::served::{BIN, Served, signal};
use crate::{agent, etag_of, read_until_closed};

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
    let now_ms = crate::common::unix_ms();
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
    let puts: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("logcache_http_requests_total{route=\"object\",method=\"PUT\""))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(puts, 5, "{metrics}");
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
