//! The async API (`logcache::future`, feature `tokio`): a thousand concurrent `Sync` puts on a
//! two-worker runtime (acknowledged writes survive a reopen, fsyncs are shared, the thread
//! count stays bounded, a ticker keeps ticking), a 1 GiB object streamed in and out under
//! 64 MiB of RSS (child process), cancelled writes and dropped reads leaving nothing behind,
//! and the async loader's single flight.
#![cfg(feature = "tokio")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::data::{Pattern, fill, peak_rss_kib};
use common::{MapStore, block_count, temp_log};
use logcache::future::{AsyncBigCache, AsyncCache, AsyncTiered, Pool};
use logcache::{BigCache, Durability, DurableKVCache, Error, MemoryCache, Tiered};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap()
}

/// The name of the threads of the thousand-puts test's runtime and pool, so that other tests
/// running meanwhile do not count.
const THOUSAND: &str = "lc-thousand";

/// Threads of this process named [`THOUSAND`] now.
fn threads() -> u64 {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == THOUSAND)
        .count() as u64
}

#[test]
fn a_thousand_sync_puts_share_fsyncs_stay_bounded_and_survive_a_reopen() {
    let (_dir, path) = temp_log();
    let store = DurableKVCache::builder(&path)
        .durability(Durability::Sync)
        .open()
        .unwrap();
    let cache = AsyncCache::with_pool(Arc::new(store), Pool::with_name(64, THOUSAND));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(THOUSAND)
        .enable_all()
        .build()
        .unwrap();
    let (worst_lag, peak_threads) = rt.block_on(async {
        // A ticker on the same runtime: it must keep ticking while the puts wait for disks.
        let done = Arc::new(AtomicBool::new(false));
        let ticker = tokio::spawn({
            let done = done.clone();
            async move {
                let (mut worst, mut peak) = (Duration::ZERO, 0);
                let mut ticks = 0u64;
                while !done.load(Ordering::Relaxed) {
                    let before = Instant::now();
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    worst = worst.max(before.elapsed());
                    peak = peak.max(threads());
                    ticks += 1;
                }
                (worst, peak, ticks)
            }
        });
        let puts: Vec<_> = (0..1000u32)
            .map(|i| {
                let cache = cache.clone();
                tokio::spawn(async move {
                    cache
                        .set(format!("key{i}"), format!("value{i}").repeat(10))
                        .await
                })
            })
            .collect();
        for p in puts {
            p.await.unwrap().unwrap();
        }
        done.store(true, Ordering::Relaxed);
        let (worst, peak, ticks) = ticker.await.unwrap();
        assert!(ticks > 0, "the ticker never ticked");
        (worst, peak)
    });
    let stats = cache.inner().stats();
    let per_put = stats.syncs as f64 / stats.sets as f64;
    println!(
        "1000 Sync puts: {} fsyncs ({per_put:.3} per put), ticker worst lag {worst_lag:?}, \
         peak threads {peak_threads}",
        stats.syncs
    );
    assert_eq!(stats.sets, 1000);
    assert!(
        per_put < 0.5,
        "fsyncs per put {per_put}: group commit did not batch"
    );
    // Without the pool's bound, tokio's blocking pool would run up to 512 threads.
    assert!(
        peak_threads <= 64 + 2 + 2,
        "{peak_threads} threads for 1000 puts on a pool of 64 and 2 workers"
    );
    drop(rt);
    drop(cache);
    let reopened = DurableKVCache::open(&path).unwrap();
    for i in 0..1000u32 {
        assert_eq!(
            reopened.get(format!("key{i}")).unwrap(),
            Some(format!("value{i}").repeat(10).into_bytes()),
            "key{i}"
        );
    }
}

const RSS_LIMIT_KIB: u64 = 64 * 1024;

/// The 1 GiB stream in a child process (this test binary, this test alone), so that only its
/// memory counts.
#[test]
fn a_1_gib_object_streams_in_and_out_under_64_mib() {
    if let Ok(dir) = std::env::var("LOGCACHE_FUTURE_CHILD") {
        return stream_1_gib(std::path::Path::new(&dir));
    }
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_1_gib_object_streams_in_and_out_under_64_mib",
            "--nocapture",
        ])
        .env("LOGCACHE_FUTURE_CHILD", dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hwm: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM_kib "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in {text}"));
    print!("{text}");
    assert!(hwm < RSS_LIMIT_KIB, "peak RSS {hwm} KiB");
}

fn stream_1_gib(dir: &std::path::Path) {
    const SIZE: u64 = 1 << 30;
    let store = DurableKVCache::builder(dir.join("objects.log"))
        .durability(Durability::None)
        .compaction_threshold(0)
        .open()
        .unwrap();
    let cache = AsyncBigCache::new(BigCache::new(store).unwrap());
    runtime(2).block_on(async {
        let mut w = cache.writer("film").await.unwrap();
        let mut pattern = Pattern::new(SIZE);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = std::io::Read::read(&mut pattern, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            w.write_all(&buf[..n]).await.unwrap();
        }
        assert_eq!(w.commit().await.unwrap().size, SIZE);
        let mut r = cache.reader("film").await.unwrap().unwrap();
        assert_eq!(r.len(), SIZE);
        let (mut pos, mut want) = (0u64, vec![0u8; 1 << 20]);
        loop {
            let n = r.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            fill(&mut want[..n], pos);
            assert!(buf[..n] == want[..n], "bytes differ at {pos}");
            pos += n as u64;
        }
        assert_eq!(pos, SIZE);
    });
    println!(
        "VmHWM_kib {}",
        peak_rss_kib(&std::process::id().to_string())
    );
}

#[test]
fn a_dropped_writer_leaves_nothing_and_a_dropped_reader_releases_its_version() {
    let store = Arc::new(MapStore::new(64 << 10));
    let big = BigCache::builder(Arc::clone(&store))
        .block_size(4096)
        .open()
        .unwrap();
    let cache = AsyncBigCache::new(big);
    runtime(2).block_on(async {
        // Cancelled mid-write (dropped), and a write future cancelled at its commit.
        let mut w = cache.writer("half").await.unwrap();
        w.write_all(&[1u8; 50_000]).await.unwrap();
        drop(w);
        let mut w = cache.writer("half").await.unwrap();
        w.write_all(&[2u8; 50_000]).await.unwrap();
        let commit = w.commit();
        drop(commit); // never polled: nothing is published
        // The writers' threads notice, delete the blocks, then give back the reservation. Each
        // first writes the twelve full blocks its 50,000 bytes make (they were all sent before
        // the drop): waiting for those writes too, so that a thread that has not started yet
        // cannot pass for one that has finished (seen under load in CI: its blocks then
        // turned up in the count below).
        let sets = || store.sets.load(std::sync::atomic::Ordering::SeqCst);
        eventually(
            || sets() >= 24 && block_count(&*store) == 0 && cache.stats().reserved_bytes == 0,
            "the dropped writers' blocks and reservation",
        )
        .await;
        assert_eq!(cache.get("half").await.unwrap(), None);

        // A reader dropped after one chunk of ten (the channel holds two more): once it is
        // gone, the deleted object's blocks go (a live reader keeps them pinned).
        cache.set("film", vec![3u8; 10 * 4096]).await.unwrap();
        let mut r = cache.reader("film").await.unwrap().unwrap();
        assert_eq!(r.next_chunk().await.unwrap().unwrap().len(), 4096);
        assert!(cache.delete("film").await.unwrap());
        assert_eq!(block_count(&*store), 10, "pinned by the live reader");
        drop(r);
        eventually(|| block_count(&*store) == 0, "the dropped reader's pin").await;

        // A reader dropped before reading anything releases too.
        cache.set("film", vec![4u8; 10 * 4096]).await.unwrap();
        let r = cache.reader("film").await.unwrap().unwrap();
        assert!(cache.delete("film").await.unwrap());
        drop(r);
        eventually(|| block_count(&*store) == 0, "an unread reader's pin").await;
    });
}

/// Waits (a liveness bound, not a speed check) until `done` holds.
async fn eventually(done: impl Fn() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "{what} never went");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[test]
fn ranges_conditions_and_attributes_through_the_async_streams() {
    let store = Arc::new(MapStore::new(64 << 10));
    let cache = AsyncBigCache::new(
        BigCache::builder(Arc::clone(&store))
            .block_size(4096)
            .open()
            .unwrap(),
    );
    runtime(2).block_on(async {
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let mut w = cache.writer("doc").await.unwrap();
        let mut attrs = logcache::Attributes::default();
        attrs.content_type = Some("text/plain".into());
        w.set_attributes(attrs.clone()).unwrap();
        w.send(bytes::Bytes::from(data.clone())).await.unwrap();
        let committed = w.commit_if(|v| v.is_none()).await.unwrap();
        let mut r = cache.reader("doc").await.unwrap().unwrap();
        assert_eq!(r.version(), committed.version);
        assert_eq!(r.attributes(), &attrs);
        r.set_range(5000..9000).unwrap();
        let mut part = Vec::new();
        r.read_to_end(&mut part).await.unwrap();
        assert!(part == data[5000..9000]);
        assert!(r.set_range(0..1).is_err(), "after the first read");
        // A second create-only write loses, and leaves no blocks behind.
        let mut w = cache.writer("doc").await.unwrap();
        w.write_all(&data).await.unwrap();
        let err = w.commit_if(|v| v.is_none()).await.unwrap_err();
        assert!(matches!(err, Error::PreconditionFailed { .. }), "{err}");
        eventually(|| block_count(&*store) == 5, "the loser's blocks").await;
    });
}

#[test]
fn a_hundred_tasks_missing_one_key_cause_one_async_load() {
    let (_dir, path) = temp_log();
    let back = DurableKVCache::open(&path).unwrap();
    let tiered = Arc::new(Tiered::builder(MemoryCache::new(1 << 20), back).build());
    let cache = Arc::new(AsyncTiered::new(tiered.clone(), Pool::new(8)));
    let calls = Arc::new(AtomicU64::new(0));
    runtime(2).block_on(async {
        let barrier = Arc::new(tokio::sync::Barrier::new(100));
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let (cache, calls, barrier) = (cache.clone(), calls.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    cache
                        .get_or_load("hot", |key| async move {
                            calls.fetch_add(1, Ordering::SeqCst);
                            // Long enough for every task to arrive while it runs.
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            Ok(Some([&key[..], b"-loaded"].concat()))
                        })
                        .await
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(
                t.await.unwrap().unwrap().as_deref(),
                Some(&b"hot-loaded"[..])
            );
        }
        // Stored behind and in front: the next read loads nothing.
        assert_eq!(
            tiered.back().get(b"hot").unwrap().as_deref(),
            Some(&b"hot-loaded"[..])
        );
        let again = cache
            .get_or_load("hot", |_| async { panic!("loaded again") })
            .await
            .unwrap();
        assert_eq!(again.as_deref(), Some(&b"hot-loaded"[..]));
        // A failing load reaches every waiter as Error::Load and stores nothing.
        let err = cache
            .get_or_load("bad", |_| async {
                Err(Error::InvalidArgument("the database is down".into()))
            })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Load { .. }), "{err}");
        assert_eq!(tiered.back().get(b"bad").unwrap(), None);
    });
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one load for 100 misses");
    assert_eq!(cache.loads(), 2);
}
