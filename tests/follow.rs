//! Followers: reads of a log another handle writes, kept up to date through the shared page.

use std::sync::Arc;
use std::time::Duration;

use logcache::{Durability, DurableKVCache, Error, Eviction, Follower, ManualClock};

type R = Result<(), Box<dyn std::error::Error>>;

fn writer(path: &std::path::Path) -> logcache::DurableKVCacheBuilder {
    DurableKVCache::builder(path)
        .followers(true)
        .durability(Durability::None)
}

#[test]
fn a_follower_sees_every_write_that_returned() -> R {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("c.log");
    let w = writer(&path).open()?;
    w.put("before", "1")?;
    let f = Follower::open(&path)?;
    assert_eq!(f.writer_pid(), std::process::id());
    assert_eq!(f.get("before")?.as_deref(), Some(&b"1"[..]));
    for i in 0..2000u32 {
        w.put(format!("k{i}"), i.to_string())?;
        // Read straight after each write: nothing returned may be missed.
        assert_eq!(f.get(format!("k{i}"))?, Some(i.to_string().into_bytes()));
    }
    w.put("k7", "seven")?;
    assert_eq!(f.get("k7")?.as_deref(), Some(&b"seven"[..]));
    assert!(w.delete("k8")?);
    assert_eq!(f.get("k8")?, None);
    assert!(!f.contains("k8")?);
    assert!(f.contains("k9")?);
    let big = vec![7u8; 300_000];
    w.put("big", &big)?;
    assert_eq!(f.get("big")?, Some(big));
    assert_eq!(f.get("never")?, None);
    Ok(())
}

#[test]
fn a_compaction_and_a_new_writer_are_followed() -> R {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("c.log");
    let w = writer(&path).compaction_threshold(0).open()?;
    let f = Follower::open(&path)?;
    for round in 0..5u32 {
        for i in 0..500u32 {
            w.put(format!("k{i}"), format!("{round}-{i}"))?;
        }
    }
    for i in 0..250u32 {
        w.delete(format!("k{i}"))?;
    }
    assert_eq!(f.get("k300")?.as_deref(), Some(&b"4-300"[..]));
    w.compact()?;
    // The log at the path is a new file now; the follower's old one is unlinked.
    w.put("after", "compaction")?;
    assert_eq!(f.get("after")?.as_deref(), Some(&b"compaction"[..]));
    assert_eq!(f.get("k10")?, None);
    assert_eq!(f.get("k499")?.as_deref(), Some(&b"4-499"[..]));
    w.close()?;
    // A new writer (from the hint its predecessor wrote), without asking for followers: the
    // page exists, so it is kept.
    let w = DurableKVCache::builder(&path)
        .durability(Durability::None)
        .open()?;
    w.put("second", "writer")?;
    assert_eq!(f.get("second")?.as_deref(), Some(&b"writer"[..]));
    assert_eq!(f.get("k499")?.as_deref(), Some(&b"4-499"[..]));
    // A follower opened now loads from the hint and the tail after it.
    let g = Follower::open(&path)?;
    assert_eq!(g.get("second")?.as_deref(), Some(&b"writer"[..]));
    assert_eq!(g.get("k499")?.as_deref(), Some(&b"4-499"[..]));
    assert_eq!(g.get("k1")?, None);
    Ok(())
}

#[test]
fn with_sync_a_follower_sees_a_write_once_it_is_durable() -> R {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("c.log");
    let w = DurableKVCache::builder(&path)
        .followers(true)
        .durability(Durability::Sync)
        .open()?;
    let f = Follower::open(&path)?;
    let ticket = w.set_deferred("k", "v", None)?;
    // Written to the file, not yet fsynced: neither the writer's index nor a follower has it.
    assert_eq!(f.get("k")?, None);
    if let Some(ticket) = ticket {
        w.wait_durable(ticket)?;
    }
    assert_eq!(f.get("k")?.as_deref(), Some(&b"v"[..]));
    w.put("plain", "put")?;
    assert_eq!(f.get("plain")?.as_deref(), Some(&b"put"[..]));
    Ok(())
}

#[test]
fn expiries_are_the_writers_absolute_times() -> R {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("c.log");
    // The writer's clock in 1970 (entries expire long before the follower's now) for one
    // handle, far in the future for the other.
    let past = writer(&path)
        .clock(Arc::new(ManualClock::new(1_000)))
        .open()?;
    past.put_with_ttl("old", "v", Duration::from_secs(1))?;
    past.put("forever", "v")?;
    past.close()?;
    let future = writer(&path)
        .clock(Arc::new(ManualClock::new(u64::MAX / 4)))
        .open()?;
    future.put_with_ttl("fresh", "v", Duration::from_secs(1))?;
    let f = Follower::open(&path)?;
    assert_eq!(f.get("old")?, None);
    assert!(f.get_with_expiry("fresh")?.is_some_and(|(_, at)| at > 0));
    assert_eq!(f.get_with_expiry("forever")?.map(|(_, at)| at), Some(0));
    Ok(())
}

#[test]
fn an_evicted_key_deleted_is_gone_for_followers_too() -> R {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("c.log");
    let w = writer(&path)
        .max_bytes(20_000)
        .eviction(Eviction::Fifo)
        .compaction_threshold(0)
        .open()?;
    let f = Follower::open(&path)?;
    w.put("first", vec![1u8; 1000])?;
    for i in 0..100u32 {
        w.put(format!("k{i}"), vec![2u8; 1000])?;
    }
    assert!(!w.contains("first"), "the budget evicted it");
    // The writer evicted it without writing: its record is still in the log, and the follower
    // still reads it. A delete writes a tombstone all the same.
    assert!(f.get("first")?.is_some());
    w.delete("first")?;
    assert_eq!(f.get("first")?, None);
    Ok(())
}

#[test]
fn a_log_no_writer_shares_is_refused() -> R {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("c.log");
    let w = DurableKVCache::open(&path)?;
    match Follower::open(&path) {
        Err(Error::NotShared { path: p }) => assert!(p.ends_with("c.log.shared")),
        other => panic!("expected NotShared, got {other:?}"),
    }
    w.close()?;
    assert!(matches!(
        Follower::open(dir.path().join("missing.log")),
        Err(Error::NotShared { .. } | Error::Io { .. })
    ));
    Ok(())
}

#[test]
fn followers_in_threads_while_the_writer_writes() -> R {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("c.log");
    let w = Arc::new(writer(&path).compaction_threshold(200).open()?);
    let f = Arc::new(Follower::open(&path)?);
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let f = Arc::clone(&f);
            std::thread::spawn(move || -> Result<u32, Error> {
                // Each value names its round: a reader never sees one go backwards.
                let mut last = 0u32;
                for _ in 0..3000 {
                    if let Some(v) = f.get("counter")? {
                        let n: u32 = String::from_utf8_lossy(&v).parse().unwrap_or(0);
                        assert!(n >= last, "went back from {last} to {n}");
                        last = n;
                    }
                }
                Ok(last)
            })
        })
        .collect();
    for n in 1..=3000u32 {
        w.put("counter", n.to_string())?;
        w.put(format!("filler{}", n % 50), vec![0u8; 100])?;
    }
    for r in readers {
        r.join().map_err(|_| "reader panicked")??;
    }
    assert_eq!(f.get("counter")?.as_deref(), Some(&b"3000"[..]));
    Ok(())
}
