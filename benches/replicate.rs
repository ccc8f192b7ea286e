//! Replication benchmark: a store of 1,000,000 documents (about 200 bytes each) replicated
//! to an empty store, then again (a no-op); and 100,000 documents with 10 revisions each.
//! Reports documents per second and peak memory. `cargo bench -p settee-cli --bench
//! replicate` (SETTEE_BENCH_DOCS changes the document count).

/// The allocator the `settee` binary uses, so library figures match the command's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use serde_json::json;
use settee::replicate::{replicate, Options};
use settee::transport::local::LocalStore;
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

fn max_rss_mib() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we pass.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage.ru_maxrss as f64 / 1024.0
    }
}

fn build(root: &std::path::Path, docs: u64, rounds: u64) -> Store {
    let mut store = Store::init(root).unwrap();
    history::write_history(&mut store, docs, rounds, &body);
    store
}

fn run(label: &str, docs: u64, rounds: u64) {
    let work = tempfile::tempdir().unwrap();
    let mut source = build(&work.path().join("src/.settee"), docs, rounds);
    let mut target = Store::init(&work.path().join("dst/.settee")).unwrap();
    let options = Options { batch_size: 2000, ..Options::default() };
    let t = Instant::now();
    let first =
        replicate(&mut LocalStore::new(&mut source), &mut LocalStore::new(&mut target), &options, &mut ())
            .unwrap();
    target.checkpoint().unwrap();
    let secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let again =
        replicate(&mut LocalStore::new(&mut source), &mut LocalStore::new(&mut target), &options, &mut ())
            .unwrap();
    let noop = t.elapsed().as_secs_f64();
    assert_eq!(again.revisions_written, 0);
    println!("{label}");
    println!(
        "  {:<36} {:>12.0} docs/s ({} revisions written in {secs:.2} s)",
        "first replication",
        docs as f64 / secs,
        first.revisions_written
    );
    println!("  {:<36} {:>12.3} s", "no-op re-run", noop);
    println!("  {:<36} {:>12.1} MiB", "peak memory (whole process)", max_rss_mib());
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n: u64 = std::env::var("SETTEE_BENCH_DOCS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    run(&format!("{n} documents, one revision each"), n, 1);
    run(&format!("{} documents, 10 revisions each", n / 10), n / 10, 10);
}
