//! Keys held without a heap allocation when short: [`InlineKey`], how the index holds keys of
//! at most 24 bytes.
//!
//! Most cache keys are short. Holding them inline saves the heap allocation a `Box<[u8]>`
//! needs (for a 16-byte key, a 32-byte malloc chunk: more than the key itself) and a pointer
//! chase on every lookup.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// Borrow, Hash, Eq and Debug as the byte slice the key derefs to, so that lookups by `&[u8]`
/// find it (Borrow's contract).
macro_rules! as_byte_slice {
    ([$($generics:tt)*] $key:ty) => {
        impl<$($generics)*> Borrow<[u8]> for $key {
            fn borrow(&self) -> &[u8] {
                self
            }
        }

        impl<$($generics)*> Hash for $key {
            fn hash<H: Hasher>(&self, state: &mut H) {
                (**self).hash(state);
            }
        }

        impl<$($generics)*> PartialEq for $key {
            fn eq(&self, other: &Self) -> bool {
                **self == **other
            }
        }

        impl<$($generics)*> Eq for $key {}

        impl<$($generics)*> fmt::Debug for $key {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", String::from_utf8_lossy(self))
            }
        }
    };
}

as_byte_slice!([const N: usize] InlineKey<N>);

/// A key of at most `N` bytes, inline, with byte alignment: `N + 1` bytes. The index keeps keys
/// of up to 16 bytes as `InlineKey<16>` (with its 11-byte slot, 28 bytes per bucket) and keys
/// of 17 to 24 bytes as `InlineKey<24>` (36); an owned 24-byte key and its slot took 40.
#[derive(Clone, Copy)]
pub(crate) struct InlineKey<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> InlineKey<N> {
    /// The key, if it is at most `N` bytes long.
    pub(crate) fn new(key: &[u8]) -> Option<Self> {
        let mut bytes = [0u8; N];
        bytes.get_mut(..key.len())?.copy_from_slice(key);
        Some(InlineKey {
            len: u8::try_from(key.len()).ok()?,
            bytes,
        })
    }
}

impl<const N: usize> Deref for InlineKey<N> {
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
    fn inline_keys_behave_as_byte_slices() {
        assert_eq!(std::mem::size_of::<InlineKey<16>>(), 17);
        assert_eq!(std::mem::align_of::<InlineKey<24>>(), 1);
        let mut map: HashMap<InlineKey<16>, u32> = HashMap::new();
        for len in 0..=16 {
            let k = vec![len as u8; len];
            map.insert(InlineKey::new(&k).unwrap(), len as u32);
        }
        for len in 0..=16 {
            let k = vec![len as u8; len];
            assert_eq!(map.get(k.as_slice()), Some(&(len as u32)));
            assert_eq!(&*InlineKey::<16>::new(&k).unwrap(), k.as_slice());
        }
        assert!(InlineKey::<16>::new(&[0u8; 17]).is_none());
        assert_eq!(&*InlineKey::<24>::new(&[5u8; 24]).unwrap(), &[5u8; 24][..]);
    }
}
