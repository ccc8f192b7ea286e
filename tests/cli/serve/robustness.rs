//! Bad input, hostile and slow clients, credentials: CouchDB's error statuses, no crash,
//! the store unchanged.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use base64::Engine;

use super::{call, get, put, raw, raw_status, Server};
use crate::TestEnv;

#[test]
fn bad_input_gets_couchdb_errors_and_leaves_the_store_unchanged() {
    let env = TestEnv::new();
    env.put("keep", r#"{"v":1}"#);
    let before = env.settee(["--json", "stats"]).json();
    let server = Server::start(&env, &["db=.", "--max-body", "2000"]);
    let url = |p: &str| server.url(&format!("/db/{p}"));
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(5000));
    let reason = put(&url("big"), &big).error(413, "too_large");
    assert!(reason.contains("2000"), "{reason}");
    super::post(&url("_bulk_docs"), &big).error(413, "too_large");
    put(&url("x"), "{\"a\":").error(400, "bad_request");
    put(&url("x"), "\u{0}\u{1}").error(400, "bad_request");
    put(&url("x"), r#"{"a":1e999}"#).error(400, "bad_request");
    put(&url("x"), r#"{"_rev":"1-"}"#).error(400, "bad_request");
    put(&url("x"), r#"{"_revisions":{"start":1,"ids":[]}}"#).error(400, "bad_request");
    put(&url("x?new_edits=false"), r#"{"v":1}"#).error(400, "bad_request");
    put(&url("%01"), "{}").error(400, "bad_request");
    put(&url("_x"), "{}").error(400, "bad_request");
    get(&url("%FF")).error(400, "bad_request");
    get(&server.url("/..%2F..%2Fetc")).error(400, "illegal_database_name");
    get(&server.url("/%2E%2E/x")).error(400, "illegal_database_name");
    get(&server.url("/db/_local/%00")).error(400, "bad_request");
    call("PUT", &url("x"), Some("{}"), &[("content-type", "multipart/related; boundary=x")])
        .error(400, "bad_request");
    call("PUT", &url("x"), Some("{}"), &[("content-type", "multipart/related")]).error(400, "bad_request");
    call("PUT", &url("x"), Some("{}"), &[("content-type", "multipart/form-data; boundary=x")])
        .error(415, "bad_content_type");
    call("POST", &url("_bulk_docs"), Some("docs="), &[("content-type", "application/x-www-form-urlencoded")])
        .error(415, "bad_content_type");
    let after = env.settee(["--json", "stats"]).json();
    assert_eq!(after["last_seq"], before["last_seq"], "the store is unchanged");
    // An id with dots and slashes is only an id: nothing is written outside the store.
    put(&url("..%2F..%2Fescaped"), "{}").expect(201);
    assert_eq!(get(&url("..%2F..%2Fescaped")).expect(200)["_id"], "../../escaped");
    assert!(!env.path().join("../escaped").exists() && !env.path().join("escaped").exists());
    assert_eq!(server.stop(), 0);
    env.settee(["fsck"]).succeeded();
}

/// A small deterministic generator (xorshift64*), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next() & 0xff) as u8).collect()
    }
}

#[test]
fn thousands_of_random_malformed_requests_never_crash_it() {
    let env = TestEnv::new();
    env.put("keep", r#"{"v":1}"#);
    let mut server = Server::start(&env, &["db=.", "--max-body", "4096", "--client-timeout", "2"]);
    let addr = server.addr();
    let seed = 0x5e77_ee5e_u64 ^ u64::from(std::process::id());
    let mut rng = Rng(seed | 1);
    let methods = ["GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS", "COPY", "PATCH", "G\u{1}T", ""];
    let paths = [
        "/",
        "/db",
        "/db/",
        "/db/x",
        "/db/_changes",
        "/db/_all_docs",
        "/db/_bulk_docs",
        "/db/_bulk_get",
        "/db/_revs_diff",
        "/db/_local/x",
        "/db/_design/d/_view/v",
        "/db/%2F",
        "/db/..",
        "/%00",
        "/db/%ZZ",
        "/db/x/y/z",
        "/_uuids",
        "/_all_dbs",
        "//",
        "/db/_changes?feed=longpoll&timeout=50",
        "*",
    ];
    let queries = [
        "",
        "?rev=1-x",
        "?revs=yes",
        "?open_revs=[",
        "?open_revs=all",
        "?since=-1",
        "?limit=999999999999999999999",
        "?startkey=\"",
        "?keys=[1,2]",
        "?feed=continuous&timeout=30",
        "?new_edits=false",
        "?%zz=%",
        "?filter=a/b",
    ];
    let bodies = [
        "",
        "{",
        "}",
        "[]",
        "null",
        "{\"docs\":[{\"_id\":5}]}",
        "{\"docs\":[{}],\"new_edits\":false}",
        "{\"_rev\":\"x\"}",
        "{\"a\":\"\\ud800\"}",
        "{\"x\":1}",
        "{\"keys\":[null]}",
        "\"str\"",
    ];
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..2500 {
        let request: Vec<u8> = if i % 10 == 9 {
            // Plain garbage, sometimes after a valid request line.
            let mut r = if rng.next() % 2 == 0 { b"GET / HTTP/1.1\r\n".to_vec() } else { Vec::new() };
            let n = (rng.next() % 300) as usize;
            r.extend(rng.bytes(n));
            r
        } else {
            let body = rng.pick(&bodies);
            let declared = match rng.next() % 4 {
                0 => body.len() + 10, // truncated
                1 => body.len().saturating_sub(1),
                _ => body.len(),
            };
            let ct = rng.pick(&["application/json", "text/plain", "multipart/related; boundary=b", ""]);
            let mut r = format!(
                "{} {}{} HTTP/1.1\r\nHost: x\r\ncontent-length: {declared}\r\n",
                rng.pick(&methods),
                rng.pick(&paths),
                rng.pick(&queries)
            );
            if !ct.is_empty() {
                r.push_str(&format!("content-type: {ct}\r\n"));
            }
            if rng.next() % 8 == 0 {
                r.push_str("transfer-encoding: chunked\r\n");
            }
            r.push_str("\r\n");
            r.push_str(body);
            r.into_bytes()
        };
        let response = raw(&addr, &request, Duration::from_secs(5));
        let status = raw_status(&response);
        *statuses.entry(status).or_insert(0u32) += 1;
        assert!(
            status.is_none_or(|s| s < 500 || s == 501),
            "seed {seed:#x}, request {i}: {:?} -> {:?}",
            String::from_utf8_lossy(&request),
            String::from_utf8_lossy(&response)
        );
    }
    assert!(server.running(), "the server is still up");
    assert_eq!(get(&server.url("/db/keep")).expect(200)["v"], 1, "statuses seen: {statuses:?}");
    assert_eq!(server.stop(), 0);
    env.settee(["fsck"]).succeeded();
}

#[test]
fn slow_and_idle_clients_are_timed_out() {
    let env = TestEnv::new();
    let server = Server::start(&env, &["db=.", "--client-timeout", "1"]);
    let addr = server.addr();
    // Headers that never end.
    let mut slow = std::net::TcpStream::connect(&addr).expect("connect");
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").expect("write");
    slow.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    assert!(started.elapsed() < Duration::from_secs(5), "closed after {:?}", started.elapsed());
    // A body that never comes: 408 or a closed connection, in time.
    let mut slow = std::net::TcpStream::connect(&addr).expect("connect");
    slow.write_all(
        b"PUT /db/x HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{",
    )
    .expect("write");
    slow.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    assert!(started.elapsed() < Duration::from_secs(5), "closed after {:?}", started.elapsed());
    assert!(matches!(raw_status(&buf), None | Some(408)), "{}", String::from_utf8_lossy(&buf));
    // A connection that never sends, and one kept alive after its request, are closed.
    for first in [&b""[..], b"GET /db HTTP/1.1\r\nHost: x\r\n\r\n"] {
        let mut idle = std::net::TcpStream::connect(&addr).expect("connect");
        idle.write_all(first).expect("write");
        idle.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let started = Instant::now();
        let mut buf = Vec::new();
        let _ = idle.read_to_end(&mut buf);
        assert!(started.elapsed() < Duration::from_secs(5), "closed after {:?}", started.elapsed());
        assert_eq!(raw_status(&buf), if first.is_empty() { None } else { Some(200) });
    }
    // Meanwhile others are served, and nothing was written.
    assert_eq!(get(&server.url("/db")).expect(200)["doc_count"], 0);
    assert_eq!(server.stop(), 0);
}

#[test]
fn credentials_are_required_off_loopback_and_checked_on_every_request() {
    let env = TestEnv::new();
    let mut cmd = env.command();
    cmd.args(["serve", "--bind", "0.0.0.0:0", "db=."]);
    let refused = crate::run(cmd, "");
    let message = refused.fails(1);
    assert!(message.contains("without credentials"), "{message}");

    env.write_file("pw", "s3cret\n");
    let server = Server::start(&env, &["db=.", "--user", "admin", "--password-file", "pw"]);
    let basic = |up: &str| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(up));
    for path in ["/", "/_all_dbs", "/db", "/db/x", "/db/_changes", "/db/_all_docs", "/nosuch"] {
        call("GET", &server.url(path), None, &[]).error(401, "unauthorized");
        call("GET", &server.url(path), None, &[("authorization", &basic("admin:wrong"))])
            .error(401, "unauthorized");
        call("GET", &server.url(path), None, &[("authorization", &basic("nobody:s3cret"))])
            .error(401, "unauthorized");
    }
    call("PUT", &server.url("/db/x"), Some("{}"), &[]).error(401, "unauthorized");
    let ok = call("PUT", &server.url("/db/x"), Some("{}"), &[("authorization", &basic("admin:s3cret"))]);
    assert_eq!(ok.status, 201, "{ok:?}");
    let session =
        call("GET", &server.url("/_session"), None, &[("authorization", &basic("admin:s3cret"))]).expect(200);
    assert_eq!(session["userCtx"]["name"], "admin");
    assert_eq!(server.stop(), 0);

    let mut cmd = env.command();
    cmd.args(["serve", "--user", "admin", "db=."]).env_remove("SETTEE_SERVE_PASSWORD");
    assert!(crate::run(cmd, "").fails(2).contains("password"));
}

#[test]
fn the_access_log_shows_one_line_per_request_at_info() {
    let env = TestEnv::new();
    let server = Server::start(&env, &["db=.", "--log", "info"]);
    get(&server.url("/db")).expect(200);
    get(&server.url("/db/missing")).error(404, "not_found");
    std::thread::sleep(Duration::from_millis(100));
    let log = server.log();
    let lines: Vec<&String> = log.iter().filter(|l| l.contains(" GET /db")).collect();
    assert_eq!(lines.len(), 2, "{log:?}");
    assert!(lines[0].contains(" 200 ") && lines[0].ends_with("ms"), "{}", lines[0]);
    assert!(lines[1].contains("GET /db/missing 404 "), "{}", lines[1]);
    assert_eq!(server.stop(), 0);
    let quiet = Server::start(&env, &["db=.", "--log", "off"]);
    get(&quiet.url("/db/missing")).error(404, "not_found");
    std::thread::sleep(Duration::from_millis(100));
    assert!(quiet.log().iter().all(|l| !l.contains("/db/missing")));
    assert_eq!(quiet.stop(), 0);
}

/// Send `head` then, a moment later, `body` on `stream` (a loaded client's second TCP
/// segment), and read the answer that comes within a second.
fn late_body(stream: &mut std::net::TcpStream, head: &str, body: &[u8]) -> Vec<u8> {
    stream.write_all(head.as_bytes()).expect("sending the head");
    std::thread::sleep(Duration::from_millis(150));
    stream.write_all(body).expect("sending the body");
    read_for(stream, Duration::from_secs(1))
}

/// What arrives on `stream` within `wait` (or until it is closed).
fn read_for(stream: &mut std::net::TcpStream, wait: Duration) -> Vec<u8> {
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        stream.set_read_timeout(Some(Duration::from_millis(100))).expect("read timeout");
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                if !out.is_empty() {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    out
}

// postmortem: settee's HTTP transport saw a kept-alive connection closed under load after
// POST _ensure_full_commit: the endpoint answers without reading its `{}` body, and hyper,
// finding the body not yet arrived when the handler let it go, closed the connection after
// the answer without saying so; the client's next request on it failed and was retried.
#[test]
fn a_kept_alive_connection_outlives_a_body_its_endpoint_does_not_read() {
    let env = TestEnv::new();
    let server = Server::start(&env, &["db=."]);
    let mut stream = std::net::TcpStream::connect(server.addr()).expect("connecting");
    for (head, body) in [
        ("POST /db/_ensure_full_commit HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n", &b"{}"[..]),
        // An error answered before the body is read.
        ("POST /nosuch/_bulk_docs HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n", b"{\"docs\":[]}"),
        ("PUT /db/_design/d/_update/u HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n", b"{}"),
    ] {
        let answer = late_body(&mut stream, head, body);
        assert!(raw_status(&answer).is_some(), "an answer to {head:?}: {:?}", String::from_utf8_lossy(&answer));
        let text = String::from_utf8_lossy(&answer).to_ascii_lowercase();
        assert!(!text.contains("connection: close"), "{text}");
        // The same connection serves the next request.
        stream.write_all(b"GET /db HTTP/1.1\r\nHost: t\r\n\r\n").expect("sending");
        let next = read_for(&mut stream, Duration::from_secs(2));
        assert_eq!(raw_status(&next), Some(200), "after {head:?}: {:?}", String::from_utf8_lossy(&next));
    }
    // A body too large to wait for is not drained: the answer says the connection closes.
    let mut stream = std::net::TcpStream::connect(server.addr()).expect("connecting");
    let head = "POST /db/_ensure_full_commit HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n";
    stream.write_all(head.as_bytes()).expect("sending the head");
    let answer = read_for(&mut stream, Duration::from_secs(2));
    let text = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 201") && text.contains("connection: close"), "{text}");
    assert_eq!(server.stop(), 0);
}
