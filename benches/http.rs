//! HTTP replication benchmark, settee beside PouchDB's own replicator, in the same run and
//! against the same server: a PouchDB Server (LevelDB on disk) on 127.0.0.1.
//!
//! 100,000 small package-registry-like documents (about 125 bytes):
//! - push: `settee push` of a store holding them to an empty database, then PouchDB
//!   (`pouchdb-node`, default settings: batches of 100) replicating the same documents
//!   from its LevelDB to another empty database;
//! - pull: `settee clone` and PouchDB replicating into an empty LevelDB, both from the
//!   database settee pushed;
//! - the no-op re-runs of settee's push and fetch (nothing changed).
//!
//! Reports documents per second and each command's own peak RSS (`wait4`).
//! `cargo bench -p settee-cli --bench http` (SETTEE_BENCH_DOCS changes the count); needs
//! `scripts/install-peer`.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

#[path = "support/child.rs"]
mod child;
#[allow(dead_code, reason = "the bench uses part of the tests' server helper")]
#[path = "../tests/cli/http/server.rs"]
mod server;

fn settee(dir: &Path, args: &[&str]) -> child::Measured {
    child::measure(Command::new(env!("CARGO_BIN_EXE_settee")).args(args).current_dir(dir))
}

fn pouchdb(args: &[&str]) -> (child::Measured, Value) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/support/pouchdb_bench.js");
    let run =
        child::measure(Command::new("node").arg(script).args(args).env("NODE_PATH", server::peer_dir()));
    let out = serde_json::from_slice(&run.stdout).expect("the PouchDB script prints JSON");
    (run, out)
}

fn line(what: &str, docs: u64, seconds: f64, rss: f64) {
    println!("{what:<44} {seconds:>8.2} s {:>9.0} docs/s {rss:>8.1} MiB peak", docs as f64 / seconds);
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let docs: u64 = std::env::var("SETTEE_BENCH_DOCS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let work = tempfile::Builder::new().prefix("settee-bench-http-").tempdir().unwrap();
    let w = work.path();
    let file = w.join("docs.jsonl");
    let mut text = String::with_capacity(docs as usize * 130);
    for i in 0..docs {
        let doc = json!({
            "_id": format!("pkg-{i:07}"),
            "name": format!("package-{i}"),
            "version": format!("{}.{}.{}", i % 5, i % 13, i % 7),
            "description": "a package",
            "keywords": ["registry", format!("k{}", i % 100)],
        });
        text.push_str(&doc.to_string());
        text.push('\n');
    }
    std::fs::write(&file, &text).unwrap();
    drop(text);
    let store = w.join("store");
    std::fs::create_dir(&store).unwrap();
    settee(&store, &["init"]);
    settee(&store, &["import", file.to_str().unwrap()]);
    pouchdb(&["load", w.join("pouch-src").to_str().unwrap(), file.to_str().unwrap()]);
    let server = server::PouchServer::on_disk();
    println!("{docs} documents, PouchDB Server on 127.0.0.1:{} (LevelDB)", server.port);

    let settee_push = settee(&store, &["--json", "push", &server.db("settee-push")]);
    line("push: settee", docs, settee_push.seconds, settee_push.peak_rss_mib);
    let (pouch_push, out) =
        pouchdb(&["push", w.join("pouch-src").to_str().unwrap(), &server.db("pouch-push")]);
    assert_eq!(out["docs_written"].as_u64(), Some(docs), "{out}");
    let pouch_seconds = out["seconds"].as_f64().unwrap();
    line("push: PouchDB replicator (replication only)", docs, pouch_seconds, pouch_push.peak_rss_mib);
    println!("push: settee / PouchDB = {:.2}x", pouch_seconds / settee_push.seconds);

    let clone_dir = w.join("clone");
    let settee_pull = settee(w, &["--json", "clone", &server.db("settee-push"), clone_dir.to_str().unwrap()]);
    line("pull: settee clone", docs, settee_pull.seconds, settee_pull.peak_rss_mib);
    let (pouch_pull, out) =
        pouchdb(&["pull", &server.db("settee-push"), w.join("pouch-dst").to_str().unwrap()]);
    assert_eq!(out["docs_written"].as_u64(), Some(docs), "{out}");
    let pouch_seconds = out["seconds"].as_f64().unwrap();
    line("pull: PouchDB replicator (replication only)", docs, pouch_seconds, pouch_pull.peak_rss_mib);
    println!("pull: settee / PouchDB = {:.2}x", pouch_seconds / settee_pull.seconds);

    let noop_push = settee(&store, &["--json", "push", &server.db("settee-push")]);
    let noop_fetch = settee(&clone_dir, &["--json", "fetch"]);
    println!(
        "no-op re-run: push {:.3} s, fetch {:.3} s (peak {:.1} / {:.1} MiB)",
        noop_push.seconds, noop_fetch.seconds, noop_push.peak_rss_mib, noop_fetch.peak_rss_mib
    );
}
