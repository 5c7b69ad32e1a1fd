//! The ring's write rule (issue 27), without a network: BigCache over a `ShardedStore` of
//! memory stores with two replicas, one of which can be switched to fail as a hung node does.
//! A write that failed on one replica has an unknown outcome and may become visible; a read
//! serves the newest write among the replicas and repairs the copies that lag; an older write
//! that lands late never hides a newer acknowledged one; an acknowledged delete leaves nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use logcache::{BigCache, DEFAULT_NAMESPACE, Error, KvStore, MemoryCache, Result, ShardedStore};

/// A memory store that fails every call while `down` is `ALL`, and calls on manifest keys
/// while it is `MANIFESTS` (a node that hangs just as a write's manifest is sent).
struct Switch {
    inner: MemoryCache,
    down: Arc<AtomicU8>,
}

const UP: u8 = 0;
const ALL: u8 = 1;
const MANIFESTS: u8 = 2;

impl Switch {
    fn check(&self, key: &[u8]) -> Result<()> {
        let down = match self.down.load(Ordering::SeqCst) {
            ALL => true,
            MANIFESTS => key.starts_with(&[DEFAULT_NAMESPACE, b"m"].concat()),
            _ => false,
        };
        if down {
            // What a node that timed out answers.
            Err(Error::Remote {
                node: "switch".into(),
                reason: "it did not answer within 1ms (timed out)".into(),
                source: None,
            })
        } else {
            Ok(())
        }
    }
}

impl KvStore for Switch {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.check(key)?;
        KvStore::get(&self.inner, key)
    }
    fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.check(key)?;
        KvStore::set(&self.inner, key, value)
    }
    fn set_with_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) -> Result<()> {
        self.check(key)?;
        KvStore::set_with_ttl(&self.inner, key, value, ttl)
    }
    fn delete(&self, key: &[u8]) -> Result<bool> {
        self.check(key)?;
        KvStore::delete(&self.inner, key)
    }
    fn get_with_expiry(&self, key: &[u8]) -> Result<Option<(Vec<u8>, u64)>> {
        self.check(key)?;
        KvStore::get_with_expiry(&self.inner, key)
    }
    fn max_value_len(&self) -> u64 {
        1 << 20
    }
}

fn mkey(key: &str) -> Vec<u8> {
    [DEFAULT_NAMESPACE, b"m", key.as_bytes()].concat()
}

/// The manifest copies of `key` on its two replicas (first replica first).
fn copies(ring: &ShardedStore<Switch>, key: &str) -> Vec<Option<Vec<u8>>> {
    let mut copies = ring.get_copies(&mkey(key)).unwrap().unwrap();
    copies.sort_by_key(|(position, _)| *position);
    assert_eq!(copies.len(), 2, "both replicas answer");
    copies.into_iter().map(|(_, c)| c.map(|(b, _)| b)).collect()
}

#[test]
fn replicas_converge_on_the_newest_write_and_a_late_old_write_never_wins() {
    let switches: Vec<Arc<AtomicU8>> = (0..2).map(|_| Arc::new(AtomicU8::new(UP))).collect();
    let ring = ShardedStore::builder()
        .replicas(2)
        .backoff(Duration::from_millis(1), Duration::from_millis(1))
        .build(switches.iter().enumerate().map(|(i, down)| {
            let node = Switch {
                inner: MemoryCache::builder(64 << 20).build(),
                down: Arc::clone(down),
            };
            (format!("node{i}"), node)
        }))
        .unwrap();
    let cache = BigCache::builder(ring).block_size(4096).open().unwrap();
    let ring = cache.store();
    let key = "k";
    let second = ring.nodes_for(&mkey(key))[1].clone();
    let hang = |how: u8| {
        let i: usize = second.trim_start_matches("node").parse().unwrap();
        switches[i].store(how, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(5)); // past the ring's backoff
    };
    let v = |n: u8, len: usize| vec![n; len];

    // v1 acknowledged: both replicas hold it.
    cache.set(key, v(1, 10_000)).unwrap();
    let c = copies(ring, key);
    assert!(c[0].is_some() && c[0] == c[1]);

    // v2's manifest fails on the second replica (its blocks went everywhere): unknown
    // outcome. The first replica holds it, and since its blocks were kept, it reads whole —
    // and the read repairs the second replica.
    hang(MANIFESTS);
    let err = cache.set(key, v(2, 10_000)).unwrap_err();
    assert!(matches!(err, Error::Remote { .. }), "{err}");
    assert!(
        cache.stats().blocks == 3,
        "v1's three blocks (v2's are not counted)"
    );
    let v2_manifest = copies_while_one_is_down(ring, key);
    hang(UP);
    let repairs = cache.stats().repairs;
    assert!(
        cache.get(key).unwrap() == Some(v(2, 10_000)),
        "v2 is the newest"
    );
    assert_eq!(cache.stats().repairs, repairs + 1);
    let c = copies(ring, key);
    assert!(
        c[0] == c[1] && c[0].as_ref() == Some(&v2_manifest),
        "converged on v2"
    );

    // v3 acknowledged, then v2's manifest lands late on the second replica (a hung node that
    // resumes): the newer stamp wins, and the read puts v3 back there.
    cache.set(key, v(3, 100)).unwrap();
    ring.set_copies(&mkey(key), &v2_manifest, 0, &[1]).unwrap();
    assert!(
        cache.get(key).unwrap() == Some(v(3, 100)),
        "v3, not the late v2"
    );
    let c = copies(ring, key);
    assert!(
        c[0] == c[1] && c[0].as_ref() != Some(&v2_manifest),
        "v3 everywhere"
    );
    // Whichever replica answers first: the first replica holding the old write.
    ring.set_copies(&mkey(key), &v2_manifest, 0, &[0]).unwrap();
    assert!(
        cache.get(key).unwrap() == Some(v(3, 100)),
        "v3, not the late v2"
    );

    // An acknowledged delete leaves nothing to restore.
    assert!(cache.delete(key).unwrap());
    assert_eq!(cache.get(key).unwrap(), None);
    assert_eq!(copies(ring, key), vec![None, None]);

    // A delete that failed on one replica (unknown outcome): the copy left behind is the
    // newest there is, so the next read restores it to the other replica, as documented.
    cache.set(key, v(4, 50)).unwrap();
    hang(ALL);
    assert!(cache.delete(key).is_err());
    hang(UP);
    assert!(cache.get(key).unwrap() == Some(v(4, 50)), "v4 restored");
    let c = copies(ring, key);
    assert!(c[0].is_some() && c[0] == c[1]);

    // A condition is checked against every copy: with a replica down it is not guessed
    // (the down replica could hold a newer write), and nothing changes.
    hang(ALL);
    let err = cache.delete_if(key, |_| true).unwrap_err();
    assert!(err.to_string().contains("1 of the 2 replicas"), "{err}");
    let mut w = cache.writer(key).unwrap();
    std::io::Write::write_all(&mut w, b"v5").unwrap();
    let err = w.commit_if(|current| current.is_some()).unwrap_err();
    assert!(err.to_string().contains("1 of the 2 replicas"), "{err}");
    hang(UP);
    assert!(cache.get(key).unwrap() == Some(v(4, 50)), "unchanged");
    let c = copies(ring, key);
    assert!(c[0] == c[1]);
}

/// The first replica's copy (the second is down).
fn copies_while_one_is_down(ring: &ShardedStore<Switch>, key: &str) -> Vec<u8> {
    let copies = ring.get_copies(&mkey(key)).unwrap().unwrap();
    let held: Vec<_> = copies.into_iter().filter_map(|(_, c)| c).collect();
    assert_eq!(
        held.len(),
        1,
        "only the first replica answers, holding the new manifest"
    );
    held.into_iter().next().unwrap().0
}
