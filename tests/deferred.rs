//! Deferred writes (`set_deferred` / `wait_durable`): appended at once, published only once
//! durable, seen by `get_latest` meanwhile; one wait covers every write before it; tickets
//! of a generation a recovery discarded never report durable.

use std::time::Duration;

use logcache::{Durability, DurableKVCache};

#[test]
fn a_deferred_write_is_published_only_once_durable() {
    let dir = tempfile::tempdir().unwrap();
    let cache = DurableKVCache::open(dir.path().join("d.log")).unwrap();
    cache.put("k", "old").unwrap();
    let t1 = cache
        .set_deferred("k", "new", None)
        .unwrap()
        .expect("Sync gives a ticket");
    let t2 = cache
        .set_deferred("j", "x", Some(Duration::from_secs(60)))
        .unwrap()
        .unwrap();
    assert_eq!(
        cache.get("k").unwrap().as_deref(),
        Some(&b"old"[..]),
        "not yet"
    );
    assert_eq!(
        cache.get_latest("k").unwrap().map(|(v, _)| v).as_deref(),
        Some(&b"new"[..])
    );
    assert!(cache.get_latest("j").unwrap().unwrap().1 > 0, "its expiry");
    assert!(!cache.is_durable(t1));
    let last = cache.last_written().unwrap();
    assert_eq!(last, t1.max(t2));
    assert!(last.covers(&t1) && last.covers(&t2) && !t1.covers(&t2));
    cache.wait_durable(last).unwrap();
    assert!(cache.is_durable(t1) && cache.is_durable(t2));
    assert_eq!(cache.get("k").unwrap().as_deref(), Some(&b"new"[..]));

    let (removed, t3) = cache.delete_deferred("k").unwrap();
    assert!(removed);
    assert_eq!(cache.get_latest("k").unwrap(), None, "a delete waiting");
    assert!(cache.get("k").unwrap().is_some());
    cache.wait_durable(t3.unwrap()).unwrap();
    assert_eq!(cache.get("k").unwrap(), None);
    assert_eq!(
        cache.delete_deferred("k").unwrap(),
        (false, None),
        "nothing written"
    );
    drop(cache);
    let cache = DurableKVCache::open(dir.path().join("d.log")).unwrap();
    assert_eq!(cache.get("j").unwrap().as_deref(), Some(&b"x"[..]));
}

#[test]
fn without_sync_there_is_nothing_to_wait_for() {
    let dir = tempfile::tempdir().unwrap();
    let cache = DurableKVCache::builder(dir.path().join("d.log"))
        .durability(Durability::None)
        .open()
        .unwrap();
    assert_eq!(cache.set_deferred("k", "v", None).unwrap(), None);
    assert_eq!(cache.get("k").unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(cache.last_written(), None);
}

#[test]
fn deferred_writes_from_many_threads_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let cache = std::sync::Arc::new(DurableKVCache::open(dir.path().join("d.log")).unwrap());
    let before = cache.stats().syncs;
    let mut last = None;
    for i in 0..1000u32 {
        let t = cache
            .set_deferred(i.to_le_bytes(), [7u8; 100], None)
            .unwrap()
            .unwrap();
        last = Some(last.map_or(t, |l: logcache::Ticket| l.max(t)));
    }
    cache.wait_durable(last.unwrap()).unwrap();
    let syncs = cache.stats().syncs - before;
    assert!(
        syncs <= 2,
        "{syncs} fsyncs for 1000 deferred puts and one wait"
    );
    for i in 0..1000u32 {
        assert!(cache.get(i.to_le_bytes()).unwrap().is_some());
    }
}
