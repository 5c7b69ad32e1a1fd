//! The manifest: the small record under the user's key that makes an object visible.
//!
//! ```text
//! "LCBM" | version u8 = 1 | size u64 | block_size u32 | id [u8; 16] | object_crc u32 |
//! block_count u32 | block_crc u32 × block_count | manifest_crc u32
//! ```
//!
//! Integers are little-endian. `manifest_crc` is the CRC32 of every byte before it. The block
//! count must be exactly `ceil(size / block_size)` and the length exactly what the count
//! implies, so a damaged manifest is rejected, never half-trusted, and decoding allocates no
//! more than the bytes given.

const MAGIC: &[u8; 4] = b"LCBM";
const VERSION: u8 = 1;
/// Bytes before the block CRCs.
const FIXED: usize = 4 + 1 + 8 + 4 + 16 + 4 + 4;

/// Identifies one version of one object: its blocks are stored under keys made from it.
pub(crate) type VersionId = [u8; 16];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub(crate) size: u64,
    pub(crate) block_size: u32,
    pub(crate) id: VersionId,
    pub(crate) object_crc: u32,
    pub(crate) block_crcs: Vec<u32>,
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

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FIXED + 4 * self.block_crcs.len() + 4);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&self.block_size.to_le_bytes());
        out.extend_from_slice(&self.id);
        out.extend_from_slice(&self.object_crc.to_le_bytes());
        // Block counts are bounded by size / block_size and checked at decode.
        out.extend_from_slice(&(self.block_crcs.len() as u32).to_le_bytes());
        for crc in &self.block_crcs {
            out.extend_from_slice(&crc.to_le_bytes());
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes and verifies a manifest; `None` for anything that is not an intact one.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Manifest> {
        let (body, crc) = bytes.split_last_chunk::<4>()?;
        if crc32fast::hash(body) != u32::from_le_bytes(*crc) {
            return None;
        }
        let (fixed, crcs) = body.split_first_chunk::<FIXED>()?;
        let (magic, rest) = fixed.split_first_chunk::<4>()?;
        let (&version, rest) = rest.split_first()?;
        if magic != MAGIC || version != VERSION {
            return None;
        }
        let (size, rest) = rest.split_first_chunk::<8>()?;
        let (block_size, rest) = rest.split_first_chunk::<4>()?;
        let (id, rest) = rest.split_first_chunk::<16>()?;
        let (object_crc, rest) = rest.split_first_chunk::<4>()?;
        let count = u32::from_le_bytes(*rest.first_chunk::<4>()?);
        let size = u64::from_le_bytes(*size);
        let block_size = u32::from_le_bytes(*block_size);
        if block_size == 0 || u64::from(count) != size.div_ceil(u64::from(block_size)) {
            return None;
        }
        if crcs.len() != 4 * count as usize {
            return None;
        }
        Some(Manifest {
            size,
            block_size,
            id: *id,
            object_crc: u32::from_le_bytes(*object_crc),
            block_crcs: crcs
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        })
    }
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
        }
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
            assert_eq!(bytes.len() as u64, FIXED as u64 + 4 * m.blocks() + 4);
            assert_eq!(Manifest::decode(&bytes), Some(m.clone()));
            let total: u64 = (0..m.blocks()).map(|i| m.block_len(i)).sum();
            assert_eq!(total, size, "block lengths add up to the real size");
        }
    }

    #[test]
    fn any_damage_or_truncation_is_rejected() {
        let bytes = sample(5000, 1024).encode();
        for cut in 0..bytes.len() {
            assert_eq!(Manifest::decode(&bytes[..cut]), None, "cut at {cut}");
        }
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            assert_eq!(Manifest::decode(&bad), None, "flip at {i}");
        }
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
