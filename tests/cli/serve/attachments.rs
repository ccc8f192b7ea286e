//! Attachments through `settee serve`: `GET /db/ID/ATTNAME` gives the bytes written with
//! `settee attach`, with their type, length and digest; documents with inline `data` and
//! stubs written by PUT, POST and `_bulk_docs` (with and without `new_edits=false`); one
//! attachment written and removed by `PUT`/`DELETE /db/ID/ATTNAME`; reads with
//! `attachments=true` and `atts_since`.

use base64::Engine as _;
use serde_json::{json, Value};

use super::{call, call_bytes, get, post, put, Server};
use crate::TestEnv;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `hello`'s MD5 as CouchDB writes digests.
const HELLO_DIGEST: &str = "md5-XUFAKrxLKna5cZ2REBfFkg==";

#[test]
fn an_attachment_reads_back_as_written_with_type_length_and_etag() {
    let env = TestEnv::new();
    let first =
        env.settee_stdin(["attach", "note", "dir/hello.txt", "-"], "hello, settee\n").ok().trim().to_string();
    let second = env
        .settee_stdin(["attach", "note", "dir/hello.txt", "-", "--rev", &first], "changed\n")
        .ok()
        .trim()
        .to_string();
    let server = Server::start(&env, &["db=."]);
    let url = |p: &str| server.url(&format!("/db/{p}"));

    let reply = get(&url("note/dir/hello.txt"));
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body, "changed\n");
    assert!(reply.content_type.starts_with("text/plain"), "{reply:?}");
    assert_eq!(reply.header("content-length"), Some("8"));
    let doc = get(&url("note")).expect(200);
    assert_eq!(doc["_rev"], second.as_str());
    let digest = doc["_attachments"]["dir/hello.txt"]["digest"].as_str().expect("a digest").to_string();
    assert!(digest.starts_with("md5-"), "{digest}");
    assert_eq!(reply.etag.as_deref(), Some(format!("\"{digest}\"").as_str()));
    // The same digest again: nothing to send.
    let tag = format!("\"{digest}\"");
    let again = call("GET", &url("note/dir/hello.txt"), None, &[("if-none-match", &tag)]);
    assert_eq!(again.status, 304, "{again:?}");
    assert!(again.body.is_empty());
    // An older revision's bytes, by ?rev=.
    assert_eq!(get(&url(&format!("note/dir/hello.txt?rev={first}"))).body, "hello, settee\n");
    // Absent: 404 with CouchDB's body.
    get(&url("note/other.txt")).error(404, "not_found");
    get(&url("nosuch/dir/hello.txt")).error(404, "not_found");
    get(&url("note/dir/hello.txt?rev=nonsense")).error(400, "bad_request");
    // A stale revision: 409, nothing written.
    call("PUT", &url(&format!("note/x.txt?rev={first}")), Some("x"), &[("content-type", "text/plain")])
        .error(409, "conflict");
    assert_eq!(get(&url("note")).expect(200)["_rev"], second.as_str());
    assert_eq!(server.stop(), 0);
    env.settee(["fsck"]).succeeded();
}

#[test]
fn documents_with_inline_data_and_stubs_write_and_read_back() {
    let env = TestEnv::new();
    let server = Server::start(&env, &["db=."]);
    let url = |p: &str| server.url(&format!("/db/{p}"));

    let first =
        json!({"x": 1, "_attachments": {"a.txt": {"content_type": "text/plain", "data": b64(b"hello")}}});
    let rev1 = put(&url("doc"), &first.to_string()).expect(201)["rev"].as_str().expect("a rev").to_string();
    let doc = get(&url("doc")).expect(200);
    assert_eq!(
        doc["_attachments"]["a.txt"],
        json!({"content_type": "text/plain", "digest": HELLO_DIGEST, "length": 5, "revpos": 1, "stub": true})
    );
    assert_eq!(get(&url("doc/a.txt")).body, "hello");
    let full = get(&url("doc?attachments=true")).expect(200);
    assert_eq!(full["_attachments"]["a.txt"]["data"], b64(b"hello"));

    // A stub keeps the attachment; the body changes.
    let second = json!({"_rev": rev1, "x": 2, "_attachments": {"a.txt": {"stub": true, "revpos": 1}}});
    let rev2 = put(&url("doc"), &second.to_string()).expect(201)["rev"].as_str().expect("a rev").to_string();
    assert_eq!(get(&url("doc")).expect(200)["_attachments"]["a.txt"]["revpos"], 1);

    // A binary attachment streamed by PUT /db/ID/ATT keeps its bytes and type.
    let binary: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let reply = call_bytes(
        "PUT",
        &url(&format!("doc/b.bin?rev={rev2}")),
        Some(&binary),
        &[("content-type", "image/x-test")],
    );
    let rev3 = reply.expect(201)["rev"].as_str().expect("a rev").to_string();
    assert_eq!(reply.json()["id"], "doc");
    let back = get(&url("doc/b.bin"));
    assert_eq!(back.raw, binary);
    assert_eq!(back.content_type, "image/x-test");
    let doc = get(&url("doc")).expect(200);
    assert_eq!(doc["x"], 2, "the body is kept: {doc}");
    assert_eq!(doc["_attachments"]["b.bin"]["length"], binary.len());
    assert_eq!(doc["_attachments"]["b.bin"]["revpos"], 3);
    assert_eq!(doc["_attachments"]["a.txt"]["digest"], HELLO_DIGEST);

    // atts_since: bytes only of what was written after the revision named.
    let since = get(&url(&format!("doc?atts_since=[\"{rev2}\"]"))).expect(200);
    assert_eq!(since["_attachments"]["a.txt"]["stub"], true, "{since}");
    assert_eq!(since["_attachments"]["b.bin"]["data"], b64(&binary));

    // A stub the replaced revision lacks: CouchDB's 412; a stale rev: 409.
    let bad = json!({"_rev": rev3, "_attachments": {"zzz": {"stub": true}}});
    let reason = put(&url("doc"), &bad.to_string()).error(412, "missing_stub");
    assert!(reason.contains("zzz"), "{reason}");
    call_bytes("PUT", &url(&format!("doc/c.txt?rev={rev2}")), Some(b"c"), &[]).error(409, "conflict");
    // Data that does not match its digest: 400.
    let lying = json!({"_rev": rev3, "_attachments": {"l": {"data": b64(b"other"), "digest": HELLO_DIGEST}}});
    put(&url("doc"), &lying.to_string()).error(400, "bad_request");

    // DELETE /db/ID/ATT removes one and keeps the others and the body.
    let removed = call("DELETE", &url(&format!("doc/a.txt?rev={rev3}")), None, &[]).expect(200);
    let rev4 = removed["rev"].as_str().expect("a rev").to_string();
    assert!(rev4.starts_with("4-"), "{rev4}");
    get(&url("doc/a.txt")).error(404, "not_found");
    let doc = get(&url("doc")).expect(200);
    assert_eq!(doc["x"], 2);
    assert_eq!(doc["_attachments"].as_object().map(|m| m.len()), Some(1), "{doc}");
    call("DELETE", &url(&format!("doc/a.txt?rev={rev4}")), None, &[]).error(404, "not_found");
    call("DELETE", &url("doc/b.bin"), None, &[]).error(409, "conflict");
    // An old revision still reads its attachment.
    assert_eq!(get(&url(&format!("doc/a.txt?rev={rev3}"))).body, "hello");

    // PUT of an attachment with no rev creates the document, as in CouchDB.
    let made =
        call_bytes("PUT", &url("fresh/notes%2Fday.txt"), Some(b"day one"), &[("content-type", "text/plain")]);
    let made = made.expect(201);
    assert!(made["rev"].as_str().is_some_and(|r| r.starts_with("1-")), "{made}");
    assert_eq!(get(&url("fresh/notes/day.txt")).body, "day one");
    call_bytes("PUT", &url("fresh/again.txt"), Some(b"x"), &[]).error(409, "conflict");
    call_bytes(
        "PUT",
        &url(&format!("fresh/_bad?rev={}", made["rev"].as_str().unwrap_or(""))),
        Some(b"x"),
        &[],
    )
    .error(400, "bad_request");

    // POST /db with inline data.
    let posted = post(
        &server.url("/db"),
        &json!({"_id": "p", "_attachments": {"p.txt": {"data": b64(b"hello")}}}).to_string(),
    );
    posted.expect(201);
    let p = get(&url("p")).expect(200);
    assert_eq!(p["_attachments"]["p.txt"]["content_type"], "application/octet-stream");
    assert_eq!(p["_attachments"]["p.txt"]["digest"], HELLO_DIGEST);

    // The feeds and the id index give the bytes too when asked, stubs otherwise.
    let changes = get(&url("_changes?include_docs=true&attachments=true")).expect(200);
    let row = changes["results"].as_array().and_then(|r| r.iter().find(|r| r["id"] == "p")).expect("p's row");
    assert_eq!(row["doc"]["_attachments"]["p.txt"]["data"], b64(b"hello"), "{row}");
    let changes = get(&url("_changes?include_docs=true")).expect(200);
    let row = changes["results"].as_array().and_then(|r| r.iter().find(|r| r["id"] == "p")).expect("p's row");
    assert_eq!(row["doc"]["_attachments"]["p.txt"]["stub"], true, "{row}");
    let all = get(&url("_all_docs?include_docs=true&attachments=true&keys=[\"p\"]")).expect(200);
    assert_eq!(all["rows"][0]["doc"]["_attachments"]["p.txt"]["data"], b64(b"hello"), "{all}");
    let all =
        get(&url("_all_docs?include_docs=true&conflicts=true&attachments=true&startkey=\"p\"")).expect(200);
    assert_eq!(all["rows"][0]["doc"]["_attachments"]["p.txt"]["data"], b64(b"hello"), "{all}");

    assert_eq!(server.stop(), 0);
    env.settee(["fsck"]).succeeded();
}

#[test]
fn bulk_docs_and_replicated_writes_take_data_and_stubs() {
    let env = TestEnv::new();
    let server = Server::start(&env, &["db=."]);
    let url = |p: &str| server.url(&format!("/db/{p}"));
    let bulk = |body: Value| post(&url("_bulk_docs"), &body.to_string());

    // new_edits=true: data, then a stub in a second batch.
    let rows = bulk(json!({"docs": [
        {"_id": "a", "_attachments": {"t": {"content_type": "text/plain", "data": b64(b"hello")}}},
        {"_id": "b", "_attachments": {"t": {"stub": true}}},
    ]}))
    .expect(201);
    assert_eq!(rows[0]["ok"], true, "{rows}");
    assert_eq!(rows[1]["error"], "missing_stub", "{rows}");
    let rev = rows[0]["rev"].as_str().expect("a rev").to_string();
    let rows =
        bulk(json!({"docs": [{"_id": "a", "_rev": rev, "n": 1, "_attachments": {"t": {"stub": true}}}]}))
            .expect(201);
    assert_eq!(rows[0]["ok"], true, "{rows}");
    assert_eq!(get(&url("a/t")).body, "hello");

    // new_edits=false: a revision with data, then its child with a stub resolved against it,
    // and one whose stub names nothing on its path.
    let rows = bulk(json!({"new_edits": false, "docs": [
        {"_id": "r", "_rev": "1-aaa", "_attachments": {"t": {"content_type": "text/plain", "data": b64(b"hello"), "revpos": 1}}},
    ]}))
    .expect(201);
    assert_eq!(rows, json!([]));
    let rows = bulk(json!({"new_edits": false, "docs": [
        {"_id": "r", "_rev": "2-bbb", "_revisions": {"start": 2, "ids": ["bbb", "aaa"]}, "v": 2,
         "_attachments": {"t": {"stub": true, "revpos": 1}, "u": {"data": b64(b"new"), "revpos": 2}}},
        {"_id": "s", "_rev": "2-ccc", "_revisions": {"start": 2, "ids": ["ccc", "zzz"]}, "_attachments": {"t": {"stub": true}}},
    ]}))
    .expect(201);
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");
    assert_eq!(rows[0]["id"], "s");
    assert_eq!(rows[0]["error"], "missing_stub");
    let r = get(&url("r?revs=true")).expect(200);
    assert_eq!(r["_rev"], "2-bbb");
    assert_eq!(r["_attachments"]["t"]["revpos"], 1);
    assert_eq!(r["_attachments"]["t"]["digest"], HELLO_DIGEST);
    assert_eq!(r["_attachments"]["u"]["revpos"], 2);
    assert_eq!(get(&url("r/u")).body, "new");

    // PUT ?new_edits=false: a stub resolved against the newest ancestor held; 412 when none is.
    let child = json!({"_rev": "3-ddd", "_revisions": {"start": 3, "ids": ["ddd", "bbb", "aaa"]},
        "_attachments": {"u": {"stub": true}}});
    put(&url("r?new_edits=false"), &child.to_string()).expect(201);
    let r = get(&url("r")).expect(200);
    assert_eq!(r["_rev"], "3-ddd");
    assert_eq!(r["_attachments"].as_object().map(|m| m.len()), Some(1), "{r}");
    let orphan = json!({"_rev": "5-eee", "_revisions": {"start": 5, "ids": ["eee", "fff"]},
        "_attachments": {"u": {"stub": true}}});
    put(&url("r?new_edits=false"), &orphan.to_string()).error(412, "missing_stub");
    let leaves = get(&url("r?open_revs=all")).expect(200);
    assert_eq!(leaves.as_array().map(Vec::len), Some(1), "nothing written: {leaves}");

    // _bulk_get as replicators ask (latest=true): stubs, never the stored form; the bytes
    // with attachments=true, or of what was written after an atts_since revision.
    let bulk_get = |query: &str, entry: Value| {
        let got = post(
            &url(&format!("_bulk_get?revs=true&latest=true{query}")),
            &json!({"docs": [entry]}).to_string(),
        );
        got.expect(200)["results"][0]["docs"][0]["ok"]["_attachments"]["u"].clone()
    };
    let stub = bulk_get("", json!({"id": "r", "rev": "2-bbb"}));
    assert_eq!(
        stub,
        json!({"content_type": "application/octet-stream", "digest": stub["digest"], "length": 3, "revpos": 2, "stub": true})
    );
    assert_eq!(bulk_get("&attachments=true", json!({"id": "r", "rev": "3-ddd"}))["data"], b64(b"new"));
    assert_eq!(bulk_get("", json!({"id": "r", "rev": "3-ddd", "atts_since": ["2-bbb"]}))["stub"], true);
    assert_eq!(
        bulk_get("", json!({"id": "r", "rev": "3-ddd", "atts_since": ["1-aaa"]}))["data"],
        b64(b"new")
    );
    let plain =
        post(&url("_bulk_get?attachments=true"), &json!({"docs": [{"id": "r", "rev": "2-bbb"}]}).to_string());
    assert_eq!(plain.expect(200)["results"][0]["docs"][0]["ok"]["_attachments"]["t"]["data"], b64(b"hello"));

    // Replicated bytes read back with attachments=true as they were sent.
    let open = get(&url("r?open_revs=[\"2-bbb\"]&attachments=true")).expect(200);
    assert_eq!(open[0]["ok"]["_attachments"]["t"]["data"], b64(b"hello"), "{open}");

    assert_eq!(server.stop(), 0);
    env.settee(["fsck"]).succeeded();
}

/// A `multipart/related` body as CouchDB's replicator sends it: the document, then one part
/// per attachment that follows (each with the headers given; CouchDB 2 and later send
/// `Content-Disposition` and `Content-Type` on every part, and multer needs at least one).
/// One part: its headers and its bytes.
type Part<'a> = (&'a [(&'a str, &'a str)], &'a [u8]);

fn related(boundary: &str, doc: &Value, parts: &[Part]) -> Vec<u8> {
    let mut out = format!("--{boundary}\r\nContent-Type: application/json\r\n\r\n{doc}\r\n").into_bytes();
    for (headers, bytes) in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        for (k, v) in *headers {
            out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

#[test]
fn multipart_related_puts_stream_attachments_that_follow_into_blobs() {
    let env = TestEnv::new();
    let server = Server::start(&env, &["db=."]);
    let url = |p: &str| server.url(&format!("/db/{p}"));
    let ct = "multipart/related; boundary=\"sep-42\"";
    // Bytes that hold the boundary's start and CRLFs, past multer's first buffer.
    let big: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .chain(*b"\r\n--sep-4\r\n")
        .collect();
    let doc = json!({"_id": "m", "_rev": "2-bbb", "_revisions": {"start": 2, "ids": ["bbb", "aaa"]}, "v": 1,
    "_attachments": {
        "big.bin": {"content_type": "application/octet-stream", "length": big.len(), "follows": true, "revpos": 2},
        "note.txt": {"content_type": "text/plain", "length": 5, "digest": HELLO_DIGEST, "follows": true, "revpos": 1},
    }});
    // note.txt comes first, named by its filename; big.bin, unnamed, takes the entry left.
    let body = related(
        "sep-42",
        &doc,
        &[
            (
                &[
                    ("Content-Disposition", "attachment; filename=\"note.txt\""),
                    ("Content-Type", "text/plain"),
                ],
                b"hello",
            ),
            (&[("Content-Type", "application/octet-stream")], &big),
        ],
    );
    let reply = call_bytes("PUT", &url("m?new_edits=false"), Some(&body), &[("content-type", ct)]);
    assert_eq!(reply.expect(201)["rev"], "2-bbb");
    let m = get(&url("m?revs=true")).expect(200);
    assert_eq!(m["_revisions"], json!({"start": 2, "ids": ["bbb", "aaa"]}));
    assert_eq!(m["v"], 1);
    assert_eq!(m["_attachments"]["note.txt"]["digest"], HELLO_DIGEST);
    assert_eq!(m["_attachments"]["note.txt"]["revpos"], 1);
    assert_eq!(m["_attachments"]["big.bin"]["length"], big.len());
    assert_eq!(m["_attachments"]["big.bin"]["revpos"], 2);
    assert_eq!(get(&url("m/big.bin")).raw, big);
    let full = get(&url("m?attachments=true")).expect(200);
    assert_eq!(full["_attachments"]["big.bin"]["data"], b64(&big));
    assert_eq!(full["_attachments"]["note.txt"]["data"], b64(b"hello"));

    // open_revs in JSON: one entry per revision, the bytes inline (multipart/mixed: mixed.rs).
    let open = get(&url("m?open_revs=[\"2-bbb\",\"9-zzz\"]&revs=true&latest=true&attachments=true"));
    assert!(open.content_type.starts_with("application/json"), "{open:?}");
    let open = open.expect(200);
    assert_eq!(open[0]["ok"]["_attachments"]["big.bin"]["data"], b64(&big));
    assert_eq!(open[0]["ok"]["_revisions"]["ids"], json!(["bbb", "aaa"]));
    assert_eq!(open[1]["missing"], "9-zzz");

    // Its child with one stub and one new part; an interactive multipart edit too.
    let child = json!({"_id": "m", "_rev": "3-ccc", "_revisions": {"start": 3, "ids": ["ccc", "bbb", "aaa"]},
        "_attachments": {"big.bin": {"stub": true, "revpos": 2}, "more.txt": {"follows": true, "content_type": "text/plain"}}});
    let body = related("sep-42", &child, &[(&[("Content-Type", "text/plain")], b"more")]);
    call_bytes("PUT", &url("m?new_edits=false"), Some(&body), &[("content-type", ct)]).expect(201);
    let m = get(&url("m")).expect(200);
    assert_eq!(m["_rev"], "3-ccc");
    assert_eq!(m["_attachments"]["big.bin"]["revpos"], 2);
    assert_eq!(get(&url("m/more.txt")).body, "more");
    let edit = json!({"_rev": "3-ccc", "w": 1, "_attachments": {"e.txt": {"follows": true, "content_type": "text/plain"}}});
    let body = related("sep-42", &edit, &[(&[("Content-Type", "text/plain")], b"edited")]);
    let r = call_bytes("PUT", &url("m"), Some(&body), &[("content-type", ct)]).expect(201);
    assert!(r["rev"].as_str().is_some_and(|r| r.starts_with("4-")), "{r}");
    let m = get(&url("m")).expect(200);
    assert_eq!(m["_attachments"].as_object().map(|a| a.len()), Some(1), "only what the edit names: {m}");
    assert_eq!(get(&url("m/e.txt")).body, "edited");

    // A part sent gzip-encoded, as CouchDB sends the attachments it stores compressed, is
    // stored as the bytes it decompresses to.
    let text = "a line of text that compresses well\n".repeat(5000);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, text.as_bytes()).expect("compressing");
    let gz = gz.finish().expect("compressing");
    let rev = get(&url("m")).expect(200)["_rev"].as_str().expect("a rev").to_string();
    let zipped = json!({"_rev": rev, "_attachments": {"z.txt": {"follows": true, "content_type": "text/plain",
        "encoding": "gzip", "length": text.len(), "encoded_length": gz.len()}}});
    let body = related("sep-42", &zipped, &[(&[("Content-Type", "text/plain")], &gz)]);
    call_bytes("PUT", &url("m"), Some(&body), &[("content-type", ct)]).expect(201);
    assert_eq!(get(&url("m/z.txt")).body, text);
    assert_eq!(get(&url("m")).expect(200)["_attachments"]["z.txt"]["length"], text.len());

    // Refused, nothing written: a length that differs, a digest that differs, a part too
    // many, an attachment whose part never comes, no boundary, a cut body.
    let last = get(&url("m")).expect(200)["_rev"].as_str().expect("a rev").to_string();
    let refused = |doc: Value, parts: &[Part]| {
        let body = related("sep-42", &doc, parts);
        call_bytes("PUT", &url("m?new_edits=false"), Some(&body), &[("content-type", ct)])
            .error(400, "bad_request")
    };
    let one = |att: Value| json!({"_rev": "9-x", "_attachments": {"a": att}});
    let plain: &[(&str, &str)] = &[("Content-Type", "text/plain")];
    refused(one(json!({"follows": true, "length": 4})), &[(plain, b"abc")]);
    refused(one(json!({"follows": true, "digest": HELLO_DIGEST})), &[(plain, b"hellO")]);
    refused(one(json!({"follows": true})), &[(plain, b"a"), (plain, b"b")]);
    refused(one(json!({"follows": true})), &[]);
    refused(one(json!({"follows": true, "encoding": "gzip"})), &[(plain, b"not gzip")]);
    refused(one(json!({"follows": true, "encoding": "br"})), &[(plain, b"x")]);
    let body = related("sep-42", &one(json!({"follows": true})), &[(plain, b"abc")]);
    call_bytes("PUT", &url("m?new_edits=false"), Some(&body), &[("content-type", "multipart/related")])
        .error(400, "bad_request");
    let cut = &body[..body.len() - 30];
    call_bytes("PUT", &url("m?new_edits=false"), Some(cut), &[("content-type", ct)])
        .error(400, "bad_request");
    assert_eq!(get(&url("m")).expect(200)["_rev"], last.as_str());
    assert_eq!(get(&url("m?open_revs=all")).expect(200).as_array().map(Vec::len), Some(1));

    assert_eq!(server.stop(), 0);
    env.settee(["fsck"]).succeeded();
}

#[test]
fn a_large_attachment_streams_back_whole_and_a_damaged_one_never_does() {
    let env = TestEnv::new();
    let server = Server::start(&env, &["db=."]);
    let url = |p: &str| server.url(&format!("/db/{p}"));
    // Three blob chunks and a bit, bytes that do not compress.
    let big: Vec<u8> = (0..3_200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    call_bytes("PUT", &url("big/photo.png"), Some(&big), &[("content-type", "image/png")]).expect(201);
    let back = get(&url("big/photo.png"));
    assert_eq!(back.header("content-length"), Some(big.len().to_string().as_str()));
    assert!(back.raw == big, "the bytes read back differ");
    let head = call("HEAD", &url("big/photo.png"), None, &[]);
    assert_eq!((head.status, head.raw.len()), (200, 0));

    // Damage the blob's last chunk: the answer is cut before the announced length.
    super::damage_largest_blob(&env);
    let answer = super::raw_exchange(&server.addr(), b"GET /db/big/photo.png HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(super::raw_status(&answer), Some(200));
    let body_start = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("a head") + 4;
    let got = answer.len() - body_start;
    assert!(got < big.len() - 500_000, "{got} of {} bytes came of a damaged blob", big.len());
    assert_eq!(&answer[body_start..], &big[..got], "what came is what was written");
    assert!(server.stop() == 0);
}
