//! Criterion benchmarks of the hot paths: the record codec, `put` with `Durability::None`,
//! `get` from the page cache, and replay.
//!
//! `cargo bench -p logcache-bench --bench hot_paths`

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use logcache::sim::{encode_record_into, verify_record};
use logcache::{Durability, DurableKVCache};

fn key(i: u64) -> [u8; 16] {
    let mut k = [b'0'; 16];
    let mut n = i;
    for slot in k.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    k
}

const VALUE: [u8; 100] = [b'v'; 100];

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("record");
    g.throughput(Throughput::Bytes(16 + 100));
    let mut buf = Vec::with_capacity(256);
    g.bench_function("encode 16+100", |b| {
        let mut seq = 0u64;
        b.iter(|| {
            seq += 1;
            encode_record_into(&mut buf, seq, 0, black_box(&key(seq)), black_box(&VALUE));
        })
    });
    encode_record_into(&mut buf, 123_456, 0, &key(7), &VALUE);
    let record = buf.clone();
    g.bench_function("verify 16+100", |b| {
        b.iter(|| verify_record(black_box(&record), 1 << 30).expect("valid"))
    });
    g.finish();
}

fn engine(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut g = c.benchmark_group("engine");

    let cache = DurableKVCache::builder(dir.path().join("put.log"))
        .durability(Durability::None)
        .compaction_threshold(0)
        .open()
        .expect("open");
    let mut i = 0u64;
    g.bench_function("put none 16+100", |b| {
        b.iter(|| {
            i += 1;
            cache.put(key(i), VALUE).expect("put")
        })
    });
    drop(cache);

    let n = 100_000u64;
    let cache = DurableKVCache::builder(dir.path().join("get.log"))
        .durability(Durability::None)
        .open()
        .expect("open");
    for i in 0..n {
        cache.put(key(i), VALUE).expect("put");
    }
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    g.bench_function("get random 16+100 (page cache)", |b| {
        b.iter(|| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cache.get(key(x % n)).expect("get").expect("present")
        })
    });
    drop(cache);

    g.throughput(Throughput::Elements(n));
    g.sample_size(10);
    g.bench_function("open 100k records", |b| {
        b.iter_batched(
            || (),
            |()| DurableKVCache::open(dir.path().join("get.log")).expect("open"),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, codec, engine);
criterion_main!(benches);
