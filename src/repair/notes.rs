//! What a repair leaves for later: its line in `quarantine/NOTES`, and what the open notes
//! ask a replica for.
//!
//! Owns: the `repair` note (which documents could not be saved, which id ranges and commits
//! are unknown, where the replaced files are kept), and the `repaired` mark that closes a
//! note once what it names has been restored. Not: the cut notes themselves
//! (`store::recovery`).
//! Invariants:
//! 1. A note stays open (reported by `fsck`) until everything it names is restored; a
//!    repair that saved everything writes its note already closed.
//! 2. NOTES is only ever rewritten whole, atomically, with every earlier line kept.
//!
//! Spec: format-spec/repair.md ("Notes").

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use crate::error::Result;
use crate::store::recovery::{self, NOTES, QUARANTINE_DIR};

/// A document a repair could not save: its id, the revisions it had (with their bodies'
/// ids where known), and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsaved {
    pub id: String,
    pub revs: Vec<(String, Option<String>)>,
    pub why: String,
}

/// Ids strictly between `after` and `before` (no bound: open on that side).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Range {
    pub after: Option<String>,
    pub before: Option<String>,
}

impl Range {
    pub fn covers(&self, id: &str) -> bool {
        self.after.as_deref().is_none_or(|a| id > a) && self.before.as_deref().is_none_or(|b| id < b)
    }

    /// For people: "documents after `a` and before `b`".
    pub fn describe(&self) -> String {
        match (&self.after, &self.before) {
            (None, None) => "any document".into(),
            (Some(a), None) => format!("documents after {a}"),
            (None, Some(b)) => format!("documents before {b}"),
            (Some(a), Some(b)) => format!("documents after {a} and before {b}"),
        }
    }
}

/// What the open notes ask a replica for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Wanted {
    /// Documents by id, with the revisions they had and their bodies' ids where known.
    pub docs: BTreeMap<String, Vec<(String, Option<String>)>>,
    /// Id ranges whose documents are unknown here.
    pub ranges: Vec<Range>,
    /// Commits were lost: any document may be missing revisions.
    pub everything: bool,
}

impl Wanted {
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty() && self.ranges.is_empty() && !self.everything
    }

    /// Whether a replica's document `id` may hold what this store lost.
    pub fn covers(&self, id: &str) -> bool {
        self.everything || self.docs.contains_key(id) || self.ranges.iter().any(|r| r.covers(id))
    }
}

fn now() -> String {
    httpdate::fmt_http_date(std::time::SystemTime::now())
}

fn write_all(root: &Path, lines: &[Value]) -> Result<()> {
    let dir = root.join(QUARANTINE_DIR);
    let disk = crate::disk::real();
    let made = !dir.is_dir();
    disk.create_dir_all(&dir).map_err(crate::error::Error::io(&dir))?;
    if made {
        crate::fsutil::sync_dir(&*disk, root)?;
    }
    let mut text = Vec::new();
    for line in lines {
        text.extend_from_slice(line.to_string().as_bytes());
        text.push(b'\n');
    }
    crate::fsutil::replace_atomically(&*disk, &dir.join(NOTES), &text)
}

/// Append the note of a repair; it is closed at once when nothing is left unknown.
pub(crate) fn add_repair(root: &Path, outcome: &super::Outcome, kept: &[std::path::PathBuf]) -> Result<()> {
    let unsaved: Vec<Value> = outcome
        .unsaved
        .iter()
        .map(|u| {
            let revs: Vec<Value> = u.revs.iter().map(|(r, b)| json!({"rev": r, "body": b})).collect();
            json!({"id": u.id, "revs": revs, "why": u.why})
        })
        .collect();
    let ranges: Vec<Value> =
        outcome.ranges.iter().map(|r| json!({"after": r.after, "before": r.before})).collect();
    let mut parts = Vec::new();
    if !outcome.unsaved.is_empty() {
        parts.push(format!("could not save {} documents", outcome.unsaved.len()));
    }
    if !outcome.ranges.is_empty() {
        parts.push(format!("does not know the documents of {} damaged refs id ranges", outcome.ranges.len()));
    }
    if outcome.lost_commits {
        parts.push("does not know the documents of lost journal commits".to_string());
    }
    let what = match parts.is_empty() {
        true => "a repair saved every document".to_string(),
        false => format!("a repair {}", parts.join(" and ")),
    };
    let time = now();
    let mut note = json!({
        "time": time,
        "kind": "repair",
        "what": what,
        "unsaved": unsaved,
        "ranges": ranges,
        "lost_commits": outcome.lost_commits,
        "kept": kept,
    });
    if outcome.unsaved.is_empty() && outcome.ranges.is_empty() && !outcome.lost_commits {
        note["repaired"] = json!(time);
    }
    let mut lines = recovery::notes(root);
    lines.push(note);
    write_all(root, &lines)
}

/// What the open notes (those not marked `repaired`) ask for.
pub fn wanted(root: &Path) -> Wanted {
    let mut wanted = Wanted::default();
    for note in recovery::notes(root).iter().filter(|n| n.get("repaired").is_none()) {
        match note["kind"].as_str() {
            Some("repair") => {
                for u in note["unsaved"].as_array().into_iter().flatten() {
                    let Some(id) = u["id"].as_str() else { continue };
                    let revs = u["revs"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|r| {
                            Some((r["rev"].as_str()?.to_string(), r["body"].as_str().map(String::from)))
                        })
                        .collect();
                    wanted.docs.insert(id.to_string(), revs);
                }
                for r in note["ranges"].as_array().into_iter().flatten() {
                    let bound = |k: &str| r[k].as_str().map(String::from);
                    wanted.ranges.push(Range { after: bound("after"), before: bound("before") });
                }
                wanted.everything |= note["lost_commits"].as_bool().unwrap_or(false);
            }
            Some(kind) if kind != "torn-write" => wanted.everything = true,
            _ => {}
        }
    }
    wanted
}

/// Close every open note: what they name has been restored (or was asked of a replica
/// that holds nothing more).
pub fn close_all(root: &Path) -> Result<()> {
    let mut lines = recovery::notes(root);
    if lines.iter().all(|n| n.get("repaired").is_some()) {
        return Ok(());
    }
    let time = now();
    for line in &mut lines {
        if line.get("repaired").is_none() {
            line["repaired"] = json!(time);
        }
    }
    write_all(root, &lines)
}
