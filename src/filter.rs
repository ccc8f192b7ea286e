//! Absence filters: a blocked Bloom filter over 64-bit key hashes, kept in memory beside a
//! sorted on-disk structure (a refs table, a pack index) so that looking up a key it does not
//! hold costs one cache line instead of a search through the file.
//!
//! Invariants:
//! 1. No false negatives: `may_contain(h)` is true for every `h` inserted. A false answer is
//!    therefore proof of absence; a true one only means "search the file".
//! 2. Each key's bits lie in one 64-byte block, chosen by the hash's high bits; about 1% of
//!    absent keys are false positives at `BITS_PER_KEY`.
//! 3. Nothing here is stored: filters are rebuilt from the file they describe.
//!
//! [`Lazy`] builds a filter only once a structure has answered `Lazy::AFTER_MISSES`
//! lookups with "absent": readers that find what they look for never pay for one, while a
//! writer importing new documents, whose every existence check misses, does once.

use std::hash::Hasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::hash::FxHasher;

/// Filter bits per key.
const BITS_PER_KEY: usize = 10;
/// Bits set per key, all within one block.
const PROBES: u32 = 6;

/// The filter hash of a key given as bytes (a document id).
pub fn hash_bytes(key: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(key);
    h.finish()
}

/// A blocked Bloom filter.
pub struct Filter {
    blocks: Vec<[u64; 8]>,
}

impl Filter {
    /// An empty filter sized for `keys` keys.
    pub fn with_capacity(keys: usize) -> Filter {
        let blocks = (keys.max(1) * BITS_PER_KEY).div_ceil(512);
        Filter { blocks: vec![[0; 8]; blocks] }
    }

    /// The block `hash` maps to, and the bit positions within it.
    #[inline]
    fn place(&self, hash: u64) -> (usize, impl Iterator<Item = (usize, u64)>) {
        let block = ((u128::from(hash) * self.blocks.len() as u128) >> 64) as usize;
        // The low bits are independent of the block choice (which used the high bits).
        let mut bits = hash.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let positions = (0..PROBES).map(move |_| {
            let bit = (bits & 511) as usize;
            bits >>= 9;
            (bit / 64, 1u64 << (bit % 64))
        });
        (block, positions)
    }

    pub fn insert(&mut self, hash: u64) {
        let (block, positions) = self.place(hash);
        if let Some(words) = self.blocks.get_mut(block) {
            for (word, mask) in positions {
                if let Some(w) = words.get_mut(word) {
                    *w |= mask;
                }
            }
        }
    }

    /// False only if `hash` was never inserted.
    #[inline]
    pub fn may_contain(&self, hash: u64) -> bool {
        let (block, mut positions) = self.place(hash);
        match self.blocks.get(block) {
            Some(words) => positions.all(|(word, mask)| words.get(word).is_some_and(|w| w & mask != 0)),
            None => true,
        }
    }
}

/// A filter built on demand: after `AFTER_MISSES` misses, from every key of its structure.
#[derive(Default)]
pub struct Lazy {
    misses: AtomicUsize,
    /// `None` when building failed (a malformed file): lookups then search as before.
    built: OnceLock<Option<Filter>>,
}

impl Lazy {
    /// Misses a structure answers by searching before it builds its filter.
    pub const AFTER_MISSES: usize = 1024;

    /// The filter, if built.
    #[inline]
    pub fn get(&self) -> Option<&Filter> {
        self.built.get().and_then(Option::as_ref)
    }

    /// Count a miss; build the filter with `build` once there have been enough. `build`
    /// returns `None` if it cannot read every key.
    pub fn note_miss(&self, build: impl FnOnce() -> Option<Filter>) {
        if self.built.get().is_some() {
            return;
        }
        if self.misses.fetch_add(1, Ordering::Relaxed) + 1 >= Self::AFTER_MISSES {
            self.built.get_or_init(build);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(i: u64) -> u64 {
        hash_bytes(format!("pkg-{i:08}").as_bytes())
    }

    #[test]
    fn every_inserted_key_is_found_and_few_absent_ones_are() {
        let mut f = Filter::with_capacity(100_000);
        for i in 0..100_000 {
            f.insert(hash(i));
        }
        assert!((0..100_000).all(|i| f.may_contain(hash(i))));
        let false_positives = (100_000..200_000).filter(|&i| f.may_contain(hash(i))).count();
        assert!(false_positives < 2_500, "{false_positives} false positives in 100,000");
    }

    #[test]
    fn an_empty_filter_holds_nothing() {
        let f = Filter::with_capacity(0);
        assert!((0..1000).all(|i| !f.may_contain(hash(i))));
    }

    #[test]
    fn lazy_builds_only_after_enough_misses() {
        let lazy = Lazy::default();
        let build = || {
            let mut f = Filter::with_capacity(1);
            f.insert(7);
            Some(f)
        };
        for _ in 1..Lazy::AFTER_MISSES {
            lazy.note_miss(build);
        }
        assert!(lazy.get().is_none());
        lazy.note_miss(build);
        assert!(lazy.get().is_some_and(|f| f.may_contain(7)));
    }
}
