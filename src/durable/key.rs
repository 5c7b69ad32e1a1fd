//! `IndexKey`: a key held in the index, inline when short.
//!
//! Most cache keys are short. Holding up to [`INLINE`] bytes inside the hash-table slot saves the
//! heap allocation a `Box<[u8]>` needs (for a 16-byte key, a 32-byte malloc chunk: more than
//! the key itself) and a pointer chase on every lookup.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// Longest key held inline.
pub(crate) const INLINE: usize = 22;

/// A key: inline up to [`INLINE`] bytes, boxed beyond. 24 bytes either way.
#[derive(Clone)]
pub(crate) enum IndexKey {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl From<&[u8]> for IndexKey {
    fn from(key: &[u8]) -> Self {
        if key.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..key.len()].copy_from_slice(key);
            // key.len() ≤ INLINE < 256.
            IndexKey::Inline {
                len: key.len() as u8,
                bytes,
            }
        } else {
            IndexKey::Heap(key.into())
        }
    }
}

impl Deref for IndexKey {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            IndexKey::Inline { len, bytes } => &bytes[..usize::from(*len)],
            IndexKey::Heap(b) => b,
        }
    }
}

impl Borrow<[u8]> for IndexKey {
    fn borrow(&self) -> &[u8] {
        self
    }
}

// Hash and Eq as the byte slice, so that lookups by `&[u8]` find the key (Borrow's contract).
impl Hash for IndexKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

impl PartialEq for IndexKey {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for IndexKey {}

impl fmt::Debug for IndexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn inline_and_heap_keys_behave_as_byte_slices() {
        assert_eq!(std::mem::size_of::<IndexKey>(), 24);
        let mut map: HashMap<IndexKey, u32> = HashMap::new();
        let keys: Vec<Vec<u8>> = vec![
            vec![],
            b"a".to_vec(),
            vec![7; INLINE],
            vec![8; INLINE + 1],
            vec![9; 1000],
        ];
        for (i, k) in keys.iter().enumerate() {
            map.insert(IndexKey::from(k.as_slice()), i as u32);
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(
                map.get(k.as_slice()),
                Some(&(i as u32)),
                "key of {} bytes",
                k.len()
            );
            assert_eq!(&*IndexKey::from(k.as_slice()), k.as_slice());
        }
        assert!(matches!(
            IndexKey::from(&[0u8; INLINE][..]),
            IndexKey::Inline { .. }
        ));
        assert!(matches!(
            IndexKey::from(&[0u8; INLINE + 1][..]),
            IndexKey::Heap(_)
        ));
    }
}
