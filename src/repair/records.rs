//! Reading what is intact out of a damaged journal: every record whose header and payload
//! pass their checksums and decode, also past a damaged one.
//!
//! Owns: the record walk that does not stop at damage (replay on open refuses a journal
//! damaged before its end, rightly: a reader must not skip a commit). A repair may skip
//! one, because every record holds whole ref entries: a later record's entry for an id
//! replaces any earlier one, and the ids of a skipped record are what a replica is asked for.
//! Invariants:
//! 1. A record is used only if its header CRC, its payload CRC and its decoding all pass.
//! 2. `lost` is set whenever a record that may have been acknowledged is not used; only an
//!    interrupted last write (an incomplete record or zeros at the end) is not a loss.
//!
//! Spec: format-spec/repair.md ("Salvaging the journal"), format-spec/journal.md.

use std::path::Path;

use crate::bytes::{be32, be64};
use crate::error::{Error, Result};
use crate::journal::{self, Record};

/// The intact records of a journal, and what was not used.
#[derive(Debug, Default)]
pub struct Salvaged {
    pub records: Vec<Record>,
    /// Where records could not be used, and why.
    pub damage: Vec<(u64, &'static str)>,
    /// Whether commits that may have been acknowledged were not used.
    pub lost: bool,
}

/// Walk the journal at `path`.
pub fn salvage(path: &Path) -> Result<Salvaged> {
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    let mut out = Salvaged::default();
    if bytes.get(..4) != Some(&journal::MAGIC[..]) {
        out.damage.push((0, "journal header is damaged"));
        out.lost = true;
    }
    let (mut at, acknowledged) = match be32(&bytes, 4) {
        Some(version @ (journal::VERSION | journal::VERSION_UNCHECKED_ACKNOWLEDGED)) => {
            // A field that fails its check (a torn rewrite) claims nothing.
            let field = be64(&bytes, journal::ACKNOWLEDGED_OFFSET);
            let acknowledged = field.map_or(u64::MAX, |f| {
                journal::read_acknowledged(version, f).unwrap_or(journal::HEADER_LEN as u64)
            });
            (journal::HEADER_LEN, acknowledged)
        }
        Some(journal::VERSION_NO_ACKNOWLEDGED | journal::VERSION_SYNCED_PACK) => {
            (journal::HEADER_LEN_NO_ACKNOWLEDGED, 0)
        }
        _ => (journal::HEADER_LEN, u64::MAX),
    };
    let mut valid_end = at as u64;
    while at < bytes.len() {
        let rest = bytes.get(at..).unwrap_or_default();
        match record_at(rest) {
            Step::Record(record, len) => {
                out.records.push(record);
                at += len;
                valid_end = at as u64;
            }
            Step::Torn => break,
            Step::Damaged(len, what) => {
                out.damage.push((at as u64, what));
                out.lost = true;
                at += len;
            }
            Step::Lost(what) => {
                out.damage.push((at as u64, what));
                out.lost = true;
                // Resume at the next offset where a whole record passes its checksums.
                match (at + 1..bytes.len())
                    .find(|&p| matches!(record_at(bytes.get(p..).unwrap_or_default()), Step::Record(..)))
                {
                    Some(p) => at = p,
                    None => break,
                }
            }
        }
    }
    if valid_end < acknowledged && acknowledged != u64::MAX {
        out.lost = true;
    }
    Ok(out)
}

enum Step {
    /// An intact record and its length.
    Record(Record, usize),
    /// What an interrupted write leaves at the end: nothing was acknowledged there.
    Torn,
    /// A record whose header is intact (so its length is known) but not its payload.
    Damaged(usize, &'static str),
    /// Damage of unknown length.
    Lost(&'static str),
}

fn record_at(rest: &[u8]) -> Step {
    let Some(header) = rest.get(..journal::RECORD_HEADER_LEN) else { return Step::Torn };
    let header_ok = be32(header, journal::RECORD_HEADER_CRC_OFFSET)
        == header.get(..journal::RECORD_HEADER_CRC_OFFSET).map(crc32fast::hash);
    if !header_ok {
        if rest.iter().all(|&b| b == 0) {
            return Step::Torn;
        }
        return Step::Lost("journal record header fails its checksum");
    }
    let len = be32(rest, journal::RECORD_LEN_OFFSET).unwrap_or_default() as usize;
    let crc = be32(rest, journal::RECORD_PAYLOAD_CRC_OFFSET).unwrap_or_default();
    let total = journal::RECORD_HEADER_LEN + len;
    let Some(payload) = rest.get(journal::RECORD_HEADER_LEN..total) else { return Step::Torn };
    if crc32fast::hash(payload) != crc {
        if total == rest.len() && payload.iter().all(|&b| b == 0) {
            return Step::Torn;
        }
        return Step::Damaged(total, "journal record fails its checksum");
    }
    match Record::decode(payload) {
        Some(record) => Step::Record(record, total),
        None => Step::Damaged(total, "journal record passes its checksums but does not decode"),
    }
}
