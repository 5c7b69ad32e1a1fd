//! `MemcachedStore` against real memcached servers: round trips, TTL, the item size limit at
//! its edges, keys memcached cannot take as they are, and a server that refuses a value.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

use common::memcached::Memcached;
use logcache::{Error, KvStore, MemcachedProtocol, MemcachedStore};

#[test]
fn values_round_trip() {
    if common::missing(&["memcached"]) {
        return;
    }
    let server = Memcached::start(64, &[]);
    let store = MemcachedStore::connect(&server.addr).unwrap();
    assert_eq!(store.get(b"absent").unwrap(), None);
    store.set(b"k", b"v1").unwrap();
    assert_eq!(store.get(b"k").unwrap(), Some(b"v1".to_vec()));
    store.set(b"k", b"second value").unwrap();
    assert_eq!(store.get(b"k").unwrap(), Some(b"second value".to_vec()));
    // Binary-safe values, the protocol's own delimiters included; empty values.
    let binary: Vec<u8> = (0..=255u8).chain(*b"\r\nEND\r\n").collect();
    store.set(b"bin", &binary).unwrap();
    assert_eq!(store.get(b"bin").unwrap(), Some(binary));
    store.set(b"empty", b"").unwrap();
    assert_eq!(store.get(b"empty").unwrap(), Some(Vec::new()));
    assert!(store.delete(b"k").unwrap());
    assert!(!store.delete(b"k").unwrap());
    assert_eq!(store.get(b"k").unwrap(), None);
    // A plain key is stored as itself: a plain text-protocol client sees it.
    store.set(b"plain:key", b"hello").unwrap();
    assert_eq!(
        server.raw(b"get plain:key\r\n"),
        ["VALUE plain:key 0 5", "hello", "END"]
    );
}

#[test]
fn ttls_expire_and_are_reported() {
    if common::missing(&["memcached"]) {
        return;
    }
    let server = Memcached::start(64, &[]);
    let store = MemcachedStore::connect(&server.addr).unwrap();
    store
        .set_with_ttl(b"short", b"x", Duration::from_millis(300))
        .unwrap();
    store
        .set_with_ttl(b"long", b"y", Duration::from_secs(3600))
        .unwrap();
    let (_, expiry) = store.get_with_expiry(b"long").unwrap().unwrap();
    let now_ms = common::unix_ms();
    assert!(
        expiry > now_ms + 3_500_000 && expiry <= now_ms + 3_601_000,
        "{expiry}"
    );
    store.set(b"forever", b"z").unwrap();
    assert_eq!(store.get_with_expiry(b"forever").unwrap().unwrap().1, 0);
    // memcached counts whole seconds: 300 ms is rounded up to 1 s. Wait past it.
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(store.get(b"short").unwrap(), None);
    assert_eq!(store.get(b"long").unwrap(), Some(b"y".to_vec()));
}

#[test]
fn the_item_size_limit_is_exact_and_a_refusal_keeps_the_connection() {
    if common::missing(&["memcached"]) {
        return;
    }
    let server = Memcached::start(64, &[]);
    let store = MemcachedStore::builder(&server.addr)
        .max_idle(1)
        .connect()
        .unwrap();
    assert_eq!(store.item_size_max(), 1 << 20);
    // A default -I 1m server: 1 MiB minus the item header (48 + 8 CAS + NUL + CRLF) and the
    // longest plain key. A full 1 MiB block does not fit.
    assert_eq!(store.max_value_len(), 1_048_576 - 59 - 250);
    assert!(store.max_value_len() < 1 << 20);
    let long_key = vec![b'L'; 300];
    let keys: [&[u8]; 6] = [
        b"k",
        &[b'p'; 250],
        b"with space",
        &[0u8; 186],
        &[0u8; 187],
        &long_key,
    ];
    for key in keys {
        let max = store.max_value_len_for(key) as usize;
        let value = vec![0x5a; max];
        store
            .set(key, &value)
            .unwrap_or_else(|e| panic!("key of {} bytes, {max}: {e}", key.len()));
        assert_eq!(store.get(key).unwrap().as_deref(), Some(&value[..]));
        let over = vec![0x5a; max + 1];
        match store.set(key, &over) {
            Err(e @ Error::TooLarge { .. }) => {
                let msg = e.to_string();
                assert!(
                    msg.contains(&format!("over the limit of {max} bytes")),
                    "{msg}"
                );
            }
            other => panic!("key of {} bytes: {other:?}", key.len()),
        }
        // The same (only) pooled connection still works, and the value is unchanged.
        assert_eq!(store.get(key).unwrap().as_deref(), Some(&value[..]));
    }
    // The bound holds for the server too: one byte past it, sent raw, is refused by it.
    let key = b"raw";
    let over = 1_048_576 - 59 - key.len() + 1;
    let mut command = format!("set raw 0 0 {over}\r\n").into_bytes();
    command.extend(std::iter::repeat_n(b'x', over));
    command.extend_from_slice(b"\r\n");
    let answer = server.raw(&command);
    assert!(
        answer[0].starts_with("SERVER_ERROR object too large"),
        "{answer:?}"
    );
}

#[test]
fn a_server_refusing_a_value_gives_too_large_and_the_connection_stays_usable() {
    // A stand-in server that claims 2 MiB items but refuses the first value as too large,
    // then stores the next one: on one connection.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let fake = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut out = stream;
        let mut sets = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 {
                return sets;
            }
            if line.starts_with("stats settings") {
                out.write_all(b"STAT item_size_max 2097152\r\nSTAT cas_enabled yes\r\nEND\r\n")
                    .unwrap();
            } else if let Some(rest) = line.strip_prefix("ms ") {
                let len: usize = rest.split(' ').nth(1).unwrap().trim().parse().unwrap();
                let mut data = vec![0u8; len + 2];
                std::io::Read::read_exact(&mut reader, &mut data).unwrap();
                sets += 1;
                let answer: &[u8] = if sets == 1 {
                    b"SERVER_ERROR object too large for cache\r\n"
                } else {
                    b"HD\r\n"
                };
                out.write_all(answer).unwrap();
            } else if line.starts_with("mg ") {
                out.write_all(b"EN\r\n").unwrap();
            }
        }
    });
    let store = MemcachedStore::builder(&addr)
        .max_idle(1)
        .connect()
        .unwrap();
    let err = store.set(b"k", &[1u8; 1000]).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    store.set(b"k", &[1u8; 10]).unwrap();
    assert_eq!(store.get(b"k").unwrap(), None);
    drop(store);
    assert_eq!(
        fake.join().unwrap(),
        2,
        "both sets came over the one connection"
    );
}

#[test]
fn keys_memcached_cannot_take_are_encoded_without_collisions() {
    if common::missing(&["memcached"]) {
        return;
    }
    for protocol in [MemcachedProtocol::Meta, MemcachedProtocol::Text] {
        keys_encoded_without_collisions(protocol);
    }
}

fn keys_encoded_without_collisions(protocol: MemcachedProtocol) {
    let server = Memcached::start(64, &[]);
    let store = MemcachedStore::builder(&server.addr)
        .protocol(protocol)
        .connect()
        .unwrap();
    let keys: Vec<Vec<u8>> = vec![
        vec![b'a'; 250],
        vec![b'a'; 251],
        vec![b'a'; 10_000],
        b"a b".to_vec(),
        b"a\tb".to_vec(),
        b"a\0b".to_vec(),
        b"a\r\nb".to_vec(),
        b"".to_vec(),
        vec![0xff; 186],
        vec![0xff; 187],
        vec![0xff; 188],
        "ключ".as_bytes().to_vec(),
        b"a_b".to_vec(),
    ];
    for (i, key) in keys.iter().enumerate() {
        store.set(key, format!("value {i}").as_bytes()).unwrap();
    }
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(
            store.get(key).unwrap(),
            Some(format!("value {i}").into_bytes()),
            "key {i} ({} bytes)",
            key.len()
        );
    }
    // A long key lives under a digest slot; a plain key spelled as that slot's bytes never
    // sees its value, and overwriting the slot makes the long key a miss, not wrong bytes.
    let long = vec![b'z'; 400];
    store.set(&long, b"long value").unwrap();
    let mut slot = vec![0xff, 0x00];
    slot.extend_from_slice(&xxhash_rust::xxh3::xxh3_128(&long).to_le_bytes());
    if protocol == MemcachedProtocol::Text {
        // Over the text protocol the slot is named in printable base64.
        slot = [
            &b"~lc:"[..],
            base64(&xxhash_rust::xxh3::xxh3_128(&long).to_le_bytes()).as_bytes(),
        ]
        .concat();
    }
    assert_eq!(store.get(&slot).unwrap(), None);
    store.set(&slot, b"impostor").unwrap();
    assert_eq!(store.get(&long).unwrap(), None);
    assert_eq!(store.get(&slot).unwrap(), Some(b"impostor".to_vec()));
    for key in &keys {
        assert!(store.delete(key).unwrap());
    }
}

#[test]
fn a_stopped_server_is_a_remote_error_and_a_restarted_one_is_used_again() {
    if common::missing(&["memcached"]) {
        return;
    }
    let mut server = Memcached::start(64, &[]);
    let store = MemcachedStore::builder(&server.addr)
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .unwrap();
    store.set(b"k", b"v").unwrap();
    server.kill();
    let err = store.get(b"k").unwrap_err();
    assert!(matches!(err, Error::Remote { .. }), "{err:?}");
    assert!(err.to_string().contains(&server.addr), "{err}");
    server.restart();
    assert_eq!(store.get(b"k").unwrap(), None, "a fresh server is empty");
    store.set(b"k", b"again").unwrap();
    assert_eq!(store.get(b"k").unwrap(), Some(b"again".to_vec()));
    let counters = store.counters();
    assert!(
        counters.iter().any(|(k, v)| *k == "errors" && *v >= 1),
        "{counters:?}"
    );
}

#[test]
fn with_a_declared_item_size_a_store_starts_while_its_server_is_down() {
    if common::missing(&["memcached"]) {
        return;
    }
    let mut server = Memcached::start(64, &[]);
    server.kill();
    let store = MemcachedStore::builder(&server.addr)
        .item_size_max(1 << 20)
        .connect_timeout(Duration::from_millis(300))
        .connect()
        .unwrap();
    // CAS assumed: the same limit as asking a default server.
    assert_eq!(store.max_value_len(), 1_048_576 - 59 - 250);
    let err = store.get(b"k").unwrap_err();
    assert!(matches!(err, Error::Remote { .. }), "{err:?}");
    // The socket's error is the cause, reachable through source(), not folded into the text.
    let cause = std::error::Error::source(&err).expect("the cause is kept");
    let io = cause
        .downcast_ref::<std::io::Error>()
        .expect("an I/O error");
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused, "{io}");
    assert!(!err.to_string().contains(&io.to_string()), "{err}");
    server.restart();
    store.set(b"k", b"v").unwrap();
    assert_eq!(store.get(b"k").unwrap(), Some(b"v".to_vec()));
}

/// A stand-in server: answers `stats settings` properly, then meets each command with the
/// next of `responses` and closes the connection.
fn garbage_server(
    responses: Vec<Vec<u8>>,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = std::thread::spawn(move || {
        let mut responses = responses.into_iter();
        for stream in listener.incoming() {
            if done.load(std::sync::atomic::Ordering::Acquire) {
                return;
            }
            let Ok(stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut out = stream;
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                continue;
            }
            if line.starts_with("stats settings") {
                let _ =
                    out.write_all(b"STAT item_size_max 1048576\r\nSTAT cas_enabled yes\r\nEND\r\n");
                continue;
            }
            if let Some(r) = responses.next() {
                let _ = out.write_all(&r);
            }
        }
    });
    (addr, handle)
}

#[test]
fn garbage_from_a_server_is_an_error_never_a_panic() {
    fn check(responses: Vec<Vec<u8>>) -> bool {
        let n = responses.len();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (addr, server) = garbage_server(responses, done.clone());
        let store = MemcachedStore::builder(&addr)
            .io_timeout(Duration::from_millis(200))
            .max_idle(0)
            .connect()
            .unwrap();
        for i in 0..n {
            let key = format!("k{i}");
            let _ = match i % 4 {
                0 => store.get(key.as_bytes()).map(drop),
                1 => store.set(key.as_bytes(), b"value"),
                2 => store.delete(key.as_bytes()).map(drop),
                _ => store.get_with_expiry(key.as_bytes()).map(drop),
            };
        }
        drop(store);
        // Stop the accept loop.
        done.store(true, std::sync::atomic::Ordering::Release);
        let _ = std::net::TcpStream::connect(&addr);
        server.join().is_ok()
    }
    // Hand-picked answers first: huge or negative lengths, bad flags, truncated values.
    let picked: Vec<Vec<u8>> = [
        &b"VA 18446744073709551615\r\n"[..],
        b"VA 1048577\r\n",
        b"VA -1\r\n",
        b"VA 5 f99999999999\r\nhello\r\n",
        b"VA 5 t-7\r\nhel",
        b"VA 5\r\nhelloXX",
        b"HD",
        b"",
        b"SERVER_ERROR object too large for cache\r\n",
        b"\xff\xfe\r\n",
        &[b'A'; 10_000],
    ]
    .iter()
    .map(|r| r.to_vec())
    .collect();
    assert!(check(picked));
    let cases = std::env::var("LOGCACHE_MODEL_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    quickcheck::QuickCheck::new()
        .tests(cases)
        .quickcheck(check as fn(Vec<Vec<u8>>) -> bool);
}

/// Standard base64 with padding (to name a text-protocol digest slot in a test).
fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                A[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}
