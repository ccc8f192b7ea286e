//! Choosing what to compact (pure: no I/O).
//!
//! Owns: which packs a compaction rewrites. A pack is worth rewriting when a good share of
//! it is garbage; the ones with the most garbage bytes go first. Packs that are mostly live
//! are kept as they are, so the extra disk a compaction needs is bounded by the packs it
//! rewrites, not the whole store.

use crate::pack::PackId;

/// A pack rewritten by an incremental compaction holds at least this share of garbage.
pub const MIN_GARBAGE: f64 = 0.25;
/// Packs smaller than this are merged into one when there are two or more of them, so that
/// small packs (a sealed active pack, earlier outputs) do not pile up.
pub const SMALL_PACK: u64 = 16 << 20;

/// What a pack holds, as the compactor measured it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PackStat {
    pub id: PackId,
    pub bytes: u64,
    pub objects: usize,
    /// Objects still referenced after this compaction.
    pub live: usize,
}

impl PackStat {
    pub fn garbage_fraction(&self) -> f64 {
        if self.objects == 0 {
            return 1.0;
        }
        1.0 - self.live as f64 / self.objects as f64
    }

    /// Estimated bytes of garbage: none when every object is live, the whole file when it
    /// holds no object, else the dead objects' share of the bytes after the pack's header
    /// (objects are counted, not measured one by one).
    pub fn garbage_bytes(&self) -> u64 {
        if self.live >= self.objects && self.objects > 0 {
            return 0;
        }
        if self.objects == 0 {
            return self.bytes;
        }
        let payload = self.bytes.saturating_sub(crate::pack::HEADER_LEN as u64);
        (payload as f64 * self.garbage_fraction()) as u64
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Packs to rewrite, most garbage first.
    pub rewrite: Vec<PackId>,
    /// Packs kept as they are.
    pub keep: Vec<PackId>,
}

/// Pick the packs to rewrite: with `full` every one that holds garbage, else those with at
/// least `MIN_GARBAGE` garbage; and the small ones when there are two or more; most garbage
/// bytes first. A lone pack with nothing but live objects is never rewritten.
pub fn choose(stats: &[PackStat], full: bool) -> Plan {
    let small = stats.iter().filter(|s| s.bytes < SMALL_PACK).count();
    let mut candidates: Vec<&PackStat> = stats
        .iter()
        .filter(|s| {
            let has_garbage = s.garbage_fraction() > 0.0;
            (full && has_garbage)
                || s.garbage_fraction() >= MIN_GARBAGE
                || (small >= 2 && s.bytes < SMALL_PACK)
        })
        .collect();
    candidates.sort_by(|a, b| b.garbage_bytes().cmp(&a.garbage_bytes()).then(a.id.cmp(&b.id)));
    let rewrite: Vec<PackId> = candidates.iter().map(|s| s.id).collect();
    let keep = stats.iter().map(|s| s.id).filter(|id| !rewrite.contains(id)).collect();
    Plan { rewrite, keep }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(id: u64, bytes: u64, objects: usize, live: usize) -> PackStat {
        PackStat { id: PackId(id), bytes, objects, live }
    }

    #[test]
    fn mostly_live_packs_are_kept_and_garbage_goes_first() {
        let big = SMALL_PACK * 2;
        let stats =
            [stat(1, big, 100, 95), stat(2, big, 100, 10), stat(3, big * 4, 100, 50), stat(4, 10, 0, 0)];
        let plan = choose(&stats, false);
        assert_eq!(plan.rewrite, vec![PackId(3), PackId(2), PackId(4)]);
        assert_eq!(plan.keep, vec![PackId(1)]);
        let full = choose(&stats, true);
        assert_eq!(full.rewrite.len(), 4);
        assert!(full.keep.is_empty());
    }

    #[test]
    fn a_full_compaction_leaves_a_wholly_live_pack_alone() {
        let big = SMALL_PACK * 2;
        let plan = choose(&[stat(1, big, 100, 100), stat(2, big, 100, 99)], true);
        assert_eq!((plan.rewrite, plan.keep), (vec![PackId(2)], vec![PackId(1)]));
        assert!(choose(&[stat(1, 1000, 10, 10)], true).rewrite.is_empty());
    }

    #[test]
    fn garbage_is_none_in_a_live_pack_and_all_of_an_empty_one() {
        assert_eq!(stat(1, 1000, 10, 10).garbage_bytes(), 0);
        assert_eq!(stat(1, 1000, 0, 0).garbage_bytes(), 1000);
        let header = crate::pack::HEADER_LEN as u64;
        assert_eq!(stat(1, 1000 + header, 10, 5).garbage_bytes(), 500);
    }

    #[test]
    fn small_live_packs_are_merged() {
        let plan =
            choose(&[stat(1, 1000, 10, 10), stat(2, 500, 5, 5), stat(3, SMALL_PACK * 3, 10, 10)], false);
        assert_eq!(plan.rewrite.len(), 2);
        assert_eq!(plan.keep, vec![PackId(3)]);
    }

    #[test]
    fn a_fully_live_store_needs_nothing() {
        let plan = choose(&[stat(1, 1000, 10, 10)], false);
        assert!(plan.rewrite.is_empty());
    }
}
