//! A ring of three real `logcache serve` nodes through `HttpStore`: two replicas survive a
//! killed node, it rejoins with its data, everything survives restarting all three, and
//! BigCache objects live across them.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::served::Served;
use logcache::{BigCache, Error, HttpStore, KvStore, ShardedStore};

struct Node {
    served: Option<Served>,
    data: PathBuf,
    addr: String,
}

impl Node {
    fn start(dir: &std::path::Path, i: usize) -> Node {
        let data = dir.join(format!("node{i}.log"));
        let served = Served::start_at(&data, &[]);
        Node {
            addr: served.addr.clone(),
            served: Some(served),
            data,
        }
    }

    /// Starts the node again on its own address, over its own log.
    fn restart(&mut self) {
        self.served = None;
        self.served = Some(Served::listen_at(&self.data, &self.addr, &[]));
    }
}

fn ring_of(nodes: &[Node], replicas: usize) -> ShardedStore<HttpStore> {
    let stores = nodes.iter().map(|n| {
        let store = HttpStore::builder(format!("http://{}", n.addr))
            .connect_timeout(Duration::from_millis(300))
            .connect()
            .unwrap();
        (n.addr.clone(), store)
    });
    common::fast_ring(stores, replicas)
}

fn value(i: usize) -> Vec<u8> {
    format!("durable value {i} {}", "y".repeat(i % 200)).into_bytes()
}

#[test]
fn a_ring_of_logcache_nodes_replicates_fails_over_and_survives_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes: Vec<Node> = (0..3).map(|i| Node::start(dir.path(), i)).collect();
    let ring = Arc::new(ring_of(&nodes, 2));
    const KEYS: usize = 300;
    for i in 0..KEYS {
        ring.set(format!("key/{i}").as_bytes(), &value(i)).unwrap();
    }
    // A key with bytes a URL cannot hold as they are.
    ring.set(b"odd \0/../key%", b"odd").unwrap();
    // Expiries travel: the node reports the one it keeps.
    ring.set_with_ttl(b"ttl", b"t", Duration::from_secs(3600))
        .unwrap();
    let (_, expiry) = ring.get_with_expiry(b"ttl").unwrap().unwrap();
    let now_ms = common::unix_ms();
    assert!(
        expiry > now_ms + 3_590_000 && expiry <= now_ms + 3_600_000,
        "{expiry}"
    );
    assert_eq!(ring.get_with_expiry(b"key/1").unwrap().unwrap().1, 0);

    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (ring, stop) = (Arc::clone(&ring), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut reads = 0u64;
            while !stop.load(Ordering::Acquire) {
                let i = reads as usize % KEYS;
                let key = format!("key/{i}");
                match ring.get(key.as_bytes()) {
                    Ok(Some(v)) => assert_eq!(v, value(i), "{key}"),
                    other => panic!("{key}: {other:?}"),
                }
                reads += 1;
            }
            reads
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    // SIGKILL one node mid-run.
    let victim = nodes[1].addr.clone();
    nodes[1].served.as_mut().unwrap().child.kill().unwrap();
    nodes[1].served = None;
    std::thread::sleep(Duration::from_millis(500));
    let key = (0..)
        .map(|i| format!("new/{i}"))
        .find(|k| ring.nodes_for(k.as_bytes()).contains(&victim))
        .unwrap();
    let err = ring.set(key.as_bytes(), b"v").unwrap_err();
    assert!(
        matches!(err, Error::Remote { .. }) && err.to_string().contains(&victim),
        "{err}"
    );

    // It comes back with its log (durable) and rejoins.
    nodes[1].restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while ring.set(key.as_bytes(), b"v").is_err() {
        assert!(Instant::now() < deadline, "the node did not rejoin");
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Release);
    let reads = reader.join().unwrap();
    println!("{reads} reads through the kill and the restart, all correct");
    assert!(reads > 50);
    let node = ring
        .stats()
        .nodes
        .into_iter()
        .find(|n| n.name == victim)
        .unwrap();
    assert!(node.up && node.downs >= 1 && node.ups >= 1, "{node:?}");
    // The restarted node still holds what it had before the kill, by itself.
    let alone = HttpStore::connect(format!("http://{victim}")).unwrap();
    let held = (0..KEYS)
        .filter(|i| {
            let k = format!("key/{i}");
            ring.nodes_for(k.as_bytes()).contains(&victim)
        })
        .inspect(|i| {
            assert_eq!(
                alone.get(format!("key/{i}").as_bytes()).unwrap(),
                Some(value(*i))
            );
        })
        .count();
    assert!(held > KEYS / 3, "{held}");

    // A BigCache object across the ring.
    let object: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
    let cache = BigCache::new(Arc::clone(&ring)).unwrap();
    cache.set("object", &object).unwrap();

    // Restart all three: everything is still there. The new ring is built while the nodes
    // are still down (declared limits, so no node is asked at connect).
    for node in &mut nodes {
        let status = node.served.as_mut().unwrap().terminate();
        assert!(status.success(), "{status:?}");
        node.served = None;
    }
    let stores = nodes.iter().map(|n| {
        let store = HttpStore::builder(format!("http://{}", n.addr))
            .max_value_len(1 << 30)
            .connect()
            .unwrap();
        (n.addr.clone(), store)
    });
    let ring = common::fast_ring(stores, 2);
    assert!(ring.get(b"key/0").is_err(), "every node is down");
    for node in &mut nodes {
        node.restart();
    }
    std::thread::sleep(Duration::from_millis(500)); // past the ring's backoff
    for i in 0..KEYS {
        assert_eq!(
            ring.get(format!("key/{i}").as_bytes()).unwrap(),
            Some(value(i))
        );
    }
    assert_eq!(ring.get(b"odd \0/../key%").unwrap(), Some(b"odd".to_vec()));
    let cache = BigCache::new(ring).unwrap();
    assert_eq!(cache.get("object").unwrap().as_deref(), Some(&object[..]));
    // The nodes list their keys: the ring's listing is their union.
    let keys = cache.store().keys_with_prefix(b"key/").unwrap().unwrap();
    assert_eq!(keys.len(), KEYS);
}
