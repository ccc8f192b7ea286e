//! Attachments replicated with a real PouchDB Server: inline and streamed, text and binary,
//! shared by two documents, large, changed and removed; the bytes and digests read back
//! over plain HTTP, and a body-only change that moves no attachment bytes.

use base64::Engine as _;
use serde_json::{json, Value};

use super::proxy::{Faults, Proxy};
use super::{percent, PouchServer};
use crate::*;

use crate::rng::noise;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// CouchDB's `md5-<base64>` digest of `bytes`, as the server reports it.
fn server_digest(server: &PouchServer, db: &str, id: &str, name: &str) -> String {
    let (status, doc) = server.get(&format!("{db}/{}", percent(id)));
    assert_eq!(status, 200, "{doc}");
    doc["_attachments"][name]["digest"].as_str().unwrap_or_default().to_string()
}

/// `settee attachment ID NAME` as bytes (through a file: stdout is read as UTF-8).
fn local_bytes(env: &TestEnv, id: &str, name: &str) -> Vec<u8> {
    let out = env.path().join("out.bin");
    env.settee(["attachment", id, name, "-o", out.to_str().unwrap()]).ok();
    std::fs::read(out).unwrap()
}

#[test]
fn fetch_takes_attachments_inline_and_streamed_and_a_body_change_moves_no_bytes() {
    let server = PouchServer::in_memory();
    assert_eq!(server.call("PUT", "atts", None).0, 201);
    let text = b"hello, attachments\n".to_vec();
    let binary: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let big = noise(1_500_000, 7);
    let put = |id: &str, doc: Value| {
        let (status, answer) = server.call("PUT", &format!("atts/{id}"), Some(&doc));
        assert_eq!(status, 201, "{answer}");
        answer["rev"].as_str().unwrap().to_string()
    };
    let small_rev = put(
        "small",
        json!({"kind": "small", "_attachments": {
            "note.txt": {"content_type": "text/plain", "data": b64(&text)},
            "raw.bin": {"content_type": "application/octet-stream", "data": b64(&binary)}}}),
    );
    put("twin", json!({"_attachments": {"note.txt": {"content_type": "text/plain", "data": b64(&text)}}}));
    let big_rev = put(
        "big",
        json!({"_attachments": {"big.bin": {"content_type": "application/octet-stream", "data": b64(&big)}}}),
    );

    let env = TestEnv::bare();
    env.settee(["clone", &server.db("atts"), "."]).ok();
    for (id, name, bytes) in [
        ("small", "note.txt", &text),
        ("small", "raw.bin", &binary),
        ("twin", "note.txt", &text),
        ("big", "big.bin", &big),
    ] {
        assert_eq!(&local_bytes(&env, id, name), bytes, "{id}/{name}");
        assert_eq!(&server.get_bytes(&format!("atts/{id}/{name}")).1, bytes, "{id}/{name}");
        let here = env.get_json(&[id]);
        assert_eq!(
            here["_attachments"][name]["digest"],
            server_digest(&server, "atts", id, name).as_str(),
            "{id}/{name}"
        );
        assert_eq!(here["_attachments"][name]["length"], bytes.len(), "{id}/{name}");
    }
    assert_eq!(env.settee(["fsck"]).code, 0);

    // A second revision on the server that changes only the bodies: fetched through a
    // counting proxy, it moves the bodies and no attachment bytes.
    let (_, doc) = server.get("atts/big");
    let mut doc = doc;
    doc["kind"] = json!("big, edited");
    put("big", doc);
    let (_, doc) = server.get("atts/small");
    let mut doc = doc;
    doc["kind"] = json!("small, edited");
    put("small", doc);
    let proxy = Proxy::start(server.port, Faults { error_500: 0, cut: 0 }, 1);
    let report = env.settee(["--json", "fetch", &proxy.url("atts")]).json();
    assert_eq!(report["revisions_written"], 2, "{report}");
    assert_eq!(report["write_failures"], 0, "{report}");
    let requests = proxy.requests.lock().unwrap().clone();
    assert!(
        !requests.iter().any(|r| r.contains(".bin") || r.contains(".txt") || r.contains("attachments=true")),
        "{requests:#?}"
    );
    let answered = proxy.answered.load(std::sync::atomic::Ordering::SeqCst);
    assert!(answered < 20_000, "{answered} bytes answered for two body changes: {requests:#?}");
    assert_eq!(env.get_json(&["big"])["kind"], "big, edited");
    assert_ne!(env.get_json(&["big"])["_rev"], big_rev.as_str());
    assert_ne!(env.get_json(&["small"])["_rev"], small_rev.as_str());
    assert_eq!(local_bytes(&env, "big", "big.bin"), big);
    assert_eq!(local_bytes(&env, "small", "raw.bin"), binary);
}

/// Write `bytes` to `file` in the work tree and attach it; returns the new revision.
fn attach_bytes(
    env: &TestEnv,
    id: &str,
    name: &str,
    bytes: &[u8],
    rev: Option<&str>,
    content_type: &str,
) -> String {
    let path = env.path().join("upload.bin");
    std::fs::write(&path, bytes).unwrap();
    let mut args = vec!["attach", id, name, path.to_str().unwrap(), "--content-type", content_type];
    if let Some(r) = rev {
        args.extend(["--rev", r]);
    }
    env.settee(args).ok().trim_end().to_string()
}

/// Every leaf with its attachments' data, as `export --all-leaves --attachments` writes it.
fn export_with_attachments(env: &TestEnv) -> Vec<Value> {
    let out = env.settee(["export", "--all-leaves", "--attachments"]);
    let mut docs: Vec<Value> = out.ok().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    docs.sort_by_key(|d| (d["_id"].as_str().map(str::to_string), d["_rev"].as_str().map(str::to_string)));
    docs
}

/// The same leaves: compared without attachment data first (readable), then whole. Each
/// attachment's `revpos` is left out: PouchDB Server gives every attachment written with its
/// bytes the position of the revision written (CouchDB keeps a replicated one as given);
/// it must still lie between 1 and the revision's position.
fn same_leaves(got: &[Value], want: &[Value]) {
    let strip = |docs: &[Value], data: bool| -> Vec<Value> {
        docs.iter()
            .map(|d| {
                let mut d = d.clone();
                let pos: u64 = d["_rev"].as_str().unwrap().split('-').next().unwrap().parse().unwrap();
                if let Some(atts) = d.get_mut("_attachments").and_then(Value::as_object_mut) {
                    for a in atts.values_mut() {
                        let a = a.as_object_mut().unwrap();
                        let revpos = a.remove("revpos").and_then(|r| r.as_u64()).unwrap();
                        assert!((1..=pos).contains(&revpos), "revpos {revpos} in a revision at {pos}");
                        if !data {
                            a.remove("data");
                        }
                    }
                }
                d
            })
            .collect()
    };
    assert_eq!(strip(got, false), strip(want, false));
    assert!(strip(got, true) == strip(want, true), "the same leaves with other attachment data");
}

#[test]
fn push_sends_the_attachments_the_server_lacks_and_clone_brings_them_back() {
    let server = PouchServer::in_memory();
    let env = TestEnv::new();
    let text = b"shared words\n".to_vec();
    let binary: Vec<u8> = (0..=255u8).rev().cycle().take(5000).collect();
    let big = noise(1_200_000, 3);
    let r = attach_bytes(&env, "report", "notes.txt", &text, None, "text/plain");
    let r = attach_bytes(&env, "report", "data.bin", &binary, Some(&r), "application/octet-stream");
    attach_bytes(&env, "copy", "notes.txt", &text, None, "text/plain");
    let b = attach_bytes(&env, "archive", "big.bin", &big, None, "application/octet-stream");
    // A small attachment beside the large one travels in the same multipart request.
    let b = attach_bytes(&env, "archive", "résumé.txt", &text, Some(&b), "text/plain; charset=utf-8");
    // Changed in a later revision, and one removed.
    let r = attach_bytes(&env, "report", "data.bin", &binary[..1000], Some(&r), "application/octet-stream");
    let old = attach_bytes(&env, "old", "gone.txt", b"soon gone", None, "text/plain");
    env.settee(["detach", "old", "gone.txt", "--rev", &old]).ok();
    let url = server.db("files");
    let proxy = Proxy::start(server.port, Faults { error_500: 0, cut: 0 }, 1);
    let report = env.settee(["--json", "push", &proxy.url("files")]).json();
    assert_eq!(report["write_failures"], 0, "{report}");
    // The document with an attachment over 1 MiB went alone, as a multipart PUT; the others
    // inline in _bulk_docs.
    let requests = proxy.requests.lock().unwrap().clone();
    let puts: Vec<&String> =
        requests.iter().filter(|r| r.starts_with("PUT /files/") && !r.contains("/_local/")).collect();
    assert_eq!(puts, ["PUT /files/archive?new_edits=false HTTP/1.1"], "{requests:?}");
    drop(proxy);
    // Plain HTTP reads of the server give the same bytes and digests.
    for (id, name, bytes) in [
        ("report", "notes.txt", &text[..]),
        ("report", "data.bin", &binary[..1000]),
        ("copy", "notes.txt", &text[..]),
        ("archive", "big.bin", &big[..]),
        ("archive", "résumé.txt", &text[..]),
    ] {
        assert_eq!(server.get_bytes(&format!("files/{id}/{}", percent(name))).1, bytes, "{id}/{name}");
        let here = env.get_json(&[id]);
        assert_eq!(here["_attachments"][name]["digest"], server_digest(&server, "files", id, name).as_str());
    }
    let (_, old_doc) = server.get("files/old");
    assert!(old_doc.get("_attachments").is_none(), "{old_doc}");
    let (_, report_doc) = server.get("files/report");
    assert_eq!(report_doc["_rev"], r.as_str());
    // Cloned back, every leaf and every attachment is the same.
    let copy = TestEnv::bare();
    copy.settee(["clone", &url, "."]).ok();
    same_leaves(&export_with_attachments(&copy), &export_with_attachments(&env));
    // A body-only edit pushed again sends its attachments as stubs.
    let edited = env.settee_stdin(
        ["put", "archive", "--rev", &b],
        r#"{"note":"edited","_attachments":{"big.bin":{"stub":true}}}"#,
    );
    edited.ok();
    let proxy = Proxy::start(server.port, Faults { error_500: 0, cut: 0 }, 1);
    let report = env.settee(["--json", "push", &proxy.url("files")]).json();
    assert_eq!((report["revisions_written"].as_u64(), report["write_failures"].as_u64()), (Some(1), Some(0)));
    assert_eq!(report["blob_bytes_written"], 0, "{report}");
    assert_eq!(server.get_bytes("files/archive/big.bin").1, big);
    assert_eq!(server.get("files/archive").1["note"], "edited");
}

/// PouchDB (the client library) and settee share attachments through a server: PouchDB's
/// `putAttachment` is fetched by settee, settee attaches another and pushes, and PouchDB's
/// `getAttachment` reads both with the right bytes.
#[test]
fn pouchdb_and_settee_read_each_others_attachments() {
    let server = PouchServer::in_memory();
    let url = server.db("shared-files");
    let pouch = tempfile::tempdir().unwrap();
    let pouch_db = pouch.path().join("db");
    let seen = super::pouchdb("put-attachment", &pouch_db, &url, "");
    assert_eq!(seen["put"], true, "{seen}");
    let env = TestEnv::new();
    env.settee(["fetch", &url]).ok();
    let from_pouch: Vec<u8> = (0..200u8).collect();
    assert_eq!(local_bytes(&env, "album", "pouch.bin"), from_pouch);
    let rev = env.get_json(&["album"])["_rev"].as_str().unwrap().to_string();
    let mine = noise(200_000, 11);
    attach_bytes(&env, "album", "settee.bin", &mine, Some(&rev), "application/octet-stream");
    env.settee(["push", &url]).ok();
    let seen = super::pouchdb("get-attachments", &pouch_db, &url, "");
    assert_eq!(seen["pouch.bin"], b64(&from_pouch), "{seen}");
    assert_eq!(seen["settee.bin"], b64(&mine));
}

/// An attachment whose bytes arrive damaged (one byte changed on the way, so its digest
/// differs) ends the fetch with an error naming the document and the attachment, and
/// nothing of its batch is written; fetched again undamaged, it arrives whole.
#[test]
fn a_damaged_attachment_is_an_error_naming_it_and_nothing_is_written() {
    let server = PouchServer::in_memory();
    assert_eq!(server.call("PUT", "bad", None).0, 201);
    let big = noise(300_000, 5);
    let doc = json!({"_attachments": {"photo.raw": {"content_type": "image/x-raw", "data": b64(&big)}}});
    assert_eq!(server.call("PUT", "bad/pic", Some(&doc)).0, 201);
    assert_eq!(server.call("PUT", "bad/plain", Some(&json!({"v": 1}))).0, 201);
    let proxy = Proxy::start_corrupting(server.port, "photo.raw");
    let env = TestEnv::new();
    let message = env.settee(["fetch", &proxy.url("bad")]).fails(ERROR);
    assert!(
        message.contains("\"photo.raw\"") && message.contains("pic") && message.contains("digest"),
        "{message}"
    );
    assert_eq!(env.last_seq(), 0, "nothing of the batch was written");
    env.settee(["fetch", &server.db("bad")]).ok();
    assert_eq!(local_bytes(&env, "pic", "photo.raw"), big);
}

/// Multipart uploads refused in the middle: each `PUT` is made again from the spooled bytes
/// (the first request's body is gone), and the server ends with the attachments whole.
#[test]
fn a_multipart_push_refused_mid_upload_is_sent_again_whole() {
    let server = PouchServer::in_memory();
    let env = TestEnv::new();
    let files: Vec<Vec<u8>> = (0..3).map(|i| noise(1_100_000 + i * 1000, 40 + i as u64)).collect();
    for (i, bytes) in files.iter().enumerate() {
        attach_bytes(&env, &format!("scan-{i}"), "page.raw", bytes, None, "application/octet-stream");
    }
    let proxy = Proxy::start_refusing(server.port, "PUT /faulty/scan-", 2);
    let out = env.settee(["push", "--retries", "5", &proxy.url("faulty")]);
    assert_eq!(out.code, OK, "{}", out.stderr);
    let retried = out.stderr.lines().filter(|l| l.contains("PUT ") && l.contains("retry")).count();
    assert_eq!(retried, 2, "{}", out.stderr);
    let puts = proxy.requests.lock().unwrap().iter().filter(|r| r.starts_with("PUT /faulty/scan-")).count();
    assert_eq!(puts, 5, "three documents, two of them sent twice");
    for (i, bytes) in files.iter().enumerate() {
        assert_eq!(server.get_bytes(&format!("faulty/scan-{i}/page.raw")).1, *bytes, "scan-{i}");
    }
}

/// A server that holds a revision with other bytes for an attachment than settee's copy of
/// that revision (another writer gave it the same revision id) refuses the stub a push sends
/// for a child revision (`missing_stub`: it has no attachment with that digest); the push
/// sends that revision again with the attachment's bytes, as CouchDB's replicator does, and
/// the server ends with the right bytes.
#[test]
fn a_stub_the_server_cannot_resolve_is_sent_again_with_its_bytes() {
    let server = PouchServer::in_memory();
    let env = TestEnv::new();
    let manual = noise(200_000, 77);
    let first = attach_bytes(&env, "guide", "manual.pdf", &manual, None, "application/pdf");
    assert_eq!(server.call("PUT", "kept", None).0, 201);
    let other = json!({
        "_id": "guide", "_rev": first,
        "_attachments": {"manual.pdf": {"content_type": "application/pdf", "data": b64(b"other bytes")}},
    });
    assert_eq!(server.call("PUT", "kept/guide?new_edits=false", Some(&other)).0, 201);
    let edited = env.settee_stdin(
        ["put", "guide", "--rev", &first],
        r#"{"title":"edited","_attachments":{"manual.pdf":{"stub":true}}}"#,
    );
    let second = edited.ok().trim_end().to_string();
    let proxy = Proxy::start(server.port, Faults { error_500: 0, cut: 0 }, 1);
    let report = env.settee(["--json", "push", &proxy.url("kept")]).json();
    assert_eq!(report["write_failures"], 0, "{report}");
    // Sent twice: first with a stub (refused), then with the bytes.
    let requests = proxy.requests.lock().unwrap().clone();
    assert_eq!(requests.iter().filter(|r| r.starts_with("POST /kept/_bulk_docs")).count(), 2, "{requests:?}");
    let (status, bytes) = server.get_bytes(&format!("kept/guide/manual.pdf?rev={second}"));
    assert_eq!((status, bytes == manual), (200, true));
}

/// A server's validation function refusing a document sent as a multipart `PUT` (403
/// `forbidden`) refuses that document only, as it would in `_bulk_docs`: the push goes on,
/// counts one write failure (exit 1, as for any write failure), and the other documents
/// arrive.
#[test]
fn a_document_refused_by_validation_in_a_multipart_put_is_one_write_failure() {
    let server = PouchServer::in_memory();
    assert_eq!(server.call("PUT", "checked", None).0, 201);
    let check = json!({"validate_doc_update":
        "function (doc) { if (doc.secret) { throw({forbidden: 'no secrets here'}); } }"});
    assert_eq!(server.call("PUT", "checked/_design/check", Some(&check)).0, 201);
    let env = TestEnv::new();
    let big = noise(1_200_000, 5);
    let rev = attach_bytes(&env, "plans", "plans.bin", &big, None, "application/octet-stream");
    env.update("plans", &rev, r#"{"secret":true,"_attachments":{"plans.bin":{"stub":true}}}"#);
    attach_bytes(&env, "public", "photo.bin", &big[..1_100_000], None, "application/octet-stream");
    let out = env.settee(["--json", "push", &server.db("checked")]);
    assert_eq!(out.code, ERROR, "a push with a write failure: {}", out.stderr);
    let report: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(
        (report["revisions_written"].as_u64(), report["write_failures"].as_u64()),
        (Some(1), Some(1)),
        "{report}"
    );
    assert!(
        out.stderr
            .lines()
            .any(|l| l.contains("plans ") && l.contains("not written") && l.contains("no secrets here")),
        "the refusal is named with its reason: {}",
        out.stderr
    );
    assert_eq!(server.get("checked/plans").0, 404);
    assert_eq!(server.get_bytes("checked/public/photo.bin").1, big[..1_100_000]);
}
