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
//! Then attachments: 1,000 documents each with a 100 KiB attachment (incompressible bytes),
//! pushed and pulled the same way by settee and by PouchDB's replicator, in MB/s of
//! attachment bytes; then 8 documents each with a 16 MiB attachment (settee pushes each as
//! a streamed multipart `PUT` and pulls each with a streamed `GET`, so its peak memory
//! stays far below one attachment's size).
//!
//! Reports documents per second and each command's own peak RSS (`wait4`).
//! `cargo bench -p settee-cli --bench http` (SETTEE_BENCH_DOCS, SETTEE_BENCH_ATT_DOCS and
//! SETTEE_BENCH_LARGE_ATT_DOCS change the counts, 0 leaves a part out); needs
//! `scripts/install-peer`.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

#[path = "support/child.rs"]
mod child;
#[allow(dead_code, reason = "the bench uses part of the tests' server helper")]
#[path = "../tests/cli/http/server.rs"]
mod server;

#[path = "../tests/support/rng.rs"]
mod rng;
use rng::noise;

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

fn count(var: &str, default: u64) -> u64 {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let docs = count("SETTEE_BENCH_DOCS", 100_000);
    let work = tempfile::Builder::new().prefix("settee-bench-http-").tempdir().unwrap();
    let w = work.path();
    let server = server::PouchServer::on_disk();
    if docs > 0 {
        small_documents(w, &server, docs);
    }
    let att_docs = count("SETTEE_BENCH_ATT_DOCS", 1000);
    if att_docs > 0 {
        attachments(w, &server, att_docs, 100 * 1024, "attachments");
    }
    let large_docs = count("SETTEE_BENCH_LARGE_ATT_DOCS", 8);
    if large_docs > 0 {
        attachments(w, &server, large_docs, 16 << 20, "large attachments");
    }
}

fn mb_line(what: &str, bytes: u64, seconds: f64, rss: f64) {
    println!("{what:<44} {seconds:>8.2} s {:>9.1} MB/s {rss:>8.1} MiB peak", bytes as f64 / 1e6 / seconds);
}

/// `docs` documents each with one attachment of `len` bytes, pushed and pulled by settee and
/// by PouchDB's replicator; `what` names the part in the output.
fn attachments(w: &Path, server: &server::PouchServer, docs: u64, len: usize, what: &str) {
    use base64::Engine as _;
    let tag = if len < 1 << 20 { "att" } else { "large" };
    let name = |n: &str| format!("{tag}-{n}");
    let file = w.join(name("docs.jsonl"));
    {
        use std::io::Write as _;
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        for i in 0..docs {
            let data = base64::engine::general_purpose::STANDARD.encode(noise(len, i + 1));
            let doc = json!({
                "_id": format!("file-{i:05}"),
                "name": format!("file {i}"),
                "_attachments": {"content.bin": {"content_type": "application/octet-stream", "data": data}},
            });
            writeln!(out, "{doc}").unwrap();
        }
    }
    let bytes = docs * len as u64;
    let store = w.join(name("store"));
    std::fs::create_dir(&store).unwrap();
    settee(&store, &["init"]);
    settee(&store, &["import", file.to_str().unwrap()]);
    pouchdb(&["load", w.join(name("pouch-src")).to_str().unwrap(), file.to_str().unwrap()]);
    println!(
        "{docs} documents with a {} KiB attachment each ({:.1} MB of attachments)",
        len / 1024,
        bytes as f64 / 1e6
    );

    let push = settee(&store, &["--json", "push", &server.db(&name("settee"))]);
    let report: Value = serde_json::from_slice(&push.stdout).expect("settee push --json prints JSON");
    assert_eq!(
        (report["revisions_written"].as_u64(), report["write_failures"].as_u64()),
        (Some(docs), Some(0)),
        "{report}"
    );
    mb_line(&format!("{what} push: settee"), bytes, push.seconds, push.peak_rss_mib);
    let (pouch_push, out) =
        pouchdb(&["push", w.join(name("pouch-src")).to_str().unwrap(), &server.db(&name("pouch"))]);
    assert_eq!(out["docs_written"].as_u64(), Some(docs), "{out}");
    let pouch_seconds = out["seconds"].as_f64().unwrap();
    mb_line(&format!("{what} push: PouchDB replicator"), bytes, pouch_seconds, pouch_push.peak_rss_mib);
    println!("{what} push: settee / PouchDB = {:.2}x", pouch_seconds / push.seconds);

    let clone_dir = w.join(name("clone"));
    let pull = settee(w, &["--json", "clone", &server.db(&name("settee")), clone_dir.to_str().unwrap()]);
    mb_line(&format!("{what} pull: settee clone"), bytes, pull.seconds, pull.peak_rss_mib);
    let (pouch_pull, out) =
        pouchdb(&["pull", &server.db(&name("settee")), w.join(name("pouch-dst")).to_str().unwrap()]);
    assert_eq!(out["docs_written"].as_u64(), Some(docs), "{out}");
    let pouch_seconds = out["seconds"].as_f64().unwrap();
    mb_line(&format!("{what} pull: PouchDB replicator"), bytes, pouch_seconds, pouch_pull.peak_rss_mib);
    println!("{what} pull: settee / PouchDB = {:.2}x", pouch_seconds / pull.seconds);
}

/// The small documents: push, pull and no-op re-runs.
fn small_documents(w: &Path, server: &server::PouchServer, docs: u64) {
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
