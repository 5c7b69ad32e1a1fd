//! I/O error injection: fail the n-th operation of each kind (open, read, write, fsync,
//! truncate, allocate, rename, remove, directory fsync), for every n the workload reaches,
//! once and persistently. The engine must return an error (never panic), refuse further
//! writes after a failed write or fsync (poisoned), and a reopen on a healthy file system —
//! in every crash image of what was on disk — must satisfy the crash oracle. Then the same
//! with recovery in place: after each transient failure `recover()` must bring the handle
//! back, the live handle must satisfy the oracle at once, and so must every crash image.

use std::path::Path;
use std::sync::Arc;

use logcache::sim::{OpKind, SimFs};
use logcache::{Durability, DurableKVCache, Error};

mod common;
#[path = "common/oracle.rs"]
mod oracle;
use oracle::{Gen, Journal, check};

const LOG: &str = "/db/cache.log";

fn open(fs: &SimFs) -> logcache::Result<DurableKVCache> {
    // No hint file: writing one at close is best effort, its failures are not reported (the
    // next open replays the log instead); tests/hint.rs fails each of its operations.
    DurableKVCache::builder(LOG)
        .durability(Durability::Sync)
        .compaction_threshold(0)
        .preallocate(4096)
        .hint_file(false)
        .file_system(Arc::new(fs.clone()))
        .open()
}

/// What the workload saw.
#[derive(Debug, Default)]
struct Seen {
    /// An operation returned an error.
    errors: usize,
    /// A put, delete or sync failed with an I/O error and the next write was still accepted.
    write_after_failed_write: bool,
    /// Recoveries in place that succeeded.
    recoveries: usize,
}

/// Puts, deletes and gets; a compaction; a clean close and reopen (truncating the
/// preallocated tail, replaying); more writes. Stops at the first failed open. With
/// `recover`, a handle poisoned by a failure is recovered in place and checked at once.
fn workload(fs: &SimFs, journal: &Journal, recover: bool) -> Seen {
    let mut seen = Seen::default();
    let mut g = Gen(42);
    let mut cache = match open(fs) {
        Ok(c) => c,
        Err(_) => {
            seen.errors += 1;
            return seen;
        }
    };
    let mut failed_write = false;
    for phase in 0..3 {
        for i in 0..8 {
            let key = format!("k{}", g.next() % 4).into_bytes();
            let value = g.value(&format!("p{phase}i{i}"));
            let delete = g.next().is_multiple_of(5);
            let ok = journal.apply(&cache, &key, (!delete).then_some(&value[..]));
            if !ok {
                seen.errors += 1;
                failed_write = true;
            } else if failed_write {
                seen.write_after_failed_write = true;
            }
            if recover && cache.failure().is_some() {
                match cache.recover() {
                    Ok(true) => {
                        seen.recoveries += 1;
                        failed_write = false;
                        if let Err(e) = check(&cache, journal, true) {
                            panic!("right after a recovery: {e}");
                        }
                    }
                    Ok(false) => panic!("poisoned, yet recover() found nothing to do"),
                    Err(_) => seen.errors += 1,
                }
            }
            if cache.get(&key).is_err() {
                seen.errors += 1;
            }
        }
        match phase {
            0 => {
                if let Err(e) = cache.compact() {
                    seen.errors += 1;
                    // A compaction that failed before its rename leaves the log and the handle
                    // as they were; one that failed after it poisons the handle.
                    failed_write |= matches!(e, Error::Poisoned { .. });
                }
            }
            1 => {
                if cache.close().is_err() {
                    seen.errors += 1;
                }
                // A compaction file left by a crash: open removes it (the Remove path).
                fs.write_file(Path::new("/db/cache.log.compact"), b"logcache\t1\nleftover");
                cache = match open(fs) {
                    Ok(c) => c,
                    Err(_) => {
                        seen.errors += 1;
                        return seen;
                    }
                };
                failed_write = false;
            }
            _ => {
                if !journal.sync(&cache) {
                    seen.errors += 1;
                }
            }
        }
    }
    if cache.close().is_err() {
        seen.errors += 1;
    }
    seen
}

/// A durable copy of the log as the disk holds it, for a reopen on a healthy file system.
fn images(fs: &SimFs, seed: u64) -> Vec<(String, SimFs)> {
    fs.crash_now();
    fs.crash_images(seed)
}

fn every_failure_of_every_kind_errors_poisons_and_recovers() {
    // Count each kind's operations in a clean run.
    let clean = SimFs::new();
    let journal = Journal::default();
    let seen = workload(&clean, &journal, false);
    assert_eq!(seen.errors, 0, "the clean run failed");
    let counts: Vec<(OpKind, u64)> = OpKind::ALL.iter().map(|&k| (k, clean.count(k))).collect();

    let mut cases = 0;
    let mut reopened = 0;
    for &(kind, total) in &counts {
        for n in 1..=total {
            for persistent in [false, true] {
                let fs = SimFs::new();
                let journal = Journal::default();
                fs.fail(kind, n, persistent);
                let seen = workload(&fs, &journal, false);
                let what = format!(
                    "{kind:?} #{n} failing {}",
                    if persistent { "from then on" } else { "once" }
                );
                if fs.failure_fired() && !matches!(kind, OpKind::Allocate) {
                    assert!(seen.errors > 0, "{what}: the failure was swallowed");
                }
                assert!(
                    !seen.write_after_failed_write,
                    "{what}: a write was accepted after a failed write"
                );
                for (label, image) in images(&fs, n) {
                    let cache = open(&image)
                        .unwrap_or_else(|e| panic!("{what}, {label}: reopen failed: {e}"));
                    check(&cache, &journal, true)
                        .unwrap_or_else(|e| panic!("{what}, {label}: {e}"));
                    reopened += 1;
                }
                cases += 1;
            }
        }
    }
    println!("io error cases: {cases} ({reopened} reopened images)");
    for (kind, total) in counts {
        println!("  {kind:?}: {total} positions x once/persistent");
    }
    // Every kind of operation occurs in the workload, so every kind was failed.
    for kind in OpKind::ALL {
        assert!(clean.count(kind) > 0, "the workload never does a {kind:?}");
    }
}

/// Every transient failure (once) of every kind: a handle it poisons is recovered in place
/// and goes on; what it holds and every crash image afterwards satisfy the oracle.
fn every_transient_failure_is_recovered_in_place() {
    let clean = SimFs::new();
    let seen = workload(&clean, &Journal::default(), true);
    assert_eq!(
        (seen.errors, seen.recoveries),
        (0, 0),
        "the clean run failed"
    );
    let (mut cases, mut recovered, mut reopened) = (0, 0, 0);
    for kind in OpKind::ALL {
        for n in 1..=clean.count(kind) {
            let fs = SimFs::new();
            let journal = Journal::default();
            fs.fail(kind, n, false);
            let seen = workload(&fs, &journal, true);
            let what = format!("{kind:?} #{n} failing once");
            recovered += seen.recoveries;
            for (label, image) in images(&fs, n) {
                let cache =
                    open(&image).unwrap_or_else(|e| panic!("{what}, {label}: reopen failed: {e}"));
                check(&cache, &journal, true).unwrap_or_else(|e| panic!("{what}, {label}: {e}"));
                reopened += 1;
            }
            cases += 1;
        }
    }
    println!(
        "io error recoveries: {cases} cases, {recovered} recoveries in place, {reopened} \
         reopened images"
    );
    assert!(recovered > 0, "no failure poisoned the handle");
}

// `harness = false`: the figures above print in every run (the test harness would capture
// them), and a panic fails the run.
/// The hint file: writes, a clean close (which writes the hint: best effort, a failure is not
/// reported), a reopen from it, writes, a compaction (which removes it and writes the new
/// file's), writes, a close. Every operation of every kind fails once and from then on; every
/// image of the disk reopens to what the journal allows, and a second reopen agrees.
fn every_failure_around_the_hint_file_leaves_a_correct_log() {
    let hinted = |fs: &SimFs| {
        DurableKVCache::builder(LOG)
            .durability(Durability::Sync)
            .compaction_threshold(0)
            .file_system(Arc::new(fs.clone()))
            .open()
    };
    let run = |fs: &SimFs, journal: &Journal| {
        let mut g = Gen(7);
        for round in 0..2 {
            let Ok(cache) = hinted(fs) else { return };
            for i in 0..6 {
                let key = format!("k{}", g.next() % 4).into_bytes();
                let value = g.value(&format!("r{round}i{i}"));
                let delete = g.next().is_multiple_of(5);
                if !journal.apply(&cache, &key, (!delete).then_some(&value[..])) {
                    return;
                }
            }
            if round == 1 && cache.compact().is_err() {
                return;
            }
            if cache.close().is_err() {
                return;
            }
        }
    };
    let clean = SimFs::new();
    run(&clean, &Journal::default());
    let mut cases = 0;
    for kind in OpKind::ALL {
        for n in 1..=clean.count(kind) {
            for persistent in [false, true] {
                let fs = SimFs::new();
                let journal = Journal::default();
                fs.fail(kind, n, persistent);
                run(&fs, &journal);
                let what = format!("{kind:?} #{n} failing (persistent: {persistent})");
                for (label, image) in images(&fs, n) {
                    let cache = hinted(&image)
                        .unwrap_or_else(|e| panic!("{what}, {label}: reopen failed: {e}"));
                    check(&cache, &journal, true)
                        .unwrap_or_else(|e| panic!("{what}, {label}: {e}"));
                    let keys: Vec<(Vec<u8>, Option<Vec<u8>>)> = cache
                        .keys()
                        .map(|k| (k.clone(), cache.get(&k).unwrap()))
                        .collect();
                    drop(cache);
                    let again = hinted(&image).unwrap();
                    for (k, v) in keys {
                        assert_eq!(again.get(&k).unwrap(), v, "{what}, {label}: second reopen");
                    }
                }
                cases += 1;
            }
        }
    }
    println!("hint file io error cases: {cases}");
}

fn main() {
    every_failure_of_every_kind_errors_poisons_and_recovers();
    every_transient_failure_is_recovered_in_place();
    every_failure_around_the_hint_file_leaves_a_correct_log();
    println!("io_errors: 3 passed, 0 failed");
}
