//! Hit ratios of the memory tier's policies on synthetic traces, with the offline optimum
//! (Belady's MIN, with bypass) as the ceiling; get throughput next to a `Mutex<HashMap>`; then
//! the durable store under a byte budget: its CLOCK and FIFO eviction against LRU and the
//! optimum at budgets of 1, 10 and 50 % of the working set, and gets and puts with a budget
//! against without.
//!
//! ```text
//! cargo run --release -p logcache-bench --bin hitratio             # 100,000 keys, 1,000,000 requests
//! cargo run --release -p logcache-bench --bin hitratio -- --quick  # 1/10 of that
//! ```
//!
//! The durable runs write logs under `target/hitratio/` (removed at the end).
//!
//! Traces: Zipf(0.8) and Zipf(1.0) over the key space, and a scan-polluted one (Zipf(0.9) with
//! a scan of 2,000 never-repeated keys after every 5,000 requests). Caches hold 1 % and 10 % of
//! the key space (every entry weighs the same). The cache runs with one shard, so its eviction
//! order is the policy's exactly.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use logcache::{ENTRY_OVERHEAD, MemoryCache, PolicyKind};

mod durable;

const VALUE_LEN: usize = 32;

/// The throughput baseline: one mutex around a map of shared values.
type Baseline = Mutex<HashMap<Vec<u8>, Arc<[u8]>>>;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A Zipf(alpha) sampler over ranks 0..n (rank 0 most popular), by inverse CDF.
struct Zipf {
    cdf: Vec<f64>,
}
impl Zipf {
    fn new(n: usize, alpha: f64) -> Zipf {
        let mut cdf = Vec::with_capacity(n);
        let mut sum = 0.0;
        for r in 1..=n {
            sum += 1.0 / (r as f64).powf(alpha);
            cdf.push(sum);
        }
        for c in &mut cdf {
            *c /= sum;
        }
        Zipf { cdf }
    }
    fn sample(&self, rng: &mut Rng) -> u64 {
        let u = rng.unit();
        self.cdf.partition_point(|&c| c < u) as u64
    }
}

fn trace(kind: &str, keys: usize, requests: usize) -> Vec<u64> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let alpha = match kind {
        "zipf-0.8" => 0.8,
        "zipf-1.0" => 1.0,
        _ => 0.9,
    };
    let zipf = Zipf::new(keys, alpha);
    let mut out = Vec::with_capacity(requests);
    let mut next_scan_key = keys as u64;
    while out.len() < requests {
        if kind == "scan" && out.len() % 7000 >= 5000 {
            out.push(next_scan_key); // a scan: each key once, never again
            next_scan_key += 1;
        } else {
            out.push(zipf.sample(&mut rng));
        }
    }
    out
}

fn key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

/// Hit ratio of a MemoryCache with `policy` holding `entries` entries.
fn simulate(trace: &[u64], entries: u64, policy: PolicyKind) -> f64 {
    let weight = 8 + VALUE_LEN as u64 + ENTRY_OVERHEAD;
    let cache = MemoryCache::builder(entries * weight)
        .shards(1)
        .policy(policy)
        .build();
    let value = [7u8; VALUE_LEN];
    for &id in trace {
        if cache.get_shared(key(id)).is_none() {
            cache.set(key(id), value).expect("fits");
        }
    }
    cache.stats().hit_ratio()
}

/// Belady's MIN with bypass: on a miss with a full cache, evict the entry used farthest in the
/// future, or do not admit the new one if it is used later still. The offline optimum.
fn belady(trace: &[u64], entries: usize) -> f64 {
    let mut next_use = vec![usize::MAX; trace.len()];
    let mut last: HashMap<u64, usize> = HashMap::new();
    for (i, &id) in trace.iter().enumerate().rev() {
        if let Some(&j) = last.get(&id) {
            next_use[i] = j;
        }
        last.insert(id, i);
    }
    let mut cached: HashMap<u64, usize> = HashMap::new(); // id -> its next use
    let mut by_next: BTreeSet<(usize, u64)> = BTreeSet::new();
    let mut hits = 0usize;
    for (i, &id) in trace.iter().enumerate() {
        let nu = next_use[i];
        if let Some(old) = cached.insert(id, nu) {
            hits += 1;
            by_next.remove(&(old, id));
            by_next.insert((nu, id));
            continue;
        }
        cached.remove(&id);
        if cached.len() < entries {
            cached.insert(id, nu);
            by_next.insert((nu, id));
            continue;
        }
        let Some(&(far, victim)) = by_next.iter().next_back() else {
            continue;
        };
        if nu < far {
            by_next.remove(&(far, victim));
            cached.remove(&victim);
            cached.insert(id, nu);
            by_next.insert((nu, id));
        }
    }
    hits as f64 / trace.len() as f64
}

fn throughput(keys: usize, requests: usize) {
    let t = trace("zipf-1.0", keys, requests);
    let value = [7u8; VALUE_LEN];
    let cache = Arc::new(MemoryCache::builder(keys as u64 * 200).build());
    let map: Arc<Baseline> = Arc::new(Mutex::new(HashMap::new()));
    for id in 0..keys as u64 {
        cache.set(key(id), value).expect("fits");
        map.lock()
            .unwrap()
            .insert(key(id).to_vec(), Arc::from(&value[..]));
    }
    let t = Arc::new(t);
    println!();
    println!(
        "get throughput, {keys} keys all cached, Zipf(1.0) key stream, {} gets per thread:",
        t.len()
    );
    println!(
        "{:<10} {:>16} {:>20} {:>7}",
        "threads", "MemoryCache/s", "Mutex<HashMap>/s", "ratio"
    );
    for threads in [1usize, 2] {
        let run = |f: Arc<dyn Fn(u64) -> bool + Send + Sync>| {
            let start = Instant::now();
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let (f, t) = (Arc::clone(&f), Arc::clone(&t));
                    std::thread::spawn(move || t.iter().filter(|&&id| f(id)).count())
                })
                .collect();
            let found: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
            assert_eq!(found, threads * t.len());
            (threads * t.len()) as f64 / start.elapsed().as_secs_f64()
        };
        let c = Arc::clone(&cache);
        let ours = run(Arc::new(move |id| c.get_shared(key(id)).is_some()));
        let m = Arc::clone(&map);
        let base = run(Arc::new(move |id| {
            m.lock().unwrap().get(&key(id)[..]).cloned().is_some()
        }));
        println!(
            "{threads:<10} {ours:>16.0} {base:>20.0} {:>7.2}",
            ours / base
        );
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::args().any(|a| a == "--quick");
    let (keys, requests) = if quick {
        (10_000, 100_000)
    } else {
        (100_000, 1_000_000)
    };
    println!("hit ratio, {keys} keys, {requests} requests (higher is better):");
    println!(
        "{:<10} {:>6} {:>8} {:>8} {:>8}",
        "trace", "cache", "LRU", "S3-FIFO", "Belady"
    );
    for kind in ["zipf-0.8", "zipf-1.0", "scan"] {
        let t = trace(kind, keys, requests);
        for pct in [1u64, 10] {
            let entries = keys as u64 * pct / 100;
            let lru = simulate(&t, entries, PolicyKind::Lru);
            let s3 = simulate(&t, entries, PolicyKind::S3Fifo);
            let opt = belady(&t, entries as usize);
            println!("{kind:<10} {:>5}% {lru:>8.4} {s3:>8.4} {opt:>8.4}", pct);
            assert!(opt + 1e-9 >= lru.max(s3), "the optimum is a ceiling");
        }
    }
    throughput(keys, requests);

    let dir = std::path::Path::new("target/hitratio");
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    durable::hit_ratios(dir, keys, requests)?;
    durable::cost(dir, keys as u64 * 10)?;
    std::fs::remove_dir_all(dir)?;
    Ok(())
}
