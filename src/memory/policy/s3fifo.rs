//! S3-FIFO (Juncheng Yang et al., "FIFO queues are all you need for cache eviction", SOSP 2023),
//! weighted by bytes.
//!
//! - New entries go to a small FIFO `S` (10 % of the capacity). An entry read while in `S`
//!   moves to the main FIFO `M` when it reaches the tail; one never read is evicted, and its
//!   key's fingerprint goes to a ghost FIFO `G`.
//! - An entry whose key is still in `G` when it is inserted again goes straight to `M`.
//! - `M` is a FIFO with second chances: at the tail, an entry read since it was last there
//!   (frequency > 0) is reinserted at the head with its frequency lowered; one not read is
//!   evicted. Frequencies saturate at 3.
//!
//! One-hit wonders (a scan) pass through `S` without displacing the entries in `M`: that is
//! the scan resistance LRU lacks.

use std::collections::{HashMap, VecDeque};

use super::{EvictionPolicy, List};

#[derive(Debug, Clone, Copy)]
struct Meta {
    weight: u64,
    freq: u8,
    in_main: bool,
    fingerprint: u64,
}

/// The S3-FIFO policy; see the module documentation.
#[derive(Debug)]
pub struct S3Fifo {
    small_target: u64,
    /// Bytes of evicted entries the ghost remembers: the main queue's share of the capacity.
    ghost_target: u64,
    small: List,
    main: List,
    small_weight: u64,
    meta: HashMap<u64, Meta, foldhash::fast::RandomState>,
    /// Recently evicted entries, oldest first: (fingerprint, weight, generation). An entry
    /// whose generation no longer matches `ghost_set` was taken out by a hit (lazy deletion
    /// keeps hits O(1)); its weight still counts until it reaches the front.
    ghost: VecDeque<(u64, u64, u64)>,
    ghost_weight: u64,
    /// Fingerprint → generation of its live ghost entry.
    ghost_set: HashMap<u64, u64, foldhash::fast::RandomState>,
    generation: u64,
}

impl S3Fifo {
    /// A policy for a cache of `capacity` bytes.
    pub fn new(capacity: u64) -> Self {
        let small_target = (capacity / 10).max(1);
        S3Fifo {
            small_target,
            ghost_target: capacity - small_target.min(capacity),
            small: List::default(),
            main: List::default(),
            small_weight: 0,
            meta: HashMap::default(),
            ghost: VecDeque::new(),
            ghost_weight: 0,
            ghost_set: HashMap::default(),
            generation: 0,
        }
    }

    /// Remembers an evicted key. The ghost holds as many evicted bytes as the main queue can
    /// (the paper sizes it like the main queue).
    fn remember(&mut self, fingerprint: u64, weight: u64) {
        while self.ghost_weight + weight > self.ghost_target {
            let Some((old, w, generation)) = self.ghost.pop_front() else {
                break;
            };
            self.ghost_weight -= w;
            if self.ghost_set.get(&old) == Some(&generation) {
                self.ghost_set.remove(&old);
            }
        }
        if weight <= self.ghost_target {
            self.generation += 1;
            self.ghost_set.insert(fingerprint, self.generation);
            self.ghost.push_back((fingerprint, weight, self.generation));
            self.ghost_weight += weight;
        }
    }

    /// From the tail of S: promote to M, or evict (into the ghost).
    fn evict_small(&mut self) -> Option<u64> {
        while let Some(id) = self.small.pop_back() {
            let Some(m) = self.meta.get_mut(&id) else {
                continue;
            };
            self.small_weight -= m.weight;
            if m.freq > 0 {
                m.freq = 0;
                m.in_main = true;
                self.main.push_front(id);
                if self.small_weight < self.small_target {
                    return None; // S is back under its target: evict from M instead
                }
            } else {
                let (fp, w) = (m.fingerprint, m.weight);
                self.meta.remove(&id);
                self.remember(fp, w);
                return Some(id);
            }
        }
        None
    }

    /// From the tail of M: second chance, or evict.
    fn evict_main(&mut self) -> Option<u64> {
        while let Some(id) = self.main.pop_back() {
            let Some(m) = self.meta.get_mut(&id) else {
                continue;
            };
            if m.freq > 0 {
                m.freq -= 1;
                self.main.push_front(id);
            } else {
                self.meta.remove(&id);
                return Some(id);
            }
        }
        None
    }
}

impl EvictionPolicy for S3Fifo {
    fn on_insert(&mut self, id: u64, weight: u64, fingerprint: u64) {
        let in_main = self.ghost_set.remove(&fingerprint).is_some();
        if in_main {
            self.main.push_front(id);
        } else {
            self.small.push_front(id);
            self.small_weight += weight;
        }
        self.meta.insert(
            id,
            Meta {
                weight,
                freq: 0,
                in_main,
                fingerprint,
            },
        );
    }

    fn on_access(&mut self, id: u64) {
        if let Some(m) = self.meta.get_mut(&id) {
            m.freq = (m.freq + 1).min(3);
        }
    }

    fn on_remove(&mut self, id: u64) {
        if let Some(m) = self.meta.remove(&id) {
            if m.in_main {
                self.main.unlink(id);
            } else {
                self.small.unlink(id);
                self.small_weight -= m.weight;
            }
        }
    }

    fn evict(&mut self) -> Option<u64> {
        loop {
            if self.small.len() > 0
                && (self.small_weight >= self.small_target || self.main.len() == 0)
            {
                if let Some(id) = self.evict_small() {
                    return Some(id);
                }
                continue;
            }
            if let Some(id) = self.evict_main() {
                return Some(id);
            }
            if self.small.len() == 0 {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn exact_eviction_order() {
        let mut p = S3Fifo::new(100); // small target: 10 bytes = one entry of 10
        for id in 1..=3 {
            p.on_insert(id, 10, id);
        }
        p.on_access(2); // S (head..tail): 3 2 1
        assert_eq!(
            p.evict(),
            Some(1),
            "tail of S, never read: evicted, key 1 into the ghost"
        );
        assert_eq!(
            p.evict(),
            Some(3),
            "2 was read: promoted to M; then 3 (unread) goes"
        );
        p.on_insert(4, 10, 1); // key 1 again, still in the ghost: straight into M (4 2)
        p.on_insert(5, 10, 5); // S: 5
        assert_eq!(
            p.evict(),
            Some(5),
            "S is at its target: its unread tail goes first"
        );
        p.on_access(4); // M (head..tail): 4 2; 4 gets a second chance
        assert_eq!(p.evict(), Some(2));
        assert_eq!(p.evict(), Some(4), "second chance used up");
        assert_eq!(p.evict(), None);
    }

    #[test]
    fn a_scan_does_not_flush_the_frequently_used_entries() {
        let mut p = S3Fifo::new(100 * 10);
        let mut live: HashSet<u64> = HashSet::new();
        let mut next_id = 1u64;
        let mut insert = |p: &mut S3Fifo, live: &mut HashSet<u64>, fp: u64| {
            let id = next_id;
            next_id += 1;
            p.on_insert(id, 10, fp);
            live.insert(id);
            while live.len() > 100 {
                let v = p.evict().expect("something to evict");
                assert!(live.remove(&v));
            }
            id
        };
        let hot: Vec<u64> = (0..20).map(|k| insert(&mut p, &mut live, k)).collect();
        for _ in 0..3 {
            for &id in &hot {
                p.on_access(id);
            }
        }
        for k in 1000..3000 {
            insert(&mut p, &mut live, k); // a scan of 2,000 keys used once
        }
        let survivors = hot.iter().filter(|id| live.contains(id)).count();
        assert_eq!(survivors, 20, "the hot set survives the scan");

        let mut lru = super::super::Lru::default();
        let mut live: HashSet<u64> = HashSet::new();
        for id in 1..=20 {
            lru.on_insert(id, 10, id);
            live.insert(id);
        }
        for id in 21..2021 {
            lru.on_insert(id, 10, id);
            live.insert(id);
            while live.len() > 100 {
                live.remove(&lru.evict().unwrap());
            }
        }
        assert_eq!(
            (1..=20).filter(|id| live.contains(id)).count(),
            0,
            "LRU loses them all"
        );
    }
}
