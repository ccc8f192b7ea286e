//! `settee serve` against pouchdb-server, in the same run, with the same load generator
//! (`wrk`, Debian package `wrk`, 64 connections) and the same data: 100,000 documents of
//! about 125 bytes.
//!
//! - `GET /db/ID` of random documents: requests/s, p50 and p99 latency.
//! - `POST /db/_bulk_docs` of 100-document batches (new documents, server-made ids): docs/s.
//! - The full `_changes` and `_all_docs?include_docs=true`: seconds (one client).
//! - PouchDB's replicator (pouchdb-node, batch_size 100) pulling every document: docs/s.
//!
//! Then settee to settee over HTTP on loopback (issue 17's target: 100,000 docs/s):
//! `settee clone http://127.0.0.1:PORT/big` of a store of 1,000,000 such documents served
//! by `settee serve`: docs/s, and the peak RSS of the cloning process and of the server.
//!
//! `cargo bench -p settee-cli --bench serve`; needs `wrk` and scripts/install-peer.
//! SETTEE_BENCH_DOCS changes the document count, SETTEE_BENCH_SECS the seconds of each wrk
//! run (10), SETTEE_BENCH_BATCH the replicator's batch size (100); SETTEE_BENCH_CLONE_DOCS
//! the clone's document count (1,000,000; 0 leaves the clone out), and
//! SETTEE_BENCH_CLONE_ONLY=1 runs the clone alone (no wrk or pouchdb-server needed).

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[path = "support/child.rs"]
mod child;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn doc(i: u64) -> Value {
    json!({
        "_id": format!("doc{i:06}"),
        "name": format!("package-{i}"),
        "version": format!("{}.{}.{}", i % 5, i % 13, i % 7),
        "description": "a package of the benchmark registry",
        "keywords": ["registry", format!("k{}", i % 100)],
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(600)))
        .build()
        .into()
}

fn wait_up(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if agent().get(url).call().is_ok_and(|r| r.status() == 200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{url} did not come up");
}

/// A server process, killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid: SIGTERM, for a graceful stop.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.0.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Wrk {
    requests_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn parse_ms(text: &str) -> f64 {
    let (num, unit) = text.split_at(text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len()));
    let n: f64 = num.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => f64::NAN,
    }
}

fn wrk(url: &str, script: &Path, secs: u64) -> Wrk {
    let out = Command::new("wrk")
        .args(["-t2", "-c64", &format!("-d{secs}s"), "--latency", "-s"])
        .arg(script)
        .arg(url)
        .output()
        .expect("running wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    if text.contains("Non-2xx or 3xx responses") {
        eprintln!("warning: wrk saw failed responses:\n{text}");
    }
    Wrk {
        requests_per_s: field("Requests/sec:").parse().unwrap_or(f64::NAN),
        p50_ms: parse_ms(&field("50%")),
        p99_ms: parse_ms(&field("99%")),
    }
}

/// Seconds to read `url` whole; the body is checked to hold `rows` rows.
fn read_all(url: &str, key: &str, rows: u64) -> f64 {
    let started = Instant::now();
    let mut response = agent().get(url).call().unwrap();
    let body = response.body_mut().with_config().limit(u64::MAX).read_to_vec().unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v[key].as_array().map(Vec::len), Some(rows as usize), "{url}");
    seconds
}

struct Side {
    name: &'static str,
    db: String,
    bulk_db: String,
}

struct Figures {
    get: Wrk,
    bulk_docs_per_s: f64,
    changes_s: f64,
    all_docs_s: f64,
    pull_docs_per_s: f64,
}

fn measure(side: &Side, docs: u64, secs: u64, dir: &Path, pouchdb_node: &Path, batch: u64) -> Figures {
    eprintln!("== {}", side.name);
    let get_lua = dir.join("get.lua");
    let get = wrk(&side.db, &get_lua, secs);
    eprintln!(
        "GET random doc: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
        get.requests_per_s, get.p50_ms, get.p99_ms
    );
    let changes_s = read_all(&format!("{}/_changes", side.db), "results", docs);
    eprintln!("_changes: {changes_s:.2} s");
    let all_docs_s = read_all(&format!("{}/_all_docs?include_docs=true", side.db), "rows", docs);
    eprintln!("_all_docs?include_docs=true: {all_docs_s:.2} s");
    let pull = pull(&side.db, dir, pouchdb_node, batch, side.name);
    eprintln!("PouchDB replicator pull: {pull:.0} docs/s");
    let bulk = wrk(&format!("{}/_bulk_docs", side.bulk_db), &dir.join("bulk.lua"), secs);
    let bulk_docs_per_s = bulk.requests_per_s * 100.0;
    eprintln!("_bulk_docs (100 docs each): {bulk_docs_per_s:.0} docs/s");
    Figures { get, bulk_docs_per_s, changes_s, all_docs_s, pull_docs_per_s: pull }
}

const PULL_JS: &str = r#"
const [pouchDir, url, target, batch] = process.argv.slice(2);
const PouchDB = require(pouchDir);
const started = Date.now();
PouchDB.replicate(new PouchDB(url), new PouchDB(target), { batch_size: Number(batch) }).then(
  (r) => { console.log(JSON.stringify({ docs: r.docs_written, seconds: (Date.now() - started) / 1000 })); },
  (e) => { console.error(e); process.exit(1); });
"#;

fn pull(url: &str, dir: &Path, pouchdb_node: &Path, batch: u64, name: &str) -> f64 {
    let script = dir.join("pull.js");
    std::fs::write(&script, PULL_JS).unwrap();
    let target = dir.join(format!("pull-{}", name.replace(' ', "-")));
    let out = Command::new("node")
        .arg(&script)
        .arg(pouchdb_node)
        .arg(url)
        .arg(&target)
        .arg(batch.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["docs"].as_f64().unwrap() / v["seconds"].as_f64().unwrap()
}

/// The peak RSS (MiB) of a running process, from `/proc/PID/status` (`VmHWM`).
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// A new settee store in `tree` (made if missing).
fn init_store(settee: &str, tree: &std::path::Path) {
    std::fs::create_dir_all(tree).unwrap();
    let status = Command::new(settee).arg("init").current_dir(tree).stdout(Stdio::null()).status();
    assert!(status.unwrap().success(), "settee init in {}", tree.display());
}

/// `settee clone` over HTTP of a served store of `docs` documents: prints docs/s and the
/// peak RSS of both processes.
fn clone_over_http(settee: &str, docs: u64) {
    let tmp = tempfile::Builder::new().prefix("settee-bench-clone-").tempdir().unwrap();
    let dir = tmp.path();
    let tree = dir.join("big");
    init_store(settee, &tree);
    // The documents go to `settee import` through a pipe, never all in memory.
    let started = Instant::now();
    let mut import = Command::new(settee)
        .args(["import", "-"])
        .current_dir(&tree)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    {
        let mut input = std::io::BufWriter::with_capacity(1 << 20, import.stdin.take().unwrap());
        for i in 0..docs {
            serde_json::to_writer(&mut input, &doc(i)).unwrap();
            input.write_all(b"\n").unwrap();
        }
        input.flush().unwrap();
    }
    assert!(import.wait().unwrap().success());
    eprintln!("settee import of {docs} docs: {:.2} s", started.elapsed().as_secs_f64());
    let port = free_port();
    let server = Proc(
        Command::new(settee)
            .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--log", "error", "big=big"])
            .current_dir(dir)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_up(&base);
    let url = format!("{base}/big");
    let run = child::measure(Command::new(settee).args(["--json", "clone", &url, "copy"]).current_dir(dir));
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["docs_read"].as_u64(), Some(docs), "{report}");
    assert_eq!(report["revisions_written"].as_u64(), Some(docs), "{report}");
    let server_rss = peak_rss_mib(server.0.id());
    println!(
        "\nsettee clone {url} of {docs} documents: {:.2} s, {:.0} docs/s; peak RSS {:.0} MiB (clone), {:.0} MiB (settee serve)",
        run.seconds,
        docs as f64 / run.seconds,
        run.peak_rss_mib,
        server_rss
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let clone_docs = env_u64("SETTEE_BENCH_CLONE_DOCS", 1_000_000);
    if env_u64("SETTEE_BENCH_CLONE_ONLY", 0) == 1 {
        clone_over_http(env!("CARGO_BIN_EXE_settee"), clone_docs);
        return;
    }
    let docs = env_u64("SETTEE_BENCH_DOCS", 100_000);
    let secs = env_u64("SETTEE_BENCH_SECS", 10);
    let batch = env_u64("SETTEE_BENCH_BATCH", 100);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let peer = root.join("target/peer/node_modules");
    let pouchdb_node = peer.join("pouchdb-node");
    assert!(pouchdb_node.is_dir(), "run scripts/install-peer first");
    let tmp = tempfile::Builder::new().prefix("settee-bench-serve-").tempdir().unwrap();
    let dir = tmp.path();

    // The documents, as NDJSON for `settee import` and as bodies for pouchdb-server.
    let all: Vec<Value> = (0..docs).map(doc).collect();
    let ndjson = dir.join("docs.ndjson");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&ndjson).unwrap());
    for d in &all {
        serde_json::to_writer(&mut f, d).unwrap();
        f.write_all(b"\n").unwrap();
    }
    f.flush().unwrap();
    drop(f);
    std::fs::write(
        dir.join("get.lua"),
        format!(
            "math.randomseed(os.time())\nrequest = function()\n  return wrk.format(\"GET\", wrk.path .. \"/doc\" .. string.format(\"%06d\", math.random(0, {})))\nend\n",
            docs - 1
        ),
    )
    .unwrap();
    let batch_body: Vec<Value> = (0..100)
        .map(|i| {
            let mut d = doc(i);
            d.as_object_mut().unwrap().remove("_id");
            d
        })
        .collect();
    std::fs::write(
        dir.join("bulk.lua"),
        format!(
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = [[{}]]\n",
            json!({ "docs": batch_body })
        ),
    )
    .unwrap();

    // settee: two stores (one read, one for _bulk_docs), served by one process.
    let settee = env!("CARGO_BIN_EXE_settee");
    for name in ["db", "bulk"] {
        let tree = dir.join(name);
        init_store(settee, &tree);
    }
    let started = Instant::now();
    assert!(Command::new(settee)
        .arg("import")
        .arg(&ndjson)
        .current_dir(dir.join("db"))
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success());
    eprintln!("settee import of {docs} docs: {:.2} s", started.elapsed().as_secs_f64());
    let settee_port = free_port();
    let _settee = Proc(
        Command::new(settee)
            .args([
                "serve",
                "--bind",
                &format!("127.0.0.1:{settee_port}"),
                "--log",
                "error",
                "db=db",
                "bulk=bulk",
            ])
            .current_dir(dir)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let settee_base = format!("http://127.0.0.1:{settee_port}");
    wait_up(&settee_base);

    // pouchdb-server, LevelDB under its own directory, loaded over HTTP in batches of 1000.
    let pdir = dir.join("pouchdb-server");
    std::fs::create_dir_all(&pdir).unwrap();
    std::fs::write(
        pdir.join("config.json"),
        format!(r#"{{"log":{{"file":"{}/log.txt","level":"error"}}}}"#, pdir.display()),
    )
    .unwrap();
    let pouch_port = free_port();
    let _pouch = Proc(
        Command::new("node")
            .arg(peer.join("pouchdb-server/bin/pouchdb-server"))
            .args(["-o", "127.0.0.1", "-p", &pouch_port.to_string(), "-d"])
            .arg(format!("{}/", pdir.display()))
            .arg("-c")
            .arg(pdir.join("config.json"))
            .args(["-n", "--no-color"])
            .current_dir(&pdir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pouch_base = format!("http://127.0.0.1:{pouch_port}");
    wait_up(&pouch_base);
    for name in ["db", "bulk"] {
        agent().put(&format!("{pouch_base}/{name}")).send_empty().unwrap();
    }
    let started = Instant::now();
    for chunk in all.chunks(1000) {
        let r = agent()
            .post(&format!("{pouch_base}/db/_bulk_docs"))
            .header("content-type", "application/json")
            .send(json!({ "docs": chunk }).to_string())
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    eprintln!("pouchdb-server load of {docs} docs: {:.2} s", started.elapsed().as_secs_f64());

    let s = measure(
        &Side {
            name: "settee serve",
            db: format!("{settee_base}/db"),
            bulk_db: format!("{settee_base}/bulk"),
        },
        docs,
        secs,
        dir,
        &pouchdb_node,
        batch,
    );
    let p = measure(
        &Side {
            name: "pouchdb-server",
            db: format!("{pouch_base}/db"),
            bulk_db: format!("{pouch_base}/bulk"),
        },
        docs,
        secs,
        dir,
        &pouchdb_node,
        batch,
    );
    println!(
        "\n{docs} documents, 64 connections (wrk -t2 -c64 -d{secs}s), PouchDB replicator batch_size {batch}"
    );
    println!("| workload | settee serve | pouchdb-server | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| GET random doc, req/s | {:.0} | {:.0} | {:.1}x |",
        s.get.requests_per_s,
        p.get.requests_per_s,
        s.get.requests_per_s / p.get.requests_per_s
    );
    println!(
        "| GET p50 / p99, ms | {:.2} / {:.2} | {:.2} / {:.2} | |",
        s.get.p50_ms, s.get.p99_ms, p.get.p50_ms, p.get.p99_ms
    );
    println!(
        "| _bulk_docs (100 per request), docs/s | {:.0} | {:.0} | {:.1}x |",
        s.bulk_docs_per_s,
        p.bulk_docs_per_s,
        s.bulk_docs_per_s / p.bulk_docs_per_s
    );
    println!(
        "| full _changes, s | {:.2} | {:.2} | {:.1}x |",
        s.changes_s,
        p.changes_s,
        p.changes_s / s.changes_s
    );
    println!(
        "| _all_docs?include_docs=true, s | {:.2} | {:.2} | {:.1}x |",
        s.all_docs_s,
        p.all_docs_s,
        p.all_docs_s / s.all_docs_s
    );
    println!(
        "| PouchDB replicator pull, docs/s | {:.0} | {:.0} | {:.1}x |",
        s.pull_docs_per_s,
        p.pull_docs_per_s,
        s.pull_docs_per_s / p.pull_docs_per_s
    );
    if clone_docs > 0 {
        clone_over_http(settee, clone_docs);
    }
}
