//! The durable store under a byte budget: hit ratios of its eviction policies next to LRU and
//! Belady's optimum on the same traces, then what a budget costs gets and puts.

use std::time::Instant;

use logcache::{Durability, DurableKVCache, Eviction, PolicyKind};

use crate::{belady, key, simulate, trace};

/// Values of the durable runs: a typical small cached object.
const VALUE_LEN: usize = 100;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn open(
    dir: &std::path::Path,
    name: &str,
    budget: Option<u64>,
    policy: Eviction,
) -> Result<DurableKVCache> {
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    let mut b = DurableKVCache::builder(&path)
        .durability(Durability::None)
        .eviction(policy);
    if let Some(max) = budget {
        b = b.max_bytes(max);
    }
    Ok(b.open()?)
}

/// Bytes one entry of the traces takes in the log (its record), measured.
fn record_len(dir: &std::path::Path, keys: u64) -> Result<f64> {
    let store = open(dir, "probe.log", None, Eviction::Fifo)?;
    let value = [7u8; VALUE_LEN];
    for id in 0..keys {
        store.put(key(id), value)?;
    }
    Ok(store.stats().live_bytes as f64 / keys as f64)
}

/// Hit ratio of the durable store with `policy` under `budget` bytes: a miss puts the value.
fn durable_hits(dir: &std::path::Path, t: &[u64], budget: u64, policy: Eviction) -> Result<f64> {
    let store = open(dir, "hits.log", Some(budget), policy)?;
    let value = [7u8; VALUE_LEN];
    let mut hits = 0u64;
    for &id in t {
        if store.get(key(id))?.is_some() {
            hits += 1;
        } else {
            store.put(key(id), value)?;
        }
    }
    Ok(hits as f64 / t.len() as f64)
}

pub fn hit_ratios(dir: &std::path::Path, keys: usize, requests: usize) -> Result<()> {
    let per_entry = record_len(dir, keys as u64)?;
    let working_set = per_entry * keys as f64;
    println!();
    println!(
        "durable store under a byte budget, {keys} keys of {VALUE_LEN} B ({:.1} MiB of records), \
         {requests} requests; a miss puts the value:",
        working_set / f64::from(1 << 20)
    );
    println!(
        "{:<10} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6}",
        "trace", "budget", "log S3", "CLOCK", "FIFO", "LRU", "S3-FIFO", "Belady", "S3-log"
    );
    for kind in ["zipf-0.9", "scan"] {
        let t = trace(kind, keys, requests);
        for pct in [1u64, 10, 50] {
            let budget = (working_set * pct as f64 / 100.0) as u64;
            // LRU and the optimum hold as many entries as the budget holds records.
            let entries = (budget as f64 / per_entry) as u64;
            let log_s3 = durable_hits(dir, &t, budget, Eviction::S3Fifo)?;
            let clock = durable_hits(dir, &t, budget, Eviction::Clock)?;
            let fifo = durable_hits(dir, &t, budget, Eviction::Fifo)?;
            // LRU and S3-FIFO as the memory tier runs them, for reference.
            let lru = simulate(&t, entries, PolicyKind::Lru);
            let s3 = simulate(&t, entries, PolicyKind::S3Fifo);
            let opt = belady(&t, entries as usize);
            println!(
                "{kind:<10} {pct:>6}% {log_s3:>8.4} {clock:>8.4} {fifo:>8.4} {lru:>8.4} {s3:>8.4} {opt:>8.4} {:>6.3}",
                s3 - log_s3
            );
            let best = log_s3.max(clock).max(fifo).max(lru).max(s3);
            assert!(opt + 1e-9 >= best, "the optimum is a ceiling");
        }
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Random gets over `n` keys, all present; returns gets per second.
fn gets(store: &DurableKVCache, n: u64, seed: u64) -> Result<f64> {
    let mut x = seed | 1;
    let t = Instant::now();
    for _ in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if store.get(key(x % n))?.is_none() {
            return Err("a key is missing".into());
        }
    }
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

/// Puts of `n` new keys into a fresh store; returns puts per second and the compactions run.
fn puts(dir: &std::path::Path, n: u64, budget: Option<u64>) -> Result<(f64, u64)> {
    let store = open(dir, "puts.log", budget, Eviction::default())?;
    let value = [7u8; VALUE_LEN];
    let t = Instant::now();
    for id in 0..n {
        store.put(key(id), value)?;
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    let stats = store.stats();
    if budget.is_some() && stats.evictions == 0 {
        return Err("the budgeted puts evicted nothing".into());
    }
    Ok((rate, stats.compactions))
}

/// Gets and puts with a budget against without, median of alternating rounds.
pub fn cost(dir: &std::path::Path, n: u64) -> Result<()> {
    let data = (record_len(dir, n.min(10_000))? * n as f64) as u64;
    let value = [7u8; VALUE_LEN];
    let plain = open(dir, "plain.log", None, Eviction::default())?;
    // Room for everything: the budget's bookkeeping runs, nothing is evicted.
    let roomy = open(dir, "roomy.log", Some(2 * data), Eviction::default())?;
    for id in 0..n {
        plain.put(key(id), value)?;
        roomy.put(key(id), value)?;
    }
    let (mut g0, mut g1) = (Vec::new(), Vec::new());
    for round in 0..7 {
        g0.push(gets(&plain, n, round)?);
        g1.push(gets(&roomy, n, round)?);
    }
    drop((plain, roomy));
    let (mut p0, mut p1, mut compactions) = (Vec::new(), Vec::new(), 0);
    for _ in 0..3 {
        p0.push(puts(dir, n, None)?.0);
        let (rate, c) = puts(dir, n, Some(data / 2))?;
        p1.push(rate);
        compactions = c;
    }
    let (g0, g1, p0, p1) = (median(g0), median(g1), median(p0), median(p1));
    println!();
    println!("cost of a budget, {n} keys of {VALUE_LEN} B, one thread, ops/s (median):");
    println!(
        "{:<44} {:>10} {:>10} {:>6}",
        "", "no budget", "budget", "ratio"
    );
    println!(
        "{:<44} {g0:>10.0} {g1:>10.0} {:>6.2}",
        "random gets, all present (budget 2x data)",
        g1 / g0
    );
    println!(
        "{:<44} {p0:>10.0} {p1:>10.0} {:>6.2}",
        "puts of new keys (budget half the data)",
        p1 / p0
    );
    println!(
        "  (the budgeted puts evict half the keys; compaction reclaimed them {compactions} times)"
    );
    Ok(())
}
