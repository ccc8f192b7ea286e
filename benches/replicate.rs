//! Replication benchmark: a store of 1,000,000 documents (about 200 bytes each) replicated
//! to an empty store, then again (a no-op); and 100,000 documents with 10 revisions each.
//! For each source it also compares the two ways to clone it: `settee clone` of the store,
//! and `settee bundle create` followed by `settee clone` of the bundle.
//! The source is built in a child process; each replication, clone and bundle is a `settee`
//! command run as a child process, so its peak memory is the command's own. Reports
//! documents per second and peak memory. `cargo bench -p settee-cli --bench replicate`
//! (SETTEE_BENCH_DOCS changes the document count).

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

/// Run `settee ARGS` in `dir` with `--json`, measured.
fn settee(dir: &std::path::Path, args: &[&std::ffi::OsStr]) -> child::Measured {
    child::measure(Command::new(env!("CARGO_BIN_EXE_settee")).arg("--json").args(args).current_dir(dir))
}

/// One line of the table: the rate over `docs` documents, the time and the peak memory.
fn row(what: &str, docs: u64, run: &child::Measured) {
    println!(
        "  {:<36} {:>12.0} docs/s ({:.2} s, peak {:.1} MiB)",
        what,
        docs as f64 / run.seconds,
        run.seconds,
        run.peak_rss_mib
    );
}

/// Clone the store at `source` (a `.settee` directory) directly, then through a bundle.
fn clones(work: &std::path::Path, source: &std::path::Path, docs: u64) {
    let store_clone = settee(work, &["clone".as_ref(), source.as_os_str(), "store-clone".as_ref()]);
    let bundle = work.join("source.bundle");
    let create =
        settee(source.parent().unwrap(), &["bundle".as_ref(), "create".as_ref(), bundle.as_os_str()]);
    let bundle_clone = settee(work, &["clone".as_ref(), bundle.as_os_str(), "bundle-clone".as_ref()]);
    for (what, run) in [("store clone", &store_clone), ("bundle clone", &bundle_clone)] {
        let summary: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
        assert_eq!(summary["docs_read"], docs, "{what}: {summary}");
    }
    let bytes = std::fs::metadata(&bundle).unwrap().len();
    row("clone of the store (settee clone)", docs, &store_clone);
    row("bundle create", docs, &create);
    row("clone of the bundle (settee clone)", docs, &bundle_clone);
    println!("  {:<36} {:>12.1} MiB", "bundle size", bytes as f64 / (1 << 20) as f64);
    println!(
        "  {:<36} {:>12.2} x",
        "bundle clone time / store clone time",
        bundle_clone.seconds / store_clone.seconds
    );
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
    std::fs::remove_dir_all(&target).unwrap();
    clones(work.path(), &source, docs);
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
