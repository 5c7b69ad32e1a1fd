//! Range reads: every `Range` form through curl and ureq, `416`, `If-Range`, `HEAD`, a
//! download resumed with `curl -C -`, and a range at the end of an object reading one block.

use std::process::Command;

use crate::agent;
use crate::common::data::{Pattern, fill};
use crate::common::served::Served;

const SIZE: usize = 3 << 20; // three blocks

fn object() -> Vec<u8> {
    let mut v = vec![0u8; SIZE];
    fill(&mut v, 0);
    v
}

/// GET with a `Range` (and maybe `If-Range`): status, `Content-Range`, body.
fn get(server: &Served, range: &str, if_range: Option<&str>) -> (u16, Option<String>, Vec<u8>) {
    let mut req = agent().get(server.object("film")).header("Range", range);
    if let Some(tag) = if_range {
        req = req.header("If-Range", tag);
    }
    let mut r = req.call().unwrap();
    let content_range = r
        .headers()
        .get("content-range")
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(
        r.headers()
            .get("accept-ranges")
            .map(|v| v.to_str().unwrap()),
        (r.status() != 416).then_some("bytes"),
    );
    let status = r.status().as_u16();
    (status, content_range, r.body_mut().read_to_vec().unwrap())
}

#[test]
fn every_range_form_416_if_range_and_head() {
    let server = Served::start(&[]);
    let value = object();
    let r = agent().put(server.object("film")).send(&value[..]).unwrap();
    assert_eq!(r.status(), 200);
    let tag = crate::etag_of(&r);
    let total = format!("/{SIZE}");
    for (range, start, end) in [
        ("bytes=0-99", 0, 99),
        ("bytes=1048570-1048590", 1_048_570, 1_048_590), // across a block boundary
        ("bytes=3000000-", 3_000_000, SIZE - 1),
        ("bytes=-10", SIZE - 10, SIZE - 1),
        ("bytes=100-99999999", 100, SIZE - 1),
    ] {
        let (status, content_range, body) = get(&server, range, None);
        assert_eq!(status, 206, "{range}");
        assert_eq!(content_range, Some(format!("bytes {start}-{end}{total}")));
        assert!(body == value[start..=end], "{range}: wrong bytes");
    }
    let (status, content_range, _) = get(&server, &format!("bytes={SIZE}-"), None);
    assert_eq!(
        (status, content_range),
        (416, Some(format!("bytes */{SIZE}")))
    );
    // Several ranges, or a range that does not parse: the whole object.
    for range in ["bytes=0-1,5-9", "bytes=9-1", "lines=1-2"] {
        let (status, content_range, body) = get(&server, range, None);
        assert_eq!((status, content_range), (200, None), "{range}");
        assert!(body == value);
    }
    // If-Range: the range while the object is the one named, else the whole object.
    let (status, _, body) = get(&server, "bytes=0-9", Some(&tag));
    assert_eq!((status, body.len()), (206, 10));
    let (status, _, body) = get(&server, "bytes=0-9", Some("\"0-0\""));
    assert_eq!((status, body.len()), (200, SIZE));
    // HEAD says ranges are accepted and ignores Range.
    let r = agent()
        .head(server.object("film"))
        .header("Range", "bytes=0-9")
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    assert_eq!(r.headers()["content-length"], SIZE.to_string().as_str());
}

#[test]
fn curl_ranges_and_a_resumed_download() {
    if crate::common::missing(&["curl"]) {
        return;
    }
    let server = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("film.bin");
    let mut f = std::fs::File::create(&file).unwrap();
    std::io::copy(&mut Pattern::new(SIZE as u64), &mut f).unwrap();
    drop(f);
    let (code, body) = crate::curl(&["-T", file.to_str().unwrap(), &server.object("film")]);
    assert_eq!(code, 200, "{body}");
    let value = object();
    // curl -r
    let part = dir.path().join("part");
    let out = Command::new("curl")
        .args(["-sSf", "-r", "1000-1999", "-o", part.to_str().unwrap()])
        .arg(server.object("film"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(std::fs::read(&part).unwrap() == value[1000..2000]);
    // A download cut after 1 MiB and 10 bytes, resumed with -C -.
    let resumed = dir.path().join("resumed");
    std::fs::write(&resumed, &value[..(1 << 20) + 10]).unwrap();
    let out = Command::new("curl")
        .args(["-sSf", "-C", "-", "-o", resumed.to_str().unwrap()])
        .arg(server.object("film"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(std::fs::read(&resumed).unwrap() == value, "resumed whole");
}

/// The store's log reads (`store.hits` in `/v1/stats`) so far.
pub(crate) fn log_reads(server: &Served) -> u64 {
    let mut r = agent()
        .get(format!("{}/v1/stats", server.url))
        .call()
        .unwrap();
    let doc: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    doc["store"]["hits"].as_u64().unwrap()
}

#[test]
fn a_range_at_the_end_of_a_large_object_reads_one_block() {
    let server = Served::start(&[]);
    let size: u64 = 64 << 20;
    let body = ureq::SendBody::from_owned_reader(Pattern::new(size));
    let r = agent().put(server.object("big")).send(body).unwrap();
    assert_eq!(r.status(), 200);
    let before = log_reads(&server);
    let mut r = agent()
        .get(server.object("big"))
        .header("Range", "bytes=-1048576")
        .call()
        .unwrap();
    assert_eq!(r.status(), 206);
    let tail = r
        .body_mut()
        .with_config()
        .limit(2 << 20)
        .read_to_vec()
        .unwrap();
    let mut want = vec![0u8; 1 << 20];
    fill(&mut want, size - (1 << 20));
    assert!(tail == want);
    // The manifest and the last block: 2 of the 65 records a whole read takes.
    assert_eq!(log_reads(&server) - before, 2);
}
