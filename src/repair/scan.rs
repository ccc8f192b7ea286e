//! Reading what is intact out of a damaged pack: every frame that passes its checksum, every
//! object in it, named by the hash of its bytes.
//!
//! Owns: the frame walk that does not stop at damage. At a bad frame it resumes at the end
//! the frame's header claims if a good frame starts there, else at the next offset where a
//! whole frame passes its checksum. Not: deciding what is live (that is the refs' job).
//! Invariants:
//! 1. An object is reported only under the SHA-1 of its kind and bytes, so whatever a
//!    resynchronised walk finds is a genuine object; damage can lose objects, never alter one.
//! 2. A block is decompressed only with a dictionary block of the same pack that passed its
//!    own checksum and lies before it.
//!
//! Spec: format-spec/repair.md ("Salvaging packs"), format-spec/pack.md.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::id::{hash_object, Kind, ObjectId};
use crate::pack::{self, frame, Loc};

/// Called with each intact object: its id (the hash of its kind and bytes), kind, bytes and
/// where it lies.
pub type Visit<'a> = dyn FnMut(ObjectId, Kind, &[u8], Loc) -> Result<()> + 'a;

/// One damaged place in a pack: offset and what was wrong there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    pub offset: u64,
    pub what: String,
}

/// Walk the pack at `path`: call `visit(id, kind, bytes, loc)` for every object of every
/// intact block, in file order; return the damaged places.
pub fn pack(path: &Path, visit: &mut Visit<'_>) -> Result<Vec<Damage>> {
    let file = std::fs::File::open(path).map_err(Error::io(path))?;
    let len = file.metadata().map_err(Error::io(path))?.len();
    let mut damage = Vec::new();
    if len <= pack::HEADER_LEN as u64 {
        if len < pack::HEADER_LEN as u64 {
            damage.push(Damage { offset: 0, what: "pack shorter than its header".into() });
        }
        return Ok(damage);
    }
    // SAFETY: the caller holds the writer lock, and no settee process changes a pack's
    // bytes in place: sealed packs are immutable and the active pack only grows under the
    // lock. The mapping is dropped before the repair replaces any file.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(Error::io(path))?;
    let bytes: &[u8] = &map;
    if bytes.get(..4) != Some(&pack::MAGIC[..]) {
        damage.push(Damage { offset: 0, what: "bad pack header".into() });
    }
    let mut dictionaries: HashMap<u32, Vec<u8>> = HashMap::new();
    let mut offset = pack::HEADER_LEN;
    while offset < bytes.len() {
        let rest = bytes.get(offset..).unwrap_or_default();
        match frame::check(rest) {
            Ok((header, payload)) => {
                if let Err(what) = block(offset, header, payload, &mut dictionaries, visit)? {
                    damage.push(Damage { offset: offset as u64, what });
                }
                offset += header.frame_len() as usize;
            }
            Err(e) => {
                damage.push(Damage { offset: offset as u64, what: e.to_string() });
                offset = resume(bytes, offset);
            }
        }
    }
    Ok(damage)
}

/// Where the walk goes on after a bad frame at `offset`: the end its header claims when a
/// good frame (or the end of the file) is there, else the next offset where a whole frame
/// passes its checksum, else the end of the file.
fn resume(bytes: &[u8], offset: usize) -> usize {
    let good_at = |at: usize| at == bytes.len() || bytes.get(at..).is_some_and(|r| frame::check(r).is_ok());
    if let Ok(h) = frame::Header::parse(bytes.get(offset..).unwrap_or_default()) {
        let claimed = offset.saturating_add(h.frame_len() as usize);
        if claimed <= bytes.len() && good_at(claimed) {
            return claimed;
        }
    }
    (offset + 1..bytes.len()).find(|&at| good_at(at)).unwrap_or(bytes.len())
}

/// Decompress one verified frame and hand its objects out; `Ok(Err(what))` when the block
/// itself is unusable (its dictionary is damaged, it does not decompress, or an entry is
/// malformed: the objects before that entry are still handed out).
fn block(
    offset: usize,
    header: frame::Header,
    payload: &[u8],
    dictionaries: &mut HashMap<u32, Vec<u8>>,
    visit: &mut Visit<'_>,
) -> Result<std::result::Result<(), String>> {
    let Ok(at) = u32::try_from(offset) else { return Ok(Err("block offset past 4 GiB".into())) };
    let raw_len = header.raw_len as usize;
    let raw = match header.dictionary {
        0 => zstd::bulk::decompress(payload, raw_len).ok(),
        d => match dictionaries.get(&d) {
            Some(dict) => zstd::bulk::Decompressor::with_dictionary(dict)
                .ok()
                .and_then(|mut dec| dec.decompress(payload, raw_len).ok()),
            None => return Ok(Err(format!("its dictionary block at offset {d} is damaged or missing"))),
        },
    };
    let Some(raw) = raw.filter(|r| r.len() == raw_len) else {
        return Ok(Err(frame::FrameError::Decompress.to_string()));
    };
    let mut inner = 0;
    while inner < raw.len() {
        let Some((kind, object, next)) = frame::entry_at(&raw, inner) else {
            return Ok(Err("malformed object entry".into()));
        };
        match kind {
            Kind::Dictionary => {
                dictionaries.insert(at, object.to_vec());
            }
            _ => visit(hash_object(kind, object), kind, object, Loc { block: at, inner: inner as u32 })?,
        }
        inner = next;
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flipped byte in the middle frame of three loses that frame's objects only.
    #[test]
    fn a_bad_frame_loses_only_its_objects() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer =
            pack::writer::Writer::create(&crate::disk::RealDisk, dir.path(), pack::PackId(1)).unwrap();
        let mut ids = Vec::new();
        for i in 0..3u32 {
            let body = format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(900));
            let id = hash_object(Kind::Body, body.as_bytes());
            writer.add(id, Kind::Body, body.as_bytes()).unwrap();
            ids.push(id);
            writer.commit().unwrap();
        }
        let path = dir.path().join(pack::PackId(1).file_name());
        let mut bytes = std::fs::read(&path).unwrap();
        let mut frames = Vec::new();
        let mut at = pack::HEADER_LEN;
        while at < bytes.len() {
            frames.push(at);
            at += frame::Header::parse(&bytes[at..]).unwrap().frame_len() as usize;
        }
        assert_eq!(frames.len(), 3);
        bytes[frames[1] + frame::HEADER_LEN + 3] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let mut found = Vec::new();
        let damage = super::pack(&path, &mut |id, _, _, _| {
            found.push(id);
            Ok(())
        })
        .unwrap();
        assert_eq!(found, vec![ids[0], ids[2]]);
        assert_eq!(damage, vec![Damage { offset: frames[1] as u64, what: "frame checksum mismatch".into() }]);
    }
}
