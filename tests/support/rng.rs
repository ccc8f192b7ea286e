//! xorshift64*: fast, replayable randomness for test and benchmark harnesses (not for
//! anything that needs unpredictability).

pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// `len` bytes that do not compress, the same for the same `seed`.
#[allow(dead_code)] // not every harness that includes this file needs it
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed | 1);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&rng.next().to_be_bytes());
    }
    out.truncate(len);
    out
}
