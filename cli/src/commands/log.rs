//! `settee log ID`: the revision tree drawn like `git log --graph`, newest first.
//!
//! Each leaf starts a lane; a revision is printed once all revisions below it are, and lanes
//! that meet at a common ancestor merge into the leftmost. Marks: `(winner)`, `(conflict)`,
//! `(deleted)`, `(root)` on each root of a forest, `[missing]` when the body is not in this
//! store; then ` attachments: +added ~changed -removed` when the revision changed them
//! (against its parent's body; with the parent's body compacted away, the attachments the
//! revision wrote, by `revpos`, count as added).

use std::collections::{HashMap, HashSet};

use anyhow::Result;
use serde_json::{json, Value};
use settee::attachment::Attachments;
use settee::store::{NodeInfo, RevStatus};
use settee::{RevId, RevTree, Store};

use super::parse_id;
use crate::ctx::Ctx;
use crate::output::Out;

/// Show the revision tree of ID.
#[derive(clap::Args)]
pub struct Args {
    id: String,
}

/// One revision in print order.
struct Row {
    rev: RevId,
    parent: Option<RevId>,
    status: RevStatus,
    leaf: bool,
    attachments: settee::attachment::Changes,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<u8> {
    let id = parse_id(&args.id)?;
    let store = ctx.open_read()?;
    let doc =
        store.doc_ref(&id)?.ok_or_else(|| settee::Error::NotFound { id: id.to_string(), why: "missing" })?;
    let tree = store.load_tree(&id, &doc)?;
    let rows = order(&store, &tree, &doc);
    let winner = doc.winner().map(|w| w.rev.clone());
    let forest = rows.iter().filter(|r| r.parent.is_none()).count() > 1;
    let mark = |row: &Row| -> Vec<&'static str> {
        let mut marks = Vec::new();
        if forest && row.parent.is_none() {
            marks.push("root");
        }
        if Some(&row.rev) == winner.as_ref() {
            marks.push("winner");
        } else if row.leaf
            && row.status != RevStatus::Deleted
            && !doc.leaf(&row.rev).is_some_and(|l| l.deleted)
        {
            marks.push("conflict");
        }
        if row.status == RevStatus::Deleted || doc.leaf(&row.rev).is_some_and(|l| l.deleted) {
            marks.push("deleted");
        }
        marks
    };
    let mut out = Out::new();
    if ctx.json {
        let revs: Vec<Value> = rows
            .iter()
            .map(|r| {
                let mut v = json!({
                    "rev": r.rev.to_string(),
                    "parent": r.parent.as_ref().map(ToString::to_string),
                    "leaf": r.leaf,
                    "winner": Some(&r.rev) == winner.as_ref(),
                    "deleted": mark(r).contains(&"deleted"),
                    "status": r.status.as_str(),
                });
                let c = &r.attachments;
                if !c.is_empty() {
                    v["attachments"] = json!({"added": c.added, "changed": c.changed, "removed": c.removed});
                }
                v
            })
            .collect();
        out.json(&json!({"id": id.as_str(), "revisions": revs}))?;
    } else {
        for line in draw(&rows, &mark) {
            out.line(&line)?;
        }
    }
    out.finish()?;
    Ok(0)
}

/// Revisions so that every revision comes after all its descendants, leaves in winner order,
/// each branch printed as far up as it goes before the next one starts.
fn order(store: &Store, tree: &RevTree<NodeInfo>, doc: &settee::refs::DocRef) -> Vec<Row> {
    let mut children: HashMap<RevId, usize> = HashMap::new();
    let mut parent_of: HashMap<RevId, Option<RevId>> = HashMap::new();
    let mut status: HashMap<RevId, RevStatus> = HashMap::new();
    for leaf in tree.leaves() {
        let Some(path) = tree.ancestry(&leaf.rev) else { continue };
        for (i, (rev, value)) in path.iter().enumerate() {
            if parent_of.contains_key(rev) {
                break;
            }
            let parent = path.get(i + 1).map(|(p, _)| p.clone());
            if let Some(p) = &parent {
                *children.entry(p.clone()).or_default() += 1;
            }
            parent_of.insert(rev.clone(), parent);
            status.insert(rev.clone(), store.rev_status(*value));
        }
    }
    let mut leaves: Vec<RevId> = doc.leaves.iter().map(|l| l.rev.clone()).collect();
    // Leaves of the tree that the ref does not list cannot exist, but keep them printable.
    for l in tree.leaves() {
        if !leaves.contains(&l.rev) {
            leaves.push(l.rev.clone());
        }
    }
    let mut rows = Vec::new();
    let mut printed = HashSet::new();
    for leaf in leaves {
        let mut at = Some(leaf.clone());
        while let Some(rev) = at {
            if printed.contains(&rev) {
                break;
            }
            let remaining = children.get(&rev).copied().unwrap_or(0);
            if remaining > 0 {
                break;
            }
            printed.insert(rev.clone());
            let parent = parent_of.get(&rev).cloned().flatten();
            rows.push(Row {
                attachments: attachment_changes(store, tree, &rev, parent.as_ref()),
                leaf: !children.contains_key(&rev) || rev == leaf,
                status: status.get(&rev).copied().unwrap_or(RevStatus::Missing),
                parent: parent.clone(),
                rev,
            });
            if let Some(p) = &parent {
                if let Some(c) = children.get_mut(p) {
                    *c -= 1;
                }
            }
            at = parent;
        }
    }
    // Fix the leaf flag: a revision is a leaf when nothing names it as parent.
    let parents: HashSet<RevId> = rows.iter().filter_map(|r| r.parent.clone()).collect();
    for r in &mut rows {
        r.leaf = !parents.contains(&r.rev);
    }
    rows
}

/// The attachments of `rev`'s stored body; `None` when its body is not in this store.
fn attachments_of(store: &Store, tree: &RevTree<NodeInfo>, rev: &RevId) -> Option<Attachments> {
    let info = tree.get(rev)?.value.as_ref()?;
    let bytes = store.odb().read_body(&info.body).ok()??;
    settee::attachment::of_bytes(&bytes).ok()
}

/// How `rev` changed the attachments of `parent` (see the module doc).
fn attachment_changes(
    store: &Store,
    tree: &RevTree<NodeInfo>,
    rev: &RevId,
    parent: Option<&RevId>,
) -> settee::attachment::Changes {
    let Some(atts) = attachments_of(store, tree, rev) else { return Default::default() };
    match parent {
        None => settee::attachment::compare(&Attachments::new(), &atts),
        Some(p) => match attachments_of(store, tree, p) {
            Some(from) => settee::attachment::compare(&from, &atts),
            None => settee::attachment::Changes {
                added: atts.iter().filter(|(_, a)| a.revpos == rev.pos).map(|(n, _)| n.clone()).collect(),
                ..Default::default()
            },
        },
    }
}

/// ` attachments: +a ~b -c`, or nothing.
fn attachment_text(c: &settee::attachment::Changes) -> String {
    if c.is_empty() {
        return String::new();
    }
    let mut parts = Vec::new();
    parts.extend(c.added.iter().map(|n| format!("+{n}")));
    parts.extend(c.changed.iter().map(|n| format!("~{n}")));
    parts.extend(c.removed.iter().map(|n| format!("-{n}")));
    format!(" attachments: {}", parts.join(" "))
}

/// Draw lanes: `*` for the revision, `|` for other open lanes, `/` for lanes merging left.
fn draw(rows: &[Row], mark: &dyn Fn(&Row) -> Vec<&'static str>) -> Vec<String> {
    let mut lanes: Vec<Option<RevId>> = Vec::new();
    let mut lines = Vec::new();
    for row in rows {
        let waiting: Vec<usize> =
            lanes.iter().enumerate().filter(|(_, l)| l.as_ref() == Some(&row.rev)).map(|(i, _)| i).collect();
        // Lanes that also waited for this revision merge into the first one, above it.
        if let Some(&first_merging) = waiting.get(1) {
            let mut cells = vec![' '; lanes.len() * 2];
            for i in 0..lanes.len() {
                if i < first_merging {
                    if lanes[i].is_some() {
                        cells[2 * i] = '|';
                    }
                } else if lanes[i].is_some() {
                    cells[2 * i - 1] = '/';
                }
            }
            lines.push(cells.into_iter().collect::<String>().trim_end().to_string());
            for &i in waiting.iter().skip(1).rev() {
                lanes.remove(i);
            }
        }
        let col = match waiting.first() {
            Some(&c) => c,
            None => {
                lanes.push(Some(row.rev.clone()));
                lanes.len() - 1
            }
        };
        let graph: String = lanes
            .iter()
            .enumerate()
            .map(|(i, lane)| {
                if i == col {
                    "* "
                } else if lane.is_some() {
                    "| "
                } else {
                    "  "
                }
            })
            .collect();
        let mut text = format!("{} {}", graph.trim_end(), row.rev);
        let marks = mark(row);
        if !marks.is_empty() {
            text.push_str(&format!(" ({})", marks.join(", ")));
        }
        if row.status == RevStatus::Missing {
            text.push_str(" [missing]");
        }
        text.push_str(&attachment_text(&row.attachments));
        lines.push(text);
        if let Some(lane) = lanes.get_mut(col) {
            *lane = row.parent.clone();
        }
        while lanes.last().is_some_and(Option::is_none) {
            lanes.pop();
        }
    }
    lines
}
