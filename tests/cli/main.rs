//! End-to-end tests of the `settee` binary: every command and every error path of the
//! command-line contract (`shared/design/cli.md`), run through the real executable.
//!
//! One helper, `TestEnv`, owns a temporary work tree with a store in it; `env.settee([...])`
//! runs the binary there and returns `{stdout, stderr, code}`. Asserts are exact where the
//! output is meant for scripts, and `assert_text!` prints expected and actual output with the
//! first differing line marked.
//!
//! Layout: `documents.rs` (put, get, rm, ls), `history.rs` (conflicts, log, changes, import,
//! export), `store.rs` (init, locating the store, local, stats, cat-object, corruption),
//! `numbers.rs` (numbers come back exactly as written), `attachments.rs` (blobs in `stats` and
//! `fsck`; the attachment commands as they land).

mod attachments;
mod bundle;
mod clone;
mod config;
mod contract;
mod documents;
mod follow;
mod history;
mod http;
mod integrity;
mod large;
mod maintenance;
mod numbers;
mod progress;
mod readme;
mod repair;
mod replication;
#[path = "../support/rng.rs"]
mod rng;
mod serve;
mod shared;
mod store;

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// Exit codes of the contract.
pub const OK: i32 = 0;
pub const ERROR: i32 = 1;
pub const USAGE: i32 = 2;
pub const CONFLICT: i32 = 3;
pub const NOT_FOUND: i32 = 4;

/// A temporary work tree, with a store (`.settee/`) unless made with `TestEnv::bare`.
pub struct TestEnv {
    tmp: tempfile::TempDir,
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Default for TestEnv {
    fn default() -> TestEnv {
        TestEnv::new()
    }
}

impl TestEnv {
    /// A work tree with an empty store in it.
    pub fn new() -> TestEnv {
        let env = TestEnv::bare();
        env.settee(["init"]).ok();
        env
    }

    /// A work tree with no store.
    pub fn bare() -> TestEnv {
        TestEnv {
            tmp: tempfile::Builder::new().prefix("settee-cli-").tempdir().expect("creating a temp dir"),
        }
    }

    /// The work tree (the directory commands run in).
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// The `.settee` directory.
    pub fn store_dir(&self) -> PathBuf {
        self.path().join(".settee")
    }

    /// A `settee` command that runs in the work tree, with no `SETTEE_DIR` inherited.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_settee"));
        cmd.current_dir(self.path()).env_remove("SETTEE_DIR").env_remove("RUST_BACKTRACE");
        cmd
    }

    /// Run `settee ARGS` with empty stdin.
    pub fn settee<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command();
        cmd.args(args);
        run(cmd, "")
    }

    /// Run `settee ARGS` with `stdin` as standard input.
    pub fn settee_stdin<I, S>(&self, args: I, stdin: &str) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command();
        cmd.args(args);
        run(cmd, stdin)
    }

    /// `settee put ID` with `body` on stdin; returns the new revision.
    pub fn put(&self, id: &str, body: &str) -> String {
        let rev = self.settee_stdin(["put", id], body).ok().trim_end().to_string();
        assert_rev(&rev);
        rev
    }

    /// `settee put ID --rev REV` with `body` on stdin; returns the new revision.
    pub fn update(&self, id: &str, rev: &str, body: &str) -> String {
        let rev = self.settee_stdin(["put", id, "--rev", rev], body).ok().trim_end().to_string();
        assert_rev(&rev);
        rev
    }

    /// `settee rm ID --rev REV`; returns the tombstone's revision.
    pub fn rm(&self, id: &str, rev: &str) -> String {
        let rev = self.settee(["rm", id, "--rev", rev]).ok().trim_end().to_string();
        assert_rev(&rev);
        rev
    }

    /// `settee --json get ARGS`, parsed.
    pub fn get_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json", "get"];
        all.extend_from_slice(args);
        self.settee(all).json()
    }

    /// Write `contents` to `name` in the work tree; returns its path.
    pub fn write_file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("creating parent dir");
        }
        std::fs::write(&path, contents).expect("writing a file");
        path
    }

    /// `settee import --no-new-edits -` of `lines`; asserts success.
    pub fn import_replicated(&self, lines: &[String]) -> String {
        let mut input = lines.join("\n");
        input.push('\n');
        self.settee_stdin(["import", "--no-new-edits", "-"], &input).ok().to_string()
    }

    /// The `last_seq` the store reports.
    pub fn last_seq(&self) -> u64 {
        self.settee(["--json", "stats"]).json()["last_seq"].as_u64().expect("last_seq is a number")
    }
}

/// Run a prepared command to completion, feeding it `stdin`.
pub fn run(mut cmd: Command, stdin: &str) -> Output {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawning settee");
    let mut input = child.stdin.take().expect("stdin is piped");
    let data = stdin.as_bytes().to_vec();
    let feeder = std::thread::spawn(move || {
        // The command may exit without reading (a usage error): ignore a broken pipe.
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("waiting for settee");
    feeder.join().expect("stdin feeder");
    Output {
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
        code: out.status.code().expect("settee was killed by a signal"),
    }
}

impl Output {
    fn describe(&self) -> String {
        format!(
            "exit code {}\n--- stdout ---\n{}--- stderr ---\n{}--------------",
            self.code, self.stdout, self.stderr
        )
    }

    /// Assert success with nothing on stderr; returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert!(
            self.code == OK && self.stderr.is_empty(),
            "expected success with empty stderr, got {}",
            self.describe()
        );
        &self.stdout
    }

    /// Assert success (stderr may carry notes); returns stdout.
    #[track_caller]
    pub fn succeeded(&self) -> &str {
        assert!(self.code == OK, "expected success, got {}", self.describe());
        assert_no_panic(self);
        &self.stdout
    }

    /// Assert success and parse stdout as one JSON value.
    #[track_caller]
    pub fn json(&self) -> Value {
        let text = self.ok();
        assert_eq!(
            text.lines().count(),
            1,
            "--json output of one object must be one line: {}",
            self.describe()
        );
        serde_json::from_str(text).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.describe()))
    }

    /// Parse stdout as JSON Lines (does not check the exit code).
    #[track_caller]
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("line {l:?} is not JSON ({e}): {}", self.describe()))
            })
            .collect()
    }

    /// Assert a failure of settee's own making: exit `code`, nothing on stdout, and stderr
    /// exactly one `error: ...` line (optionally followed by `hint: ...` lines), no panic.
    /// Returns the error message without the `error: ` prefix.
    #[track_caller]
    pub fn fails(&self, code: i32) -> String {
        assert_eq!(self.code, code, "wrong exit code: {}", self.describe());
        assert_eq!(self.stdout, "", "a failed command printed to stdout: {}", self.describe());
        assert_no_panic(self);
        let mut lines = self.stderr.lines();
        let first = lines.next().unwrap_or_default();
        let message = first
            .strip_prefix("error: ")
            .unwrap_or_else(|| panic!("stderr must start with `error: `: {}", self.describe()));
        for rest in lines {
            assert!(
                rest.starts_with("hint: "),
                "error must be one line (then hints only): {}",
                self.describe()
            );
        }
        message.to_string()
    }

    /// Assert a usage error (exit 2) raised by the argument parser; its help text may follow
    /// the first line. Returns that first line.
    #[track_caller]
    pub fn usage_error(&self) -> String {
        assert_eq!(self.code, USAGE, "expected a usage error: {}", self.describe());
        assert_eq!(self.stdout, "", "a usage error printed to stdout: {}", self.describe());
        assert_no_panic(self);
        let first = self.stderr.lines().next().unwrap_or_default();
        assert!(first.starts_with("error: "), "stderr must start with `error: `: {}", self.describe());
        first.to_string()
    }
}

#[track_caller]
pub fn assert_no_panic(out: &Output) {
    assert!(!out.stderr.contains("panicked"), "settee panicked: {}", out.describe());
}

/// Assert that a revision printed for an edit is `N-` followed by 32 lowercase hex digits.
#[track_caller]
pub fn assert_rev(rev: &str) {
    let (pos, hash) = rev.split_once('-').unwrap_or_else(|| panic!("{rev:?} is not N-hash"));
    assert!(pos.parse::<u32>().is_ok_and(|p| p >= 1), "{rev:?}: bad position");
    assert!(
        hash.len() == 32 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "{rev:?}: hash is not 32 lowercase hex"
    );
}

/// The position of a revision id.
pub fn pos(rev: &str) -> u32 {
    rev.split_once('-').and_then(|(p, _)| p.parse().ok()).unwrap_or_else(|| panic!("{rev:?} has no position"))
}

/// The hash of a revision id.
pub fn hash(rev: &str) -> &str {
    rev.split_once('-').map(|(_, h)| h).unwrap_or_else(|| panic!("{rev:?} has no hash"))
}

/// A 32-character revision hash made of one repeated hex digit (`h('a')` = `aaaa…`).
pub fn h(c: char) -> String {
    c.to_string().repeat(32)
}

/// One line of replicated history for `import --no-new-edits`: `ids` newest first, the
/// first at position `start`; `extra` holds the body's fields (and `_deleted`).
pub fn replicated(id: &str, start: u32, ids: &[&str], extra: Value) -> String {
    let mut doc = serde_json::Map::new();
    doc.insert("_id".into(), Value::from(id));
    doc.insert("_rev".into(), Value::from(format!("{start}-{}", ids[0])));
    doc.insert("_revisions".into(), serde_json::json!({"start": start, "ids": ids}));
    if let Value::Object(fields) = extra {
        doc.extend(fields);
    }
    Value::Object(doc).to_string()
}

/// Compare text exactly; on mismatch show both, the first differing line marked.
#[macro_export]
macro_rules! assert_text {
    ($got:expr, $expected:expr $(,)?) => {
        match (&$got, &$expected) {
            (got, expected) => {
                let (got, expected): (&str, &str) = (got.as_ref(), expected.as_ref());
                if got != expected {
                    panic!("{}", $crate::text_diff(expected, got));
                }
            }
        }
    };
}

pub fn text_diff(expected: &str, got: &str) -> String {
    let e: Vec<&str> = expected.split_inclusive('\n').collect();
    let g: Vec<&str> = got.split_inclusive('\n').collect();
    let first = (0..e.len().max(g.len())).find(|&i| e.get(i) != g.get(i)).unwrap_or(0);
    let mut out = String::from("output differs (- expected, + got):\n");
    for i in 0..e.len().max(g.len()) {
        match (e.get(i), g.get(i)) {
            (Some(a), Some(b)) if a == b => out.push_str(&format!("  {}", show(a))),
            (a, b) => {
                if let Some(a) = a {
                    out.push_str(&format!("- {}", show(a)));
                }
                if let Some(b) = b {
                    out.push_str(&format!("+ {}", show(b)));
                }
            }
        }
        if i == first {
            out.push_str("  ^^^ first difference\n");
        }
    }
    out
}

fn show(line: &str) -> String {
    match line.strip_suffix('\n') {
        Some(l) => format!("{l}\n"),
        None => format!("{line}⏎(no newline)\n"),
    }
}

/// Poll `read` until it gives `Some`, for up to `limit`; the time it took.
pub fn within<T>(
    limit: std::time::Duration,
    mut read: impl FnMut() -> Option<T>,
) -> (T, std::time::Duration) {
    let start = std::time::Instant::now();
    loop {
        if let Some(found) = read() {
            return (found, start.elapsed());
        }
        assert!(start.elapsed() < limit, "not within {limit:?}");
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}

/// Send SIGTERM to `child` and wait (up to 30 s) for it to exit: its exit code and stderr.
pub fn sigterm(child: &mut std::process::Child) -> (Option<i32>, String) {
    use std::io::BufRead as _;
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(i32::try_from(child.id()).expect("pid fits"), libc::SIGTERM) }, 0);
    let (code, _) =
        within(std::time::Duration::from_secs(30), || child.try_wait().expect("waiting").map(|s| s.code()));
    let mut stderr = String::new();
    for line in std::io::BufReader::new(child.stderr.take().expect("piped")).lines() {
        stderr.push_str(&line.expect("a line"));
        stderr.push('\n');
    }
    (code, stderr)
}
