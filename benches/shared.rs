//! Shared-store benchmark (issue 14): small commits from many threads and processes at
//! once, single-put latency while a large import runs, and random reads from 1 and 2
//! threads sharing one open store.
//!
//! `cargo bench -p settee-cli --bench shared` (SETTEE_BENCH_DOCS sets the import's document
//! count, default 1,000,000; SETTEE_BENCH_PUTS the puts per configuration, default 8,000:
//! at 2,000, 16 threads finish in a tenth of a second, too short to outlast the disk's
//! swings).
//! Prints a table and writes the figures as JSON to `target/bench-shared.json`.
//! `SETTEE_BENCH_ONLY_PUTS=1` stops after the puts from threads and processes;
//! `SETTEE_BENCH_THREADS=16` (a comma-separated list, default `1,4,16`) runs only the puts
//! from that many threads (for profiling one of them), and with `SETTEE_BENCH_ROUNDS=N`
//! (default 5 without `SETTEE_BENCH_THREADS`, 0 with it) also the paired rounds: 16
//! threads' rate over one thread's measured just before and after, each round on fresh
//! stores, so that the disk's drift between runs does not pass for a change in the ratio.
//! `SETTEE_BENCH_THREADS= SETTEE_BENCH_ROUNDS=9` runs only nine rounds.
//! `SETTEE_BENCH_READS_FROM=STORE` runs only the reads, on an existing store of
//! SETTEE_BENCH_DOCS documents `pkg-00000000`... (for profiling them, e.g. under `perf`).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use settee::store::OpenOptions;
use settee::{Body, DocId, Op, Store};

#[path = "../tests/support/rng.rs"]
mod rng;
use rng::Rng;

const WAIT: Option<Duration> = Some(Duration::from_secs(60));

fn writer(root: &Path) -> Store {
    Store::open(root, OpenOptions { write: true, wait_for_lock: WAIT }).unwrap()
}

fn put(store: &mut Store, id: &str) -> Duration {
    let mut body = serde_json::Map::new();
    body.insert("id".into(), id.into());
    let op =
        Op::Edit { id: DocId::parse(id).unwrap(), base: None, deleted: false, body: Body::from_map(&body) };
    let t = Instant::now();
    store.write(vec![op]).unwrap().remove(0).unwrap();
    t.elapsed()
}

/// `count` puts of new documents `prefix-N` through one handle; the latency of each.
fn putter(root: &Path, prefix: &str, count: usize) -> Vec<Duration> {
    let mut store = writer(root);
    (0..count).map(|i| put(&mut store, &format!("{prefix}-{i:06}"))).collect()
}

/// Puts per second from `threads` threads with a handle each, `total` puts in all, and
/// every put's latency.
fn threads_rate(root: &Path, threads: usize, total: usize) -> (f64, Vec<Duration>) {
    let t = Instant::now();
    let latencies: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|n| s.spawn(move || putter(root, &format!("t{threads}-{n}"), total / threads)))
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    (latencies.len() as f64 / t.elapsed().as_secs_f64(), latencies)
}

/// Puts per second from `procs` processes (this benchmark run again as a child, printing
/// its latencies in microseconds, one a line), and every put's latency.
fn processes_rate(root: &Path, procs: usize, total: usize) -> (f64, Vec<Duration>) {
    let me = std::env::current_exe().unwrap();
    let t = Instant::now();
    let children: Vec<_> = (0..procs)
        .map(|n| {
            Command::new(&me)
                .env("SETTEE_BENCH_PUTTER", format!("{}|p{procs}-{n}|{}", root.display(), total / procs))
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut latencies = Vec::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        latencies.extend(text.lines().map(|l| Duration::from_micros(l.parse().unwrap())));
    }
    (latencies.len() as f64 / t.elapsed().as_secs_f64(), latencies)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Random winner reads per second from `threads` threads sharing `store`.
fn read_rate(store: &Store, threads: usize, n: u64, per_thread: usize) -> f64 {
    let t = Instant::now();
    std::thread::scope(|s| {
        for k in 0..threads {
            s.spawn(move || {
                let mut rng = Rng(0x5EED + k as u64);
                for _ in 0..per_thread {
                    let id = DocId::parse(&format!("pkg-{:08}", rng.next() % n)).unwrap();
                    assert!(store.get_winner(&id).unwrap().is_some());
                }
            });
        }
    });
    (threads * per_thread) as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    if let Ok(job) = std::env::var("SETTEE_BENCH_PUTTER") {
        let mut parts = job.split('|');
        let (root, prefix, count) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        let latencies = putter(Path::new(root), prefix, count.parse().unwrap());
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for l in latencies {
            writeln!(out, "{}", l.as_micros()).unwrap();
        }
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let env_or =
        |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let n = env_or("SETTEE_BENCH_DOCS", 1_000_000);
    let puts = env_or("SETTEE_BENCH_PUTS", 8_000) as usize;
    if let Ok(root) = std::env::var("SETTEE_BENCH_READS_FROM") {
        let store = Store::open(Path::new(&root), OpenOptions::default()).unwrap();
        for threads in [1, 2, 1, 2] {
            let rate = read_rate(&store, threads, n, 200_000);
            println!("random winner reads, {threads} thread(s) {rate:>12.1} docs/s");
        }
        return;
    }
    let bin = env!("CARGO_BIN_EXE_settee");
    let work = tempfile::tempdir().unwrap();
    let mut results = serde_json::Map::new();
    let mut report = |name: &str, value: f64, unit: &str| {
        println!("{name:<44} {value:>12.1} {unit}");
        results.insert(name.to_string(), serde_json::json!({"value": value, "unit": unit}));
    };

    // 1. Small commits (one put each) from threads and processes, each on a fresh store.
    let latency_report =
        |report: &mut dyn FnMut(&str, f64, &str), name: &str, rate: f64, mut latencies: Vec<Duration>| {
            latencies.sort();
            report(&format!("puts/s, {name}"), rate, "puts/s");
            for (what, p) in [("p50", 0.5), ("p99", 0.99), ("max", 1.0)] {
                report(&format!("put latency, {name}, {what}"), percentile(&latencies, p), "ms");
            }
            rate
        };
    let mut one = 0.0;
    let thread_counts: Vec<usize> = std::env::var("SETTEE_BENCH_THREADS")
        .map(|v| v.split(',').filter(|n| !n.trim().is_empty()).map(|n| n.trim().parse().unwrap()).collect())
        .unwrap_or_else(|_| vec![1, 4, 16]);
    for threads in thread_counts {
        let root = work.path().join(format!("threads{threads}/.settee"));
        drop(Store::init(&root).unwrap());
        let (rate, latencies) = threads_rate(&root, threads, puts);
        let rate =
            latency_report(&mut report, &format!("{threads} thread(s), a handle each"), rate, latencies);
        if threads == 1 {
            one = rate;
        } else if one > 0.0 {
            report(&format!("{threads} threads over 1"), rate / one, "x");
        }
    }
    // The disk's flush time drifts by several times within minutes here, so the ratio of two
    // runs a few seconds apart says as much about the drift as about the store: each round
    // puts 16 threads' rate over the mean of one thread's just before and just after.
    let only_threads = std::env::var("SETTEE_BENCH_THREADS").is_ok();
    let rounds: usize =
        std::env::var("SETTEE_BENCH_ROUNDS").map_or(if only_threads { 0 } else { 5 }, |v| v.parse().unwrap());
    let mut ratios: Vec<f64> = (0..rounds)
        .map(|round| {
            let rate = |threads: usize, step: usize| {
                let root = work.path().join(format!("round{round}-{step}/.settee"));
                drop(Store::init(&root).unwrap());
                threads_rate(&root, threads, if threads == 1 { puts / 8 } else { puts }).0
            };
            let (before, sixteen, after) = (rate(1, 0), rate(16, 1), rate(1, 2));
            sixteen * 2.0 / (before + after)
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    if let (Some(low), Some(high)) = (ratios.first(), ratios.last()) {
        report(&format!("16 threads over 1, median of {rounds} rounds"), ratios[rounds / 2], "x");
        report("16 threads over 1, lowest round", *low, "x");
        report("16 threads over 1, highest round", *high, "x");
    }
    if only_threads {
        return;
    }
    let root = work.path().join("procs/.settee");
    drop(Store::init(&root).unwrap());
    let (rate, latencies) = processes_rate(&root, 4, puts);
    latency_report(&mut report, "4 processes", rate, latencies);
    if std::env::var("SETTEE_BENCH_ONLY_PUTS").is_ok() {
        return;
    }

    // 2. Single-put latency while `settee import` loads n documents into the same store.
    let input = work.path().join("docs.ndjson");
    {
        let mut rng = Rng(0x5EED);
        let mut f = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
        for i in 0..n {
            let v = rng.next() % 1000;
            writeln!(f, r#"{{"_id":"pkg-{i:08}","name":"package {i}","version":"1.{v}.0","description":"a package of the shared-store benchmark"}}"#).unwrap();
        }
        f.into_inner().unwrap().sync_all().unwrap();
    }
    let dir = work.path().join("import");
    std::fs::create_dir_all(&dir).unwrap();
    assert!(Command::new(bin).arg("init").current_dir(&dir).output().unwrap().status.success());
    let root = dir.join(".settee");
    let mut import = Command::new(bin)
        .args(["import"])
        .arg(&input)
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut store = writer(&root);
    let started = Instant::now();
    let mut latencies = Vec::new();
    while import.try_wait().unwrap().is_none() {
        latencies.push(put(&mut store, &format!("during-{:06}", latencies.len())));
        std::thread::sleep(Duration::from_millis(10));
    }
    let import_secs = started.elapsed().as_secs_f64();
    drop(store);
    latencies.sort();
    report("import during the puts, docs/s", n as f64 / import_secs, "docs/s");
    report("single put during the import, median", percentile(&latencies, 0.5), "ms");
    report("single put during the import, p99", percentile(&latencies, 0.99), "ms");
    report("single put during the import, max", percentile(&latencies, 1.0), "ms");
    report("puts during the import", latencies.len() as f64, "puts");

    // 3. Random reads from one open store, 1 and 2 threads.
    let store = Store::open(&root, OpenOptions::default()).unwrap();
    let per_thread = 200_000;
    let one = read_rate(&store, 1, n, per_thread);
    let two = read_rate(&store, 2, n, per_thread);
    report("random winner reads, 1 thread", one, "docs/s");
    report("random winner reads, 2 threads", two, "docs/s");
    report("2 threads over 1", two / one, "x");

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-shared.json");
    let _ = std::fs::write(&path, serde_json::to_vec_pretty(&serde_json::Value::Object(results)).unwrap());
}
