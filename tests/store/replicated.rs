//! Replicated writes (`new_edits=false`): paths merged into the tree as CouchDB does.

use serde_json::json;
use settee::store::{GetOptions, OpenRevs};
use settee::Seq;

use crate::*;

const A1: &str = "a1";
const B2: &str = "b2";

fn seq_count(store: &Store) -> u64 {
    store.last_seq().0
}

#[test]
fn extends_a_leaf_with_full_or_partial_history() {
    let mut t = TestStore::new();
    replicate(&mut t.store, "d", 2, &[B2, A1], false, json!({"v": 2}));
    // A: full history
    let w = replicate(&mut t.store, "d", 3, &["c3", B2, A1], false, json!({"v": 3}));
    assert!(w.seq.is_some());
    assert_eq!(leaves(&t.store, "d"), ["3-c3"]);
    // C: partial history that connects
    replicate(&mut t.store, "d", 4, &["d4", "c3"], false, json!({"v": 4}));
    assert_eq!(leaves(&t.store, "d"), ["4-d4"]);
    let doc =
        t.store.get(&id("d"), &GetOptions { revs: true, revs_info: true, ..Default::default() }).unwrap();
    assert_eq!(doc["_revisions"], json!({"start": 4, "ids": ["d4", "c3", B2, A1]}));
    let status: Vec<&str> =
        doc["_revs_info"].as_array().unwrap().iter().map(|i| i["status"].as_str().unwrap()).collect();
    // 1-a1 was only ever known by id
    assert_eq!(status, ["available", "available", "available", "missing"]);
}

#[test]
fn a_sibling_branch_is_a_conflict_with_a_deterministic_winner() {
    let mut t = TestStore::new();
    replicate(&mut t.store, "d", 2, &[B2, A1], false, json!({"side": "b"}));
    replicate(&mut t.store, "d", 2, &["b9", A1], false, json!({"side": "z"}));
    assert_eq!(leaves(&t.store, "d"), ["2-b9", "2-b2"]);
    assert_eq!(winner_body(&t.store, "d"), Some(json!({"side": "z"})));
    let doc = t.store.get(&id("d"), &GetOptions { conflicts: true, ..Default::default() }).unwrap();
    assert_eq!(doc["_conflicts"], json!(["2-b2"]));
    // a deleted leaf never beats a live one, even when longer
    replicate(&mut t.store, "d", 3, &["c3", "b9", A1], true, json!({}));
    assert_eq!(leaves(&t.store, "d"), ["2-b2", "3-c3"]);
    let doc = t
        .store
        .get(&id("d"), &GetOptions { deleted_conflicts: true, conflicts: true, ..Default::default() })
        .unwrap();
    assert_eq!(doc["_rev"], "2-b2");
    assert_eq!(doc["_deleted_conflicts"], json!(["3-c3"]));
    assert!(doc.get("_conflicts").is_none());
}

#[test]
fn a_known_revision_changes_nothing_and_gets_no_sequence() {
    let mut t = TestStore::new();
    replicate(&mut t.store, "d", 3, &["c3", B2, A1], false, json!({"v": 3}));
    let before = seq_count(&t.store);
    // F: an internal node
    let w = replicate(&mut t.store, "d", 2, &[B2, A1], false, json!({"v": 2}));
    // the body of 2-b2 was not known: the tree gains it, which is a change
    assert!(w.seq.is_some());
    let before2 = seq_count(&t.store);
    assert_eq!(before2, before + 1);
    // the same leaf again: nothing at all
    let w = replicate(&mut t.store, "d", 3, &["c3", B2, A1], false, json!({"v": 3}));
    assert_eq!(w.seq, None);
    assert_eq!(seq_count(&t.store), before2);
    assert_eq!(t.store.changes(Seq(0)).count(), 1);
}

#[test]
fn a_path_that_connects_to_nothing_is_a_new_root() {
    let mut t = TestStore::new();
    replicate(&mut t.store, "d", 2, &[B2, A1], false, json!({"v": 2}));
    // E: the stem does not connect
    replicate(&mut t.store, "d", 5, &["e5", "d4"], false, json!({"v": 5}));
    assert_eq!(leaves(&t.store, "d"), ["5-e5", "2-b2"]);
    let doc = t.store.get(&id("d"), &GetOptions { revs: true, ..Default::default() }).unwrap();
    assert_eq!(doc["_revisions"], json!({"start": 5, "ids": ["e5", "d4"]}));
}

#[test]
fn a_longer_path_regrows_a_stemmed_tree_upward() {
    let mut t = TestStore::new();
    // D: a stemmed tree {3, c3->d4}
    replicate(&mut t.store, "d", 4, &["d4", "c3"], false, json!({"v": 4}));
    replicate(&mut t.store, "d", 5, &["e5", "d4", "c3", B2, A1], false, json!({"v": 5}));
    assert_eq!(leaves(&t.store, "d"), ["5-e5"]);
    let doc = t.store.get(&id("d"), &GetOptions { revs: true, ..Default::default() }).unwrap();
    assert_eq!(doc["_revisions"]["ids"], json!(["e5", "d4", "c3", B2, A1]));
    t.store.checkpoint().unwrap();
    t.reopen();
    let doc = t.store.get(&id("d"), &GetOptions { revs: true, ..Default::default() }).unwrap();
    assert_eq!(doc["_revisions"]["ids"], json!(["e5", "d4", "c3", B2, A1]));
}

#[test]
fn foreign_revision_ids_are_kept_verbatim() {
    let mut t = TestStore::new();
    let md5 = "967a00dff5e02add41819138abb3284d";
    replicate(&mut t.store, "d", 1, &[md5], false, json!({"v": 1}));
    replicate(&mut t.store, "d", 2, &["x-y-z".split('-').next().unwrap(), md5], false, json!({"v": 2}));
    assert_eq!(leaves(&t.store, "d"), ["2-x"]);
    let doc = t.store.get(&id("d"), &GetOptions { revs: true, ..Default::default() }).unwrap();
    assert_eq!(doc["_revisions"]["ids"], json!(["x", md5]));
    // an interactive edit on top of a foreign revision
    let r = put(&mut t.store, "d", Some(&rev("2-x")), json!({"v": 3})).unwrap();
    assert_eq!(r.pos, 3);
    let doc = t.store.get(&id("d"), &GetOptions { revs: true, ..Default::default() }).unwrap();
    assert_eq!(doc["_revisions"]["ids"], json!([r.hash.to_string(), "x", md5]));
}

#[test]
fn open_revs_and_latest() {
    let mut t = TestStore::new();
    replicate(&mut t.store, "d", 3, &["c3", B2, A1], false, json!({"v": 3}));
    replicate(&mut t.store, "d", 2, &["b9", A1], true, json!({}));
    let all =
        t.store.get(&id("d"), &GetOptions { open_revs: Some(OpenRevs::All), ..Default::default() }).unwrap();
    let revs: Vec<&str> = all.as_array().unwrap().iter().map(|r| r["ok"]["_rev"].as_str().unwrap()).collect();
    assert_eq!(revs, ["3-c3", "2-b9"]);
    assert_eq!(all[1]["ok"]["_deleted"], true);
    let some = GetOptions {
        open_revs: Some(OpenRevs::Revs(vec![rev("3-c3"), rev("9-nope"), rev("2-b2")])),
        ..Default::default()
    };
    let got = t.store.get(&id("d"), &some).unwrap();
    assert_eq!(got[0]["ok"]["_rev"], "3-c3");
    assert_eq!(got[1], json!({"missing": "9-nope"}));
    // 2-b2 is internal and its body was never received
    assert_eq!(got[2], json!({"missing": "2-b2"}));
    let latest = GetOptions { latest: true, ..some };
    let got = t.store.get(&id("d"), &latest).unwrap();
    let revs: Vec<String> = got
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.get("ok").map_or_else(|| r["missing"].to_string(), |d| d["_rev"].to_string()))
        .collect();
    assert_eq!(revs, ["\"3-c3\"", "\"9-nope\""]);
    // plain get with --rev of an unknown revision: not found
    let e = t.store.get(&id("d"), &GetOptions { rev: Some(rev("7-q")), ..Default::default() }).unwrap_err();
    assert_eq!(e.kind(), settee::ErrorKind::NotFound);
}

#[test]
fn merging_paths_in_any_order_converges() {
    let paths: Vec<(u64, Vec<&str>, bool)> = vec![
        (3, vec!["c3", B2, A1], false),
        (2, vec!["b9", A1], false),
        (4, vec!["d4", "c3"], true),
        (2, vec!["x2", "x1"], false),
        (5, vec!["e5", "d4", "c3", B2], false),
    ];
    let mut reference: Option<(Vec<String>, Option<serde_json::Value>)> = None;
    for rotation in 0..paths.len() {
        let mut t = TestStore::new();
        for k in 0..paths.len() {
            let (start, ids, deleted) = &paths[(k + rotation) % paths.len()];
            replicate(&mut t.store, "d", *start, ids, *deleted, json!({"at": ids[0]}));
        }
        let got = (leaves(&t.store, "d"), winner_body(&t.store, "d"));
        match &reference {
            None => reference = Some(got),
            Some(r) => assert_eq!(&got, r, "rotation {rotation}"),
        }
    }
}
