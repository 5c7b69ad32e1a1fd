//! Test data: deterministic, position-dependent bytes (so a misplaced block or a wrong offset
//! shows), produced in place, as whole values, or as a reader of any length; and the peak
//! resident set of a process.

use std::io::Read;

/// Fills `buf` with the bytes at `offset..offset + buf.len()` of one endless stream, so a GiB
/// can be produced and checked piece by piece without being held.
pub fn fill(buf: &mut [u8], offset: u64) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = ((offset + i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8;
    }
}

/// `len` bytes of stream number `seed` (different seeds, different bytes).
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    let mut v = vec![0u8; len];
    fill(&mut v, u64::from(seed) << 40);
    v
}

/// `len` bytes of [`fill`], produced as read.
pub struct Pattern {
    pub pos: u64,
    pub len: u64,
}

impl Pattern {
    pub fn new(len: u64) -> Self {
        Pattern { pos: 0, len }
    }
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min((self.len - self.pos) as usize);
        fill(&mut buf[..n], self.pos);
        self.pos += n as u64;
        Ok(n)
    }
}

/// Reads `r` to its end: how many bytes it gave, and whether they were all the bytes of
/// [`fill`] from offset 0 (a prefix of the stream).
pub fn read_pattern(r: &mut impl Read) -> (u64, bool) {
    let (mut pos, mut buf, mut want) = (0u64, vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    let mut same = true;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) | Err(_) => return (pos, same),
            Ok(n) => n,
        };
        fill(&mut want[..n], pos);
        same &= buf[..n] == want[..n];
        pos += n as u64;
    }
}

/// The peak resident set (`VmHWM`) of process `pid` (`"self"` for this one), in KiB.
pub fn peak_rss_kib(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}
