//! Attachments read through `settee serve`: `GET /db/ID/ATTNAME` gives the bytes written
//! with `settee attach`, with their type, length and digest.

use super::{call, get, Server};
use crate::TestEnv;

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
    // Writing through the attachment path is not served yet.
    call("PUT", &url(&format!("note/x.txt?rev={second}")), Some("x"), &[("content-type", "text/plain")])
        .error(501, "not_implemented");
    assert_eq!(server.stop(), 0);
    env.settee(["fsck"]).succeeded();
}
