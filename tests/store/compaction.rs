//! Compaction and purge: what is kept, what is dropped, crash safety, readers during it.

use serde_json::{json, Value};
use settee::compact::{Options, STEPS};
use settee::store::{GetOptions, OpenRevs};
use settee::{Body, ErrorKind, Op, RevId};

use crate::*;

/// Everything a user can see of the documents: every leaf with its body and history.
fn snapshot(store: &Store) -> Vec<(String, Value)> {
    let all = GetOptions { open_revs: Some(OpenRevs::All), revs: true, ..Default::default() };
    let mut out: Vec<(String, Value)> = store
        .docs(None, None)
        .map(|d| d.unwrap().0)
        .map(|id| (id.to_string(), store.get(&id, &all).unwrap()))
        .collect();
    out.push(("stats".into(), json!(store.stats().unwrap().documents)));
    out
}

/// `n` successive edits of `doc`, written in batches; returns the revisions, oldest first.
fn update_many(store: &mut Store, doc: &str, n: usize) -> Vec<RevId> {
    let mut revs: Vec<RevId> = Vec::new();
    let mut parent: Option<RevId> = None;
    let mut i = 0;
    while i < n {
        let mut ops = Vec::new();
        for _ in 0..1000.min(n - i) {
            let body = body(json!({"i": i}));
            let rev = RevId::for_edit(parent.as_ref(), false, &body.id);
            ops.push(Op::Edit { id: id(doc), base: parent.clone(), deleted: false, body });
            parent = Some(rev.clone());
            revs.push(rev);
            i += 1;
        }
        for r in store.write(ops).unwrap() {
            r.unwrap();
        }
    }
    revs
}

fn conflicted_store() -> TestStore {
    let mut t = TestStore::new();
    replicate(&mut t.store, "c", 1, &["a1"], false, json!({"name": "base", "x": 1, "y": 1}));
    replicate(&mut t.store, "c", 2, &["b2", "a1"], false, json!({"name": "base", "x": 2, "y": 1}));
    replicate(&mut t.store, "c", 3, &["c3", "b2", "a1"], false, json!({"name": "left", "x": 2, "y": 1}));
    replicate(&mut t.store, "c", 3, &["d3", "b2", "a1"], false, json!({"name": "right", "x": 2, "y": 3}));
    replicate(&mut t.store, "c", 3, &["e3", "b2", "a1"], true, json!({}));
    let lid = settee::DocId::parse_local("checkpoint").unwrap();
    t.store.put_local(&lid, &obj(json!({"seq": 7}))).unwrap();
    let r = put(&mut t.store, "gone", None, json!({"v": 1})).unwrap();
    delete(&mut t.store, "gone", &r).unwrap();
    for i in 0..30 {
        let r = put(&mut t.store, &format!("d{i}"), None, json!({"v": 1, "i": i})).unwrap();
        put(&mut t.store, &format!("d{i}"), Some(&r), json!({"v": 2, "i": i})).unwrap();
    }
    t
}

#[test]
fn a_long_history_keeps_its_newest_ids_and_only_the_leaf_body() {
    let mut t = TestStore::new();
    let revs = update_many(&mut t.store, "hot", 10_000);
    let before = t.store.disk_bytes();
    let outcome = t.store.compact(&Options { revs_limit: Some(1000), ..Options::default() }).unwrap();
    assert!(outcome.bytes_after < before / 4, "{outcome:?}");
    let doc =
        t.store.get(&id("hot"), &GetOptions { revs: true, revs_info: true, ..Default::default() }).unwrap();
    assert_eq!(doc["i"], 9999);
    let ids: Vec<String> = revs.iter().rev().take(1000).map(|r| r.hash.to_string()).collect();
    assert_eq!(doc["_revisions"], json!({"start": 10_000, "ids": ids}));
    let status: Vec<&str> =
        doc["_revs_info"].as_array().unwrap().iter().map(|i| i["status"].as_str().unwrap()).collect();
    assert_eq!(status[0], "available");
    assert!(status[1..].iter().all(|s| *s == "missing"));
    let old = t
        .store
        .get(&id("hot"), &GetOptions { rev: Some(revs[9990].clone()), ..Default::default() })
        .unwrap_err();
    assert_eq!(old.kind(), ErrorKind::NotFound);
    assert!(old.to_string().contains("compacted"), "{old}");
    // the leaf body, and nothing else
    assert_eq!(t.store.odb().object_count(), 1);
    let f = t.store.verify().unwrap();
    assert!(f.is_empty(), "{f:?}");
    t.reopen();
    let again = t.store.get(&id("hot"), &GetOptions { revs: true, ..Default::default() }).unwrap();
    assert_eq!(again["_revisions"]["ids"].as_array().unwrap().len(), 1000);
    // the document goes on being edited after compaction
    let next = put(&mut t.store, "hot", revs.last(), json!({"i": 10_000})).unwrap();
    assert_eq!(next.pos, 10_001);
}

#[test]
fn conflicts_keep_every_leaf_and_their_common_ancestor() {
    let mut t = conflicted_store();
    let before = snapshot(&t.store);
    t.store.compact(&Options::default()).unwrap();
    assert_eq!(snapshot(&t.store), before);
    // the common ancestor 2-b2 is still readable (a three-way merge needs it)
    let base = t.store.get(&id("c"), &GetOptions { rev: Some(rev("2-b2")), ..Default::default() }).unwrap();
    assert_eq!(base["x"], 2);
    // 1-a1 above it is gone, its id kept
    let e = t.store.get(&id("c"), &GetOptions { rev: Some(rev("1-a1")), ..Default::default() }).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let info = t.store.get(&id("c"), &GetOptions { revs_info: true, ..Default::default() }).unwrap();
    let status: Vec<String> = info["_revs_info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| format!("{} {}", i["rev"], i["status"]))
        .collect();
    assert_eq!(status, [r#""3-d3" "available""#, r#""2-b2" "available""#, r#""1-a1" "missing""#]);
    // deleted leaves survive as tombstones; deleted documents too; _local documents too
    let all =
        t.store.get(&id("c"), &GetOptions { open_revs: Some(OpenRevs::All), ..Default::default() }).unwrap();
    assert!(all.as_array().unwrap().iter().any(|r| r["ok"]["_rev"] == "3-e3" && r["ok"]["_deleted"] == true));
    assert_eq!(leaves(&t.store, "gone").len(), 1);
    let lid = settee::DocId::parse_local("checkpoint").unwrap();
    assert_eq!(t.store.get_local(&lid).unwrap().unwrap()["seq"], 7);
    let f = t.store.verify().unwrap();
    assert!(f.is_empty(), "{f:?}");
}

#[test]
fn compacting_twice_changes_nothing_the_second_time() {
    let mut t = conflicted_store();
    t.store.compact(&Options::default()).unwrap();
    let snap = snapshot(&t.store);
    let bytes = t.store.disk_bytes();
    let second = t.store.compact(&Options::default()).unwrap();
    assert_eq!(
        (second.packs_rewritten, second.documents_rewritten, second.objects_copied),
        (0, 0, 0),
        "{second:?}"
    );
    assert_eq!(t.store.disk_bytes(), bytes);
    assert_eq!(snapshot(&t.store), snap);
}

#[test]
fn purged_revisions_are_gone_and_compaction_reclaims_them() {
    let mut t = conflicted_store();
    let purged = t.store.purge(&id("c"), &[rev("3-c3"), rev("2-b2"), rev("9-zz")]).unwrap();
    // only leaves are purged
    assert_eq!(purged.revs, vec![rev("3-c3")]);
    assert_eq!(leaves(&t.store, "c"), ["3-d3", "3-e3"]);
    let last = t.store.changes(settee::Seq(0)).last().unwrap().unwrap();
    assert_eq!((last.id.as_str(), Some(last.seq)), ("c", purged.seq));
    let e = t.store.get(&id("c"), &GetOptions { rev: Some(rev("3-c3")), ..Default::default() }).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    // purging every leaf removes the document from the refs and the changes feed
    let r = rev(&leaves(&t.store, "d0")[0]);
    t.store.purge(&id("d0"), &[r]).unwrap();
    assert!(t.store.doc_ref(&id("d0")).unwrap().is_none());
    assert!(t.store.changes(settee::Seq(0)).all(|c| c.unwrap().id.as_str() != "d0"));
    let objects = t.store.odb().object_count();
    t.store.compact(&Options { full: true, ..Options::default() }).unwrap();
    assert!(t.store.odb().object_count() < objects);
    let f = t.store.verify().unwrap();
    assert!(f.is_empty(), "{f:?}");
    // a purged document can be written again as new
    put(&mut t.store, "d0", None, json!({"again": true})).unwrap();
}

#[test]
fn a_compaction_that_fails_at_any_step_leaves_the_store_as_it_was() {
    for (step, name) in STEPS.iter().enumerate() {
        let mut t = conflicted_store();
        t.store.checkpoint().unwrap();
        let before = snapshot(&t.store);
        let e =
            t.store.compact(&Options { fail_at: Some(step), full: true, ..Options::default() }).unwrap_err();
        assert!(e.to_string().contains("injected"), "{e}");
        // the handle stops writing; a new one opens the old or the new layout, whole
        assert!(t.store.write(vec![]).is_err(), "the handle still writes after a failure {name}");
        t.reopen();
        assert!(t.store.verify().unwrap().is_empty(), "fsck after a failure {name}");
        assert_eq!(snapshot(&t.store), before, "documents after a failure {name}");
        let files: Vec<_> =
            std::fs::read_dir(t.root().join("packs")).unwrap().map(|e| e.unwrap().file_name()).collect();
        t.store.compact(&Options { full: true, ..Options::default() }).unwrap();
        assert_eq!(snapshot(&t.store), before, "documents after compacting again ({name})");
        let f = t.store.verify().unwrap();
        assert!(f.is_empty(), "{f:?}");
        // nothing a dead compaction left is kept: every pack file is named by the manifest
        let m = t.store.manifest();
        let named: Vec<String> = m
            .sealed
            .iter()
            .flat_map(|p| [p.file_name(), p.index_name()])
            .chain(m.active.map(|p| p.file_name()))
            .collect();
        for f in std::fs::read_dir(t.root().join("packs")).unwrap() {
            let f = f.unwrap().file_name().to_string_lossy().to_string();
            assert!(named.contains(&f), "leftover {f} after a failure {name} (before: {files:?})");
        }
    }
}

#[test]
fn readers_get_correct_answers_while_compaction_runs() {
    let mut t = TestStore::new();
    for round in 0..5 {
        let ops: Vec<Op> = (0..2000)
            .map(|i| Op::Edit {
                id: id(&format!("doc{i:05}")),
                base: (round > 0).then(|| rev(&leaves(&t.store, &format!("doc{i:05}"))[0])),
                deleted: false,
                body: body(json!({"i": i, "round": round})),
            })
            .collect();
        for r in t.store.write(ops).unwrap() {
            r.unwrap();
        }
    }
    let root = t.root();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|kind| {
            let root = root.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut reads = 0u64;
                let mut store = Store::open(&root, settee::OpenOptions::default()).unwrap();
                let mut x = 12345u64 + kind;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) || reads < 200 {
                    if kind == 1 && reads % 50 == 0 {
                        // a reader that keeps opening the store anew during the switch
                        store = Store::open(&root, settee::OpenOptions::default()).unwrap();
                    }
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let i = x % 2000;
                    let (_, b) = store.get_winner(&id(&format!("doc{i:05}"))).unwrap().unwrap();
                    assert_eq!((b["i"].as_u64(), b["round"].as_u64()), (Some(i), Some(4)));
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(20));
    t.store.compact(&Options { full: true, ..Options::default() }).unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() >= 200);
    }
    let f = t.store.verify().unwrap();
    assert!(f.is_empty(), "{f:?}");
}

#[test]
fn compaction_keeps_documents_written_in_the_same_session_afterwards() {
    let mut t = conflicted_store();
    t.store.compact(&Options::default()).unwrap();
    let r = put(&mut t.store, "after", None, json!({"n": 1})).unwrap();
    put(&mut t.store, "after", Some(&r), json!({"n": 2})).unwrap();
    t.store.checkpoint().unwrap();
    t.reopen();
    assert_eq!(winner_body(&t.store, "after"), Some(json!({"n": 2})));
    let f = t.store.verify().unwrap();
    assert!(f.is_empty(), "{f:?}");
    let _ = Body::empty();
}

/// A store with more than a megabyte of bodies has a trained dictionary; compaction starts
/// its new pack with that dictionary. Every document reads back the same, a second
/// compaction (reading the new pack) changes nothing, and verification is clean.
#[test]
fn compacting_a_store_with_a_dictionary_keeps_every_document() {
    let mut t = TestStore::new();
    for round in 0..2 {
        let ops: Vec<Op> = (0..12_000)
            .map(|i| {
                let b = body(json!({"name": format!("package-{i}"), "round": round,
                    "description": format!("release {round} of package {i}, a description of some length")}));
                let base = (round > 0).then(|| {
                    let first = body(json!({"name": format!("package-{i}"), "round": 0,
                        "description": format!("release 0 of package {i}, a description of some length")}));
                    RevId::for_edit(None, false, &first.id)
                });
                Op::Edit { id: id(&format!("p{i:05}")), base, deleted: false, body: b }
            })
            .collect();
        for r in t.store.write(ops).unwrap() {
            r.unwrap();
        }
    }
    let before = snapshot(&t.store);
    let first = t.store.compact(&Options { full: true, ..Options::default() }).unwrap();
    assert!(first.objects_dropped > 0, "{first:?}");
    assert_eq!(snapshot(&t.store), before);
    let f = t.store.verify().unwrap();
    assert!(f.is_empty(), "{f:?}");
    t.reopen();
    assert_eq!(snapshot(&t.store), before);
    t.store.compact(&Options { full: true, ..Options::default() }).unwrap();
    assert_eq!(snapshot(&t.store), before);
    assert!(t.store.verify().unwrap().is_empty());
}
