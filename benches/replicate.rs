//! Replication benchmark: a store of 1,000,000 documents (about 200 bytes each) replicated
//! to an empty store, then again (a no-op); and 100,000 documents with 10 revisions each.
//! The source is built in this process; each replication is `settee fetch` run as a child
//! process, so its peak memory is the command's own. Reports documents per second and peak
//! memory. `cargo bench -p settee-cli --bench replicate` (SETTEE_BENCH_DOCS changes the
//! document count).

/// The allocator the `settee` binary uses, so library figures match the command's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::Command;

use serde_json::json;
#[path = "support/child.rs"]
mod child;
#[path = "support/history.rs"]
mod history;

use settee::{Body, Store};

fn body(i: u64, round: u64) -> Body {
    let v = json!({
        "name": format!("package-{i}"),
        "version": format!("{}.{}.{}", round, i % 13, i % 7),
        "description": format!("package {i}, revision {round}: a description long enough to make two hundred bytes"),
        "keywords": ["registry", "benchmark", format!("k{}", i % 100)],
    });
    match v {
        serde_json::Value::Object(m) => Body::from_map(&m),
        _ => unreachable!("a JSON object"),
    }
}

/// Run `settee fetch SOURCE` in `dir` with `--json`; returns the seconds it took, the
/// summary it printed and its peak RSS in MiB.
fn fetch(dir: &std::path::Path, source: &std::path::Path) -> (f64, serde_json::Value, f64) {
    let run = child::measure(
        Command::new(env!("CARGO_BIN_EXE_settee"))
            .args(["--json", "fetch", "--batch-size", "2000"])
            .arg(source)
            .current_dir(dir),
    );
    (run.seconds, serde_json::from_slice(&run.stdout).unwrap(), run.peak_rss_mib)
}

/// Build the source store in a child process (this benchmark run again with
/// `SETTEE_BENCH_BUILD`): a child's peak RSS starts from its parent's at the fork, so the
/// parent stays small for the fetch's figure to be its own.
fn build_source(source: &std::path::Path, docs: u64, rounds: u64) {
    let status = Command::new(std::env::current_exe().unwrap())
        .env("SETTEE_BENCH_BUILD", format!("{docs} {rounds} {}", source.display()))
        .status()
        .unwrap();
    assert!(status.success());
}

fn run(label: &str, docs: u64, rounds: u64) {
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("src/.settee");
    build_source(&source, docs, rounds);
    let target = work.path().join("dst");
    std::fs::create_dir_all(&target).unwrap();
    let init = Command::new(env!("CARGO_BIN_EXE_settee")).arg("init").current_dir(&target).output().unwrap();
    assert!(init.status.success());
    let (secs, first, peak) = fetch(&target, &source);
    let (noop, again, _) = fetch(&target, &source);
    assert_eq!(again["revisions_written"], 0, "{again}");
    println!("{label}");
    println!(
        "  {:<36} {:>12.0} docs/s ({} revisions written in {secs:.2} s)",
        "first replication (settee fetch)",
        docs as f64 / secs,
        first["revisions_written"]
    );
    println!("  {:<36} {:>12.3} s", "no-op re-run", noop);
    println!("  {:<36} {:>12.1} MiB", "peak memory of settee fetch", peak);
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if let Ok(job) = std::env::var("SETTEE_BENCH_BUILD") {
        let mut parts = job.splitn(3, ' ');
        let docs: u64 = parts.next().unwrap().parse().unwrap();
        let rounds: u64 = parts.next().unwrap().parse().unwrap();
        let mut store = Store::init(std::path::Path::new(parts.next().unwrap())).unwrap();
        history::write_history(&mut store, docs, rounds, &body);
        return;
    }
    let n: u64 = std::env::var("SETTEE_BENCH_DOCS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    run(&format!("{n} documents, one revision each"), n, 1);
    run(&format!("{} documents, 10 revisions each", n / 10), n / 10, 10);
}
