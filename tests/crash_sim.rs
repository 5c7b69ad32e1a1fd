//! Crash-point enumeration over the simulated file system: for each workload, crash after
//! every mutating I/O operation k = 1..W, reopen every crash image (unsynced bytes lost, kept
//! in part, zeroed, garbage, kept; directory changes undone or kept) and check the oracle:
//!
//! - every acknowledged write that was durable (a Sync ack, or any write before a successful
//!   `sync()`) is there with its exact bytes, or a later write of the same key replaced it;
//! - every other write is whole or absent: a key holds one of the values written to it;
//! - reopen never fails (Salvage mode) and never panics; a write after recovery survives;
//! - with a byte budget, a key may also be absent (evicted), never older than its floor.
//!
//! Prints `crash states: N`. `LOGCACHE_CRASH_SEEDS` (default 5) runs more random workloads.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use logcache::sim::SimFs;
use logcache::{Durability, DurableKVCache};

mod common;
#[path = "common/oracle.rs"]
mod oracle;
use oracle::{Gen, Journal, check, check_evicting};

const LOG: &str = "/db/cache.log";

fn open(fs: &SimFs, durability: Durability, threshold: u64) -> logcache::Result<DurableKVCache> {
    DurableKVCache::builder(LOG)
        .durability(durability)
        .compaction_threshold(threshold)
        .compaction_dead_ratio(0.0)
        .file_system(Arc::new(fs.clone()))
        .open()
}

#[derive(Debug, Clone, Copy)]
enum Workload {
    /// Sync puts and deletes from 3 threads (group commit).
    SyncMix,
    /// Durability::None with explicit syncs now and then.
    NoneWithSyncs,
    /// The same with compactions (in the background and one on demand): a switch carries
    /// most of the tail before it takes the writer lock and syncs the rest only when some of
    /// it was durable; syncs run across it.
    NoneCompacting,
    /// Durability::Interval, with a final sync.
    Interval,
    /// Sync writes, then compactions (on demand and in the background) with writes around.
    Compaction,
    /// Sync writes and deletes into a byte budget far smaller than the data: evictions on
    /// most puts, compactions in the background.
    Budget,
    /// `set_many` (several records in one write) from 2 threads, Sync, with single puts and
    /// deletes between the batches: an acknowledged batch is durable whole; a torn one leaves
    /// whole records or none of each.
    Batches,
    /// The hint file: writes, a clean close (writes the hint), a reopen from it, writes, a
    /// compaction (removes it, writes the new file's), writes, a close, a reopen, writes.
    Hint,
}

/// The budget of [`Workload::Budget`]: about five of its entries.
const BUDGET: u64 = 5 * 140;

impl Workload {
    fn durability(self) -> Durability {
        match self {
            Workload::SyncMix
            | Workload::Compaction
            | Workload::Budget
            | Workload::Hint
            | Workload::Batches => Durability::Sync,
            Workload::NoneWithSyncs | Workload::NoneCompacting => Durability::None,
            Workload::Interval => Durability::Interval(Duration::from_millis(1)),
        }
    }

    fn threshold(self) -> u64 {
        if matches!(
            self,
            Workload::Compaction | Workload::Budget | Workload::NoneCompacting
        ) {
            6
        } else {
            0
        }
    }

    /// Runs until done or until the cache fails (the crash).
    fn run(self, cache: &Arc<DurableKVCache>, journal: &Arc<Journal>, seed: u64) {
        match self {
            Workload::SyncMix => {
                let threads: Vec<_> = (0..3u64)
                    .map(|t| {
                        let (cache, journal) = (Arc::clone(cache), Arc::clone(journal));
                        std::thread::spawn(move || {
                            let mut g = Gen(seed * 31 + t + 1);
                            for i in 0..10 {
                                let key = format!("t{t}k{}", g.next() % 3).into_bytes();
                                let value = g.value(&format!("t{t}i{i}"));
                                let del = g.next().is_multiple_of(5);
                                if !journal.apply(&cache, &key, (!del).then_some(&value[..])) {
                                    return;
                                }
                            }
                        })
                    })
                    .collect();
                for t in threads {
                    t.join().unwrap();
                }
            }
            Workload::NoneWithSyncs | Workload::Interval | Workload::NoneCompacting => {
                let mut g = Gen(seed + 7);
                for i in 0..30 {
                    if i == 15
                        && matches!(self, Workload::NoneCompacting)
                        && cache.compact().is_err()
                    {
                        return;
                    }
                    let key = format!("k{}", g.next() % 6).into_bytes();
                    let value = g.value(&format!("i{i}"));
                    let del = g.next().is_multiple_of(6);
                    if !journal.apply(cache, &key, (!del).then_some(&value[..])) {
                        return;
                    }
                    if g.next().is_multiple_of(7) && !journal.sync(cache) {
                        return;
                    }
                }
                journal.sync(cache);
                cache.wait_for_compaction();
            }
            Workload::Compaction => {
                let mut g = Gen(seed + 99);
                for round in 0..3 {
                    for k in 0..5 {
                        let value = g.value(&format!("r{round}k{k}"));
                        if !journal.apply(cache, format!("k{k}").as_bytes(), Some(&value)) {
                            return;
                        }
                    }
                }
                if !journal.apply(cache, b"k1", None) {
                    return;
                }
                if cache.compact().is_err() {
                    return;
                }
                for k in 0..5 {
                    let value = g.value(&format!("after{k}"));
                    if !journal.apply(cache, format!("k{k}").as_bytes(), Some(&value)) {
                        return;
                    }
                }
                cache.wait_for_compaction();
            }
            Workload::Hint => unreachable!("run by run_hint: it reopens"),
            Workload::Batches => {
                let threads: Vec<_> = (0..2u64)
                    .map(|t| {
                        let (cache, journal) = (Arc::clone(cache), Arc::clone(journal));
                        std::thread::spawn(move || {
                            let mut g = Gen(seed * 17 + t + 3);
                            for b in 0..4 {
                                let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0..3)
                                    .map(|i| {
                                        let key = format!("t{t}k{}", g.next() % 4).into_bytes();
                                        (key, g.value(&format!("t{t}b{b}i{i}")))
                                    })
                                    .collect();
                                if !journal.apply_many(&cache, &pairs) {
                                    return;
                                }
                                let key = format!("t{t}k{}", g.next() % 4).into_bytes();
                                let del = g.next().is_multiple_of(2);
                                let value = g.value(&format!("t{t}b{b}single"));
                                if !journal.apply(&cache, &key, (!del).then_some(&value[..])) {
                                    return;
                                }
                            }
                        })
                    })
                    .collect();
                for t in threads {
                    t.join().unwrap();
                }
            }
            Workload::Budget => {
                let mut g = Gen(seed + 555);
                for i in 0..24 {
                    let key = format!("k{}", g.next() % 8).into_bytes();
                    let mut value = format!("b{i}|").into_bytes();
                    value.resize(100, b'.');
                    let del = g.next().is_multiple_of(6);
                    if !journal.apply(cache, &key, (!del).then_some(&value[..])) {
                        return;
                    }
                }
                cache.wait_for_compaction();
            }
        }
    }
}

/// Runs `workload` with a crash after operation `k` (or none), returns the journal and the
/// file system.
fn run_once(workload: Workload, seed: u64, crash_after: Option<u64>) -> (Arc<Journal>, SimFs) {
    let fs = SimFs::new();
    let cache = if matches!(workload, Workload::Budget) {
        DurableKVCache::builder(LOG)
            .durability(workload.durability())
            .compaction_threshold(workload.threshold())
            .compaction_dead_ratio(0.0)
            .max_bytes(BUDGET)
            .file_system(Arc::new(fs.clone()))
            .open()
    } else {
        open(&fs, workload.durability(), workload.threshold())
    };
    let cache = Arc::new(cache.unwrap());
    if let Some(k) = crash_after {
        fs.crash_after(fs.ops() + k);
    }
    let journal = Arc::new(Journal::default());
    if matches!(workload, Workload::Hint) {
        run_hint(cache, &fs, &journal, seed);
        if crash_after.is_some() && !fs.has_crashed() {
            fs.crash_now();
        }
        return (journal, fs);
    }
    workload.run(&cache, &journal, seed);
    if crash_after.is_some() && !fs.has_crashed() {
        fs.crash_now();
    }
    drop(cache);
    (journal, fs)
}

/// [`Workload::Hint`]: runs until done or until the cache fails (the crash).
fn run_hint(cache: Arc<DurableKVCache>, fs: &SimFs, journal: &Journal, seed: u64) {
    let mut g = Gen(seed + 4242);
    let mut writes = |cache: &DurableKVCache, round: &str, n: usize| {
        for i in 0..n {
            let key = format!("k{}", g.next() % 6).into_bytes();
            let value = g.value(&format!("{round}{i}"));
            let del = g.next().is_multiple_of(5);
            if !journal.apply(cache, &key, (!del).then_some(&value[..])) {
                return false;
            }
        }
        true
    };
    let Ok(cache) = Arc::try_unwrap(cache) else {
        unreachable!("one handle")
    };
    if !writes(&cache, "a", 8) || cache.close().is_err() {
        return;
    }
    let Ok(cache) = open(fs, Durability::Sync, 0) else {
        return;
    };
    if !fs.has_crashed() {
        assert!(
            cache.stats().recovery.hint_entries > 0,
            "the reopen read the hint the close wrote"
        );
    }
    if !writes(&cache, "b", 6) || cache.compact().is_err() || !writes(&cache, "c", 4) {
        return;
    }
    if cache.close().is_err() {
        return;
    }
    let Ok(cache) = open(fs, Durability::Sync, 0) else {
        return;
    };
    writes(&cache, "d", 3);
}

/// Reopens every crash image, checks the oracle, writes once more and checks that survives.
fn check_images(
    fs: &SimFs,
    journal: &Journal,
    sync_acks: bool,
    may_evict: bool,
    seed: u64,
    what: &str,
) -> u64 {
    let mut states = 0;
    for (label, image) in fs.crash_images(seed) {
        let ctx = format!("{what}, image {label}");
        let cache = open(&image, Durability::Sync, 0)
            .unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
        check_evicting(&cache, journal, sync_acks, may_evict)
            .unwrap_or_else(|e| panic!("{ctx}: {e}"));
        cache.put("after-recovery", "survives").unwrap();
        drop(cache);
        let cache = open(&image, Durability::Sync, 0).unwrap();
        assert_eq!(
            cache.get("after-recovery").unwrap().as_deref(),
            Some(&b"survives"[..]),
            "{ctx}"
        );
        states += 1;
    }
    states
}

fn enumerate(workload: Workload, seeds: u64) -> u64 {
    let mut states = 0;
    for seed in 1..=seeds {
        // A crash-free run tells how many operations the workload does (threads vary it a
        // little; the loop goes a bit past it).
        let (_, fs) = run_once(workload, seed, None);
        let total = fs.ops() + 4;
        for k in 1..=total {
            let (journal, fs) = run_once(workload, seed, Some(k));
            let sync_acks = matches!(workload.durability(), Durability::Sync);
            states += check_images(
                &fs,
                &journal,
                sync_acks,
                matches!(workload, Workload::Budget),
                seed * 1000 + k,
                &format!("{workload:?} seed {seed} crash after op {k}"),
            );
        }
    }
    states
}

/// A crash during recovery: open a torn log, crash after each operation of the open, and
/// check that the next open gives what a clean recovery of the torn log gives.
fn recovery_crashes(seeds: u64) -> u64 {
    let mut states = 0;
    for seed in 1..=seeds {
        // A torn log: the Prefix image of a None workload crashed mid-way.
        let (journal, fs) = run_once(Workload::NoneWithSyncs, seed, Some(25));
        for (label, torn) in fs.crash_images(seed) {
            let expected: BTreeMap<Vec<u8>, Vec<u8>> = {
                let copy = clone_fs(&torn);
                let cache = open(&copy, Durability::Sync, 0).unwrap();
                cache
                    .keys()
                    .map(|k| {
                        let v = cache.get(&k).unwrap().unwrap();
                        (k, v)
                    })
                    .collect()
            };
            let open_ops = {
                let copy = clone_fs(&torn);
                let before = copy.ops();
                drop(open(&copy, Durability::Sync, 0).unwrap());
                copy.ops() - before
            };
            for k in 1..=open_ops {
                let copy = clone_fs(&torn);
                copy.crash_after(copy.ops() + k);
                if let Ok(cache) = open(&copy, Durability::Sync, 0) {
                    drop(cache);
                }
                if !copy.has_crashed() {
                    copy.crash_now();
                }
                for (label2, image) in copy.crash_images(seed + k) {
                    let ctx = format!(
                        "recovery of torn log ({label}) seed {seed}, crash after op {k}, image {label2}"
                    );
                    let cache =
                        open(&image, Durability::Sync, 0).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                    let got: BTreeMap<Vec<u8>, Vec<u8>> = cache
                        .keys()
                        .map(|key| {
                            let v = cache.get(&key).unwrap().unwrap();
                            (key, v)
                        })
                        .collect();
                    assert_eq!(got, expected, "{ctx}");
                    check(&cache, &journal, false).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                    states += 1;
                }
            }
        }
    }
    states
}

/// A durable copy of a (crash image) file system.
fn clone_fs(fs: &SimFs) -> SimFs {
    let copy = SimFs::new();
    let file = fs.read_file(Path::new(LOG));
    if let Some(bytes) = file {
        copy.write_file(Path::new(LOG), &bytes);
    }
    copy
}

fn seeds() -> u64 {
    std::env::var("LOGCACHE_CRASH_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
}

fn crash_at_every_io_point() {
    let seeds = seeds();
    let mut total = 0;
    for workload in [
        Workload::SyncMix,
        Workload::NoneWithSyncs,
        Workload::NoneCompacting,
        Workload::Interval,
        Workload::Compaction,
        Workload::Budget,
        Workload::Hint,
        Workload::Batches,
    ] {
        let n = enumerate(workload, seeds);
        println!("{workload:?}: {n} crash states");
        total += n;
    }
    let n = recovery_crashes(seeds.min(2));
    println!("RecoveryOfTornLog: {n} crash states");
    total += n;
    println!("crash states: {total}");
    assert!(total >= 5000, "only {total} crash states checked");
}

// `harness = false`: the figures above print in every run (the test harness would capture
// them), and a panic fails the run.
fn main() {
    crash_at_every_io_point();
    println!("crash_sim: 1 passed, 0 failed");
}
