//! `GET /db/ID?open_revs=..` with `Accept: multipart/mixed` through `settee serve`, read
//! with a real multipart parser (multer): one part per revision, found ones as JSON or as
//! `multipart/related` with the attachments' bytes, missing ones as CouchDB writes them;
//! a damaged blob cuts the answer.

use std::collections::BTreeMap;

use base64::Engine as _;
use md5::Digest as _;
use serde_json::{json, Value};

use super::{call, call_bytes, get, put, Reply, Server};
use crate::rng::noise;
use crate::TestEnv;

/// One MIME part: its headers, the filename of its `Content-Disposition`, its bytes.
#[derive(Debug)]
struct Part {
    headers: BTreeMap<String, String>,
    file_name: Option<String>,
    bytes: Vec<u8>,
}

impl Part {
    fn content_type(&self) -> &str {
        self.headers.get("content-type").map_or("", String::as_str)
    }

    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    /// The parts of a `multipart/related` part.
    fn parts(&self) -> Vec<Part> {
        parse(self.content_type(), &self.bytes)
    }
}

/// The parts of a multipart body labelled `content_type`, parsed by multer.
#[track_caller]
fn parse(content_type: &str, body: &[u8]) -> Vec<Part> {
    let m: mime::Mime = content_type.parse().unwrap_or_else(|e| panic!("{content_type:?}: {e}"));
    assert_eq!(m.type_(), mime::MULTIPART, "{content_type}");
    let boundary = m.get_param(mime::BOUNDARY).expect("a boundary").as_str().to_string();
    let chunks = vec![Ok::<_, std::convert::Infallible>(bytes::Bytes::copy_from_slice(body))];
    let mut multipart = multer::Multipart::new(futures_util::stream::iter(chunks), boundary);
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    runtime.block_on(async {
        let mut out = Vec::new();
        while let Some(field) = multipart.next_field().await.expect("a well-formed part") {
            let headers = field
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            let file_name = field.file_name().map(str::to_string);
            let bytes = field.bytes().await.expect("the part's bytes").to_vec();
            out.push(Part { headers, file_name, bytes });
        }
        out
    })
}

fn digest(bytes: &[u8]) -> String {
    format!("md5-{}", base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(bytes)))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `GET url` asking for `multipart/mixed`; its parts.
#[track_caller]
fn mixed(url: &str) -> (Reply, Vec<Part>) {
    let reply = call("GET", url, None, &[("accept", "multipart/mixed")]);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.content_type.starts_with("multipart/mixed; boundary="), "{}", reply.content_type);
    let parts = parse(&reply.content_type, &reply.raw);
    (reply, parts)
}

/// A `multipart/related` part: the document (first, JSON) and the attachments that follow
/// it, each checked against the document's entry (type, length, digest, filename) and
/// `expected` bytes, in the document's order.
#[track_caller]
fn related(part: &Part, expected: &[(&str, &[u8])]) -> Value {
    assert!(part.content_type().starts_with("multipart/related; boundary="), "{part:?}");
    let inner = part.parts();
    assert_eq!(inner.len(), 1 + expected.len(), "{inner:?}");
    assert_eq!(inner[0].content_type(), "application/json");
    let doc = inner[0].json();
    let following: Vec<&String> = doc["_attachments"]
        .as_object()
        .expect("attachments")
        .iter()
        .filter(|(_, v)| v["follows"] == true)
        .map(|(k, _)| k)
        .collect();
    let names: Vec<&str> = expected.iter().map(|(n, _)| *n).collect();
    assert_eq!(following, names, "the parts follow in the document's order: {doc}");
    for (p, (name, bytes)) in inner[1..].iter().zip(expected) {
        let entry = &doc["_attachments"][*name];
        assert_eq!(p.file_name.as_deref(), Some(*name));
        assert_eq!(p.content_type(), entry["content_type"].as_str().expect("a type"));
        assert!(
            p.bytes == *bytes,
            "attachment {name}: {} bytes differ from the {} written",
            p.bytes.len(),
            bytes.len()
        );
        assert_eq!(entry["length"], bytes.len());
        assert_eq!(entry["digest"], digest(&p.bytes).as_str());
        assert!(entry.get("stub").is_none() && entry.get("data").is_none(), "{entry}");
    }
    doc
}

#[test]
fn open_revs_as_multipart_mixed_sends_a_part_per_revision_and_attachment_bytes() {
    let env = TestEnv::new();
    let server = Server::start(&env, &["db=."]);
    let url = |p: &str| server.url(&format!("/db/{p}"));
    let big = noise(3_200_000, 17);

    // d: 1 with note.txt, 2 adds big.bin (streamed in), and a conflicting 2 without either.
    let first =
        json!({"v": 1, "_attachments": {"note.txt": {"content_type": "text/plain", "data": b64(b"hello")}}});
    let rev1 = put(&url("d"), &first.to_string()).expect(201)["rev"].as_str().expect("a rev").to_string();
    let put_big = call_bytes(
        "PUT",
        &url(&format!("d/big.bin?rev={rev1}")),
        Some(&big),
        &[("content-type", "application/octet-stream")],
    );
    let rev2 = put_big.expect(201)["rev"].as_str().expect("a rev").to_string();
    let hash1 = rev1.split_once('-').expect("a rev").1;
    let other = json!({"_rev": "2-ffff", "_revisions": {"start": 2, "ids": ["ffff", hash1]}, "v": "other"});
    put(&url("d?new_edits=false"), &other.to_string()).expect(201);

    // All leaves, as CouchDB's replicator asks (revs, latest, no attachments=true): the
    // bytes of every attachment follow.
    let (_, parts) = mixed(&url("d?open_revs=all&revs=true&latest=true"));
    assert_eq!(parts.len(), 2, "{parts:?}");
    let (with, without): (Vec<&Part>, Vec<&Part>) =
        parts.iter().partition(|p| p.content_type().starts_with("multipart/related"));
    let doc = related(with[0], &[("big.bin", big.as_slice()), ("note.txt", b"hello".as_slice())]);
    assert_eq!(doc["_rev"], rev2.as_str());
    assert_eq!(doc["v"], 1);
    assert_eq!(doc["_revisions"]["start"], 2);
    assert_eq!(doc["_attachments"]["note.txt"]["revpos"], 1);
    assert_eq!(doc["_attachments"]["big.bin"]["revpos"], 2);
    assert_eq!(without[0].content_type(), "application/json");
    assert_eq!(without[0].json()["_rev"], "2-ffff");
    assert_eq!(without[0].json()["_revisions"], json!({"start": 2, "ids": ["ffff", hash1]}));
    // Every part is the JSON answer's entry: the same documents, bar the attachments.
    let plain = get(&url("d?open_revs=all&revs=true&latest=true")).expect(200);
    for entry in plain.as_array().expect("a list") {
        let mut expected = entry["ok"].clone();
        let got = if expected["_rev"] == "2-ffff" { without[0].json() } else { doc.clone() };
        if let (Some(e), Some(g)) = (expected.as_object_mut(), got.as_object()) {
            e.insert("_attachments".into(), g.get("_attachments").cloned().unwrap_or(Value::Null));
            e.retain(|_, v| !v.is_null());
        }
        assert_eq!(got, expected);
    }

    // A list with a missing revision; atts_since leaves note.txt a stub.
    let (_, parts) =
        mixed(&url(&format!("d?open_revs=[\"{rev2}\",\"9-zzzz\"]&revs=true&atts_since=[\"{rev1}\"]")));
    assert_eq!(parts.len(), 2, "{parts:?}");
    let doc = related(&parts[0], &[("big.bin", big.as_slice())]);
    assert_eq!(doc["_attachments"]["note.txt"]["stub"], true);
    assert_eq!(parts[1].content_type(), "application/json; error=\"true\"");
    assert_eq!(parts[1].json(), json!({"missing": "9-zzzz"}));

    // Nothing left to send: plain JSON, stubs only.
    let (_, parts) = mixed(&url(&format!("d?open_revs=[\"{rev2}\"]&atts_since=[\"{rev2}\"]")));
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].content_type(), "application/json");
    let doc = parts[0].json();
    assert_eq!(doc["_attachments"]["big.bin"]["stub"], true);
    assert_eq!(doc["_attachments"]["note.txt"]["stub"], true);
    assert!(doc.get("_revisions").is_none(), "{doc}");
    // attachments=true sends them all whatever atts_since says (as the JSON answer does).
    let (_, parts) =
        mixed(&url(&format!("d?open_revs=[\"{rev2}\"]&attachments=true&atts_since=[\"{rev2}\"]")));
    related(&parts[0], &[("big.bin", big.as_slice()), ("note.txt", b"hello".as_slice())]);

    // Names a part header cannot carry go inline; others, UTF-8 ones too, follow.
    let odd = json!({"_attachments": {
        "say \"hi\".txt": {"content_type": "text/plain", "data": b64(b"quoted")},
        "back\\slash": {"content_type": "text/plain", "data": b64(b"slashed")},
        "été.txt": {"content_type": "text/plain; charset=utf-8", "data": b64(b"summer")},
    }});
    let odd_rev = put(&url("odd"), &odd.to_string()).expect(201)["rev"].as_str().expect("a rev").to_string();
    let (_, parts) = mixed(&url(&format!("odd?open_revs=[\"{odd_rev}\"]")));
    let doc = related(&parts[0], &[("été.txt", b"summer".as_slice())]);
    assert_eq!(doc["_attachments"]["say \"hi\".txt"]["data"], b64(b"quoted"));
    assert_eq!(doc["_attachments"]["back\\slash"]["data"], b64(b"slashed"));

    // Without Accept, or with */*, or multipart/mixed at q=0: JSON, as before.
    for accept in [None, Some("*/*"), Some("multipart/mixed;q=0, application/json")] {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
        let reply = call("GET", &url("d?open_revs=all"), None, &headers);
        assert!(reply.content_type.starts_with("application/json"), "{accept:?}: {reply:?}");
        assert_eq!(reply.expect(200).as_array().map(Vec::len), Some(2));
    }
    // Errors come before any part, as JSON.
    call("GET", &url("nosuch?open_revs=all"), None, &[("accept", "multipart/mixed")]).error(404, "not_found");
    call("GET", &url("d?open_revs=nonsense"), None, &[("accept", "multipart/mixed")])
        .error(400, "bad_request");

    assert_eq!(server.stop(), 0);
    env.settee(["fsck"]).succeeded();
}

#[test]
fn a_damaged_blob_cuts_the_multipart_answer_before_its_last_bytes() {
    let env = TestEnv::new();
    let server = Server::start(&env, &["db=."]);
    let url = |p: &str| server.url(&format!("/db/{p}"));
    let big = noise(3_200_000, 23);
    call_bytes("PUT", &url("big/photo.png"), Some(&big), &[("content-type", "image/png")]).expect(201);
    let (_, parts) = mixed(&url("big?open_revs=all"));
    related(&parts[0], &[("photo.png", big.as_slice())]);

    // Damage the blob's last chunk.
    super::damage_largest_blob(&env);
    let answer = super::raw_exchange(
        &server.addr(),
        b"GET /db/big?open_revs=all HTTP/1.1\r\nHost: t\r\nAccept: multipart/mixed\r\n\r\n",
    );
    assert_eq!(super::raw_status(&answer), Some(200));
    // Chunked: the answer ends without its last chunk, and well before the blob's end.
    assert!(!answer.ends_with(b"0\r\n\r\n"), "the answer was not cut");
    assert!(answer.len() < big.len() - 500_000, "{} bytes came of a damaged blob", answer.len());
    assert_eq!(server.stop(), 0);
}
