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
