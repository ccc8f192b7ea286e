//! Interactive writes, reads and the changes feed.

use serde_json::json;
use settee::store::GetOptions;
use settee::{ErrorKind, Seq};

use crate::*;

#[test]
fn create_read_update() {
    let mut t = TestStore::new();
    let r1 = put(&mut t.store, "a", None, json!({"n": 1})).unwrap();
    assert_eq!(r1.pos, 1);
    assert_eq!(winner_body(&t.store, "a"), Some(json!({"n": 1})));
    let r2 = put(&mut t.store, "a", Some(&r1), json!({"n": 2})).unwrap();
    assert_eq!(r2.pos, 2);
    let doc = t.store.get(&id("a"), &GetOptions::default()).unwrap();
    assert_eq!(doc, json!({"_id": "a", "_rev": r2.to_string(), "n": 2}));
}

#[test]
fn mvcc_rules_follow_couchdb() {
    let mut t = TestStore::new();
    // absent + rev -> conflict
    let e = put(&mut t.store, "a", Some(&rev("1-abc")), sample()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    let r1 = put(&mut t.store, "a", None, sample()).unwrap();
    // exists + no rev -> conflict
    assert_eq!(put(&mut t.store, "a", None, sample()).unwrap_err().kind(), ErrorKind::Conflict);
    // exists + unknown rev -> conflict
    assert_eq!(
        put(&mut t.store, "a", Some(&rev("1-zzz")), sample()).unwrap_err().kind(),
        ErrorKind::Conflict
    );
    let r2 = put(&mut t.store, "a", Some(&r1), json!({"v": 2})).unwrap();
    // stale (non-leaf) rev -> conflict
    assert_eq!(put(&mut t.store, "a", Some(&r1), json!({"v": 3})).unwrap_err().kind(), ErrorKind::Conflict);
    let r3 = delete(&mut t.store, "a", &r2).unwrap();
    assert_eq!(r3.pos, 3);
    // deleted + any rev (even the tombstone's) -> conflict
    assert_eq!(put(&mut t.store, "a", Some(&r3), sample()).unwrap_err().kind(), ErrorKind::Conflict);
    // deleted + delete again -> conflict
    let again = settee::Op::Edit { id: id("a"), base: None, deleted: true, body: settee::Body::empty() };
    assert_eq!(t.store.write(vec![again]).unwrap().remove(0).unwrap_err().kind(), ErrorKind::Conflict);
    // plain read of a deleted doc: not found, "deleted"
    let e = t.store.get(&id("a"), &GetOptions::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("deleted"), "{e}");
    // recreate without rev: child of the winning tombstone
    let r4 = put(&mut t.store, "a", None, json!({"back": true})).unwrap();
    assert_eq!(r4.pos, 4);
    assert_eq!(winner_body(&t.store, "a"), Some(json!({"back": true})));
    // the tombstone is still readable by rev
    let tomb = t.store.get(&id("a"), &GetOptions { rev: Some(r3.clone()), ..Default::default() }).unwrap();
    assert_eq!(tomb, json!({"_id": "a", "_rev": r3.to_string(), "_deleted": true}));
}

#[test]
fn same_edit_gives_same_revision_on_two_stores() {
    let mut a = TestStore::new();
    let mut b = TestStore::new();
    let ra = put(&mut a.store, "x", None, sample()).unwrap();
    let rb = put(&mut b.store, "x", None, sample()).unwrap();
    assert_eq!(ra, rb);
    let ra2 = put(&mut a.store, "x", Some(&ra), json!({"k": 1})).unwrap();
    let rb2 = put(&mut b.store, "x", Some(&rb), json!({"k": 1})).unwrap();
    assert_eq!(ra2, rb2);
    assert_ne!(ra2, put(&mut a.store, "y", None, json!({"k": 2})).unwrap());
}

#[test]
fn revisions_and_revs_info() {
    let mut t = TestStore::new();
    let mut revs = vec![put(&mut t.store, "a", None, json!({"i": 0})).unwrap()];
    for i in 1..5 {
        let r = put(&mut t.store, "a", revs.last(), json!({"i": i})).unwrap();
        revs.push(r);
    }
    let options = GetOptions { revs: true, revs_info: true, ..Default::default() };
    let doc = t.store.get(&id("a"), &options).unwrap();
    let ids: Vec<String> = revs.iter().rev().map(|r| r.hash.to_string()).collect();
    assert_eq!(doc["_revisions"], json!({"start": 5, "ids": ids}));
    let info = doc["_revs_info"].as_array().unwrap();
    assert_eq!(info.len(), 5);
    assert!(info.iter().all(|i| i["status"] == "available"));
    assert_eq!(info[0]["rev"], revs[4].to_string());
    // an old revision is still readable before compaction
    let old =
        t.store.get(&id("a"), &GetOptions { rev: Some(revs[1].clone()), ..Default::default() }).unwrap();
    assert_eq!(old["i"], 1);
}

#[test]
fn long_histories_are_stemmed_to_revs_limit() {
    let mut t = TestStore::new();
    let mut config = t.store.config().clone();
    config.revs_limit = 50;
    t.store.set_config(config).unwrap();
    let mut r = put(&mut t.store, "a", None, json!({"i": 0})).unwrap();
    for i in 1..200 {
        r = put(&mut t.store, "a", Some(&r), json!({"i": i})).unwrap();
    }
    assert_eq!(r.pos, 200);
    let doc = t.store.get(&id("a"), &GetOptions { revs: true, ..Default::default() }).unwrap();
    assert_eq!(doc["_revisions"]["ids"].as_array().unwrap().len(), 50);
    assert_eq!(doc["_revisions"]["start"], 200);
}

#[test]
fn changes_list_each_document_once_at_its_latest_seq() {
    let mut t = TestStore::new();
    let a1 = put(&mut t.store, "a", None, sample()).unwrap();
    put(&mut t.store, "b", None, sample()).unwrap();
    let a2 = put(&mut t.store, "a", Some(&a1), json!({"v": 2})).unwrap();
    let c = put(&mut t.store, "c", None, sample()).unwrap();
    delete(&mut t.store, "c", &c).unwrap();
    let rows: Vec<(u64, String)> = t
        .store
        .changes(Seq(0))
        .map(|c| {
            let c = c.unwrap();
            (c.seq.0, c.id.to_string())
        })
        .collect();
    assert_eq!(rows, vec![(2, "b".into()), (3, "a".into()), (5, "c".into())]);
    let last: Vec<_> = t.store.changes(Seq(3)).map(|c| c.unwrap()).collect();
    assert_eq!(last.len(), 1);
    assert!(last[0].deleted());
    // the same after a checkpoint folds everything into the tables, and with new writes on top
    t.store.checkpoint().unwrap();
    let b = rev(&leaves(&t.store, "b")[0]);
    put(&mut t.store, "b", Some(&b), json!({"v": 9})).unwrap();
    let rows: Vec<(u64, String)> = t
        .store
        .changes(Seq(0))
        .map(|c| {
            let c = c.unwrap();
            (c.seq.0, c.id.to_string())
        })
        .collect();
    assert_eq!(rows, vec![(3, "a".into()), (5, "c".into()), (6, "b".into())]);
    assert_eq!(leaves(&t.store, "a"), vec![a2.to_string()]);
}

#[test]
fn docs_iterate_in_id_order_across_tables_and_journal() {
    let mut t = TestStore::new();
    for name in ["m", "c", "x"] {
        put(&mut t.store, name, None, sample()).unwrap();
    }
    t.store.checkpoint().unwrap();
    for name in ["a", "n", "z"] {
        put(&mut t.store, name, None, sample()).unwrap();
    }
    let c = rev(&leaves(&t.store, "c")[0]);
    delete(&mut t.store, "c", &c).unwrap();
    let ids: Vec<String> = t.store.docs(None, None).map(|d| d.unwrap().0.to_string()).collect();
    assert_eq!(ids, ["a", "c", "m", "n", "x", "z"]);
    let ids: Vec<String> = t.store.docs(Some("b"), Some("n")).map(|d| d.unwrap().0.to_string()).collect();
    assert_eq!(ids, ["c", "m", "n"]);
}

#[test]
fn local_documents_have_no_history_and_no_changes() {
    let mut t = TestStore::new();
    let lid = settee::DocId::parse_local("checkpoint").unwrap();
    assert_eq!(t.store.put_local(&lid, &obj(json!({"seq": 1}))).unwrap(), "0-1");
    assert_eq!(t.store.put_local(&lid, &obj(json!({"seq": 2}))).unwrap(), "0-2");
    let doc = t.store.get_local(&lid).unwrap().unwrap();
    assert_eq!(serde_json::Value::Object(doc), json!({"_id": "_local/checkpoint", "_rev": "0-2", "seq": 2}));
    assert_eq!(t.store.changes(Seq(0)).count(), 0);
    assert_eq!(t.store.docs(None, None).count(), 0);
    t.store.checkpoint().unwrap();
    t.reopen();
    assert!(t.store.get_local(&lid).unwrap().is_some());
    assert!(t.store.remove_local(&lid).unwrap());
    assert!(t.store.get_local(&lid).unwrap().is_none());
    assert!(!t.store.remove_local(&lid).unwrap());
}

#[test]
fn identical_bodies_are_stored_once() {
    let mut t = TestStore::new();
    for i in 0..50 {
        put(&mut t.store, &format!("doc{i}"), None, sample()).unwrap();
    }
    // one body; each leaf's revision object lives in its ref until it gets a child
    assert_eq!(t.store.odb().object_count(), 1);
    let r = rev(&leaves(&t.store, "doc0")[0]);
    put(&mut t.store, "doc0", Some(&r), json!({"v": 2})).unwrap();
    // the new body, and doc0's first revision, now an inner node, moved to the pack
    assert_eq!(t.store.odb().object_count(), 3);
}

#[test]
fn a_writer_is_refused_only_while_another_holds_the_lock() {
    let mut t = TestStore::new();
    // an open writable store does not hold the lock: a second writer opens and writes
    let mut second =
        Store::open(&t.root(), settee::OpenOptions { write: true, wait_for_lock: None }).unwrap();
    put(&mut second, "a", None, sample()).unwrap();
    // while one handle holds it, the other's write fails at once, naming the holder's pid
    let op = Op::Edit { id: id("b"), base: None, deleted: false, body: body(sample()) };
    let e = t.store.locked(|_| Ok::<_, settee::Error>(second.write(vec![op]))).unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Locked);
    assert!(e.to_string().contains(&format!("pid {}", std::process::id())), "{e}");
    let _reader = t.reader();
    put(&mut second, "b", None, sample()).unwrap();
}

/// The raw JSON text of a winner is the text of the parsed document, for plain, empty,
/// escaped and non-ASCII bodies and ids, and nothing for a deleted winner.
#[test]
fn winner_json_text_equals_the_rendered_document() {
    let mut t = TestStore::new();
    let cases = [
        ("plain", json!({"name": "a", "n": 1, "nested": {"x": [1, 2, {"y": null}]}})),
        ("empty", json!({})),
        ("quote\"and\\slash", json!({"text": "line\nbreak \"quoted\" \u{1F600}"})),
        ("ünïcode/ids", json!({"é": "ü", "big": 1.5e300, "neg": -0.25})),
    ];
    for (doc, v) in &cases {
        put(&mut t.store, doc, None, v.clone()).unwrap();
    }
    let gone = put(&mut t.store, "gone", None, json!({"a": 1})).unwrap();
    t.store
        .write(vec![Op::Edit { id: id("gone"), base: Some(gone), deleted: true, body: body(json!({})) }])
        .unwrap();
    for (doc, _) in &cases {
        let (rev, parsed) = t.store.get_winner(&id(doc)).unwrap().unwrap();
        let expected = serde_json::to_vec(&settee::store::render_doc(&id(doc), &rev, false, parsed)).unwrap();
        let doc_ref = t.store.doc_ref(&id(doc)).unwrap().unwrap();
        let mut text = b"prefix".to_vec();
        assert!(t.store.write_winner_json(&id(doc), &doc_ref, &mut text).unwrap());
        assert_eq!(String::from_utf8_lossy(&text[6..]), String::from_utf8_lossy(&expected), "{doc}");
    }
    let doc_ref = t.store.doc_ref(&id("gone")).unwrap().unwrap();
    let mut text = Vec::new();
    assert!(!t.store.write_winner_json(&id("gone"), &doc_ref, &mut text).unwrap());
    assert!(text.is_empty());
}

/// Ids that share long prefixes (16 bytes and more, the part ordering looks at first) come
/// out of the overlay and out of the tables in byte order, and a checkpoint keeps them all.
#[test]
fn ids_with_long_common_prefixes_stay_in_byte_order() {
    let mut t = TestStore::new();
    let p = "p".repeat(16);
    let ids = [
        format!("{p}b"),
        format!("{p}a"),
        p.clone(),
        format!("{}q", &p[..15]),
        format!("{p}ab"),
        format!("{}o", &p[..15]),
        format!("{p}{p}"),
        "a".to_string(),
        format!("{p}{p}a"),
    ];
    let ops: Vec<Op> = ids
        .iter()
        .map(|i| Op::Edit { id: id(i), base: None, deleted: false, body: body(json!({"id": i})) })
        .collect();
    for r in t.store.write(ops).unwrap() {
        r.unwrap();
    }
    let mut sorted = ids.to_vec();
    sorted.sort();
    let listed = |s: &Store| s.entries_from("").map(|e| e.unwrap().0).collect::<Vec<_>>();
    assert_eq!(listed(&t.store), sorted, "from the overlay");
    t.store.checkpoint().unwrap();
    assert_eq!(listed(&t.store), sorted, "from the tables");
    for i in &ids {
        assert_eq!(winner_body(&t.store, i).unwrap()["id"], json!(i));
    }
}
