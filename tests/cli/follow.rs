//! `settee changes --follow`: CouchDB's continuous feed on the command line. It prints what
//! other processes commit as they commit it, and stops cleanly on SIGTERM, SIGINT or a
//! closed output pipe. `fetch|push|sync --continuous`: continuous replication between
//! stores, which carries each commit over as it lands. Every wait here is bounded.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::TestEnv;

/// Lines the follower prints, read on a thread so that the test can wait with a deadline.
fn lines_of(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// `settee ARGS` in `env`, with stdout and stderr piped.
fn follower(env: &TestEnv, args: &[&str]) -> std::process::Child {
    env.command()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

/// The child's exit code once it exits, calling `meanwhile` between checks; fails the test
/// if it runs past `limit`.
fn exit_within(child: &mut std::process::Child, limit: Duration, mut meanwhile: impl FnMut()) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code();
        }
        assert!(Instant::now() < deadline, "the follower did not stop within {limit:?}");
        meanwhile();
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn next_row(rx: &mpsc::Receiver<String>, within: Duration) -> Value {
    let line = rx.recv_timeout(within).expect("a row within the deadline");
    serde_json::from_str(&line).expect("one JSON row a line")
}

#[test]
fn follow_prints_what_other_processes_commit_and_stops_on_sigterm() {
    let env = TestEnv::new();
    env.put("before", "{}");
    let mut child = follower(&env, &["--json", "changes", "--follow"]);
    let rows = lines_of(&mut child);
    assert_eq!(next_row(&rows, Duration::from_secs(5))["id"], "before");
    for id in ["one", "two", "three"] {
        let started = Instant::now();
        let rev = env.put(id, r#"{"n":1}"#);
        let row = next_row(&rows, Duration::from_secs(5));
        assert_eq!((row["id"].as_str(), row["changes"][0]["rev"].as_str()), (Some(id), Some(rev.as_str())));
        assert!(started.elapsed() < Duration::from_secs(1), "{id} took {:?}", started.elapsed());
    }
    // an update moves a document to a new sequence, and the follower shows it again
    let rev = env.get_json(&["one"])["_rev"].as_str().unwrap().to_string();
    env.update("one", &rev, r#"{"n":2}"#);
    let row = next_row(&rows, Duration::from_secs(5));
    assert_eq!((row["id"].as_str(), row["seq"].as_u64()), (Some("one"), Some(5)));
    // SIGTERM: a last `last_seq` row and exit 0
    // SAFETY: a plain kill of our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let row = next_row(&rows, Duration::from_secs(5));
    assert_eq!(row["last_seq"], 5);
    assert_eq!(exit_within(&mut child, Duration::from_secs(5), || {}), Some(0));
}

#[test]
fn follow_ends_quietly_when_its_reader_goes() {
    let env = TestEnv::new();
    env.put("a", "{}");
    let mut child = follower(&env, &["changes", "--follow"]);
    let rows = lines_of(&mut child);
    assert!(rows.recv_timeout(Duration::from_secs(5)).expect("the first row").contains("\ta\t"));
    drop(rows); // the reading thread ends at its next line or at EOF: close the pipe for good
                // each commit makes the follower write, which a closed pipe refuses, if polling has not
                // noticed first
    let mut n = 0;
    let code = exit_within(&mut child, Duration::from_secs(5), || {
        n += 1;
        env.put(&format!("d{n}"), "{}");
    });
    assert_eq!(code, Some(0));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(stderr, "");
}

/// Poll `read` until it gives `Some`, for up to `limit`.
fn eventually<T>(limit: Duration, mut read: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = read() {
            return found;
        }
        assert!(Instant::now() < deadline, "not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The body of `id` in `env` once it holds revision `rev`.
fn arrives(env: &TestEnv, id: &str, rev: &str) -> Value {
    eventually(Duration::from_secs(10), || {
        let out = env.settee(["get", id]);
        let doc: Value = serde_json::from_str(&out.stdout).ok()?;
        (doc["_rev"] == rev).then_some(doc)
    })
}

/// A continuous fetch carries every commit of the source over as it lands, while both
/// stores stay writable by other commands; SIGTERM ends it with exit 0 after its round,
/// and a later fetch finds nothing left to do (the checkpoints were kept).
#[test]
fn a_continuous_fetch_follows_the_source_and_stops_on_sigterm() {
    let (src, dst) = (TestEnv::new(), TestEnv::new());
    src.put("first", r#"{"n":1}"#);
    let source = src.store_dir();
    let mut child = follower(&dst, &["--json", "fetch", "--continuous", source.to_str().unwrap()]);
    let rows = lines_of(&mut child);
    assert_eq!(next_row(&rows, Duration::from_secs(10))["revisions_written"], 1);
    for id in ["two", "three"] {
        let rev = src.put(id, &format!("{{\"id\":\"{id}\"}}"));
        assert_eq!(arrives(&dst, id, &rev)["id"], id);
        assert_eq!(next_row(&rows, Duration::from_secs(10))["revisions_written"], 1);
    }
    // the target takes other writes meanwhile: the replication holds no lock between rounds
    dst.settee_stdin(["--no-wait", "put", "mine"], "{}").ok();
    let rev = src.get_json(&["first"])["_rev"].as_str().unwrap().to_string();
    let rev = src.update("first", &rev, r#"{"n":2}"#);
    assert_eq!(arrives(&dst, "first", &rev)["n"], 2);
    // SAFETY: a plain kill of our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    assert_eq!(exit_within(&mut child, Duration::from_secs(10), || {}), Some(0));
    let again = dst.settee(["--json", "fetch", source.to_str().unwrap()]).json();
    assert_eq!(
        (again["docs_read"].as_u64(), again["revisions_written"].as_u64()),
        (Some(0), Some(0)),
        "{again}"
    );
}

/// A continuous sync carries commits both ways.
#[test]
fn a_continuous_sync_carries_commits_both_ways() {
    let (a, b) = (TestEnv::new(), TestEnv::new());
    let mut child = follower(&a, &["sync", "--continuous", b.store_dir().to_str().unwrap()]);
    let from_a = a.put("from-a", r#"{"side":"a"}"#);
    let from_b = b.put("from-b", r#"{"side":"b"}"#);
    assert_eq!(arrives(&b, "from-a", &from_a)["side"], "a");
    assert_eq!(arrives(&a, "from-b", &from_b)["side"], "b");
    // SAFETY: a plain kill of our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    assert_eq!(exit_within(&mut child, Duration::from_secs(10), || {}), Some(0));
}

#[test]
fn a_bundle_cannot_be_followed() {
    let src = TestEnv::new();
    src.put("a", "{}");
    src.settee(["bundle", "create", "all.bundle"]).ok();
    let bundle = src.path().join("all.bundle");
    let msg = TestEnv::new().settee(["fetch", "--continuous", bundle.to_str().unwrap()]).fails(crate::USAGE);
    assert!(msg.contains("--continuous"), "{msg}");
}
