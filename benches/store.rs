//! Store benchmark: import, random reads, changes feed, export, size on disk, open time.
//!
//! `cargo bench -p settee-cli --bench store` (SETTEE_BENCH_DOCS sets the document count,
//! default 1,000,000). Documents are package-registry-like records of 100 to 200 bytes.
//! Prints a table and writes the figures as JSON to `target/bench-store.json`. The commands
//! (`settee import`, `settee export`) run as child processes, measured with their own peak
//! memory; the library figures are taken in this process.

/// The allocator the `settee` binary uses, so library figures match the command's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use settee::store::OpenOptions;
use settee::{DocId, Op, Store};

#[path = "support/child.rs"]
mod child;
#[path = "../tests/support/rng.rs"]
mod rng;
use rng::Rng;

const WORDS: &[&str] = &[
    "fast", "tiny", "json", "parser", "stream", "utility", "for", "node", "browser", "async", "http",
    "client", "server", "color", "string", "array", "deep", "merge", "clone", "logger", "cli", "test",
    "runner", "build", "tool", "plugin", "config", "schema", "validate", "cache",
];

/// One NDJSON line: `{"_id":..,"name":..,"version":..,"description":..}`, 100 to 200 bytes.
fn doc_line(i: u64, rng: &mut Rng) -> String {
    let name = format!("{}-{}-{i}", WORDS[(rng.next() % 30) as usize], WORDS[(rng.next() % 30) as usize]);
    let version = format!("{}.{}.{}", rng.next() % 5, rng.next() % 20, rng.next() % 50);
    let mut description = String::new();
    let target = 30 + (rng.next() % 75) as usize;
    while description.len() < target {
        if !description.is_empty() {
            description.push(' ');
        }
        description.push_str(WORDS[(rng.next() % 30) as usize]);
    }
    format!(r#"{{"_id":"pkg-{i:08}","name":"{name}","version":"{version}","description":"{description}"}}"#)
}

fn dir_size(path: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(path).unwrap().flatten() {
        let meta = entry.metadata().unwrap();
        total += if meta.is_dir() { dir_size(&entry.path()) } else { meta.len() };
    }
    total
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n: u64 = std::env::var("SETTEE_BENCH_DOCS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let bin = env!("CARGO_BIN_EXE_settee");
    let work = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x5EED);
    // The input is streamed to a file, so that this process is still small when it starts the
    // commands below (a child's peak RSS starts from its parent's).
    let input = work.path().join("docs.ndjson");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
        for i in 0..n {
            writeln!(f, "{}", doc_line(i, &mut rng)).unwrap();
        }
        // Flush the input to disk now, so that the imports' fsyncs do not wait behind the
        // writeback of this file.
        f.into_inner().unwrap().sync_all().unwrap();
    }
    let input_bytes = std::fs::metadata(&input).unwrap().len();
    println!("{n} documents, {:.1} bytes each on average", input_bytes as f64 / n as f64 - 1.0);
    let mut results = serde_json::Map::new();
    let mut report = |name: &str, value: f64, unit: &str| {
        println!("{name:<36} {value:>14.1} {unit}");
        results.insert(name.to_string(), serde_json::json!({"value": value, "unit": unit}));
    };

    // 1. settee import of the file, then settee export of everything.
    let cli_dir = work.path().join("cli");
    std::fs::create_dir_all(&cli_dir).unwrap();
    assert!(Command::new(bin).arg("init").current_dir(&cli_dir).output().unwrap().status.success());
    let import =
        child::measure(Command::new(bin).args(["--json", "import"]).arg(&input).current_dir(&cli_dir));
    let summary = String::from_utf8_lossy(&import.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "summary")
        .expect("settee import printed a summary");
    assert_eq!(summary["data"]["written"], n, "settee import wrote every document");
    report("import (settee import), docs/s", n as f64 / import.seconds, "docs/s");
    report("settee import peak RSS", import.peak_rss_mib, "MiB");
    let export_file = work.path().join("export.ndjson");
    let export =
        child::measure(Command::new(bin).args(["--json", "export"]).arg(&export_file).current_dir(&cli_dir));
    report("export (settee export)", n as f64 / export.seconds, "docs/s");
    report("settee export peak RSS", export.peak_rss_mib, "MiB");
    std::fs::remove_file(&export_file).unwrap();

    // 2. Size on disk, everything included.
    let root = cli_dir.join(".settee");
    let size = dir_size(&root);
    report("bytes on disk per document", size as f64 / n as f64, "B/doc");

    // 3. Library import: `settee::import` parses the file's lines on worker threads and
    // hands them back in order; each chunk of 10,000 is one write (one commit).
    let lib_root = work.path().join("lib/.settee");
    let t = Instant::now();
    let mut store = Store::init(&lib_root).unwrap();
    let file = std::fs::File::open(&input).unwrap();
    for chunk in settee::import::parse_lines(Box::new(file), &settee::import::Options::default(), |_| {}) {
        let ops: Vec<Op> = chunk.unwrap().lines.into_iter().map(|(_, op)| op.unwrap()).collect();
        for r in store.write(ops).unwrap() {
            r.unwrap();
        }
    }
    store.checkpoint().unwrap();
    let secs = t.elapsed().as_secs_f64();
    report("import (library), docs/s", n as f64 / secs, "docs/s");
    drop(store);

    // 4. Open time (median of 11).
    let mut opens: Vec<f64> = (0..11)
        .map(|_| {
            let t = Instant::now();
            let s = Store::open(&root, OpenOptions::default()).unwrap();
            let e = t.elapsed().as_secs_f64();
            drop(s);
            e
        })
        .collect();
    opens.sort_by(f64::total_cmp);
    report("open the store (median)", opens[5] * 1000.0, "ms");

    // 5. Random winner reads, one thread.
    let store = Store::open(&root, OpenOptions::default()).unwrap();
    let ids: Vec<DocId> =
        (0..100_000).map(|_| DocId::parse(&format!("pkg-{:08}", rng.next() % n)).unwrap()).collect();
    let t = Instant::now();
    for id in &ids {
        let (_, body) = store.get_winner(id).unwrap().unwrap();
        assert!(body.contains_key("name"));
    }
    report("random winner reads, 1 thread", ids.len() as f64 / t.elapsed().as_secs_f64(), "docs/s");

    // 6. The whole changes feed.
    let t = Instant::now();
    let count = store.changes(settee::Seq(0)).try_fold(0u64, |n, c| c.map(|_| n + 1)).unwrap();
    assert_eq!(count, n);
    report("changes feed", n as f64 / t.elapsed().as_secs_f64(), "docs/s");
    drop(store);

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-store.json");
    let _ = std::fs::write(&path, serde_json::to_vec_pretty(&serde_json::Value::Object(results)).unwrap());
}
