//! Replication between stores: convergence, checkpoints, nothing transferred twice.

use std::collections::BTreeMap;

use quickcheck::QuickCheck;
use serde_json::json;
use settee::replicate::{replicate, Options};
use settee::transport::local::LocalStore;
use settee::transport::Filter;
use settee::Seq;

use crate::*;

/// Replicate `from` into `to`.
fn pull(to: &mut Store, from: &mut Store, options: &Options) -> settee::replicate::Outcome {
    replicate(&mut LocalStore::new(from), &mut LocalStore::new(to), options, &mut ()).unwrap()
}

/// Every document's leaves and winner body.
fn state(store: &Store) -> BTreeMap<String, (Vec<String>, Option<serde_json::Value>)> {
    store
        .docs(None, None)
        .map(|d| {
            let (id, doc) = d.unwrap();
            let leaves = doc.leaves.iter().map(|l| l.rev.to_string()).collect();
            (id.to_string(), (leaves, winner_body(store, id.as_str())))
        })
        .collect()
}

/// Every revision id each document's tree holds.
fn all_revs(store: &Store) -> BTreeMap<String, Vec<String>> {
    store
        .docs(None, None)
        .map(|d| {
            let (id, doc) = d.unwrap();
            let tree = store.load_tree(&id, &doc).unwrap();
            let mut revs: Vec<String> = tree.nodes().map(|(r, _, _)| r.to_string()).collect();
            revs.sort();
            (id.to_string(), revs)
        })
        .collect()
}

#[test]
fn a_second_run_transfers_nothing_and_resumes_from_checkpoints() {
    let mut a = TestStore::new();
    let mut b = TestStore::new();
    for i in 0..25 {
        put(&mut a.store, &format!("d{i:02}"), None, json!({"i": i})).unwrap();
    }
    let small = Options { batch_size: 10, ..Options::default() };
    let first = pull(&mut b.store, &mut a.store, &small);
    assert_eq!((first.docs_read, first.revisions_written), (25, 25));
    assert_eq!(state(&b.store), state(&a.store));
    let again = pull(&mut b.store, &mut a.store, &small);
    assert_eq!((again.docs_read, again.revisions_written, again.start_seq.as_str()), (0, 0, "25"));
    // new changes only
    let r = rev(&leaves(&a.store, "d03")[0]);
    put(&mut a.store, "d03", Some(&r), json!({"i": 3, "v": 2})).unwrap();
    let third = pull(&mut b.store, &mut a.store, &small);
    assert_eq!((third.docs_read, third.revisions_written), (1, 1));
    assert_eq!(state(&b.store), state(&a.store));
}

#[test]
fn another_replication_id_starts_over_and_writes_only_what_is_missing() {
    let mut a = TestStore::new();
    let mut b = TestStore::new();
    for i in 0..30 {
        put(&mut a.store, &format!("d{i:02}"), None, json!({"i": i})).unwrap();
    }
    // A filtered replication brings the first 10 documents; an unfiltered one is another
    // replication (another id, no checkpoint yet), and revs_diff keeps it from writing those
    // 10 again. (Resuming an interrupted replication is tested with SIGKILL in tests/crash.)
    let opts = Options {
        batch_size: 10,
        filter: Filter::DocIds((0..10).map(|i| id(&format!("d{i:02}"))).collect()),
        filter_key: "x".into(),
        ..Options::default()
    };
    pull(&mut b.store, &mut a.store, &opts);
    let full = pull(&mut b.store, &mut a.store, &Options { batch_size: 10, ..Options::default() });
    // a different filter is a different replication: it starts over, and finds 10 present
    assert_eq!((full.start_seq.as_str(), full.docs_read, full.missing_found), ("0", 30, 20));
    assert_eq!(state(&b.store), state(&a.store));
}

#[test]
fn doc_ids_filter_carries_only_those_documents_deleted_ones_too() {
    let mut a = TestStore::new();
    let mut b = TestStore::new();
    let r = put(&mut a.store, "keep", None, json!({"v": 1})).unwrap();
    delete(&mut a.store, "keep", &r).unwrap();
    put(&mut a.store, "other", None, json!({"v": 1})).unwrap();
    let opts = Options {
        filter: Filter::DocIds(vec![id("keep")]),
        filter_key: "doc_ids:keep".into(),
        ..Options::default()
    };
    pull(&mut b.store, &mut a.store, &opts);
    assert_eq!(leaves(&b.store, "keep"), leaves(&a.store, "keep"));
    assert!(leaves(&b.store, "other").is_empty());
}

#[path = "../support/schedule.rs"]
mod schedule;
use schedule::Action;

fn converge(size: u8, actions: Vec<Action>) -> bool {
    let n = 3 + size % 3;
    let mut stores: Vec<TestStore> = (0..n).map(|_| TestStore::new()).collect();
    let pick = |i: u8| (i % n) as usize;
    let name = |d: u8| format!("doc{d}");
    let mut written: Vec<(String, String)> = Vec::new();
    let opts = Options { batch_size: 3, ..Options::default() };
    for action in actions {
        match action {
            Action::Put { store, doc, n: v } => {
                let s = &mut stores[pick(store)].store;
                let base = s
                    .doc_ref(&id(&name(doc)))
                    .unwrap()
                    .and_then(|d| d.winner().filter(|w| !w.deleted).map(|w| w.rev.clone()));
                let r = put(s, &name(doc), base.as_ref(), json!({"v": v, "at": store})).unwrap();
                written.push((name(doc), r.to_string()));
            }
            Action::Delete { store, doc } => {
                let s = &mut stores[pick(store)].store;
                if let Some(w) = s
                    .doc_ref(&id(&name(doc)))
                    .unwrap()
                    .and_then(|d| d.winner().filter(|w| !w.deleted).cloned())
                {
                    let r = delete(s, &name(doc), &w.rev).unwrap();
                    written.push((name(doc), r.to_string()));
                }
            }
            Action::Resolve { store, doc } => {
                let s = &mut stores[pick(store)].store;
                if let Some(d) = s.doc_ref(&id(&name(doc))).unwrap() {
                    for l in d.leaves.iter().skip(1).filter(|l| !l.deleted) {
                        let r = delete(s, &name(doc), &l.rev).unwrap();
                        written.push((name(doc), r.to_string()));
                    }
                }
            }
            Action::Pull { to, from } | Action::Sync { a: to, b: from } if pick(to) == pick(from) => {}
            Action::Pull { to, from } => {
                let (t, f) = two(&mut stores, pick(to), pick(from));
                pull(&mut t.store, &mut f.store, &opts);
            }
            Action::Sync { a, b } => {
                let (x, y) = two(&mut stores, pick(a), pick(b));
                pull(&mut x.store, &mut y.store, &opts);
                pull(&mut y.store, &mut x.store, &opts);
            }
        }
    }
    // A full round: everything into store 0, then store 0 into everyone.
    for i in 1..stores.len() {
        let (x, y) = two(&mut stores, 0, i);
        pull(&mut x.store, &mut y.store, &opts);
    }
    for i in 1..stores.len() {
        let (x, y) = two(&mut stores, i, 0);
        pull(&mut x.store, &mut y.store, &opts);
    }
    let reference = state(&stores[0].store);
    let revs = all_revs(&stores[0].store);
    for s in &stores {
        assert_eq!(state(&s.store), reference, "leaves or winners differ after a full sync");
        assert_eq!(all_revs(&s.store), revs, "revision trees differ after a full sync");
        assert!(s.store.verify().unwrap().is_empty());
        assert_eq!(s.store.changes(Seq(0)).count(), reference.len());
    }
    for (doc, r) in &written {
        assert!(revs.get(doc).is_some_and(|v| v.contains(r)), "revision {r} of {doc} was lost");
    }
    true
}

/// Two distinct stores of `stores`, mutably.
pub(crate) fn two(stores: &mut [TestStore], a: usize, b: usize) -> (&mut TestStore, &mut TestStore) {
    if a < b {
        let (l, r) = stores.split_at_mut(b);
        (&mut l[a], &mut r[0])
    } else {
        let (l, r) = stores.split_at_mut(a);
        (&mut r[0], &mut l[b])
    }
}

#[test]
fn stores_converge_whatever_the_sync_schedule() {
    let cases = std::env::var("SETTEE_CONVERGENCE_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(40);
    QuickCheck::new().tests(cases).max_tests(cases * 10).quickcheck(converge as fn(u8, Vec<Action>) -> bool);
}

#[test]
fn a_selector_carries_matching_winners_and_can_start_over_with_another() {
    let mut a = TestStore::new();
    let mut b = TestStore::new();
    put(&mut a.store, "c1", None, json!({"type": "card", "owner": {"name": "bob"}, "n": 3})).unwrap();
    put(&mut a.store, "c2", None, json!({"type": "card", "owner": {"name": "eve"}, "n": 9})).unwrap();
    put(&mut a.store, "n1", None, json!({"type": "note", "n": 5})).unwrap();
    let sel = |v: serde_json::Value| {
        let s = settee::selector::Selector::parse(&v).unwrap();
        Options {
            filter_key: format!("selector:{}", s.canonical()),
            filter: Filter::Selector(s),
            ..Options::default()
        }
    };
    let cards = sel(json!({"type": "card", "n": {"$lt": 5}}));
    let out = pull(&mut b.store, &mut a.store, &cards);
    assert_eq!(out.revisions_written, 1);
    assert!(!leaves(&b.store, "c1").is_empty());
    assert!(leaves(&b.store, "c2").is_empty() && leaves(&b.store, "n1").is_empty());
    // a deletion whose tombstone keeps the selected fields travels too (CouchDB's rule:
    // the selector sees the tombstone's body plus `_deleted`)
    let r = rev(&leaves(&a.store, "c1")[0]);
    let tomb = settee::Op::Edit {
        id: id("c1"),
        base: Some(r),
        deleted: true,
        body: body(json!({"type": "card", "n": 3})),
    };
    a.store.write(vec![tomb]).unwrap().remove(0).unwrap();
    pull(&mut b.store, &mut a.store, &cards);
    assert_eq!(leaves(&b.store, "c1"), leaves(&a.store, "c1"));
    assert!(b.store.doc_ref(&id("c1")).unwrap().unwrap().is_deleted());
    // another selector is another replication, with its own checkpoint
    let owners = sel(json!({"owner.name": {"$in": ["eve"]}}));
    let out = pull(&mut b.store, &mut a.store, &owners);
    assert_eq!((out.start_seq.as_str(), out.revisions_written), ("0", 1));
    assert!(!leaves(&b.store, "c2").is_empty());
}

/// A peer's `bulk_get` answers from the store as it is now: after a write through the same
/// transport, a revision listed by an earlier change page gives the leaf below it.
#[test]
fn bulk_get_after_a_write_answers_from_the_current_tree() {
    use settee::transport::{Revision, Transport};
    let mut t = TestStore::new();
    let r1 = put(&mut t.store, "a", None, json!({"v": 1})).unwrap();
    let mut peer = LocalStore::new(&mut t.store);
    let page = peer.changes("", 10, &Filter::All).unwrap();
    assert_eq!(page.rows[0].revs, vec![r1.clone()]);
    let b = body(json!({"v": 2}));
    let r2 = RevId::for_edit(Some(&r1), false, &b.id);
    let failures = peer
        .bulk_docs(vec![Revision {
            id: id("a"),
            rev: r2.clone(),
            ancestry: vec![r1.hash.clone()],
            deleted: false,
            body: b,
            stubs: Vec::new(),
        }])
        .unwrap();
    assert!(failures.is_empty(), "{failures:?}");
    let got = peer.bulk_get(&[(id("a"), vec![r1])]).unwrap();
    assert_eq!(got.iter().map(|r| r.rev.clone()).collect::<Vec<_>>(), vec![r2]);
}
