//! Model-based property test: random edits, deletes, replicated paths, checkpoints and
//! reopens, checked after every step against a plain in-memory revision forest.

use std::collections::HashMap;

use quickcheck::{Arbitrary, Gen, QuickCheck};
use serde_json::json;
use settee::revtree::{self, RevTree};
use settee::{RevHash, RevId};

use crate::*;

#[derive(Clone, Debug, PartialEq)]
struct M {
    deleted: bool,
    n: u8,
}

impl revtree::Value for M {
    fn deleted(&self) -> bool {
        self.deleted
    }
}

#[derive(Clone, Debug)]
enum Step {
    /// Edit the winner (or create); `stale` uses a wrong base instead.
    Put {
        doc: u8,
        n: u8,
        stale: bool,
    },
    Delete {
        doc: u8,
    },
    Replicate {
        doc: u8,
        start: u8,
        ids: Vec<u8>,
        deleted: bool,
        n: u8,
    },
    Checkpoint,
    Reopen,
    Compact {
        full: bool,
    },
    /// Purge the winner of a document.
    Purge {
        doc: u8,
    },
}

const DOCS: u8 = 3;
const HASHES: &[&str] = &["a", "b", "c", "d", "e"];

impl Arbitrary for Step {
    fn arbitrary(g: &mut Gen) -> Step {
        let doc = u8::arbitrary(g) % DOCS;
        match u8::arbitrary(g) % 10 {
            0..=2 => {
                Step::Put { doc, n: u8::arbitrary(g) % 4, stale: bool::arbitrary(g) && bool::arbitrary(g) }
            }
            3 => Step::Delete { doc },
            4..=7 => {
                let len = 1 + usize::arbitrary(g) % 3;
                let start = len as u8 + u8::arbitrary(g) % 3;
                let ids = (0..len).map(|_| u8::arbitrary(g) % HASHES.len() as u8).collect();
                Step::Replicate {
                    doc,
                    start,
                    ids,
                    deleted: u8::arbitrary(g) % 4 == 0,
                    n: u8::arbitrary(g) % 4,
                }
            }
            8 => match u8::arbitrary(g) % 4 {
                0 => Step::Compact { full: bool::arbitrary(g) },
                1 => Step::Purge { doc },
                _ => Step::Checkpoint,
            },
            _ => Step::Reopen,
        }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Step>> {
        match self {
            Step::Replicate { doc, start, ids, deleted, n } if ids.len() > 1 => {
                let shorter = Step::Replicate {
                    doc: *doc,
                    start: *start,
                    ids: ids[..ids.len() - 1].to_vec(),
                    deleted: *deleted,
                    n: *n,
                };
                Box::new(std::iter::once(shorter))
            }
            _ => Box::new(std::iter::empty()),
        }
    }
}

fn name(doc: u8) -> String {
    format!("doc{doc}")
}

fn check(steps: Vec<Step>) -> bool {
    let mut t = TestStore::new();
    let mut model: HashMap<u8, RevTree<M>> = HashMap::new();
    for step in &steps {
        match step.clone() {
            Step::Put { doc, n, stale } => {
                let tree = model.entry(doc).or_default();
                let winner = tree.winner().map(|w| (w.rev.clone(), w.deleted));
                let base = match (&winner, stale) {
                    (_, true) => Some(RevId::new(9, RevHash::parse("stale").unwrap())),
                    (Some((r, false)), false) => Some(r.clone()),
                    _ => None,
                };
                let result = put(&mut t.store, &name(doc), base.as_ref(), json!({"n": n}));
                let body = crate::body(json!({"n": n}));
                match (&winner, stale) {
                    (None, false) | (Some((_, true)), false) => {
                        let parent = winner.as_ref().map(|(r, _)| r.clone());
                        let expect = RevId::for_edit(parent.as_ref(), false, &body.id);
                        assert_eq!(result.as_ref().unwrap(), &expect);
                        let mut ids = vec![expect.hash.clone()];
                        ids.extend(parent.map(|p| p.hash));
                        tree.merge_path(revtree::Path::from_revisions(
                            expect.pos,
                            &ids,
                            M { deleted: false, n },
                        ));
                    }
                    (Some((r, false)), false) => {
                        let expect = RevId::for_edit(Some(r), false, &body.id);
                        assert_eq!(result.as_ref().unwrap(), &expect);
                        tree.merge_path(revtree::Path::from_revisions(
                            expect.pos,
                            &[expect.hash.clone(), r.hash.clone()],
                            M { deleted: false, n },
                        ));
                    }
                    (_, true) => assert_eq!(result.unwrap_err().kind(), settee::ErrorKind::Conflict),
                }
            }
            Step::Delete { doc } => {
                let tree = model.entry(doc).or_default();
                match tree.winner().filter(|w| !w.deleted).map(|w| w.rev.clone()) {
                    Some(r) => {
                        let got = delete(&mut t.store, &name(doc), &r).unwrap();
                        let expect = RevId::for_edit(Some(&r), true, &settee::Body::empty().id);
                        assert_eq!(got, expect);
                        tree.merge_path(revtree::Path::from_revisions(
                            expect.pos,
                            &[expect.hash.clone(), r.hash.clone()],
                            M { deleted: true, n: 0 },
                        ));
                    }
                    None => {
                        let e =
                            delete(&mut t.store, &name(doc), &RevId::new(1, RevHash::parse("a").unwrap()))
                                .unwrap_err();
                        assert_eq!(e.kind(), settee::ErrorKind::Conflict);
                    }
                }
            }
            Step::Replicate { doc, start, ids, deleted, n } => {
                let names: Vec<&str> = ids.iter().map(|&i| HASHES[i as usize]).collect();
                replicate(&mut t.store, &name(doc), u64::from(start), &names, deleted, json!({"n": n}));
                let hashes: Vec<RevHash> = names.iter().map(|h| RevHash::parse(h).unwrap()).collect();
                let tree = model.entry(doc).or_default();
                tree.merge_path(revtree::Path::from_revisions(u64::from(start), &hashes, M { deleted, n }));
            }
            Step::Checkpoint => t.store.checkpoint().unwrap(),
            Step::Compact { full } => {
                t.store.compact(&settee::compact::Options { full, ..Default::default() }).unwrap();
            }
            Step::Purge { doc } => {
                let tree = model.entry(doc).or_default();
                if let Some(w) = tree.winner().map(|w| w.rev.clone()) {
                    let purged = t.store.purge(&id(&name(doc)), std::slice::from_ref(&w)).unwrap();
                    assert_eq!(purged.revs, vec![w.clone()]);
                    let mut rest = RevTree::default();
                    for p in tree.paths() {
                        if p.leaf() != Some(w.clone()) {
                            rest.merge_path(p);
                        }
                    }
                    *tree = rest;
                }
            }
            Step::Reopen => t.reopen(),
        }
        for doc in 0..DOCS {
            let tree = model.get(&doc);
            let expect: Vec<String> =
                tree.map(|t| t.leaves().iter().map(|l| l.rev.to_string()).collect()).unwrap_or_default();
            assert_eq!(leaves(&t.store, &name(doc)), expect, "leaves of {} after {step:?}", name(doc));
            let expect_body = tree
                .and_then(|t| t.winner())
                .filter(|w| !w.deleted)
                .and_then(|w| w.value.map(|v| json!({"n": v.n})));
            assert_eq!(
                winner_body(&t.store, &name(doc)),
                expect_body,
                "winner of {} after {step:?}",
                name(doc)
            );
        }
    }
    assert!(t.store.verify().unwrap().is_empty());
    true
}

#[test]
fn store_matches_the_model() {
    // SETTEE_MODEL_CASES raises the number of cases for a longer hunt.
    let cases = std::env::var("SETTEE_MODEL_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(150);
    QuickCheck::new().tests(cases).max_tests(cases * 10).quickcheck(check as fn(Vec<Step>) -> bool);
}
