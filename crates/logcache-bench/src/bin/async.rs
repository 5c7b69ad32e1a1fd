//! The async API against the blocking API from threads, same store, same run: puts and gets of
//! 100-byte values, and 1,000 concurrent `Sync` puts with a ticker on the same runtime (its
//! worst lag is how long the runtime stalled).
//!
//! ```sh
//! cargo run --release -p logcache-bench --bin async [-- --quick]
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use logcache::future::{AsyncCache, Pool};
use logcache::{Durability, DurableKVCache};

const VALUE: [u8; 100] = [b'v'; 100];

fn key(i: u64) -> [u8; 16] {
    let mut k = *b"key-000000000000";
    let digits = format!("{i:012}");
    k[4..].copy_from_slice(digits.as_bytes());
    k
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// `ops` calls of `op` spread over `threads` threads: calls per second.
fn threads(ops: u64, threads: u64, op: impl Fn(u64) + Sync) -> f64 {
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let op = &op;
            s.spawn(move || {
                for i in (t..ops).step_by(threads as usize) {
                    op(i);
                }
            });
        }
    });
    ops as f64 / started.elapsed().as_secs_f64()
}

/// `ops` calls spread over `tasks` tasks on a two-worker runtime: calls per second.
fn tasks<F, Fut>(rt: &tokio::runtime::Runtime, ops: u64, tasks: u64, op: F) -> f64
where
    F: Fn(u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    rt.block_on(async {
        let started = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let op = op.clone();
                tokio::spawn(async move {
                    let mut i = t;
                    while i < ops {
                        op(i).await;
                        i += tasks;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("a task");
        }
        ops as f64 / started.elapsed().as_secs_f64()
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::args().any(|a| a == "--quick");
    let n: u64 = if quick { 20_000 } else { 200_000 };
    let dir = tempfile::tempdir()?;
    let rt = runtime();

    // Durability::None: the cost of the async path itself.
    let store = Arc::new(
        DurableKVCache::builder(dir.path().join("none.log"))
            .durability(Durability::None)
            .open()?,
    );
    let cache = AsyncCache::with_pool(store.clone(), Pool::default());
    let s = store.clone();
    let put_threads = threads(n, 16, |i| s.put(key(i), VALUE).expect("put"));
    let c = cache.clone();
    let put_async = tasks(&rt, n, 256, move |i| {
        let c = c.clone();
        async move { c.set(key(n + i), VALUE).await.expect("set") }
    });
    let s = store.clone();
    let get_threads = threads(n, 16, |i| {
        assert!(s.get(key(i)).expect("get").is_some());
    });
    let c = cache.clone();
    let get_async = tasks(&rt, n, 256, move |i| {
        let c = c.clone();
        async move { assert!(c.get(key(i)).await.expect("get").is_some()) }
    });

    // Durability::Sync: 1,000 puts at once, threads against tasks, a ticker on the runtime.
    let sync_store = Arc::new(
        DurableKVCache::builder(dir.path().join("sync.log"))
            .durability(Durability::Sync)
            .open()?,
    );
    let s = sync_store.clone();
    let sync_threads = threads(1000, 64, |i| s.put(key(i), VALUE).expect("put"));
    let syncs_before = sync_store.stats().syncs;
    let sync_cache = AsyncCache::with_pool(sync_store.clone(), Pool::default());
    let (sync_async, lag) = rt.block_on(async {
        let done = Arc::new(AtomicBool::new(false));
        let ticker = tokio::spawn({
            let done = done.clone();
            async move {
                let mut worst = Duration::ZERO;
                while !done.load(Ordering::Relaxed) {
                    let before = Instant::now();
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    worst = worst.max(before.elapsed().saturating_sub(Duration::from_millis(1)));
                }
                worst
            }
        });
        let started = Instant::now();
        let puts: Vec<_> = (0..1000u64)
            .map(|i| {
                let c = sync_cache.clone();
                tokio::spawn(async move { c.set(key(10_000 + i), VALUE).await.expect("set") })
            })
            .collect();
        for p in puts {
            p.await.expect("a put");
        }
        let rate = 1000.0 / started.elapsed().as_secs_f64();
        done.store(true, Ordering::Relaxed);
        (rate, ticker.await.expect("the ticker"))
    });
    let fsyncs = (sync_store.stats().syncs - syncs_before) as f64 / 1000.0;

    println!("{n} puts and gets of 100-byte values, 16 threads vs 256 tasks on 2 workers:");
    println!("| workload | blocking, threads (ops/s) | async, tasks (ops/s) | async / blocking |");
    println!("|---|---|---|---|");
    for (what, blocking, asynchronous) in [
        ("put, Durability::None", put_threads, put_async),
        ("get", get_threads, get_async),
        (
            "1,000 concurrent puts, Durability::Sync (64 threads / 1,000 tasks)",
            sync_threads,
            sync_async,
        ),
    ] {
        println!(
            "| {what} | {blocking:.0} | {asynchronous:.0} | {:.2} |",
            asynchronous / blocking
        );
    }
    println!(
        "async Sync puts: {fsyncs:.3} fsyncs per put; the ticker's worst lag past its 1 ms sleep: \
         {:.2} ms",
        lag.as_secs_f64() * 1e3
    );
    Ok(())
}
