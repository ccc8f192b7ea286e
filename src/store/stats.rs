//! Store statistics for `settee stats`: counts from a scan of the refs, sizes from the files.

use super::{Snapshot, PACKS_DIR};
use crate::error::Result;
use crate::id::Seq;
use crate::refs::Entry;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Documents whose winner is not deleted.
    pub documents: u64,
    /// Documents whose every leaf is deleted.
    pub deleted: u64,
    /// Documents with more than one live leaf.
    pub conflicted: u64,
    pub leaves: u64,
    pub local: u64,
    pub objects: u64,
    pub packs: u64,
    pub last_seq: Seq,
    pub pack_bytes: u64,
    pub index_bytes: u64,
    pub table_bytes: u64,
    pub journal_bytes: u64,
}

impl Stats {
    pub fn total_bytes(&self) -> u64 {
        self.pack_bytes + self.index_bytes + self.table_bytes + self.journal_bytes
    }
}

fn file_len(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

impl Snapshot {
    /// Sizes of the files the manifest names (the byte fields of `Stats`).
    pub fn stats_files(&self) -> Stats {
        let mut s = Stats::default();
        let packs = self.root.join(PACKS_DIR);
        let m = &self.manifest;
        for p in m.sealed.iter().chain(m.active.iter()) {
            s.packs += 1;
            s.pack_bytes += file_len(&packs.join(p.file_name()));
        }
        for p in &m.sealed {
            s.index_bytes += file_len(&packs.join(p.index_name()));
        }
        if let Some(name) = m.active_spec(0).and_then(|a| a.index) {
            s.index_bytes += file_len(&packs.join(name));
        }
        s.table_bytes =
            file_len(&self.root.join(m.refs_name())) + file_len(&self.root.join(m.changes_name()));
        s.journal_bytes = file_len(&self.root.join(m.journal_name()));
        s
    }

    pub fn stats(&self) -> Result<Stats> {
        let mut s =
            Stats { last_seq: self.last_seq, objects: self.odb.object_count() as u64, ..self.stats_files() };
        for entry in self.entries_from("") {
            match entry?.1 {
                Entry::Local(_) => s.local += 1,
                Entry::Doc(d) => {
                    s.leaves += d.leaves.len() as u64;
                    if d.is_deleted() {
                        s.deleted += 1;
                    } else {
                        s.documents += 1;
                    }
                    if d.leaves.iter().filter(|l| !l.deleted).count() > 1 {
                        s.conflicted += 1;
                    }
                }
            }
        }
        Ok(s)
    }
}
