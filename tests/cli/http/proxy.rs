//! A small TCP proxy for fault tests: it forwards bytes between settee and a real server,
//! and on a share of the connections it misbehaves: it answers 500 without asking the
//! server, or it cuts the server's answers (the connection is kept alive, so after some
//! answers, or in the middle of one) and closes. Choices come from
//! a seeded generator, so a failure replays. It can also refuse chosen requests, hide an
//! endpoint, or damage an answer. It stops (and lets its threads end) when dropped; every
//! connection ends when either side closes.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct Proxy {
    pub port: u16,
    /// Requests answered 404 because their path holds this (a server without an endpoint).
    pub hidden: Option<&'static str>,
    stop: Arc<AtomicBool>,
    /// Connections that were answered 500 or cut.
    pub faults: Arc<AtomicU64>,
    /// Bytes the server answered through the proxy.
    pub answered: Arc<AtomicU64>,
    /// The request lines (`GET /db/... HTTP/1.1`) sent through the proxy.
    pub requests: Arc<std::sync::Mutex<Vec<String>>>,
}

/// How often (in percent) a connection answers 500, and how often it is cut somewhere in
/// its first 400 kB of answers.
#[derive(Clone, Copy)]
pub struct Faults {
    pub error_500: u64,
    pub cut: u64,
}

fn next(state: &mut u64) -> u64 {
    // xorshift64*
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

impl Proxy {
    pub fn start(upstream: u16, faults: Faults, seed: u64) -> Proxy {
        Proxy::start_hiding(upstream, faults, seed, None)
    }

    /// A proxy that also answers 404 to every request whose first line holds `hidden`, as
    /// a server without that endpoint would (requests are not pipelined: each read from
    /// the client starts a request).
    pub fn start_hiding(upstream: u16, faults: Faults, seed: u64, hidden: Option<&'static str>) -> Proxy {
        Proxy::start_with(upstream, faults, seed, Rules { hidden, ..Rules::default() })
    }

    /// A proxy that answers 500 and closes the connection, without asking the server, to the
    /// first `times` requests whose first line holds `marker`, while their bodies are still
    /// being sent. (The server never sees them: PouchDB Server exits when a multipart upload
    /// it is reading is cut.)
    pub fn start_refusing(upstream: u16, marker: &'static str, times: u64) -> Proxy {
        let refused = Some((marker, Arc::new(AtomicU64::new(times))));
        Proxy::start_with(upstream, Faults { error_500: 0, cut: 0 }, 1, Rules { refused, ..Rules::default() })
    }

    /// A proxy that changes one byte of the body of each answer to a request whose first
    /// line holds `marker` (bytes damaged on the way), and forwards the rest unchanged.
    pub fn start_corrupting(upstream: u16, marker: &'static str) -> Proxy {
        Proxy::start_with(
            upstream,
            Faults { error_500: 0, cut: 0 },
            1,
            Rules { corrupt: Some(marker), ..Rules::default() },
        )
    }

    fn start_with(upstream: u16, faults: Faults, seed: u64, rules: Rules) -> Proxy {
        let hidden = rules.hidden;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let (stop2, count2) = (stop.clone(), count.clone());
        let answered = Arc::new(AtomicU64::new(0));
        let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (answered2, requests2) = (answered.clone(), requests.clone());
        std::thread::spawn(move || {
            let mut state = seed.max(1);
            while !stop2.load(Ordering::SeqCst) {
                let client = match listener.accept() {
                    Ok((c, _)) => c,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                client.set_nonblocking(false).unwrap();
                let roll = next(&mut state) % 100;
                let cut_after = 1 + next(&mut state) % 400_000;
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else { continue };
                if roll < faults.error_500 {
                    count2.fetch_add(1, Ordering::SeqCst);
                    std::thread::spawn(move || answer_500(client));
                } else if roll < faults.error_500 + faults.cut {
                    count2.fetch_add(1, Ordering::SeqCst);
                    pump(
                        client,
                        server,
                        Some(cut_after),
                        rules.clone(),
                        (answered2.clone(), requests2.clone()),
                    );
                } else {
                    pump(client, server, None, rules.clone(), (answered2.clone(), requests2.clone()));
                }
            }
        });
        Proxy { port, hidden, stop, faults: count, answered, requests }
    }

    pub fn url(&self, db: &str) -> String {
        format!("http://127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Read the start of the request, answer 500 and close.
fn answer_500(mut client: TcpStream) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 65536];
    let _ = client.read(&mut buf);
    write_500(client);
}

/// Answer 500 and close.
fn write_500(mut client: TcpStream) {
    let body = r#"{"error":"internal_server_error","reason":"injected by the test proxy"}"#;
    let _ = write!(
        client,
        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = client.shutdown(Shutdown::Both);
}

/// What the proxy does to chosen requests (by a marker in their first line).
#[derive(Clone, Default)]
struct Rules {
    /// Answer 404, as a server without the endpoint.
    hidden: Option<&'static str>,
    /// Damage one byte of the answer's body.
    corrupt: Option<&'static str>,
    /// Answer 500 without asking the server, while the count lasts.
    refused: Option<(&'static str, Arc<AtomicU64>)>,
}

/// Bytes answered and request lines seen, shared with the `Proxy`.
type Counts = (Arc<AtomicU64>, Arc<std::sync::Mutex<Vec<String>>>);

/// Forward both ways; with `cut`, close everything after that many bytes of answer.
fn pump(client: TcpStream, server: TcpStream, cut: Option<u64>, rules: Rules, counts: Counts) {
    let Rules { hidden, corrupt, refused } = rules;
    let (answered, requests) = counts;
    let flip = Arc::new(AtomicBool::new(false));
    let flip_answer = flip.clone();
    let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let mut c_answer = client.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        loop {
            let n = match c_read.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let first_line = buf[..n].split(|&b| b == b'\n').next().unwrap_or_default();
            let line = String::from_utf8_lossy(first_line).trim_end().to_string();
            if ["GET ", "POST ", "PUT ", "DELETE ", "HEAD "].iter().any(|m| line.starts_with(m)) {
                if corrupt.is_some_and(|c| line.contains(c)) {
                    flip.store(true, Ordering::SeqCst);
                }
                let refuse = refused.as_ref().is_some_and(|(marker, left)| {
                    line.contains(marker)
                        && left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
                });
                requests.lock().unwrap().push(line);
                if refuse {
                    let _ = s_write.shutdown(Shutdown::Both);
                    write_500(c_answer);
                    return;
                }
            }
            if hidden.is_some_and(|h| String::from_utf8_lossy(first_line).contains(h)) {
                let body = r#"{"error":"not_found","reason":"missing"}"#;
                let _ = write!(
                    c_answer,
                    "HTTP/1.1 404 Object Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = c_answer.shutdown(Shutdown::Both);
                let _ = s_write.shutdown(Shutdown::Both);
                return;
            }
            if s_write.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = s_write.shutdown(Shutdown::Write);
    });
    let (mut s_read, mut c_write) = (server, client);
    std::thread::spawn(move || {
        let mut sent = 0u64;
        let mut buf = [0u8; 16384];
        loop {
            let n = match s_read.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if flip_answer.load(Ordering::SeqCst) {
                // A byte well inside the body (past a chunk-size line, if any).
                if let Some(end) = buf[..n].windows(4).position(|w| w == b"\r\n\r\n") {
                    if end + 4 + 200 < n {
                        buf[end + 4 + 200] ^= 0x20;
                        flip_answer.store(false, Ordering::SeqCst);
                    }
                }
            }
            let n = match cut {
                Some(limit) if sent + n as u64 >= limit => {
                    let keep = (limit - sent) as usize;
                    let _ = c_write.write_all(&buf[..keep]);
                    let _ = c_write.shutdown(Shutdown::Both);
                    let _ = s_read.shutdown(Shutdown::Both);
                    return;
                }
                _ => n,
            };
            if c_write.write_all(&buf[..n]).is_err() {
                break;
            }
            sent += n as u64;
            answered.fetch_add(n as u64, Ordering::SeqCst);
        }
        let _ = c_write.shutdown(Shutdown::Write);
    });
}
