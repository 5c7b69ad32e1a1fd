//! Unit tests of the index.

use super::*;
use std::io;

/// The index never touches its file; tests give it one that refuses everything.
#[derive(Debug)]
pub(super) struct NoFile;
impl FileHandle for NoFile {
    fn read_at(&self, _: &mut [u8], _: u64) -> io::Result<usize> {
        Err(io::ErrorKind::Unsupported.into())
    }
    fn write_at(&self, _: &[u8], _: u64) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
    fn size(&self) -> io::Result<u64> {
        Ok(0)
    }
    fn sync_data(&self) -> io::Result<()> {
        Ok(())
    }
    fn truncate(&self, _: u64) -> io::Result<()> {
        Ok(())
    }
    fn allocate(&self, _: u64) -> io::Result<()> {
        Ok(())
    }
}

fn entry(offset: u64, expiry: u64) -> Entry {
    Entry {
        offset,
        len: 10,
        expiry,
    }
}

#[test]
fn a_16_byte_key_and_its_slot_take_28_bytes() {
    assert_eq!(std::mem::size_of::<Slot>(), 11);
    assert_eq!(std::mem::size_of::<(InlineKey<16>, Slot)>(), 28);
    assert_eq!(std::mem::size_of::<(InlineKey<24>, Slot)>(), 36);
}

#[test]
fn offsets_lengths_and_expiries_round_trip_for_short_and_long_keys() {
    let mut index = Index::new(Arc::new(NoFile));
    let long = vec![b'l'; 100];
    let cases = [
        (
            &b""[..],
            Entry {
                offset: 0,
                len: 0,
                expiry: 0,
            },
        ),
        (
            &b"sixteen-bytes-ok"[..],
            Entry {
                offset: MAX_OFFSET,
                len: u32::MAX,
                expiry: 9,
            },
        ),
        (
            &b"twenty-four-bytes-long!!"[..],
            Entry {
                offset: 77,
                len: 3,
                expiry: 0,
            },
        ),
        (
            &long[..],
            Entry {
                offset: 1 << 40,
                len: 7,
                expiry: u64::MAX,
            },
        ),
    ];
    for (k, e) in cases {
        index.put(k, e);
        assert_eq!(index.get(k), Some(e));
    }
    assert_eq!(index.len(), 4);
    assert_eq!(
        index.sizes(),
        Sizes {
            k16: 2,
            k24: 1,
            long: 1
        }
    );
    let mut seen: Vec<(Vec<u8>, Entry)> = index.iter().map(|(k, e)| (k.to_vec(), e)).collect();
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    let mut want: Vec<(Vec<u8>, Entry)> = cases.iter().map(|(k, e)| (k.to_vec(), *e)).collect();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(seen, want);
    assert_eq!(index.remove(b"twenty-four-bytes-long!!"), Some(cases[2].1));
    // A new value without an expiry drops the old one's.
    index.put(b"sixteen-bytes-ok", entry(5, 0));
    assert_eq!(index.get(b"sixteen-bytes-ok"), Some(entry(5, 0)));
    assert_eq!(index.expiries.len(), 1);
    assert_eq!(index.remove(&long).map(|e| e.expiry), Some(u64::MAX));
    assert!(index.expiries.is_empty());
    assert_eq!(index.live_bytes, 10);
}

#[test]
fn read_counts_rise_to_3_fall_per_pass_and_survive_a_new_value() {
    let mut index = Index::new(Arc::new(NoFile));
    index.put(b"k", entry(11, 0));
    index.put(b"j", entry(21, 0));
    assert_eq!(
        index.evict_at(b"j", 21, true, false),
        Some(entry(21, 0)),
        "never read: goes"
    );
    assert_eq!(
        index.evict_at(b"k", 99, false, false),
        None,
        "not the live record: stays"
    );
    for _ in 0..5 {
        assert_eq!(index.get_and_raise(b"k"), Some(entry(11, 0)));
    }
    index.put(b"k", entry(40, 7)); // a new value, with an expiry
    assert_eq!(index.get(b"k"), Some(entry(40, 7)), "the expiry is intact");
    let passes = (0..5)
        .take_while(|_| index.evict_at(b"k", 40, true, false).is_none())
        .count();
    assert_eq!(
        passes,
        usize::from(MAX_COUNT),
        "capped at 3, carried over the put"
    );
    assert_eq!(index.get(b"k"), None, "evicted at the fourth pass");
    assert_eq!(index.live_bytes, 0);
    index.put(b"k", entry(50, 7));
    index.get_and_raise(b"k");
    assert_eq!(index.evict_at(b"k", 50, true, false), None, "lowered");
    assert_eq!(
        index.get(b"k"),
        Some(entry(50, 7)),
        "passes leave the expiry alone"
    );
    let counted: Vec<u8> = index.iter_counted().map(|(_, _, c)| c).collect();
    assert_eq!(counted, vec![0]);
    assert_eq!(
        index.evict_at(b"k", 50, false, false),
        Some(entry(50, 7)),
        "FIFO: goes"
    );
    assert_eq!(index.evict_at(b"absent", 0, true, false), None);
    // A rebuilt index (compaction) takes the counts it is given.
    let mut fresh = Index::new(Arc::new(NoFile));
    assert!(fresh.insert_new(b"k", entry(11, 9), 2));
    assert_eq!(
        fresh.iter_counted().map(|(_, e, c)| (e, c)).next(),
        Some((entry(11, 9), 2))
    );
}

#[test]
fn a_planned_snapshot_relocates_every_kind_of_key_and_rekeys_expiries() {
    let mut index = Index::new(Arc::new(NoFile));
    let long = vec![b'l'; 40];
    let keys: [&[u8]; 6] = [
        b"short",
        b"expiring",
        b"seventeen-bytes-k",
        &long,
        b"past-the-limit",
        b"expired",
    ];
    let entries = [
        entry(100, 0),
        entry(200, 5_000),
        entry(300, 0),
        entry(400, 0),
        entry(1_000, 0), // at the limit: the tail replays it
        entry(500, 10),  // expired at now = 20
    ];
    for (k, e) in keys.iter().zip(entries) {
        index.put(k, e);
    }
    index.get_and_raise(b"short");
    index.get_and_raise(b"short");
    let mut fresh = index.snapshot();
    let mut moves = fresh.plan(1_000, 20);
    assert_eq!(
        moves.len(),
        4,
        "the entry past the limit and the expired one are dropped"
    );
    assert_eq!(fresh.len(), 4);
    for m in &moves {
        let (key, e) = index.iter().find(|(_, e)| e.offset == m.offset).unwrap();
        assert_eq!(m.len, e.len);
        assert_eq!(m.tag, fresh.key_tag(key));
    }
    // The copy: each record lands at its old offset + 7, except one damaged since written.
    for m in &mut moves {
        m.offset = if m.offset == 300 {
            NOT_COPIED
        } else {
            m.offset + 7
        };
    }
    fresh.relocate(Arc::new(NoFile), &moves);
    assert_ne!(fresh.file_id, index.file_id);
    assert_eq!(fresh.get(b"short"), Some(entry(107, 0)));
    assert_eq!(fresh.get(b"expiring"), Some(entry(207, 5_000)));
    assert_eq!(fresh.get(&long), Some(entry(407, 0)));
    assert_eq!(fresh.get(b"seventeen-bytes-k"), None, "damaged: dropped");
    assert_eq!(fresh.get(b"past-the-limit"), None);
    assert_eq!(fresh.len(), 3);
    assert_eq!(fresh.live_bytes, 30);
    assert_eq!(fresh.stale_records, 0);
    assert_eq!(fresh.expiries.len(), 1, "re-keyed by the new offset");
    let counts: Vec<u8> = fresh
        .iter_counted()
        .filter(|(k, _, _)| *k == b"short")
        .map(|(_, _, c)| c)
        .collect();
    assert_eq!(counts, vec![2], "read counts carry over");
    // The original is untouched.
    assert_eq!(index.get(b"short"), Some(entry(100, 0)));
    assert_eq!(index.len(), 6);
}

#[test]
fn a_relocated_clone_of_a_sparse_table_gives_its_room_back() {
    let mut index = Index::new(Arc::new(NoFile));
    for i in 0..10_000u64 {
        index.put(&i.to_le_bytes(), entry(i * 10, 0));
    }
    for i in 100..10_000u64 {
        index.remove(&i.to_le_bytes());
    }
    let mut fresh = index.snapshot();
    let mut moves = fresh.plan(u64::MAX, 0);
    for m in &mut moves {
        m.offset /= 10;
    }
    fresh.relocate(Arc::new(NoFile), &moves);
    assert!(fresh.k16.capacity() < index.k16.capacity() / 4);
    for i in 0..100u64 {
        assert_eq!(fresh.get(&i.to_le_bytes()), Some(entry(i, 0)));
    }
}
