//! Crash test: `settee import` is killed with SIGKILL at random moments, again and again, on
//! the same store. After every kill the store must open, pass verification, and hold every
//! document of every batch the import acknowledged (its `--json` batch lines are printed only
//! after the batch is durable). Run with `cargo test -p settee-cli --test crash`;
//! `SETTEE_CRASH_ROUNDS` sets the number of kills (default 60), `SETTEE_CRASH_SEED` replays.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use settee::store::OpenOptions;
use settee::{DocId, RevId, Store};

const DOCS: usize = 150_000;
const BATCH: usize = 2_000;

#[path = "../support/rng.rs"]
mod rng;
use rng::Rng;

fn rev_of(i: usize) -> String {
    format!("1-{:032x}", (i as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835))
}

fn write_input(path: &Path) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..DOCS {
        let rev = rev_of(i);
        writeln!(
            f,
            r#"{{"_id":"pkg-{i:07}","_rev":"{rev}","_revisions":{{"start":1,"ids":["{}"]}},"name":"pkg-{i}","version":"1.{}.{}","description":"package number {i} of the crash test"}}"#,
            &rev[2..],
            i % 17,
            i % 101
        )
        .unwrap();
    }
}

/// Run one import, kill it after `delay`; return the last acknowledged input line.
fn run_and_kill(bin: &str, work: &Path, input: &Path, delay: Duration) -> (u64, bool) {
    let mut child = Command::new(bin)
        .args(["--json", "import", "--no-new-edits", "--batch-size", &BATCH.to_string()])
        .arg(input)
        .current_dir(work)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning settee");
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut acked = 0u64;
        let mut finished = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            match v["type"].as_str() {
                Some("batch") => acked = v["data"]["line"].as_u64().unwrap_or(acked),
                Some("summary") => finished = true,
                _ => {}
            }
        }
        (acked, finished)
    });
    let start = Instant::now();
    while start.elapsed() < delay {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // SAFETY: kill(2) on the pid of a child we spawned and have not reaped yet.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    reader.join().unwrap()
}

fn check(root: &Path, acked: u64) -> usize {
    let store = Store::open(root, OpenOptions::default()).expect("store opens after a kill");
    let findings = store.verify().unwrap();
    assert!(findings.is_empty(), "verification failed after a kill: {findings:?}");
    for i in 0..acked as usize {
        let id = DocId::parse(&format!("pkg-{i:07}")).unwrap();
        let (rev, body) = store
            .get_winner(&id)
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged document {id} is missing (acked {acked} lines)"));
        assert_eq!(rev, RevId::parse(&rev_of(i)).unwrap());
        assert_eq!(body["name"], format!("pkg-{i}"));
    }
    store.docs(None, None).count()
}

fn json_of(bin: &str, dir: &Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new(bin).args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A fetch killed mid-way and run again resumes from its checkpoint, transfers only what
/// was missing, and leaves both stores equal.
fn interrupted_replication(bin: &str, input: &Path, rng: &mut Rng) {
    let src = tempfile::tempdir().unwrap();
    assert!(Command::new(bin).arg("init").current_dir(src.path()).output().unwrap().status.success());
    let out = Command::new(bin)
        .args(["import", "--no-new-edits"])
        .arg(input)
        .current_dir(src.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let total = json_of(bin, src.path(), &["--json", "stats"])["documents"].as_u64().unwrap();
    let mut window = 300u64;
    for attempt in 0..20 {
        let dst = tempfile::tempdir().unwrap();
        assert!(Command::new(bin).arg("init").current_dir(dst.path()).output().unwrap().status.success());
        let mut child = Command::new(bin)
            .args(["fetch", "--batch-size", "2000"])
            .arg(src.path())
            .current_dir(dst.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(50 + rng.next() % window));
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped yet.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let _ = child.wait();
        let present = json_of(bin, dst.path(), &["--json", "stats"])["documents"].as_u64().unwrap();
        if present == 0 || present == total {
            window = if present == 0 { window + 200 } else { (window / 2).max(20) };
            continue;
        }
        let resumed: Vec<serde_json::Value> = {
            let out = Command::new(bin)
                .args(["--json", "fetch"])
                .arg(src.path())
                .current_dir(dst.path())
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            out.stdout
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_slice(l).unwrap())
                .collect()
        };
        let r = &resumed[0];
        // Checkpoints are written at most once a second: a kill before the first one restarts
        // from 0, and revs_diff still keeps every present revision from being sent again.
        assert_eq!(
            r["revisions_written"].as_u64().unwrap(),
            total - present,
            "only what was missing is written"
        );
        let export = |dir: &Path| {
            Command::new(bin).args(["export", "--all-leaves"]).current_dir(dir).output().unwrap().stdout
        };
        assert!(export(dst.path()) == export(src.path()), "the stores converge");
        println!(
            "interrupted fetch (attempt {attempt}): {present} of {total} documents before the kill, resumed at seq {}, wrote {}",
            r["start_seq"], r["revisions_written"]
        );
        return;
    }
    panic!("no kill landed in the middle of a fetch in 20 attempts");
}

fn main() {
    // `cargo test` passes harness flags such as `--list`; this test has one case only.
    if std::env::args().any(|a| a == "--list") {
        println!("crash: test");
        return;
    }
    let bin = env!("CARGO_BIN_EXE_settee");
    let rounds: usize = std::env::var("SETTEE_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    let seed: u64 =
        std::env::var("SETTEE_CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
        });
    println!("crash test: {rounds} kills, seed {seed} (SETTEE_CRASH_SEED={seed} replays)");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.ndjson");
    write_input(&input);
    let status = Command::new(bin).args(["init"]).current_dir(dir.path()).output().unwrap().status;
    assert!(status.success());
    let root = dir.path().join(".settee");

    // A first uninterrupted run measures how long an import takes, to spread kills over it.
    let mut acked_total = 0u64;
    let mut kills = 0;
    let mut completed = 0;
    let mut window_ms = 400u64;
    for round in 0..rounds {
        let delay = Duration::from_millis(rng.next() % window_ms);
        let (acked, finished) = run_and_kill(bin, dir.path(), &input, delay);
        acked_total = acked_total.max(acked);
        let present = check(&root, acked_total);
        if finished {
            completed += 1;
            assert_eq!(present, DOCS, "a finished import must hold every document");
            // Start over so later kills land in the middle of imports again.
            std::fs::remove_dir_all(&root).unwrap();
            assert!(Command::new(bin).args(["init"]).current_dir(dir.path()).status().unwrap().success());
            acked_total = 0;
            window_ms = (window_ms * 3 / 4).max(50);
        } else {
            kills += 1;
            window_ms = (window_ms + 25).min(3000);
        }
        if round % 10 == 9 {
            println!(
                "round {}: {kills} kills, {completed} completed imports, {acked_total} lines acknowledged",
                round + 1
            );
        }
    }
    // Finally let an import finish and check everything is there.
    let (_, finished) = run_and_kill(bin, dir.path(), &input, Duration::from_secs(600));
    assert!(finished, "the final import did not finish");
    assert_eq!(check(&root, DOCS as u64), DOCS);
    assert!(kills >= rounds / 2, "too few kills landed mid-import ({kills} of {rounds})");
    interrupted_replication(bin, &input, &mut rng);
    println!("test result: ok. 2 passed; 0 failed ({kills} kills, {completed} completed imports)");
}
