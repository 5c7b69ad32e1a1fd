//! Guards: one open handle per log — a second opener (same process or not) gets `Locked`
//! naming the lock file and its holder, and the lock is released on drop.

mod common;

use common::temp_log;
use logcache::{DurableKVCache, Error};

#[test]
fn second_open_is_locked_until_the_first_drops() {
    let (_dir, path) = temp_log();
    let first = DurableKVCache::open(&path).unwrap();
    first.put("k", "v").unwrap();
    let err = DurableKVCache::open(&path).unwrap_err();
    match &err {
        Error::Locked { path: lock, holder } => {
            assert_eq!(lock, &path.with_file_name("cache_data.log.lock"));
            assert_eq!(*holder, Some(std::process::id()));
        }
        other => panic!("expected Locked, got {other}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("cache_data.log.lock") && message.contains("process"),
        "{message}"
    );
    drop(first);
    let again = DurableKVCache::open(&path).unwrap();
    assert_eq!(again.get("k").unwrap().as_deref(), Some(&b"v"[..]));
}

/// A child forked by another thread shares the lock's open file description until it execs;
/// closing the handle must still release the lock at once (issue 27, item 3): 1,000 close and
/// reopen cycles while a thread spawns `true` in a loop, and not one `Locked`.
#[test]
fn reopen_after_close_is_never_locked_while_another_thread_spawns() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let (_dir, path) = temp_log();
    let stop = Arc::new(AtomicBool::new(false));
    let spawned = Arc::new(AtomicUsize::new(0));
    let spawner = {
        let (stop, spawned) = (Arc::clone(&stop), Arc::clone(&spawned));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let status = std::process::Command::new("true").status().unwrap();
                assert!(status.success());
                spawned.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    // Let the spawner get going before the reopen loop starts.
    while spawned.load(Ordering::Relaxed) == 0 {
        std::thread::yield_now();
    }
    let mut locked = 0;
    for i in 0..1000u32 {
        match DurableKVCache::open(&path) {
            Ok(cache) => {
                cache.put("k", i.to_le_bytes()).unwrap();
                drop(cache);
            }
            Err(Error::Locked { .. }) => locked += 1,
            Err(other) => panic!("cycle {i}: {other}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    spawner.join().unwrap();
    eprintln!(
        "{} processes spawned during the cycles",
        spawned.load(Ordering::Relaxed)
    );
    assert_eq!(locked, 0, "reopens refused Locked out of 1,000");
    let cache = DurableKVCache::open(&path).unwrap();
    assert!(cache.get("k").unwrap().is_some());
}
