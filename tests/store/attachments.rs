//! Attachments in documents: inline data written as blobs, stubs carried from the parent,
//! CouchDB's `missing_stub`, reads with stubs, data or `atts_since`, and revision ids that
//! cover the attachments.

use base64::Engine as _;
use serde_json::{json, Value};
use settee::store::GetOptions;
use settee::{ErrorKind, Incoming, Op, RevId, Store};

use crate::{id, leaves, rev, TestStore};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Write a document as `put` does (its `_attachments` taken), returning the result.
pub fn put_doc(store: &mut Store, doc: &str, v: Value) -> settee::Result<RevId> {
    let incoming = Incoming::from_value_with_attachments(v, doc)?;
    let base = incoming.rev.as_deref().map(|r| RevId::parse(r).unwrap());
    let op = store.edit_op(id(doc), base, incoming)?;
    store.write(vec![op])?.remove(0).map(|w| w.rev)
}

fn get(store: &Store, doc: &str, options: GetOptions) -> Value {
    store.get(&id(doc), &options).unwrap()
}

fn stub(content_type: &str, bytes: &[u8], revpos: u64) -> Value {
    use md5::Digest as _;
    let digest = format!("md5-{}", b64(&md5::Md5::digest(bytes)));
    json!({"content_type": content_type, "digest": digest, "length": bytes.len(), "revpos": revpos, "stub": true})
}

#[test]
fn inline_data_reads_back_as_stubs_and_as_data() {
    let mut t = TestStore::new();
    let r1 = put_doc(
        &mut t.store,
        "d",
        json!({"title": "x", "_attachments": {"hello.txt": {"content_type": "text/plain", "data": b64(b"hello")}}}),
    )
    .unwrap();
    let doc = get(&t.store, "d", GetOptions::default());
    assert_eq!(
        doc,
        json!({"_id": "d", "_rev": r1.to_string(), "title": "x",
               "_attachments": {"hello.txt": stub("text/plain", b"hello", 1)}})
    );
    // CouchDB's digest of "hello".
    assert_eq!(doc["_attachments"]["hello.txt"]["digest"], "md5-XUFAKrxLKna5cZ2REBfFkg==");
    let full = get(&t.store, "d", GetOptions { attachments: true, ..Default::default() });
    assert_eq!(full["_attachments"]["hello.txt"]["data"], b64(b"hello"));
    assert!(full["_attachments"]["hello.txt"].get("stub").is_none());
    // The body a plain winner read gives has no stored attachment member, only stubs.
    let mut text = Vec::new();
    let doc_ref = t.store.doc_ref(&id("d")).unwrap().unwrap();
    assert!(t.store.write_winner_json(&id("d"), &doc_ref, &mut text).unwrap());
    let parsed: Value = serde_json::from_slice(&text).unwrap();
    assert_eq!(parsed, doc);
    // And it survives a reopen.
    t.reopen();
    assert_eq!(get(&t.store, "d", GetOptions::default()), doc);
}

#[test]
fn a_stub_keeps_the_parents_attachment_and_others_can_be_dropped() {
    let mut t = TestStore::new();
    let r1 = put_doc(
        &mut t.store,
        "d",
        json!({"_attachments": {
            "a": {"content_type": "text/plain", "data": b64(b"aaa")},
            "b": {"content_type": "image/png", "data": b64(b"bbb")},
            "c": {"data": b64(b"ccc")},
        }}),
    )
    .unwrap();
    // Keep a (stub), replace b, drop c.
    let r2 = put_doc(
        &mut t.store,
        "d",
        json!({"_rev": r1.to_string(), "v": 2, "_attachments": {
            "a": {"stub": true, "revpos": 1},
            "b": {"content_type": "image/png", "data": b64(b"BBBB")},
        }}),
    )
    .unwrap();
    let doc = get(&t.store, "d", GetOptions::default());
    assert_eq!(
        doc["_attachments"],
        json!({"a": stub("text/plain", b"aaa", 1), "b": stub("image/png", b"BBBB", 2)})
    );
    // The older revision still has its three.
    let old =
        get(&t.store, "d", GetOptions { rev: Some(r1.clone()), attachments: true, ..Default::default() });
    assert_eq!(old["_attachments"]["c"]["data"], b64(b"ccc"));
    assert_eq!(old["_attachments"]["c"]["content_type"], "application/octet-stream");
    // A write without _attachments leaves the new revision without any (CouchDB).
    let r3 = put_doc(&mut t.store, "d", json!({"_rev": r2.to_string()})).unwrap();
    assert!(get(&t.store, "d", GetOptions::default()).get("_attachments").is_none());
    assert_eq!(r3.pos, 3);
}

#[test]
fn a_stub_the_parent_lacks_is_refused_and_nothing_is_written() {
    let mut t = TestStore::new();
    let r1 = put_doc(&mut t.store, "d", json!({"_attachments": {"a": {"data": b64(b"a")}}})).unwrap();
    let seq = t.store.last_seq();
    let blobs = t.store.blob_stats().unwrap();
    for bad in [
        json!({"_rev": r1.to_string(), "_attachments": {"zz": {"stub": true}}}),
        json!({"_rev": r1.to_string(), "_attachments": {"a": {"stub": true, "revpos": 7}}}),
        json!({"_attachments": {"a": {"stub": true}}, "new": true}),
    ] {
        let doc = if bad.get("new").is_some() { "fresh" } else { "d" };
        let err = put_doc(&mut t.store, doc, bad.clone()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Precondition, "{bad}: {err}");
    }
    assert_eq!(t.store.last_seq(), seq);
    assert_eq!(leaves(&t.store, "d"), vec![r1.to_string()]);
    assert!(t.store.doc_ref(&id("fresh")).unwrap().is_none());
    assert_eq!(t.store.blob_stats().unwrap(), blobs);
}

#[test]
fn a_digest_that_does_not_match_the_data_is_refused() {
    let mut t = TestStore::new();
    let err = put_doc(
        &mut t.store,
        "d",
        json!({"_attachments": {"a": {"data": b64(b"a"), "digest": "md5-XUFAKrxLKna5cZ2REBfFkg=="}}}),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(t.store.doc_ref(&id("d")).unwrap().is_none());
}

#[test]
fn atts_since_sends_only_attachments_written_after_the_newest_known_revision() {
    let mut t = TestStore::new();
    let r1 = put_doc(&mut t.store, "d", json!({"_attachments": {"old": {"data": b64(b"old")}}})).unwrap();
    let r2 = put_doc(
        &mut t.store,
        "d",
        json!({"_rev": r1.to_string(), "_attachments": {"old": {"stub": true}, "new": {"data": b64(b"new")}}}),
    )
    .unwrap();
    let r3 = put_doc(
        &mut t.store,
        "d",
        json!({"_rev": r2.to_string(), "x": 1, "_attachments": {"old": {"stub": true}, "new": {"stub": true}}}),
    )
    .unwrap();
    let since = |revs: &[&RevId]| GetOptions {
        atts_since: Some(revs.iter().map(|r| (*r).clone()).collect()),
        ..Default::default()
    };
    let d = get(&t.store, "d", since(&[&r1]));
    assert_eq!(d["_rev"], r3.to_string());
    assert_eq!(d["_attachments"]["new"]["data"], b64(b"new"));
    assert_eq!(d["_attachments"]["old"]["stub"], true);
    let d = get(&t.store, "d", since(&[&r2, &r1]));
    assert_eq!(d["_attachments"]["new"]["stub"], true);
    let unknown = rev("9-zzz");
    let d = get(&t.store, "d", since(&[&unknown]));
    assert_eq!(d["_attachments"]["old"]["data"], b64(b"old"));
}

#[test]
fn the_same_edit_gives_the_same_revision_on_two_stores() {
    let mut a = TestStore::new();
    let mut b = TestStore::new();
    let doc = json!({"n": 1, "_attachments": {"p": {"content_type": "text/plain", "data": b64(b"same")}}});
    let ra = put_doc(&mut a.store, "d", doc.clone()).unwrap();
    let rb = put_doc(&mut b.store, "d", doc).unwrap();
    assert_eq!(ra, rb);
    // Other bytes, or another type, give another revision.
    let other = json!({"n": 1, "_attachments": {"p": {"content_type": "text/html", "data": b64(b"same")}}});
    let mut c = TestStore::new();
    assert_ne!(put_doc(&mut c.store, "d", other).unwrap(), ra);
    let plain = put_doc(&mut c.store, "e", json!({"n": 1})).unwrap();
    assert_ne!(plain.hash, ra.hash);
}

#[test]
fn documents_sharing_bytes_share_one_blob() {
    let mut t = TestStore::new();
    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    for i in 0..20 {
        put_doc(
            &mut t.store,
            &format!("d{i}"),
            json!({"i": i, "_attachments": {"f.bin": {"data": b64(&bytes)}}}),
        )
        .unwrap();
    }
    assert_eq!(t.store.blob_stats().unwrap().blobs, 1);
}

#[test]
fn a_replicated_body_naming_a_blob_the_store_lacks_is_refused() {
    let mut src = TestStore::new();
    put_doc(&mut src.store, "d", json!({"_attachments": {"a": {"data": b64(b"abc")}}})).unwrap();
    let revs =
        src.store.revisions_with_history(&id("d"), &[leaves(&src.store, "d")[0].parse().unwrap()]).unwrap();
    let r = revs.into_iter().next().unwrap();
    let mut dst = TestStore::new();
    let op = Op::Replicate {
        id: r.id.clone(),
        rev: r.rev.clone(),
        ancestry: r.ancestry.clone(),
        deleted: false,
        body: r.body.clone(),
    };
    let err = dst.store.write(vec![op.clone()]).unwrap().remove(0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Precondition);
    assert!(dst.store.doc_ref(&id("d")).unwrap().is_none());
    // With the blob copied first, the same write goes in.
    let blob = settee::attachment::of_bytes(&r.body.bytes).unwrap()["a"].blob;
    let mut reader = src.store.open_blob(&blob).unwrap().unwrap();
    dst.store.write_blob(&mut reader, None, settee::blob::Compression::Sample).unwrap();
    dst.store.write(vec![op]).unwrap().remove(0).unwrap();
    let d = dst.store.get(&id("d"), &GetOptions { attachments: true, ..Default::default() }).unwrap();
    assert_eq!(d["_attachments"]["a"]["data"], b64(b"abc"));
}

/// Make every blob file look written `secs` seconds ago (compaction drops only blobs older
/// than its start, less a grace period).
pub fn age_blobs(t: &TestStore, secs: u64) {
    let when = std::time::SystemTime::now() - std::time::Duration::from_secs(secs);
    for e in std::fs::read_dir(t.root().join("blobs")).unwrap() {
        let path = e.unwrap().path();
        std::fs::File::open(&path).unwrap().set_modified(when).unwrap();
    }
}

fn full() -> GetOptions {
    GetOptions { attachments: true, ..Default::default() }
}

#[test]
fn compaction_keeps_the_blobs_of_kept_revisions_and_drops_the_rest() {
    let mut t = TestStore::new();
    let r1 = put_doc(
        &mut t.store,
        "d",
        json!({"_attachments": {"keep": {"content_type": "text/plain", "data": b64(b"kept bytes")}, "drop": {"data": b64(b"dropped")}}}),
    )
    .unwrap();
    let r2 =
        put_doc(&mut t.store, "d", json!({"_rev": r1.to_string(), "_attachments": {"keep": {"stub": true}}}))
            .unwrap();
    // A conflict: its common ancestor's attachment stays with it.
    put_doc(&mut t.store, "c", json!({"_attachments": {"base": {"data": b64(b"ancestor")}}})).unwrap();
    let base = rev(&leaves(&t.store, "c")[0]);
    put_doc(&mut t.store, "c", json!({"_rev": base.to_string(), "side": 1})).unwrap();
    crate::replicate(&mut t.store, "c", 2, &["zzz", &base.hash.to_string()], false, json!({"side": 2}));
    // A purged document's blob goes at the next compaction.
    let p = put_doc(&mut t.store, "p", json!({"_attachments": {"gone": {"data": b64(b"purged")}}})).unwrap();
    t.store.purge(&id("p"), &[p]).unwrap();
    let before = get(&t.store, "d", full());
    assert_eq!(t.store.blob_stats().unwrap().blobs, 4);
    // Blobs written within the grace period are kept whatever names them.
    let o = t.store.compact(&settee::compact::Options { full: true, ..Default::default() }).unwrap();
    assert_eq!(o.blobs_dropped, 0);
    age_blobs(&t, 3600);
    // Sealing again would not pay by itself; the garbage blobs make the compaction run.
    let o = t.store.compact(&settee::compact::Options { full: true, ..Default::default() }).unwrap();
    assert_eq!(o.blobs_dropped, 2, "{o:?}");
    assert_eq!(t.store.blob_stats().unwrap().blobs, 2);
    assert_eq!(get(&t.store, "d", full()), before);
    assert_eq!(before["_rev"], r2.to_string());
    let anc = t
        .store
        .get(&id("c"), &GetOptions { rev: Some(base), attachments: true, ..Default::default() })
        .unwrap();
    assert_eq!(anc["_attachments"]["base"]["data"], b64(b"ancestor"));
    assert!(t.store.verify().unwrap().is_empty());
    t.reopen();
    assert_eq!(get(&t.store, "d", full()), before);
    // A compaction with nothing to drop leaves the blobs alone.
    let o = t.store.compact(&settee::compact::Options { full: true, ..Default::default() }).unwrap();
    assert_eq!(o.blobs_dropped, 0);
    assert_eq!(t.store.blob_stats().unwrap().blobs, 2);
}

#[test]
fn a_commit_naming_a_blob_compaction_dropped_is_refused() {
    let mut t = TestStore::new();
    let r1 = put_doc(&mut t.store, "d", json!({"n": 1})).unwrap();
    // A writer wrote its blob long ago and has not committed yet.
    let info = t.store.write_attachment_data(&id("d"), "late", "text/plain", b"late bytes", None).unwrap();
    let mut attachments = settee::attachment::PendingSet::new();
    attachments
        .insert("late".into(), settee::attachment::Pending::New { content_type: "text/plain".into(), info });
    let op = Op::EditWithAttachments {
        id: id("d"),
        base: Some(r1.clone()),
        deleted: false,
        body: crate::body(json!({})),
        attachments,
    };
    age_blobs(&t, 3600);
    let o = t.store.compact(&settee::compact::Options { full: true, ..Default::default() }).unwrap();
    assert_eq!(o.blobs_dropped, 1);
    let err = t.store.write(vec![op]).unwrap().remove(0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Precondition, "{err}");
    assert_eq!(leaves(&t.store, "d"), vec![r1.to_string()]);
}

#[test]
fn fsck_names_the_document_revision_and_attachment_of_a_missing_blob() {
    let mut t = TestStore::new();
    let r1 = put_doc(&mut t.store, "d", json!({"_attachments": {"a.txt": {"data": b64(b"aaa")}}})).unwrap();
    let r2 = put_doc(&mut t.store, "d", json!({"_rev": r1.to_string(), "_attachments": {"a.txt": {"stub": true}, "b": {"data": b64(b"bbb")}}})).unwrap();
    assert!(t.store.verify().unwrap().is_empty());
    let a = settee::blob::id_of(b"aaa");
    std::fs::remove_file(t.root().join("blobs").join(a.to_string())).unwrap();
    let findings: Vec<String> = t.store.verify().unwrap().iter().map(ToString::to_string).collect();
    assert_eq!(
        findings,
        vec![
            format!("document d: revision {r1} attachment a.txt: blob {a} is missing"),
            format!("document d: revision {r2} attachment a.txt: blob {a} is missing"),
        ]
    );
    // A read of its bytes is an error naming the blob; a stub read needs no bytes.
    let err = t.store.get(&id("d"), &full()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    assert!(err.to_string().contains(&a.to_string()), "{err}");
    get(&t.store, "d", GetOptions::default());
}

/// Replicate `from` into `to` with the store transport.
fn pull(to: &mut Store, from: &mut Store) -> settee::replicate::Outcome {
    use settee::transport::local::LocalStore;
    let options = settee::replicate::Options { batch_size: 7, ..Default::default() };
    settee::replicate::replicate(&mut LocalStore::new(from), &mut LocalStore::new(to), &options, &mut ())
        .unwrap()
}

#[test]
fn replication_sends_only_the_blobs_the_target_lacks() {
    let mut a = TestStore::new();
    let mib: Vec<u8> = (0..1u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 11) as u8).collect();
    let data = b64(&mib);
    for i in 0..200 {
        put_doc(
            &mut a.store,
            &format!("d{i:03}"),
            json!({"i": i, "_attachments": {"photo.bin": {"content_type": "application/octet-stream", "data": data}}}),
        )
        .unwrap();
    }
    assert_eq!(a.store.blob_stats().unwrap().blobs, 1);
    // To an empty store: the one blob, once.
    let mut b = TestStore::new();
    let o = pull(&mut b.store, &mut a.store);
    assert_eq!((o.revisions_written, o.blobs_written, o.blob_bytes_written), (200, 1, 1 << 20));
    let d = b.store.get(&id("d123"), &full()).unwrap();
    assert_eq!(d, a.store.get(&id("d123"), &full()).unwrap());
    assert!(b.store.verify().unwrap().is_empty());
    // To a store that holds the bytes under another document: none.
    let mut c = TestStore::new();
    put_doc(&mut c.store, "mine", json!({"_attachments": {"x": {"data": data}}})).unwrap();
    let o = pull(&mut c.store, &mut a.store);
    assert_eq!((o.revisions_written, o.blobs_written, o.blob_bytes_written), (200, 0, 0));
    // Run again: nothing at all.
    let o = pull(&mut b.store, &mut a.store);
    assert_eq!((o.revisions_written, o.blobs_written), (0, 0));
}

mod convergence {
    use super::*;
    use quickcheck::{Arbitrary, Gen, QuickCheck};

    use crate::replication::two;
    use std::collections::BTreeMap;

    /// One step: an edit of a document's attachments on a store, or a replication.
    #[derive(Clone, Debug)]
    enum Action {
        /// Keep the winner's attachments except `drop`, and write `add` (bytes number `content`).
        Edit {
            store: u8,
            doc: u8,
            add: Option<(u8, u8)>,
            drop: Option<u8>,
        },
        Pull {
            to: u8,
            from: u8,
        },
    }

    impl Arbitrary for Action {
        fn arbitrary(g: &mut Gen) -> Action {
            if u8::arbitrary(g) % 3 == 0 {
                Action::Pull { to: u8::arbitrary(g), from: u8::arbitrary(g) }
            } else {
                let pick = |g: &mut Gen| u8::arbitrary(g) % 3;
                Action::Edit {
                    store: u8::arbitrary(g),
                    doc: pick(g),
                    add: bool::arbitrary(g).then(|| (pick(g), pick(g))),
                    drop: bool::arbitrary(g).then(|| pick(g)),
                }
            }
        }
    }

    fn content(n: u8) -> Vec<u8> {
        format!("attachment bytes number {n}").repeat(usize::from(n) * 50 + 1).into_bytes()
    }

    /// Every document's leaves, and every leaf's attachments with their bytes.
    fn state(store: &Store) -> BTreeMap<String, Vec<Value>> {
        store
            .docs(None, None)
            .map(|d| {
                let (doc_id, _) = d.unwrap();
                let all = GetOptions {
                    open_revs: Some(settee::store::OpenRevs::All),
                    attachments: true,
                    ..Default::default()
                };
                let Value::Array(leaves) = store.get(&doc_id, &all).unwrap() else { unreachable!() };
                (doc_id.to_string(), leaves)
            })
            .collect()
    }

    fn converge(actions: Vec<Action>) -> bool {
        const N: u8 = 3;
        let mut stores: Vec<TestStore> = (0..N).map(|_| TestStore::new()).collect();
        for action in actions {
            match action {
                Action::Edit { store, doc, add, drop } => {
                    let s = &mut stores[usize::from(store % N)].store;
                    let name = format!("doc{doc}");
                    let winner = s.revision_attachments(&id(&name), None).ok();
                    let mut atts = serde_json::Map::new();
                    if let Some((_, _, current)) = &winner {
                        for (n, a) in current {
                            atts.insert(n.clone(), json!({"stub": true, "revpos": a.revpos}));
                        }
                    }
                    if let Some(d) = drop {
                        atts.remove(&format!("a{d}"));
                    }
                    if let Some((n, c)) = add {
                        atts.insert(
                            format!("a{n}"),
                            json!({"content_type": "text/plain", "data": b64(&content(c))}),
                        );
                    }
                    let mut doc_json = json!({"_attachments": atts});
                    if let Some((rev, _, _)) = &winner {
                        doc_json["_rev"] = json!(rev.to_string());
                    }
                    put_doc(s, &name, doc_json).unwrap();
                }
                Action::Pull { to, from } if to % N == from % N => {}
                Action::Pull { to, from } => {
                    let (t, f) = two(&mut stores, usize::from(to % N), usize::from(from % N));
                    pull(&mut t.store, &mut f.store);
                }
            }
        }
        for i in 1..stores.len() {
            let (x, y) = two(&mut stores, 0, i);
            pull(&mut x.store, &mut y.store);
        }
        for i in 1..stores.len() {
            let (x, y) = two(&mut stores, i, 0);
            pull(&mut x.store, &mut y.store);
        }
        let reference = state(&stores[0].store);
        for s in &stores {
            assert_eq!(state(&s.store), reference, "leaves or attachments differ after a full sync");
            assert!(s.store.verify().unwrap().is_empty());
        }
        true
    }

    #[test]
    fn stores_with_attachments_converge_whatever_the_sync_schedule() {
        let cases = std::env::var("SETTEE_CONVERGENCE_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
        QuickCheck::new().tests(cases).max_tests(cases * 10).quickcheck(converge as fn(Vec<Action>) -> bool);
    }
}

#[test]
fn a_bundle_streams_blobs_of_every_size_across_its_read_pieces() {
    use std::io::Read as _;
    // The reader hashes the file in 1 MiB pieces: blobs that are empty, several in one
    // piece, just under, exactly and just over a piece's length (straddling one boundary or
    // two) must each be checked and served whole.
    const MIB: usize = 1 << 20;
    let sizes = [0, 1, MIB - 300, MIB, 2 * MIB + 1, 5];
    let mut t = TestStore::new();
    let mut contents = Vec::new();
    for (i, len) in sizes.iter().enumerate() {
        let bytes: Vec<u8> =
            (0..*len).map(|j| (j as u32).wrapping_mul(2_654_435_761).rotate_left(i as u32) as u8).collect();
        put_doc(
            &mut t.store,
            &format!("d{i}"),
            json!({"_attachments": {"a.bin": {"content_type": "application/octet-stream", "data": b64(&bytes)}}}),
        )
        .unwrap();
        contents.push(bytes);
    }
    let file = t.dir.path().join("all.bundle");
    let made = settee::bundle::create(&t.store, &file, settee::Seq(0)).unwrap();
    assert_eq!(made.blobs, sizes.len());
    assert_eq!(made.blob_bytes, sizes.iter().sum::<usize>() as u64);
    let on_disk = std::fs::read(&file).unwrap();
    for bundle in [
        settee::bundle::Bundle::open(&file).unwrap(),
        settee::bundle::Bundle::from_bytes(&on_disk, &file).unwrap(),
    ] {
        assert_eq!(bundle.blob_count(), sizes.len());
        for bytes in &contents {
            let id = settee::blob::id_of(bytes);
            let mut got = Vec::new();
            bundle.open_blob(&id).unwrap().unwrap().read_to_end(&mut got).unwrap();
            assert!(got == *bytes, "blob of {} bytes", bytes.len());
        }
    }
    // The blob of exactly one piece's length, damaged in its last byte and given a matching
    // trailer: its id check (not the trailer) refuses the bundle.
    let at = on_disk.windows(64).position(|w| w == &contents[3][MIB - 64..]).unwrap() + 63;
    let mut bad = on_disk.clone();
    bad[at] ^= 1;
    let n = bad.len() - 20;
    let sum = settee::id::sha1(&bad[..n]);
    bad[n..].copy_from_slice(sum.as_bytes());
    let err = settee::bundle::Bundle::from_bytes(&bad, &file).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    assert!(
        err.to_string().contains(&format!("blob {} is damaged", settee::blob::id_of(&contents[3]))),
        "{err}"
    );
}
