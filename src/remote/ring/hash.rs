//! Placement: the ring hash, and the points of each node on the ring (stable across
//! processes and versions).

use std::sync::Arc;

use super::Node;

/// The hash of a key on the ring (XXH3-64, seed 0).
pub fn ring_hash(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

#[derive(Debug)]
pub(super) struct Ring<S> {
    pub(super) nodes: Vec<Arc<Node<S>>>,
    /// (point, index into `nodes`), ascending.
    pub(super) points: Vec<(u64, usize)>,
}

impl<S> Default for Ring<S> {
    fn default() -> Self {
        Ring {
            nodes: Vec::new(),
            points: Vec::new(),
        }
    }
}

impl<S> Ring<S> {
    pub(super) fn rebuild(&mut self, vnodes: usize) {
        self.points.clear();
        for (i, node) in self.nodes.iter().enumerate() {
            for v in 0..vnodes {
                self.points
                    .push((ring_hash(format!("{}-{v}", node.name).as_bytes()), i));
            }
        }
        // Ties (vanishingly rare) go to the node added first.
        self.points.sort_unstable();
    }

    /// The first `r` distinct nodes clockwise from `hash`.
    pub(super) fn replicas(&self, hash: u64, r: usize) -> Vec<Arc<Node<S>>> {
        let want = r.min(self.nodes.len());
        let mut out: Vec<Arc<Node<S>>> = Vec::with_capacity(want);
        let start = self.points.partition_point(|&(p, _)| p < hash);
        let n = self.points.len();
        for step in 0..n {
            if out.len() == want {
                break;
            }
            let Some(&(_, i)) = self.points.get((start + step) % n) else {
                break;
            };
            if let Some(node) = self.nodes.get(i)
                && !out.iter().any(|o| Arc::ptr_eq(o, node))
            {
                out.push(Arc::clone(node));
            }
        }
        out
    }
}
