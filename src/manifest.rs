//! The manifest: which packs, tables and journal make up the store right now.
//!
//! Owns: the manifest's text format and its atomic replacement. Not: what is inside the
//! files it names.
//! Invariants:
//! 1. The manifest is replaced only through `fsutil::replace_atomically`; a reader sees the
//!    old one or the new one, whole (the trailing CRC line rejects anything else).
//! 2. Every file the manifest names is complete and durable before the manifest naming it is
//!    written; no file it names is deleted until a later manifest that drops it is durable.
//!
//! Spec: format-spec/manifest.md (manifest format 1).

use std::path::Path;

use crate::error::{Error, Result};
use crate::id::Seq;
use crate::pack::PackId;

pub const FILE_NAME: &str = "manifest";
pub const MAGIC_LINE: &str = "settee-manifest 1";

/// An index over a prefix of the active pack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActiveIndex {
    pub generation: u64,
    pub covered: u64,
}

/// The store's current layout.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Manifest {
    /// Increases by one on every replacement; names the tables and journal of this layout.
    pub generation: u64,
    /// The next pack id to hand out.
    pub next_pack: u64,
    /// Sealed packs (each with an index).
    pub sealed: Vec<PackId>,
    /// The active pack the journal's objects go to, if one has been started.
    pub active: Option<PackId>,
    /// The index of the active pack's first `covered` bytes, written by checkpoint
    /// `generation` (`PackId::partial_index_name`); objects after it are in the journal.
    pub active_index: Option<ActiveIndex>,
    /// Offset of the block holding the active pack's dictionary, as of this manifest.
    pub active_dictionary: u64,
    /// Highest sequence number held by the tables (the journal continues from here).
    pub table_seq: Seq,
    /// Number of document entries in the refs table (for sizing decisions).
    pub table_docs: u64,
}

impl Manifest {
    pub fn refs_name(&self) -> String {
        format!("refs-{:016x}.tbl", self.generation)
    }
    pub fn changes_name(&self) -> String {
        format!("changes-{:016x}.tbl", self.generation)
    }
    pub fn journal_name(&self) -> String {
        format!("journal-{:016x}.log", self.generation)
    }

    /// The active pack with `committed` bytes, and its prefix index's file name.
    pub fn active_spec(&self, committed: u64) -> Option<crate::odb::ActiveSpec> {
        let id = self.active?;
        Some(crate::odb::ActiveSpec {
            id,
            committed,
            index: self.active_index.map(|a| id.partial_index_name(a.generation)),
        })
    }

    pub fn encode(&self) -> String {
        let mut s = String::new();
        s.push_str(MAGIC_LINE);
        s.push('\n');
        s.push_str(&format!("generation {}\n", self.generation));
        s.push_str(&format!("next-pack {}\n", self.next_pack));
        s.push_str(&format!("table-seq {}\n", self.table_seq.0));
        s.push_str(&format!("table-docs {}\n", self.table_docs));
        for p in &self.sealed {
            s.push_str(&format!("sealed {}\n", p.0));
        }
        if let Some(p) = self.active {
            s.push_str(&format!("active {}\n", p.0));
        }
        if let Some(a) = self.active_index {
            s.push_str(&format!("active-index {} {}\n", a.generation, a.covered));
        }
        if self.active_dictionary != 0 {
            s.push_str(&format!("active-dictionary {}\n", self.active_dictionary));
        }
        let crc = crc32fast::hash(s.as_bytes());
        s.push_str(&format!("crc32 {crc:08x}\n"));
        s
    }

    pub fn decode(text: &str, path: &Path) -> Result<Manifest> {
        let bad = |what: &str| Error::corrupt(path, 0, format!("manifest: {what}"));
        let body_end = text.rfind("crc32 ").ok_or_else(|| bad("missing crc32 line"))?;
        let (body, crc_line) = text.split_at(body_end);
        let crc = crc_line
            .trim_end()
            .strip_prefix("crc32 ")
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| bad("bad crc32 line"))?;
        if crc32fast::hash(body.as_bytes()) != crc {
            return Err(bad("checksum mismatch"));
        }
        let mut lines = body.lines();
        let first = lines.next().unwrap_or_default();
        if first != MAGIC_LINE {
            if let Some(v) = first.strip_prefix("settee-manifest ").and_then(|v| v.parse().ok()) {
                return Err(Error::UnsupportedVersion {
                    path: path.into(),
                    what: "manifest",
                    found: v,
                    max: 1,
                });
            }
            return Err(bad("not a manifest"));
        }
        let mut m = Manifest::default();
        for line in lines {
            let (key, value) = line.split_once(' ').ok_or_else(|| bad("line without a value"))?;
            let num = || value.parse::<u64>().map_err(|_| bad("bad number"));
            match key {
                "generation" => m.generation = num()?,
                "next-pack" => m.next_pack = num()?,
                "table-seq" => m.table_seq = Seq(num()?),
                "table-docs" => m.table_docs = num()?,
                "sealed" => m.sealed.push(PackId(num()?)),
                "active" => m.active = Some(PackId(num()?)),
                "active-dictionary" => m.active_dictionary = num()?,
                "active-index" => {
                    let (g, c) = value.split_once(' ').ok_or_else(|| bad("bad active-index"))?;
                    let n = |v: &str| v.parse::<u64>().map_err(|_| bad("bad number"));
                    m.active_index = Some(ActiveIndex { generation: n(g)?, covered: n(c)? });
                }
                _ => return Err(bad("unknown key")),
            }
        }
        Ok(m)
    }

    pub fn load(dir: &Path) -> Result<Manifest> {
        let path = dir.join(FILE_NAME);
        let text = std::fs::read(&path).map_err(Error::io(&path))?;
        let text = String::from_utf8(text).map_err(|_| Error::corrupt(&path, 0, "manifest is not utf-8"))?;
        Manifest::decode(&text, &path)
    }

    pub fn store(&self, disk: &dyn crate::disk::Disk, dir: &Path) -> Result<()> {
        crate::fsutil::replace_atomically(disk, &dir.join(FILE_NAME), self.encode().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_damage() {
        let m = Manifest {
            generation: 3,
            next_pack: 5,
            sealed: vec![PackId(1), PackId(4)],
            active: Some(PackId(5)),
            active_index: Some(ActiveIndex { generation: 2, covered: 4096 }),
            active_dictionary: 1234,
            table_seq: Seq(99),
            table_docs: 7,
        };
        let text = m.encode();
        assert_eq!(Manifest::decode(&text, Path::new("m")).unwrap(), m);
        let damaged = text.replace("generation 3", "generation 4");
        assert!(Manifest::decode(&damaged, Path::new("m")).is_err());
        assert!(Manifest::decode(&text[..text.len() - 3], Path::new("m")).is_err());
    }
}
