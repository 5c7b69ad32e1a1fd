//! Keys held without a heap allocation when short: [`ShortKey`], how the index holds keys of at
//! most 16 bytes, and [`IndexKey`], an owned key of any length (inline up to 22 bytes) that
//! compaction's snapshot copies out of the index.
//!
//! Most cache keys are short. Holding them inline saves the heap allocation a `Box<[u8]>`
//! needs (for a 16-byte key, a 32-byte malloc chunk: more than the key itself) and a pointer
//! chase on every lookup.

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

/// Borrow, Hash, Eq and Debug as the byte slice the key derefs to, so that lookups by `&[u8]`
/// find it (Borrow's contract).
macro_rules! as_byte_slice {
    ($key:ty) => {
        impl Borrow<[u8]> for $key {
            fn borrow(&self) -> &[u8] {
                self
            }
        }

        impl Hash for $key {
            fn hash<H: Hasher>(&self, state: &mut H) {
                (**self).hash(state);
            }
        }

        impl PartialEq for $key {
            fn eq(&self, other: &Self) -> bool {
                **self == **other
            }
        }

        impl Eq for $key {}

        impl fmt::Debug for $key {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", String::from_utf8_lossy(self))
            }
        }
    };
}

as_byte_slice!(IndexKey);
as_byte_slice!(ShortKey);

/// Longest key a [`ShortKey`] holds.
pub(crate) const SHORT: usize = 16;

/// A key of at most [`SHORT`] bytes, inline, with byte alignment: 17 bytes. The index keeps
/// most keys as these, so that a 16-byte key and its slot take 28 bytes of table (an
/// [`IndexKey`] and its slot took 40).
#[derive(Clone, Copy)]
pub(crate) struct ShortKey {
    len: u8,
    bytes: [u8; SHORT],
}

impl ShortKey {
    /// The key, if it is short enough.
    pub(crate) fn new(key: &[u8]) -> Option<ShortKey> {
        let mut bytes = [0u8; SHORT];
        bytes.get_mut(..key.len())?.copy_from_slice(key);
        Some(ShortKey {
            // key.len() ≤ SHORT < 256.
            len: key.len() as u8,
            bytes,
        })
    }
}

impl Deref for ShortKey {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
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

    #[test]
    fn short_keys_behave_as_byte_slices() {
        assert_eq!(std::mem::size_of::<ShortKey>(), 17);
        assert_eq!(std::mem::align_of::<ShortKey>(), 1);
        let mut map: HashMap<ShortKey, u32> = HashMap::new();
        for len in 0..=SHORT {
            let k = vec![len as u8; len];
            map.insert(ShortKey::new(&k).unwrap(), len as u32);
        }
        for len in 0..=SHORT {
            let k = vec![len as u8; len];
            assert_eq!(map.get(k.as_slice()), Some(&(len as u32)));
            assert_eq!(&*ShortKey::new(&k).unwrap(), k.as_slice());
        }
        assert!(ShortKey::new(&[0u8; SHORT + 1]).is_none());
    }
}
