//! Attachments replicated with a real PouchDB Server: inline and streamed, text and binary,
//! shared by two documents, large, changed and removed; the bytes and digests read back
//! over plain HTTP, and a body-only change that moves no attachment bytes.

use base64::Engine as _;
use serde_json::{json, Value};

use super::proxy::{Faults, Proxy};
use super::{percent, PouchServer};
use crate::*;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `len` bytes that do not compress, from `seed`.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.max(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
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
