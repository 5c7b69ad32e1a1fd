//! Least recently used, O(1) per operation.

use super::{EvictionPolicy, List};

/// Evicts the entry used least recently. Insert and access move an entry to the front.
#[derive(Debug, Default)]
pub struct Lru {
    list: List,
}

impl EvictionPolicy for Lru {
    fn on_insert(&mut self, id: u64, _weight: u64, _fingerprint: u64) {
        self.list.push_front(id);
    }
    fn on_access(&mut self, id: u64) {
        if self.list.unlink(id) {
            self.list.push_front(id);
        }
    }
    fn on_remove(&mut self, id: u64) {
        self.list.unlink(id);
    }
    fn evict(&mut self) -> Option<u64> {
        self.list.pop_back()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_eviction_order() {
        let mut p = Lru::default();
        for id in 1..=4 {
            p.on_insert(id, 10, id);
        }
        // Order, least recent first: 1 2 3 4.
        p.on_access(2); // 1 3 4 2
        p.on_access(1); // 3 4 2 1
        assert_eq!(p.evict(), Some(3)); // 4 2 1
        p.on_remove(2); // 4 1
        p.on_insert(5, 10, 5); // 4 1 5
        p.on_access(4); // 1 5 4
        assert_eq!(p.evict(), Some(1));
        assert_eq!(p.evict(), Some(5));
        assert_eq!(p.evict(), Some(4));
        assert_eq!(p.evict(), None);
        p.on_access(99); // unknown ids are ignored
        p.on_remove(99);
        assert_eq!(p.evict(), None);
    }
}
