//! What opening a store found past its last replayed commit, and the quarantine that keeps
//! whatever a writer cuts.
//!
//! Owns: classifying the cut ([`journal::CutKind`]), copying the cut bytes of the journal
//! and the active pack into `.settee/quarantine/` before the writer truncates them, and the
//! notes file (`quarantine/NOTES`, one JSON object a line) that `fsck` and `stats` report.
//! Invariants:
//! 1. Nothing is cut before its bytes are durable in the quarantine and noted (the files
//!    synced, and the names of the files and of `quarantine/` itself).
//! 2. A cut of a commit that may have been acknowledged is never silent: readers are told
//!    (the CLI warns), fsck reports it until the user removes the quarantine.
//!
//! Spec: format-spec/layout.md ("Quarantine"), format-spec/journal.md (reader rules).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::disk::Disk;
use crate::error::{Error, Result};
use crate::journal::CutKind;

/// The quarantine directory inside a store.
pub const QUARANTINE_DIR: &str = "quarantine";
/// The notes file inside the quarantine.
pub const NOTES: &str = "NOTES";

/// Bytes past the last replayed commit in one file: which file, from where, how many.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tail {
    pub path: PathBuf,
    pub offset: u64,
    pub len: u64,
}

/// What opening found past the last commit it replayed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    pub kind: CutKind,
    /// The journal's bytes past the last replayed record (possibly none, when acknowledged
    /// records are missing because the file was cut short).
    pub journal: Tail,
    /// The active pack's bytes past the last replayed commit's end.
    pub pack: Option<Tail>,
}

impl Recovery {
    /// Bytes a writer cuts.
    pub fn bytes(&self) -> u64 {
        self.journal.len + self.pack.as_ref().map_or(0, |p| p.len)
    }

    /// Whether a reader should be told: anything but an interrupted, unacknowledged commit.
    pub fn is_damage(&self) -> bool {
        self.kind != CutKind::TornWrite
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        let mut places = vec![format!(
            "{} bytes at offset {} of {}",
            self.journal.len,
            self.journal.offset,
            self.journal.path.display()
        )];
        if let Some(p) = &self.pack {
            places.push(format!("{} bytes at offset {} of {}", p.len, p.offset, p.path.display()));
        }
        format!("{}: {}", self.kind.describe(), places.join(" and "))
    }
}

pub(crate) fn kind_name(kind: CutKind) -> &'static str {
    match kind {
        CutKind::TornWrite => "torn-write",
        CutKind::DamagedLastRecord => "damaged-last-commit",
        CutKind::LostAcknowledged => "lost-acknowledged",
    }
}

/// Copy the tails into the quarantine (fsynced) and append a note; returns the note.
pub(crate) fn quarantine(disk: &dyn Disk, root: &Path, recovery: &Recovery) -> Result<Value> {
    let dir = root.join(QUARANTINE_DIR);
    if !dir.is_dir() {
        // The directory's name must be durable too, or a power loss can take the quarantine
        // (synced files and all) after the cut that it was meant to keep.
        disk.create_dir_all(&dir).map_err(Error::io(&dir))?;
        crate::fsutil::sync_dir(disk, root)?;
    }
    let mut kept = Vec::new();
    for tail in std::iter::once(&recovery.journal).chain(recovery.pack.as_ref()) {
        if tail.len == 0 {
            continue;
        }
        let bytes = read_range(&tail.path, tail.offset, tail.len)?;
        let name = tail.path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let target = dir.join(format!("{name}.at-{}", tail.offset));
        crate::fsutil::replace_atomically(disk, &target, &bytes)?;
        kept.push(json!({"from": tail.path, "offset": tail.offset, "bytes": tail.len, "kept_in": target}));
    }
    let note = json!({
        "time": httpdate::fmt_http_date(std::time::SystemTime::now()),
        "kind": kind_name(recovery.kind),
        "what": recovery.kind.describe(),
        "cut": kept,
    });
    let notes = dir.join(NOTES);
    let mut text = std::fs::read(&notes).unwrap_or_default();
    text.extend_from_slice(note.to_string().as_bytes());
    text.push(b'\n');
    crate::fsutil::replace_atomically(disk, &notes, &text)?;
    Ok(note)
}

fn read_range(path: &Path, offset: u64, len: u64) -> Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(path).map_err(Error::io(path))?;
    let len =
        usize::try_from(len).map_err(|_| Error::corrupt(path, offset, "tail too large to quarantine"))?;
    let mut bytes = vec![0u8; len];
    file.read_exact_at(&mut bytes, offset).map_err(Error::io(path))?;
    Ok(bytes)
}

/// The notes of earlier cuts kept in the store's quarantine (none when there is none).
pub fn notes(root: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(root.join(QUARANTINE_DIR).join(NOTES)).unwrap_or_default();
    text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}
