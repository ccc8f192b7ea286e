//! Fast hashing for in-memory maps: FxHash's rotate-xor-multiply per 8-byte word (as rustc
//! uses; words read big-endian), with a final avalanche so that every bit of the result depends on every input byte.
//!
//! The finish matters: hash tables take their bucket from the low bits, and a multiply only
//! carries entropy upward. Without it, ids that differ only in their last bytes (`pkg-00012345`,
//! `pkg-00012346`, ...) land in a handful of buckets and every lookup degrades into a scan.
//!
//! Not for anything stored or exposed to untrusted input where flooding matters: these maps
//! hold ids of this store's own documents and objects.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// FxHash: rotate, xor, multiply per word.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_be_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_be_bytes(w));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // The 64-bit finalizer of MurmurHash3: two xor-shift-multiply rounds.
        let mut h = self.hash;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;
pub type FastSet<K> = HashSet<K, BuildHasherDefault<FxHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    /// Sequential ids must spread over the low bits, which pick a hash table's bucket.
    #[test]
    fn sequential_ids_spread_over_buckets() {
        let build = BuildHasherDefault::<FxHasher>::default();
        let buckets: HashSet<u64> =
            (0..65_536).map(|i| build.hash_one(format!("pkg-{i:08}")) & 0xffff).collect();
        // A uniform hash fills about 63% of 65,536 buckets with 65,536 keys.
        assert!(buckets.len() > 40_000, "only {} distinct buckets", buckets.len());
    }
}
