//! `ShardedStore` over real memcached servers: a 3-node ring with two replicas losing a node
//! mid-run and taking it back, and BigCache objects spread over a ring, with a flushed
//! server giving a miss, never wrong bytes.

mod common;

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::data::fill;
use common::memcached::Memcached;
use logcache::{BigCache, Error, KvStore, MemcachedStore, ShardedStore};

fn ring_of(servers: &[Memcached], replicas: usize) -> ShardedStore<MemcachedStore> {
    let stores = servers.iter().map(|s| {
        let store = MemcachedStore::builder(&s.addr)
            .connect_timeout(Duration::from_millis(300))
            .connect()
            .unwrap();
        (s.addr.clone(), store)
    });
    common::fast_ring(stores, replicas)
}

fn value(i: usize) -> Vec<u8> {
    format!("value of key {i}: {}", "x".repeat(i % 300)).into_bytes()
}

#[test]
fn a_ring_with_two_replicas_survives_a_killed_node_and_takes_it_back() {
    if common::missing(&["memcached"]) {
        return;
    }
    let mut servers: Vec<Memcached> = (0..3).map(|_| Memcached::start(64, &[])).collect();
    let ring = Arc::new(ring_of(&servers, 2));
    const KEYS: usize = 1000;
    for i in 0..KEYS {
        ring.set(format!("key:{i}").as_bytes(), &value(i)).unwrap();
    }
    // Readers run through the kill: every read must return the value, whole.
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|t| {
            let (ring, stop) = (Arc::clone(&ring), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut reads = 0u64;
                let mut i = t * 500;
                while !stop.load(Ordering::Acquire) {
                    let key = format!("key:{}", i % KEYS);
                    match ring.get(key.as_bytes()) {
                        Ok(Some(v)) => assert_eq!(v, value(i % KEYS), "{key}"),
                        other => panic!("{key}: {other:?}"),
                    }
                    reads += 1;
                    i += 1;
                }
                reads
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let victim = servers[1].addr.clone();
    servers[1].kill();
    std::thread::sleep(Duration::from_millis(500));

    // Writes that need the dead node fail and say which node; the others succeed.
    let mut failed = 0;
    for i in 0..100 {
        let key = format!("new:{i}");
        let result = ring.set(key.as_bytes(), b"v");
        if ring.nodes_for(key.as_bytes()).contains(&victim) {
            let err = result.unwrap_err();
            assert!(matches!(err, Error::Remote { .. }), "{err:?}");
            assert!(err.to_string().contains(&victim), "{err}");
            failed += 1;
        } else {
            result.unwrap();
        }
    }
    assert!(
        failed > 30,
        "about 2/3 of keys have a replica on each node: {failed}"
    );
    let stats = ring.stats();
    let node = stats.nodes.iter().find(|n| n.name == victim).unwrap();
    assert!(node.downs >= 1 && node.errors >= 1, "{node:?}");

    // The node comes back (empty, as a restarted memcached is) and rejoins after its backoff.
    servers[1].restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    let probe = (0..)
        .map(|i| format!("probe:{i}"))
        .find(|k| ring.nodes_for(k.as_bytes()).contains(&victim))
        .unwrap();
    while ring.set(probe.as_bytes(), b"p").is_err() {
        assert!(Instant::now() < deadline, "the node did not rejoin");
        std::thread::sleep(Duration::from_millis(50));
    }
    let node = ring
        .stats()
        .nodes
        .into_iter()
        .find(|n| n.name == victim)
        .unwrap();
    assert!(node.up && node.ups >= 1, "{node:?}");
    for i in 0..KEYS {
        ring.set(format!("key:{i}").as_bytes(), &value(i)).unwrap();
    }
    assert!(
        servers[1].items() > KEYS as u64 / 2,
        "the node holds its share again: {}",
        servers[1].items()
    );
    stop.store(true, Ordering::Release);
    let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    println!("{reads} reads during the kill and the restart, all correct");
    assert!(reads > 100);
}

fn put_object(cache: &BigCache<ShardedStore<MemcachedStore>>, key: &str, size: u64) {
    let mut w = cache.writer(key).unwrap();
    let mut chunk = vec![0u8; 1 << 20];
    let mut pos = 0;
    while pos < size {
        let n = (size - pos).min(chunk.len() as u64) as usize;
        fill(&mut chunk[..n], pos);
        w.write_all(&chunk[..n]).unwrap();
        pos += n as u64;
    }
    w.commit().unwrap();
}

fn is_object(bytes: &[u8], size: u64) -> bool {
    let mut want = vec![0u8; bytes.len()];
    fill(&mut want, 0);
    bytes.len() as u64 == size && bytes == want
}

#[test]
fn big_objects_over_a_memcached_ring_and_a_flushed_server_is_a_miss() {
    if common::missing(&["memcached"]) {
        return;
    }
    const SIZE: u64 = 100 << 20;
    let servers: Vec<Memcached> = (0..3).map(|_| Memcached::start(256, &[])).collect();

    // One replica: the blocks spread over the three servers.
    let cache = BigCache::new(ring_of(&servers, 1)).unwrap();
    assert_eq!(
        cache.block_size(),
        1_048_576 - 59 - 250,
        "blocks fit a -I 1m server"
    );
    put_object(&cache, "big", SIZE);
    let mut streamed = Vec::new();
    cache
        .reader("big")
        .unwrap()
        .unwrap()
        .read_to_end(&mut streamed)
        .unwrap();
    assert!(is_object(&streamed, SIZE));
    drop(streamed);
    for s in &servers {
        assert!(s.items() > 10, "{} holds {} items", s.addr, s.items());
    }
    // memcached loses a server's items (flush_all, as an eviction would): a miss.
    assert_eq!(servers[0].raw(b"flush_all\r\n"), ["OK"]);
    assert_eq!(cache.get("big").unwrap(), None, "a miss, never wrong bytes");
    match cache.reader("big").unwrap() {
        None => {}
        Some(mut r) => {
            let mut out = Vec::new();
            let err = r.read_to_end(&mut out).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        }
    }
    drop(cache);
    for s in &servers {
        assert_eq!(s.raw(b"flush_all\r\n"), ["OK"]);
    }

    // Two replicas: a flushed server costs nothing.
    let cache = BigCache::new(ring_of(&servers, 2)).unwrap();
    put_object(&cache, "big2", SIZE / 2);
    assert_eq!(servers[2].raw(b"flush_all\r\n"), ["OK"]);
    let got = cache
        .get("big2")
        .unwrap()
        .expect("read from the other replicas");
    assert!(is_object(&got, SIZE / 2));
    assert!(cache.store().stats().read_fallbacks > 0);
}

#[test]
fn adding_a_fourth_server_moves_about_a_quarter_of_the_keys() {
    if common::missing(&["memcached"]) {
        return;
    }
    let servers: Vec<Memcached> = (0..4).map(|_| Memcached::start(64, &[])).collect();
    // Fixed node names (not the random ports), so the ring, and the share, are the same in
    // every run.
    let named = |i: usize| {
        (
            format!("mc{i}"),
            MemcachedStore::connect(&servers[i].addr).unwrap(),
        )
    };
    let ring = common::fast_ring((0..3).map(named), 1);
    const KEYS: usize = 10_000;
    for i in 0..KEYS {
        ring.set(format!("key:{i}").as_bytes(), b"v").unwrap();
    }
    let (name, fourth) = named(3);
    ring.add_node(name, fourth).unwrap();
    // The moved keys now map to the new, empty server: exactly they miss.
    let missing = (0..KEYS)
        .filter(|i| ring.get(format!("key:{i}").as_bytes()).unwrap().is_none())
        .count();
    let share = missing as f64 / KEYS as f64;
    println!("adding a 4th server moved {missing} of {KEYS} keys ({share:.3})");
    assert!((0.20..=0.30).contains(&share), "{share}");
    assert_eq!(servers[3].items(), 0);
}

#[test]
fn a_ring_of_embedded_stores_works_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = (0..3).map(|i| {
        let store = logcache::DurableKVCache::open(dir.path().join(format!("n{i}.log"))).unwrap();
        (format!("disk{i}"), store)
    });
    let ring = common::fast_ring(nodes, 2);
    for i in 0..300 {
        ring.set(format!("k{i}").as_bytes(), &value(i)).unwrap();
    }
    for i in 0..300 {
        assert_eq!(
            ring.get(format!("k{i}").as_bytes()).unwrap(),
            Some(value(i))
        );
    }
    // Every node can list: the ring lists the union, each key once.
    assert_eq!(ring.keys_with_prefix(b"k").unwrap().unwrap().len(), 300);
    let cache = BigCache::new(ring).unwrap();
    cache.set("object", vec![9u8; 3 << 20]).unwrap();
    assert_eq!(cache.get("object").unwrap(), Some(vec![9u8; 3 << 20]));
}
