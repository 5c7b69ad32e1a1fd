//! Objects in and out: a 1 GiB round trip under 64 MiB of server memory (and a range at its
//! end reading one block), `413` before the
//! body is read, a full server that evicts or refuses.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::data::{Pattern, fill};
use crate::common::served::Served;
use crate::{agent, curl, etag_of};

#[test]
fn a_1_gib_object_round_trips_under_64_mib_of_server_memory_and_its_last_mib_reads_one_block() {
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
    // The last MiB of the 1 GiB object: the manifest and one block are read from the log.
    let before = crate::ranges::log_reads(&server);
    let mut part = agent
        .get(server.object("big/one-gib"))
        .header("Range", "bytes=-1048576")
        .call()
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers().get("content-range").unwrap(),
        &format!("bytes {}-{}/{SIZE}", SIZE - (1 << 20), SIZE - 1)
    );
    let tail = part.body_mut().read_to_vec().unwrap();
    fill(&mut want, SIZE - (1 << 20));
    assert!(tail == want, "the last MiB");
    assert_eq!(
        crate::ranges::log_reads(&server) - before,
        2,
        "manifest + one block"
    );
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
    assert!(stats.contains("\"reserved_bytes\":0"), "{stats}");
    for key in ["huge", "over", "chunked"] {
        assert_eq!(agent.get(server.object(key)).call().unwrap().status(), 404);
    }
    let r = agent
        .put(server.object("exact"))
        .send(&vec![7u8; 1 << 20][..])
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// Guards: `--capacity` was rounded to 1 MiB blocks, so a 1 MiB server held one object of
/// any size and 4 KiB objects evicted each other.
#[test]
fn the_capacity_is_in_bytes_so_small_objects_fill_it() {
    let server = Served::start(&["--capacity", "1MiB"]);
    let agent = agent();
    for i in 0..200 {
        let r = agent
            .put(server.object(&format!("small{i}")))
            .send(&vec![i as u8; 4 << 10][..])
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    for i in 0..200 {
        let mut r = agent
            .get(server.object(&format!("small{i}")))
            .call()
            .unwrap();
        assert_eq!(r.status(), 200, "small{i} was evicted");
        assert!(r.body_mut().read_to_vec().unwrap() == vec![i as u8; 4 << 10]);
    }
    let mut r = agent
        .get(format!("{}/v1/stats", server.url))
        .call()
        .unwrap();
    let stats = r.body_mut().read_to_string().unwrap();
    assert!(stats.contains("\"evictions\":0"), "{stats}");
    assert!(stats.contains("\"capacity_bytes\":1048576"), "{stats}");
    assert!(
        stats.contains("\"blocks\":0"),
        "4 KiB objects are inline: {stats}"
    );
}

#[test]
fn a_full_server_evicts_or_refuses_and_never_evicts_for_an_object_that_cannot_fit() {
    // Room for 3 MiB of objects with their keys and manifests, not for 4 MiB.
    let server = Served::start(&["--capacity", "3100KiB"]);
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
    let server = Served::start(&["--capacity", "2100KiB", "--when-full", "fail"]);
    let r = agent
        .put(server.object("a"))
        .send(&vec![1u8; 2 << 20][..])
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut r = agent
        .put(server.object("b"))
        .send(&vec![1u8; 100 << 10][..])
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
