//! [`List`]: the O(1) doubly linked list of ids both policies are built of.

/// A doubly linked list of ids over a slab, with O(1) push, pop and unlink by id: the building
/// block of both policies.
#[derive(Debug, Default)]
pub(crate) struct List {
    nodes: std::collections::HashMap<u64, (Option<u64>, Option<u64>), foldhash::fast::RandomState>,
    head: Option<u64>,
    tail: Option<u64>,
}

impl List {
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Inserts `id` at the head (most recent end).
    pub(crate) fn push_front(&mut self, id: u64) {
        self.nodes.insert(id, (None, self.head));
        if let Some(h) = self.head
            && let Some(n) = self.nodes.get_mut(&h)
        {
            n.0 = Some(id);
        }
        self.head = Some(id);
        if self.tail.is_none() {
            self.tail = Some(id);
        }
    }

    /// Removes `id`; returns whether it was there.
    pub(crate) fn unlink(&mut self, id: u64) -> bool {
        let Some((prev, next)) = self.nodes.remove(&id) else {
            return false;
        };
        match prev {
            Some(p) => {
                if let Some(n) = self.nodes.get_mut(&p) {
                    n.1 = next;
                }
            }
            None => self.head = next,
        }
        match next {
            Some(nx) => {
                if let Some(n) = self.nodes.get_mut(&nx) {
                    n.0 = prev;
                }
            }
            None => self.tail = prev,
        }
        true
    }

    /// Removes and returns the tail (least recent end).
    pub(crate) fn pop_back(&mut self) -> Option<u64> {
        let id = self.tail?;
        self.unlink(id);
        Some(id)
    }
}
