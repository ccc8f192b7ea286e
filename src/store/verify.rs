//! Store verification: every frame checksum, every object's id, indexes against packs,
//! refs against revision objects, leaf bodies present, every blob's bytes, and every
//! attachment's blob present with its length and digest. Returns findings instead of
//! stopping at the first.

use super::Store;
use crate::error::Result;
use crate::id::Kind;
use crate::odb::Found;
use crate::refs::Entry;

/// One problem found, with the place it is at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// A file and offset, an object id, or a document id.
    pub place: String,
    pub problem: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.place, self.problem)
    }
}

impl Store {
    /// Check everything; an empty list means the store is sound.
    pub fn verify(&self) -> Result<Vec<Finding>> {
        let mut findings = Vec::new();
        let mut note = |place: String, problem: String| findings.push(Finding { place, problem });
        // Damage past the last commit, not yet cut, and damage cut earlier and kept.
        if let Some(found) = self.recovery.as_ref().filter(|r| r.is_damage()) {
            note(found.journal.path.display().to_string(), found.describe());
        }
        let quarantine = self.root.join(super::recovery::QUARANTINE_DIR);
        for kept in super::recovery::notes(&self.root) {
            // A note marked `repaired` was dealt with by `fsck --repair` (format-spec/repair.md).
            let open = kept.get("repaired").is_none();
            if open && kept["kind"] != super::recovery::kind_name(crate::journal::CutKind::TornWrite) {
                let what = kept["what"].as_str().unwrap_or("damage").to_string();
                let time = kept["time"].as_str().unwrap_or("?").to_string();
                let when = if kept["kind"] == "repair" { "noted" } else { "cut" };
                note(
                    quarantine.display().to_string(),
                    format!("{what}, {when} on {time} (see NOTES; remove the quarantine once dealt with)"),
                );
            }
        }
        for (reader, index) in self.odb.sealed() {
            if let Err((offset, what)) = index.verify() {
                note(format!("{} offset {offset}", index.path().display()), what.to_string());
            }
            for (offset, frame) in reader.frames() {
                if let Err(e) = frame {
                    note(format!("{} offset {offset}", reader.path().display()), e.to_string());
                }
            }
            for (id, loc) in index.iter() {
                if let Err(e) = self.odb.read_at(&id, Found { pack: reader.id(), loc }) {
                    note(format!("object {id}"), e.to_string());
                }
            }
        }
        if let Some(reader) = self.odb.active_reader() {
            for (offset, frame) in reader.frames() {
                if let Err(e) = frame {
                    note(format!("{} offset {offset}", reader.path().display()), e.to_string());
                }
            }
            if let Some(index) = self.odb.active_index() {
                if let Err((offset, what)) = index.verify() {
                    note(format!("{} offset {offset}", index.path().display()), what.to_string());
                }
            }
            for (id, loc) in self.odb.active_entries() {
                if let Err(e) = self.odb.read_at(&id, Found { pack: reader.id(), loc }) {
                    note(format!("object {id}"), e.to_string());
                }
            }
        }
        if let Err((offset, what)) = self.refs.verify() {
            note(format!("{} offset {offset}", self.refs.path().display()), what.to_string());
        }
        if let Err((offset, what)) = self.changes.verify() {
            note(format!("{} offset {offset}", self.changes.path().display()), what.to_string());
        }
        for entry in self.entries_from("") {
            let (id, entry) = match entry {
                Ok(e) => e,
                Err(e) => {
                    note("refs".into(), e.to_string());
                    break;
                }
            };
            match entry {
                Entry::Local(l) => {
                    if !matches!(self.odb.read(&l.body), Ok(Some((Kind::Body, _)))) {
                        note(format!("document {id}"), format!("body {} is missing or unreadable", l.body));
                    }
                }
                Entry::Doc(doc) => {
                    for leaf in &doc.leaves {
                        let place = || format!("document {id}");
                        if !matches!(self.odb.read(&leaf.body), Ok(Some((Kind::Body, _)))) {
                            note(
                                place(),
                                format!("body {} of leaf {} is missing or unreadable", leaf.body, leaf.rev),
                            );
                        }
                        let Some(parent) = leaf.parent else { continue };
                        match self.odb.read_revision(&parent) {
                            Ok(Some(p))
                                if p.doc.as_str() == id
                                    && leaf.ancestry.last() == Some(&p.rev.hash)
                                    && p.rev.pos + leaf.ancestry.len() as u64 == leaf.rev.pos => {}
                            Ok(Some(_)) => {
                                note(place(), format!("leaf {} links to another revision's object", leaf.rev))
                            }
                            Ok(None) => note(
                                place(),
                                format!("revision object {parent} above leaf {} is missing", leaf.rev),
                            ),
                            Err(e) => note(place(), format!("leaf {}: {e}", leaf.rev)),
                        }
                    }
                }
            }
        }
        // Each hint of the refs table must locate the body its entry shows (a wrong one
        // only slows reads down, but it means the table was written wrong).
        // A table that cannot be walked is reported by the entries pass above.
        let mut cursor = self.refs.lower_bound("").ok();
        while let Some(Ok((id, entry, hint))) = cursor.as_mut().and_then(|c| self.refs.next_hinted(c)) {
            let (Some(hint), Some(body)) = (hint, entry.shown_body()) else { continue };
            if !matches!(self.odb.read_at(body, hint), Ok((Kind::Body, _))) {
                note(
                    format!("{} document {id}", self.refs.path().display()),
                    format!(
                        "hint {} block {} inner {} does not locate body {body}",
                        hint.pack, hint.loc.block, hint.loc.inner
                    ),
                );
            }
        }
        for change in self.changes(crate::id::Seq(0)) {
            if let Err(e) = change {
                note("changes".into(), e.to_string());
                break;
            }
        }
        // Every blob read whole: chunk CRCs, length, MD5 and id (format-spec/blobs.md).
        let mut blobs = self.blob_ids()?;
        blobs.sort_unstable();
        let mut sound = std::collections::HashMap::new();
        for id in &blobs {
            match self.verify_blob(id) {
                Ok(Some(info)) => {
                    sound.insert(*id, info);
                }
                Ok(None) => {}
                Err(e) => note(format!("blob {id}"), e.to_string()),
            }
        }
        self.verify_attachments(!blobs.is_empty(), &sound, &mut note);
        Ok(findings)
    }

    /// Every attachment of every stored revision names a blob that exists and has the
    /// attachment's length and digest. Leaves always; inner revisions (a tree rebuilt per
    /// document) only when the store has blobs at all.
    fn verify_attachments(
        &self,
        any_blobs: bool,
        sound: &std::collections::HashMap<crate::id::ObjectId, crate::blob::Info>,
        note: &mut impl FnMut(String, String),
    ) {
        let mut check = |id: &str, rev: &crate::rev::RevId, bytes: &[u8]| {
            let place = || format!("document {id}");
            let atts = match crate::attachment::of_bytes(bytes) {
                Ok(a) => a,
                Err(e) => return note(place(), format!("revision {rev}: {e}")),
            };
            for (name, a) in &atts {
                if !self.has_blob(&a.blob) {
                    note(place(), format!("revision {rev} attachment {name}: blob {} is missing", a.blob));
                } else if let Some(info) = sound.get(&a.blob) {
                    if info.len != a.length || info.digest() != a.digest {
                        note(
                            place(),
                            format!(
                                "revision {rev} attachment {name}: blob {} does not match its length or digest",
                                a.blob
                            ),
                        );
                    }
                }
            }
        };
        for entry in self.entries_from("") {
            let Ok((id, Entry::Doc(doc))) = entry else { continue };
            if !any_blobs {
                for leaf in &doc.leaves {
                    if let Ok(Some(bytes)) = self.odb.read_body(&leaf.body) {
                        check(&id, &leaf.rev, &bytes);
                    }
                }
                continue;
            }
            let doc_id = crate::id::DocId::from_stored(&id);
            let Ok(mut tree) = self.load_tree(&doc_id, &doc) else { continue };
            let mut stored = Vec::new();
            tree.for_each_value_mut(|rev, value, _| {
                if let Some(v) = value {
                    stored.push((rev.clone(), v.body));
                }
            });
            stored.sort();
            for (rev, body) in stored {
                if let Ok(Some(bytes)) = self.odb.read_body(&body) {
                    check(&id, &rev, &bytes);
                }
            }
        }
    }
}

/// Check the store at `root` without trusting it to open: every file the manifest names must
/// exist, then everything `Store::verify` checks. Damage is reported as findings; an error is
/// returned only when there is no store at all.
pub fn fsck(root: &std::path::Path) -> Result<Vec<Finding>> {
    use crate::manifest::Manifest;
    if !root.join(crate::manifest::FILE_NAME).is_file() {
        return Err(crate::error::Error::NoStore { path: root.into() });
    }
    let finding = |place: String, problem: String| Finding { place, problem };
    let manifest = match Manifest::load(root) {
        Ok(m) => m,
        Err(e) => return Ok(vec![finding("manifest".into(), e.to_string())]),
    };
    let packs = root.join(super::PACKS_DIR);
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    for p in &manifest.sealed {
        files.push(packs.join(p.file_name()));
        files.push(packs.join(p.index_name()));
    }
    if let Some(spec) = manifest.active_spec(0) {
        files.push(packs.join(spec.id.file_name()));
        files.extend(spec.index.map(|name| packs.join(name)));
    }
    for name in [manifest.refs_name(), manifest.changes_name(), manifest.journal_name()] {
        files.push(root.join(name));
    }
    let missing: Vec<Finding> = files
        .iter()
        .filter(|f| !f.is_file())
        .map(|f| finding(f.display().to_string(), "is missing (named by the manifest)".into()))
        .collect();
    if !missing.is_empty() {
        return Ok(missing);
    }
    match Store::open(root, super::OpenOptions::default()) {
        Ok(store) => store.verify(),
        Err(e) => Ok(vec![finding("store".into(), e.to_string())]),
    }
}
