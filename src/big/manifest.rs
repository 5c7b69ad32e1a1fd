//! The manifest: the record under the user's key that makes an object visible, and holds
//! the whole object when it is small.
//!
//! ```text
//! version 5 (written for an object with a digest or a time of writing):
//! "LCBM" | 5 u8 | flags u8 | size u64 | block_size u32 | id [u8; 16] | object_crc u32 |
//! block_count u32 | stamp u64 (0: unstamped) | present u8 | modified u64 | md5 [u8; 16] |
//! parts u32 | attributes (possibly none) | block_crc u32 × block_count |
//! data [u8; size] if inline | manifest_crc u32
//! version 4 (written over a replicated store, whatever the object):
//! "LCBM" | 4 u8 | flags u8 | size u64 | block_size u32 | id [u8; 16] | object_crc u32 |
//! block_count u32 | stamp u64 | attributes (possibly none) | block_crc u32 × block_count |
//! data [u8; size] if inline | manifest_crc u32
//! version 3 (written for an object with a content type or metadata):
//! "LCBM" | 3 u8 | flags u8 | size u64 | block_size u32 | id [u8; 16] | object_crc u32 |
//! block_count u32 | attributes | block_crc u32 × block_count | data [u8; size] if inline |
//! manifest_crc u32
//! version 2 (written for an object without; read):
//! "LCBM" | 2 u8 | flags u8 | size u64 | block_size u32 | id [u8; 16] | object_crc u32 |
//! block_count u32 | block_crc u32 × block_count | data [u8; size] if inline | manifest_crc u32
//! version 1 (read):
//! "LCBM" | 1 u8 | size u64 | block_size u32 | id [u8; 16] | object_crc u32 |
//! block_count u32 | block_crc u32 × block_count | manifest_crc u32
//! ```
//!
//! Integers are little-endian. `manifest_crc` is the CRC32 of every byte before it. Flag bit 0
//! marks an inline object: no blocks (`block_count` 0) and its `size` bytes inside the
//! manifest; other flag bits are reserved and refused. A block object's count must be exactly
//! `ceil(size / block_size)`, and the length exactly what count and data imply, so a damaged
//! manifest is rejected, never half-trusted, and decoding allocates no more than the bytes
//! given. The attributes' layout is in [`attributes`](super::attributes); an object without
//! any is written as version 2, so that the release before version 3 still reads it.
//!
//! Version 4 adds the write's `stamp` (never 0), by which the copies of a manifest on the
//! replicas of a ring are ordered: the highest `(stamp, id)` is the newest write (see
//! `BigCache`'s replicated reads). It is written only over a store with more than one replica;
//! a release before it refuses it as an unsupported version, never as damage.
//!
//! Version 5 adds what S3 clients check: the MD5 digest of the bytes (with the count of
//! parts of a multipart object) and the time of writing. `present` says which of the two are
//! there (bit 0: `modified`, bit 1: `md5` and `parts`; fields absent are zero); other bits are
//! refused. It is written only when the writer gives one of them (the S3 door always does);
//! a release before it refuses such an object as written by a newer release.

use super::attributes::{Attributes, Digest};

const MAGIC: &[u8; 4] = b"LCBM";
/// The version written for an object without attributes; version 1 (no flags byte, never
/// inline) is still read.
const VERSION: u8 = 2;
const V1: u8 = 1;
/// The version written for an object with attributes (version 2 plus their section).
const V3: u8 = 3;
/// The version written over a replicated store: version 3 plus the write's stamp.
const V4: u8 = 4;
/// Version 4 plus a digest and a time of writing.
const V5: u8 = 5;
/// `present` bits of a version-5 manifest.
const HAS_MODIFIED: u8 = 1;
const HAS_DIGEST: u8 = 2;
/// Bytes of version 5's stamp, `present`, `modified`, `md5` and `parts`.
const V5_FIELDS: u64 = 8 + 1 + 8 + 16 + 4;
/// Flag: the object's bytes are inside the manifest.
const INLINE: u8 = 1;
/// Bytes after the magic and version and before the block CRCs.
const FIELDS: usize = 8 + 4 + 16 + 4 + 4;
/// Bytes of a version-2 manifest besides block CRCs and inline data.
pub(crate) const OVERHEAD: u64 = (4 + 1 + 1 + FIELDS + 4) as u64;

/// Identifies one version of one object: its blocks are stored under keys made from it.
pub(crate) type VersionId = [u8; 16];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub(crate) size: u64,
    pub(crate) block_size: u32,
    pub(crate) id: VersionId,
    pub(crate) object_crc: u32,
    pub(crate) block_crcs: Vec<u32>,
    /// The object's bytes when they are stored in the manifest (then there are no blocks).
    pub(crate) inline: Option<Vec<u8>>,
    /// Content type and metadata (empty: none, written as version 2).
    pub(crate) attrs: Attributes,
    /// The write's place in the order of writes of its key (0: unstamped, version 2 or 3);
    /// see [`Manifest::newer_than`].
    pub(crate) stamp: u64,
}

impl Manifest {
    pub(crate) fn blocks(&self) -> u64 {
        self.block_crcs.len() as u64
    }

    /// Bytes of block `i` (the last one may be short).
    pub(crate) fn block_len(&self, i: u64) -> u64 {
        let start = i * u64::from(self.block_size);
        (self.size - start).min(u64::from(self.block_size))
    }

    /// Bytes of the encoded manifest.
    pub(crate) fn encoded_len(&self) -> u64 {
        encoded_len(self.size, self.blocks(), self.inline.is_some()) + self.attrs_len()
    }

    /// Whether this manifest needs version 5.
    fn has_v5_fields(&self) -> bool {
        self.attrs.digest.is_some() || self.attrs.modified.is_some()
    }

    /// Bytes of the attributes section and the stamp (none of either: version 2).
    fn attrs_len(&self) -> u64 {
        if self.has_v5_fields() {
            V5_FIELDS + 2 + self.attrs.encoded_len() as u64
        } else if self.stamp != 0 {
            8 + 2 + self.attrs.encoded_len() as u64
        } else if self.attrs.is_empty() {
            0
        } else {
            2 + self.attrs.encoded_len() as u64
        }
    }

    /// Whether this is a later write of its key than `other`: by stamp, then by version id
    /// (two writes of one stamp come from different handles; the order is arbitrary but the
    /// same everywhere). An unstamped manifest is older than any stamped one.
    pub(crate) fn newer_than(&self, other: &Manifest) -> bool {
        self.order() > other.order()
    }

    /// The write's place in the order of its key's writes: stamp, then version id.
    pub(crate) fn order(&self) -> (u64, VersionId) {
        (self.stamp, self.id)
    }

    /// What the object is charged against a byte capacity: its key, its manifest and its
    /// blocks (an inline object's bytes are in its manifest).
    pub(crate) fn charge(&self, key_len: usize) -> u64 {
        let blocks = if self.inline.is_some() { 0 } else { self.size };
        key_len as u64 + self.encoded_len() + blocks
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(usize::try_from(self.encoded_len()).unwrap_or(0));
        out.extend_from_slice(MAGIC);
        let version = if self.has_v5_fields() {
            V5
        } else if self.stamp != 0 {
            V4
        } else if self.attrs.is_empty() {
            VERSION
        } else {
            V3
        };
        out.push(version);
        out.push(if self.inline.is_some() { INLINE } else { 0 });
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&self.block_size.to_le_bytes());
        out.extend_from_slice(&self.id);
        out.extend_from_slice(&self.object_crc.to_le_bytes());
        // Block counts are bounded by size / block_size and checked at decode.
        out.extend_from_slice(&(self.block_crcs.len() as u32).to_le_bytes());
        if version == V4 || version == V5 {
            out.extend_from_slice(&self.stamp.to_le_bytes());
        }
        if version == V5 {
            let digest = self.attrs.digest.unwrap_or_default();
            let present = u8::from(self.attrs.modified.is_some()) * HAS_MODIFIED
                + u8::from(self.attrs.digest.is_some()) * HAS_DIGEST;
            out.push(present);
            out.extend_from_slice(&self.attrs.modified.unwrap_or(0).to_le_bytes());
            out.extend_from_slice(&digest.md5);
            out.extend_from_slice(&digest.parts.to_le_bytes());
        }
        if version != VERSION {
            self.attrs.encode_into(&mut out);
        }
        for crc in &self.block_crcs {
            out.extend_from_slice(&crc.to_le_bytes());
        }
        if let Some(data) = &self.inline {
            out.extend_from_slice(data);
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes and verifies a manifest of either version; `None` for anything that is not an
    /// intact one.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Manifest> {
        let (body, crc) = bytes.split_last_chunk::<4>()?;
        if crc32fast::hash(body) != u32::from_le_bytes(*crc) {
            return None;
        }
        let (magic, rest) = body.split_first_chunk::<4>()?;
        let (&version, rest) = rest.split_first()?;
        let (flags, rest) = match version {
            V1 => (0, rest),
            VERSION | V3 | V4 | V5 => {
                let (&flags, rest) = rest.split_first()?;
                (flags, rest)
            }
            _ => return None,
        };
        if magic != MAGIC || flags & !INLINE != 0 {
            return None;
        }
        let (size, rest) = rest.split_first_chunk::<8>()?;
        let (block_size, rest) = rest.split_first_chunk::<4>()?;
        let (id, rest) = rest.split_first_chunk::<16>()?;
        let (object_crc, rest) = rest.split_first_chunk::<4>()?;
        let (count, rest) = rest.split_first_chunk::<4>()?;
        let count = u32::from_le_bytes(*count);
        let (stamp, rest) = match version {
            V4 => {
                let (stamp, rest) = rest.split_first_chunk::<8>()?;
                // Version 4 is written only with a stamp: 0 is not canonical.
                (Some(u64::from_le_bytes(*stamp)).filter(|&s| s != 0)?, rest)
            }
            V5 => {
                let (stamp, rest) = rest.split_first_chunk::<8>()?;
                (u64::from_le_bytes(*stamp), rest)
            }
            _ => (0, rest),
        };
        let (extra, rest) = match version {
            V5 => {
                let (extra, rest) = decode_v5_fields(rest)?;
                (Some(extra), rest)
            }
            _ => (None, rest),
        };
        let (mut attrs, rest) = match version {
            // Version 3 is written only for attributes: an empty section is not canonical.
            V3 => Attributes::decode(rest).filter(|(a, _)| !a.is_empty())?,
            V4 | V5 => Attributes::decode(rest)?,
            _ => (Attributes::default(), rest),
        };
        if let Some((modified, digest)) = extra {
            attrs.modified = modified;
            attrs.digest = digest;
        }
        let size = u64::from_le_bytes(*size);
        let block_size = u32::from_le_bytes(*block_size);
        let object_crc = u32::from_le_bytes(*object_crc);
        if block_size == 0 {
            return None;
        }
        let inline = if flags & INLINE != 0 {
            // All of the rest is the object; its length and CRC must match.
            if count != 0 || rest.len() as u64 != size || crc32fast::hash(rest) != object_crc {
                return None;
            }
            Some(rest.to_vec())
        } else {
            if u64::from(count) != size.div_ceil(u64::from(block_size))
                || rest.len() as u64 != 4 * u64::from(count)
            {
                return None;
            }
            None
        };
        let crcs: &[u8] = if inline.is_some() { &[] } else { rest };
        Some(Manifest {
            size,
            block_size,
            id: *id,
            object_crc,
            block_crcs: crcs
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            inline,
            attrs,
            stamp,
        })
    }
}

/// The version of an intact manifest (its CRC holds) of a version this build cannot read:
/// written by a newer release, so it must not be taken for damage and removed.
pub(crate) fn unknown_version(bytes: &[u8]) -> Option<u8> {
    let (body, crc) = bytes.split_last_chunk::<4>()?;
    let (magic, rest) = body.split_first_chunk::<4>()?;
    let &version = rest.first()?;
    let known = matches!(version, V1 | VERSION | V3 | V4 | V5);
    (magic == MAGIC && !known && crc32fast::hash(body) == u32::from_le_bytes(*crc))
        .then_some(version)
}

/// Version 5's `present`, `modified`, `md5` and `parts` from the front of `bytes`; `None`
/// when `present` has unknown bits or says neither field is there (not canonical).
#[allow(clippy::type_complexity)]
fn decode_v5_fields(bytes: &[u8]) -> Option<((Option<u64>, Option<Digest>), &[u8])> {
    let (&present, rest) = bytes.split_first()?;
    let (modified, rest) = rest.split_first_chunk::<8>()?;
    let (md5, rest) = rest.split_first_chunk::<16>()?;
    let (parts, rest) = rest.split_first_chunk::<4>()?;
    if present & !(HAS_MODIFIED | HAS_DIGEST) != 0 || present == 0 {
        return None;
    }
    let modified = (present & HAS_MODIFIED != 0).then(|| u64::from_le_bytes(*modified));
    let digest = (present & HAS_DIGEST != 0).then(|| Digest {
        md5: *md5,
        parts: u32::from_le_bytes(*parts),
    });
    Some(((modified, digest), rest))
}

/// Bytes of a version-2 manifest for an object of `size` bytes in `blocks` blocks, or inline.
pub(crate) fn encoded_len(size: u64, blocks: u64, inline: bool) -> u64 {
    OVERHEAD + if inline { size } else { 4 * blocks }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(size: u64, block_size: u32) -> Manifest {
        let blocks = size.div_ceil(u64::from(block_size));
        Manifest {
            size,
            block_size,
            id: [7; 16],
            object_crc: 0xdead_beef,
            block_crcs: (0..blocks as u32).collect(),
            inline: None,
            attrs: Attributes::default(),
            stamp: 0,
        }
    }

    fn inline(data: &[u8]) -> Manifest {
        Manifest {
            size: data.len() as u64,
            block_size: 1 << 20,
            id: [9; 16],
            object_crc: crc32fast::hash(data),
            block_crcs: vec![],
            inline: Some(data.to_vec()),
            attrs: Attributes::default(),
            stamp: 0,
        }
    }

    /// A manifest as version 1 wrote it (no flags byte, never inline).
    fn encode_v1(m: &Manifest) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.push(V1);
        out.extend_from_slice(&m.size.to_le_bytes());
        out.extend_from_slice(&m.block_size.to_le_bytes());
        out.extend_from_slice(&m.id);
        out.extend_from_slice(&m.object_crc.to_le_bytes());
        out.extend_from_slice(&(m.block_crcs.len() as u32).to_le_bytes());
        for crc in &m.block_crcs {
            out.extend_from_slice(&crc.to_le_bytes());
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    #[test]
    fn round_trip_and_lengths() {
        for (size, bs) in [
            (0, 1),
            (1, 1),
            (1023, 1024),
            (1024, 1024),
            (1025, 1024),
            (10_247, 1024),
        ] {
            let m = sample(size, bs);
            let bytes = m.encode();
            assert_eq!(bytes.len() as u64, OVERHEAD + 4 * m.blocks());
            assert_eq!(bytes.len() as u64, m.encoded_len());
            assert_eq!(Manifest::decode(&bytes), Some(m.clone()));
            let total: u64 = (0..m.blocks()).map(|i| m.block_len(i)).sum();
            assert_eq!(total, size, "block lengths add up to the real size");
        }
    }

    #[test]
    fn inline_objects_round_trip_and_are_charged_once() {
        for data in [&b""[..], b"x", &[0xa5; 4096]] {
            let m = inline(data);
            let bytes = m.encode();
            assert_eq!(bytes.len() as u64, OVERHEAD + data.len() as u64);
            assert_eq!(Manifest::decode(&bytes), Some(m.clone()));
            assert_eq!(m.blocks(), 0);
            assert_eq!(m.charge(3), 3 + bytes.len() as u64, "data counted once");
        }
        // A block object is charged its manifest and its blocks.
        let m = sample(5000, 1024);
        assert_eq!(m.charge(1), 1 + m.encode().len() as u64 + 5000);
    }

    fn with_attrs(mut m: Manifest) -> Manifest {
        m.attrs.content_type = Some("video/mp4".into());
        m.attrs
            .metadata
            .push(("camera".into(), "front door".into()));
        m
    }

    #[test]
    fn attributes_make_version_3_and_round_trip() {
        for m in [with_attrs(sample(5000, 1024)), with_attrs(inline(b"hello"))] {
            let bytes = m.encode();
            assert_eq!(bytes[4], V3);
            assert_eq!(bytes.len() as u64, m.encoded_len());
            assert_eq!(Manifest::decode(&bytes), Some(m.clone()));
            rejects_every_cut_and_flip(&bytes);
        }
        assert_eq!(sample(5000, 1024).encode()[4], VERSION, "none: version 2");
    }

    #[test]
    fn stamps_make_version_4_round_trip_and_order_writes() {
        let stamped = |mut m: Manifest, stamp: u64| {
            m.stamp = stamp;
            m
        };
        for m in [
            stamped(sample(5000, 1024), 7),
            stamped(inline(b"hello"), u64::MAX),
            stamped(with_attrs(sample(0, 1)), 1),
            stamped(with_attrs(inline(b"")), 3),
        ] {
            let bytes = m.encode();
            assert_eq!(bytes[4], V4);
            assert_eq!(bytes.len() as u64, m.encoded_len());
            assert_eq!(Manifest::decode(&bytes), Some(m.clone()));
            rejects_every_cut_and_flip(&bytes);
        }
        // A version-4 manifest with a zero stamp is not canonical.
        let mut zero = stamped(sample(10, 4), 1).encode();
        zero[4 + 1 + 1 + FIELDS..4 + 1 + 1 + FIELDS + 8].fill(0);
        assert_eq!(Manifest::decode(&reseal(zero)), None);
        // Order: stamp first, then id; unstamped is oldest.
        let old = stamped(sample(10, 4), 5);
        let mut same_stamp = stamped(sample(10, 4), 5);
        same_stamp.id = [8; 16];
        assert!(stamped(sample(10, 4), 6).newer_than(&old));
        assert!(same_stamp.newer_than(&old) && !old.newer_than(&same_stamp));
        assert!(old.newer_than(&sample(10, 4)));
        assert!(!old.newer_than(&old));
    }

    #[test]
    fn a_digest_or_a_time_makes_version_5_and_round_trips() {
        let with = |mut m: Manifest, stamp: u64, modified: Option<u64>, digest: Option<Digest>| {
            m.stamp = stamp;
            m.attrs.modified = modified;
            m.attrs.digest = digest;
            m
        };
        let digest = Digest {
            md5: [7; 16],
            parts: 3,
        };
        for m in [
            with(sample(5000, 1024), 0, Some(1_700_000_000_000), Some(digest)),
            with(inline(b"hello"), 9, None, Some(Digest::default())),
            with(with_attrs(sample(0, 1)), 0, Some(0), None),
            with(
                with_attrs(inline(b"")),
                u64::MAX,
                Some(u64::MAX),
                Some(digest),
            ),
        ] {
            let bytes = m.encode();
            assert_eq!(bytes[4], V5);
            assert_eq!(bytes.len() as u64, m.encoded_len());
            assert_eq!(Manifest::decode(&bytes), Some(m.clone()));
            assert_eq!(unknown_version(&bytes), None);
            rejects_every_cut_and_flip(&bytes);
        }
        // `present` with no field, or with an unknown bit, is not canonical.
        let at = 4 + 1 + 1 + FIELDS + 8;
        for present in [0u8, 4, 0x80] {
            let mut bad = with(sample(10, 4), 0, Some(5), None).encode();
            bad[at] = present;
            assert_eq!(Manifest::decode(&reseal(bad)), None, "present {present}");
        }
    }

    #[test]
    fn version_1_manifests_still_decode() {
        for (size, bs) in [(0, 1), (1025, 1024), (10_247, 1024)] {
            let m = sample(size, bs);
            assert_eq!(Manifest::decode(&encode_v1(&m)), Some(m));
        }
    }

    #[test]
    fn any_damage_or_truncation_is_rejected() {
        let v1 = encode_v1(&sample(5000, 1024));
        for bytes in [sample(5000, 1024).encode(), inline(b"hello").encode(), v1] {
            rejects_every_cut_and_flip(&bytes);
        }
    }

    fn rejects_every_cut_and_flip(bytes: &[u8]) {
        for cut in 0..bytes.len() {
            assert_eq!(Manifest::decode(&bytes[..cut]), None, "cut at {cut}");
        }
        for i in 0..bytes.len() {
            let mut bad = bytes.to_vec();
            bad[i] ^= 0x10;
            assert_eq!(Manifest::decode(&bad), None, "flip at {i}");
        }
    }

    /// Re-seals `bytes` with a valid CRC after an edit, so that only the structure is tested.
    fn reseal(mut bytes: Vec<u8>) -> Vec<u8> {
        bytes.truncate(bytes.len() - 4);
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        bytes
    }

    #[test]
    fn unknown_versions_flags_and_inconsistent_inline_data_are_rejected() {
        let good = inline(b"hello").encode();
        let mut v4 = good.clone();
        v4[4] = 4;
        let mut flag = good.clone();
        flag[5] |= 2;
        let mut count = good.clone();
        count[4 + 2 + 8 + 4 + 16 + 4] = 1;
        let mut data = good.clone();
        let at = data.len() - 5;
        data[at] ^= 1; // the object CRC no longer matches the data
        // Version 3 with no attributes section is not what version 3 means.
        let mut v3 = good.clone();
        v3[4] = 3;
        for bad in [v4, v3, flag, count, data] {
            assert_eq!(Manifest::decode(&reseal(bad)), None);
        }
        assert!(Manifest::decode(&reseal(good.clone())).is_some());
        assert_eq!(unknown_version(&good), None);
        let mut v6 = good;
        v6[4] = 6;
        assert_eq!(unknown_version(&reseal(v6)), Some(6), "newer, not damaged");
    }

    quickcheck::quickcheck! {
        /// Any bytes, sealed with a valid CRC or not, after a valid header or not: decoding
        /// never panics and never accepts what does not encode back to the same bytes.
        fn decoding_any_bytes_is_safe(tail: Vec<u8>, version: u8, flags: u8, seal: bool) -> bool {
            let mut bytes = MAGIC.to_vec();
            bytes.push(version % 6);
            bytes.push(flags % 4);
            bytes.extend_from_slice(&tail);
            let bytes = if seal { reseal_appending(bytes) } else { bytes };
            let _ = unknown_version(&bytes);
            match Manifest::decode(&bytes) {
                Some(m) if matches!(version % 6, 2..=4) => m.encode() == bytes,
                _ => true,
            }
        }
    }

    fn reseal_appending(mut bytes: Vec<u8>) -> Vec<u8> {
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        bytes
    }

    #[test]
    fn inconsistent_counts_are_rejected_even_with_a_valid_crc() {
        let mut m = sample(5000, 1024);
        m.block_crcs.pop();
        assert_eq!(Manifest::decode(&m.encode()), None);
        let m = Manifest {
            block_size: 0,
            block_crcs: vec![],
            ..sample(0, 1)
        };
        assert_eq!(Manifest::decode(&m.encode()), None);
    }
}
