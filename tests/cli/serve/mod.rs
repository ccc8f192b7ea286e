//! `settee serve`: the real binary on 127.0.0.1, driven over HTTP (ureq), over raw TCP for
//! malformed and slow requests, and by PouchDB (pouchdb-node) in a node script.

mod attachments;
mod batches;
mod convergence;
mod endpoints;
mod feeds;
mod mixed;
mod pouch;
mod robustness;
mod settee;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::TestEnv;

/// A running `settee serve`, stopped (SIGKILL) when dropped unless [`Server::stop`] ran.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// `settee serve --bind 127.0.0.1:0 ARGS` in `env`'s directory, once it listens.
    pub fn start(env: &TestEnv, args: &[&str]) -> Server {
        Server::start_with(env.command(), args)
    }

    pub fn start_with(mut cmd: Command, args: &[&str]) -> Server {
        cmd.args(["serve", "--bind", "127.0.0.1:0"]).args(args);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawning settee serve");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("settee serve: listening on ") {
                    let _ = tx.send(rest.trim_end_matches('/').to_string());
                }
                lines.lock().expect("log lock").push(line);
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(b) => b,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!("settee serve did not start ({status:?}): {:?}", log.lock().expect("log lock"));
            }
        };
        Server { child: Some(child), base, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The `host:port` it listens on.
    pub fn addr(&self) -> String {
        self.base.trim_start_matches("http://").to_string()
    }

    /// What it printed to stderr so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().expect("log lock").clone()
    }

    /// SIGTERM, then its exit code (within 20 s).
    pub fn stop(mut self) -> i32 {
        let mut child = self.child.take().expect("running");
        let pid = i32::try_from(child.id()).expect("pid fits");
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().expect("waiting for settee serve") {
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("settee serve did not stop within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// True while the process runs.
    pub fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An HTTP client that returns every status as a response (not an error).
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// A response: status, selected headers and the body text.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub etag: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The body's bytes (`body` is their lossy UTF-8 reading).
    pub raw: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    /// Assert `status` and a CouchDB error body naming `error`; returns the reason.
    #[track_caller]
    pub fn error(&self, status: u16, error: &str) -> String {
        assert_eq!(self.status, status, "status of {self:?}");
        assert!(self.content_type.starts_with("application/json"), "an error is JSON: {self:?}");
        let v = self.json();
        assert_eq!(v["error"], error, "{self:?}");
        v["reason"].as_str().unwrap_or_else(|| panic!("no reason: {self:?}")).to_string()
    }

    /// Assert `status`; returns the JSON body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "status of {self:?}");
        self.json()
    }
}

/// One request. `body` is sent as JSON unless `content_type` says otherwise.
pub fn call(method: &str, url: &str, body: Option<&str>, headers: &[(&str, &str)]) -> Reply {
    call_bytes(method, url, body.map(str::as_bytes), headers)
}

/// [`call`] with a body of any bytes.
pub fn call_bytes(method: &str, url: &str, body: Option<&[u8]>, headers: &[(&str, &str)]) -> Reply {
    let agent = agent();
    // Tests write JSON query values as they read; the characters a URI may not hold are
    // percent-encoded here.
    let mut encoded = String::with_capacity(url.len());
    for c in url.chars() {
        match c {
            '"' | '[' | ']' | '{' | '}' | ' ' | '$' | '<' | '>' => {
                encoded.push_str(&format!("%{:02X}", c as u32))
            }
            c => encoded.push(c),
        }
    }
    let uri: ureq::http::Uri = encoded.parse().unwrap_or_else(|e| panic!("bad url {url}: {e}"));
    let mut builder = ureq::http::Request::builder().method(method).uri(uri);
    let mut has_ct = false;
    for (k, v) in headers {
        has_ct |= k.eq_ignore_ascii_case("content-type");
        builder = builder.header(*k, *v);
    }
    if body.is_some() && !has_ct {
        builder = builder.header("content-type", "application/json");
    }
    let request = builder.body(body.unwrap_or_default().to_vec()).expect("a request");
    let mut response = agent.run(request).unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let content_type = header("content-type").unwrap_or_default();
    let etag = header("etag");
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let status = response.status().as_u16();
    let raw = response.body_mut().read_to_vec().expect("reading the body");
    let body = String::from_utf8_lossy(&raw).into_owned();
    Reply { status, content_type, etag, headers, body, raw }
}

pub fn get(url: &str) -> Reply {
    call("GET", url, None, &[])
}

pub fn put(url: &str, body: &str) -> Reply {
    call("PUT", url, Some(body), &[])
}

pub fn post(url: &str, body: &str) -> Reply {
    call("POST", url, Some(body), &[])
}

pub fn delete(url: &str) -> Reply {
    call("DELETE", url, None, &[])
}

/// Send raw bytes on a new connection and read until the server closes it or `wait`
/// passes; returns what came back.
pub fn raw(addr: &str, bytes: &[u8], wait: Duration) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connecting");
    s.set_read_timeout(Some(wait)).expect("read timeout");
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// Flip a byte near the end of the largest blob file of `env`'s store (its last chunk).
pub fn damage_largest_blob(env: &TestEnv) {
    let blobs = env.path().join(".settee/blobs");
    let file = std::fs::read_dir(&blobs)
        .expect("the blobs directory")
        .flatten()
        .map(|e| e.path())
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .expect("a blob file");
    let mut bytes = std::fs::read(&file).expect("reading the blob");
    let at = bytes.len() - 1000;
    bytes[at] ^= 0xff;
    std::fs::write(&file, &bytes).expect("damaging the blob");
}

/// Send `request` on a connection of its own and read until the server closes it (or 5 s
/// pass). Its write side is left open: the server drops the answers of a client that has
/// shut it.
pub fn raw_exchange(addr: &str, request: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connecting");
    s.set_read_timeout(Some(std::time::Duration::from_secs(5))).expect("a read timeout");
    s.write_all(request).expect("sending");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// The status code of a raw HTTP/1.1 response.
pub fn raw_status(response: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(response.get(..12)?).ok()?;
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}
