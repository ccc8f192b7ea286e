//! `settee changes --follow`: CouchDB's continuous feed on the command line. It prints what
//! other processes commit as they commit it, and stops cleanly on SIGTERM, SIGINT or a
//! closed output pipe. Every wait here is bounded.

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
