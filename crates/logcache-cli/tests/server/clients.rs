//! Many clients, slow ones and stalled ones.

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::data::fill;
use crate::common::served::{BIN, Served};
use crate::{agent, read_until_closed};

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
pub(crate) fn tagged_value(key: &str, version: u64, len: usize) -> Vec<u8> {
    let mut v = format!("{key}\t{version}\t").into_bytes();
    let mut body = vec![0u8; len];
    fill(&mut body, version.wrapping_mul(7919) ^ key.len() as u64);
    v.extend_from_slice(&body);
    let crc = crc32fast::hash(&v);
    v.extend_from_slice(&crc.to_le_bytes());
    v
}

pub(crate) fn check_tagged(key: &str, v: &[u8]) -> u64 {
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
