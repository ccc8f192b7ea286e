//! Store verification: every frame checksum, every object's id, indexes against packs,
//! refs against revision objects, leaf bodies present. Returns findings instead of stopping
//! at the first.

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
            note(format!("changes table offset {offset}"), what.to_string());
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
        for change in self.changes(crate::id::Seq(0)) {
            if let Err(e) = change {
                note("changes".into(), e.to_string());
                break;
            }
        }
        Ok(findings)
    }
}
