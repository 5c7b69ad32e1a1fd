//! Content types, user metadata and conditional requests: what a PUT says about its object
//! survives a restart, oversized or malformed metadata is refused, `If-Match` /
//! `If-None-Match` on GET, HEAD, PUT and DELETE, and a create-only PUT raced by 16 clients.

use std::sync::{Arc, Barrier};

use crate::common::served::Served;
use crate::{agent, curl, etag_of};

fn header(r: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

#[test]
fn content_type_and_metadata_survive_a_restart_and_oversized_metadata_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store.log");
    let mut server = Served::start_at(&data, &[]);
    let a = agent();
    // A small (inline) object and a block object, each with a type and metadata.
    for (key, len) in [("small", 100usize), ("large", 3 << 20)] {
        let r = a
            .put(server.object(key))
            .header("Content-Type", "video/mp4")
            .header("x-logcache-meta-camera", "front door")
            .header("X-Logcache-Meta-Take", "3")
            .send(&vec![7u8; len][..])
            .unwrap();
        assert_eq!(r.status(), 200, "{key}");
    }
    // Without a Content-Type: application/octet-stream.
    assert_eq!(
        a.put(server.object("plain")).send("x").unwrap().status(),
        200
    );

    server.terminate();
    let server = Served::start_at(&data, &[]);
    for key in ["small", "large"] {
        for r in [
            a.get(server.object(key)).call().unwrap(),
            a.head(server.object(key)).call().unwrap(),
        ] {
            assert_eq!(r.status(), 200);
            assert_eq!(header(&r, "content-type").as_deref(), Some("video/mp4"));
            assert_eq!(
                header(&r, "x-logcache-meta-camera").as_deref(),
                Some("front door")
            );
            assert_eq!(header(&r, "x-logcache-meta-take").as_deref(), Some("3"));
        }
    }
    let r = a.get(server.object("plain")).call().unwrap();
    assert_eq!(
        header(&r, "content-type").as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(header(&r, "x-logcache-meta-camera"), None);

    // Over 8 KiB of metadata, a bad name, a value that is not ASCII: 400, nothing stored,
    // and the object there before is untouched.
    let big = "v".repeat(5000);
    let mut r = a
        .put(server.object("small"))
        .header("x-logcache-meta-one", &big)
        .header("x-logcache-meta-two", &big)
        .send("replacement")
        .unwrap();
    assert_eq!(r.status(), 400);
    let text = r.body_mut().read_to_string().unwrap();
    assert!(text.contains("at most 8192"), "{text}");
    // Not ASCII, in a name or a value (curl sends the UTF-8 bytes as they are).
    for bad in [
        "x-logcache-meta-caf\u{e9}: 1",
        "x-logcache-meta-name: caf\u{e9}",
    ] {
        assert_eq!(curl_put(&server.object("bad"), "x", bad), 400, "{bad}");
    }
    assert_eq!(a.get(server.object("bad")).call().unwrap().status(), 404);
    let mut r = a.get(server.object("small")).call().unwrap();
    assert_eq!(r.body_mut().read_to_vec().unwrap(), vec![7u8; 100]);
    // A replace without metadata drops the old metadata with the old object.
    a.put(server.object("small")).send("new").unwrap();
    let r = a.head(server.object("small")).call().unwrap();
    assert_eq!(header(&r, "x-logcache-meta-camera"), None);
    assert_eq!(
        header(&r, "content-type").as_deref(),
        Some("application/octet-stream")
    );
}

/// The status of `method url` with header `name: value` (a PUT sends `"x"`).
fn status(method: &str, url: &str, name: &str, value: &str) -> u16 {
    let a = agent();
    let r = match method {
        "PUT" => a.put(url).header(name, value).send("x"),
        "GET" => a.get(url).header(name, value).call(),
        "HEAD" => a.head(url).header(name, value).call(),
        _ => a.delete(url).header(name, value).call(),
    };
    r.unwrap().status().as_u16()
}

#[test]
fn if_match_and_if_none_match_on_every_method() {
    let server = Served::start(&[]);
    let a = agent();
    let url = server.object("doc");
    // Create only: the first succeeds, the second is refused.
    let r = a.put(&url).header("If-None-Match", "*").send("v1").unwrap();
    assert_eq!(r.status(), 200);
    let v1 = etag_of(&r);
    assert!(v1.starts_with('"') && v1.len() == 34, "{v1}");
    let r = a.put(&url).header("If-None-Match", "*").send("v2").unwrap();
    assert_eq!(r.status(), 412);
    // Same bytes again: a new version, a new (strong) tag.
    let v1b = etag_of(&a.put(&url).send("v1").unwrap());
    assert_ne!(v1, v1b);
    let weak = format!("W/{v1b}");
    for (method, name, value, expect) in [
        // If-Match with a stale tag: 412 for every method; nothing changes.
        ("PUT", "If-Match", &v1, 412),
        ("GET", "If-Match", &v1, 412),
        ("HEAD", "If-Match", &v1, 412),
        ("DELETE", "If-Match", &v1, 412),
        // A weak tag never matches If-Match.
        ("GET", "If-Match", &weak, 412),
        // If-None-Match: 304 for GET and HEAD (weak comparison), 412 for PUT and DELETE.
        ("GET", "If-None-Match", &weak, 304),
        ("HEAD", "If-None-Match", &v1b, 304),
        ("PUT", "If-None-Match", &v1b, 412),
        ("DELETE", "If-None-Match", &"*".to_string(), 412),
        ("GET", "If-None-Match", &v1, 200),
    ] {
        assert_eq!(
            status(method, &url, name, value),
            expect,
            "{method} {name}: {value}"
        );
    }
    let r = a.get(&url).header("If-Match", &v1).call().unwrap();
    assert_eq!(etag_of(&r), v1b, "a 412 names the current tag");
    // The current tag (in a list) passes.
    let list = format!("\"nope\", {v1b}");
    let mut r = a.get(&url).header("If-Match", &list).call().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.body_mut().read_to_string().unwrap(), "v1");
    // A conditional replace with the current tag: 200 and a new tag.
    let r = a.put(&url).header("If-Match", &v1b).send("v3").unwrap();
    assert_eq!(r.status(), 200);
    let v3 = etag_of(&r);
    // If-Match: * on an absent object: 412 for a PUT; a GET or DELETE of it is a 404.
    let gone = server.object("absent");
    assert_eq!(status("PUT", &gone, "If-Match", "*"), 412);
    assert_eq!(status("GET", &gone, "If-Match", "*"), 404);
    assert_eq!(status("DELETE", &gone, "If-Match", "*"), 404);
    // The conditional delete with the current tag.
    assert_eq!(status("DELETE", &url, "If-Match", &v3), 204);
    assert_eq!(a.get(&url).call().unwrap().status(), 404);
    // curl, as a shell user would write it.
    assert_eq!(curl_put(&url, "c", "If-None-Match: *"), 200);
    assert_eq!(curl_put(&url, "d", "If-None-Match: *"), 412);
}

/// A condition that already fails is answered before the body is read: only the head of a
/// 100 MiB create-only PUT of an existing key is sent, and the 412 comes back.
#[test]
fn a_failing_condition_is_answered_before_the_body() {
    use std::io::{Read, Write};
    let server = Served::start(&[]);
    assert_eq!(
        agent()
            .put(server.object("there"))
            .send("x")
            .unwrap()
            .status(),
        200
    );
    let mut s = std::net::TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    write!(
        s,
        "PUT /v1/objects/there HTTP/1.1\r\nHost: x\r\nIf-None-Match: *\r\n\
         Content-Length: {}\r\n\r\n",
        100u64 << 20
    )
    .unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 412");
}

/// `curl -X PUT --data-binary BODY -H HEADER URL`: the status.
fn curl_put(url: &str, body: &str, header: &str) -> u16 {
    curl(&["-X", "PUT", "--data-binary", body, "-H", header, url]).0
}

/// Sixteen clients PUT the same new key with `If-None-Match: *` at once: exactly one gets
/// `200`, fifteen get `412`, and the object is the winner's, whatever its size (inline or in
/// blocks).
#[test]
fn a_create_only_put_raced_by_16_clients_has_one_winner() {
    let server = Arc::new(Served::start(&[]));
    for (round, len) in [64usize, 2 << 20].into_iter().cycle().take(6).enumerate() {
        let key = format!("race-{round}");
        let barrier = Arc::new(Barrier::new(16));
        let handles: Vec<_> = (0..16u8)
            .map(|client| {
                let (server, barrier, key) = (server.clone(), barrier.clone(), key.clone());
                std::thread::spawn(move || {
                    let body = vec![client; len];
                    barrier.wait();
                    let r = agent()
                        .put(server.object(&key))
                        .header("If-None-Match", "*")
                        .send(&body[..])
                        .unwrap();
                    (
                        client,
                        r.status().as_u16(),
                        r.headers().get("etag").cloned(),
                    )
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winners: Vec<_> = results.iter().filter(|(_, s, _)| *s == 200).collect();
        let refused = results.iter().filter(|(_, s, _)| *s == 412).count();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        assert_eq!(refused, 15, "round {round}: {results:?}");
        let (winner, _, tag) = winners[0];
        let mut r = agent().get(server.object(&key)).call().unwrap();
        assert_eq!(r.headers().get("etag"), tag.as_ref());
        let body = r
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .unwrap();
        assert!(
            body == vec![*winner; len],
            "round {round}: not the winner's bytes"
        );
    }
}
