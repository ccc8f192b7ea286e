//! Compaction benchmark: 100,000 documents each updated 10 times (1M revisions), then
//! `compact --full`. Reports bytes before and after, the size of a store built afresh from
//! the final leaves (with their revision histories), compaction time and input MB/s, and the
//! extra disk the compaction needed. `cargo bench -p settee-cli --bench compact`
//! (SETTEE_BENCH_DOCS changes the document count).

/// The allocator the `settee` binary uses, so library figures match the command's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use serde_json::json;
use settee::compact::Options;
use settee::store::{GetOptions, OpenRevs};
#[path = "support/history.rs"]
mod history;

use settee::{Body, DocId, Incoming, Op, Store};

fn body(i: u64, round: u64) -> Body {
    let v = json!({
        "name": format!("package-{i}"),
        "version": format!("1.{round}.{}", i % 17),
        "description": format!("release {round} of package {i}, with a description of moderate length"),
    });
    match v {
        serde_json::Value::Object(m) => Body::from_map(&m),
        _ => unreachable!("a JSON object"),
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n: u64 = std::env::var("SETTEE_BENCH_DOCS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let rounds = 10;
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("a/.settee");
    let mut store = Store::init(&root).unwrap();
    let t = Instant::now();
    history::write_history(&mut store, n, rounds, &body);
    let build = t.elapsed().as_secs_f64();
    println!(
        "{n} documents x {rounds} revisions written in {build:.1} s ({:.0} revisions/s)",
        (n * rounds) as f64 / build
    );
    let before = store.disk_bytes();
    let outcome = store.compact(&Options { full: true, ..Options::default() }).unwrap();
    let after = store.disk_bytes();
    assert!(store.verify().unwrap().is_empty());

    // A store built afresh from the final leaves, histories included.
    let fresh_root = work.path().join("b/.settee");
    let mut fresh = Store::init(&fresh_root).unwrap();
    let all = GetOptions { open_revs: Some(OpenRevs::All), revs: true, ..GetOptions::default() };
    let ids: Vec<DocId> = store.docs(None, None).map(|d| d.unwrap().0).collect();
    for chunk in ids.chunks(10_000) {
        let ops: Vec<Op> = chunk
            .iter()
            .flat_map(|id| store.get(id, &all).unwrap().as_array().unwrap().clone())
            .map(|leaf| {
                let d = Incoming::from_value(leaf["ok"].clone(), "bench").unwrap();
                let (rev, ancestry) = d.replicated_rev("bench").unwrap();
                Op::Replicate {
                    id: d.doc_id("bench").unwrap(),
                    rev,
                    ancestry,
                    deleted: false,
                    body: Body::from_map(&d.body),
                }
            })
            .collect();
        for r in fresh.write(ops).unwrap() {
            r.unwrap();
        }
    }
    fresh.checkpoint().unwrap();
    let fresh_bytes = fresh.disk_bytes();

    let mb = |b: u64| b as f64 / 1e6;
    println!("{:<40} {:>10.1} MB", "before compaction", mb(before));
    println!("{:<40} {:>10.1} MB", "after compaction", mb(after));
    println!("{:<40} {:>10.1} MB", "fresh store from the final leaves", mb(fresh_bytes));
    println!("{:<40} {:>10.2} x", "compacted / fresh", after as f64 / fresh_bytes as f64);
    println!("{:<40} {:>10.2} s", "compaction time", outcome.seconds);
    println!(
        "{:<40} {:>10.1} MB/s",
        "compaction input throughput",
        mb(outcome.input_bytes) / outcome.seconds
    );
    println!("{:<40} {:>10.1} MB", "packs rewritten (input)", mb(outcome.input_bytes));
    println!("{:<40} {:>10.1} MB", "peak extra disk (new packs)", mb(outcome.output_bytes));
    println!(
        "{:<40} {:>10} / {}",
        "objects copied / dropped", outcome.objects_copied, outcome.objects_dropped
    );
}
