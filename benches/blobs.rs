//! Blob benchmark (issue 15): attachment bytes written and read through the store's blob
//! layer.
//!
//! 1. One large blob (default 1 GiB of incompressible bytes, `SETTEE_BENCH_BLOB_MIB`):
//!    write and read MB/s, and the peak RSS of each above the process's baseline (the
//!    kernel's high-water mark, reset before each phase through `/proc/self/clear_refs`);
//!    the run fails if either exceeds 64 MiB.
//!    Then a document names it, and the store is bundled (`bundle::create`) and cloned
//!    from the bundle (`Bundle::open`, then replication into a new store, as `settee clone
//!    FILE` does): MB/s of the blob's bytes and peak RSS above the baseline of each, held to
//!    the same 64 MiB.
//! 2. Many attachments (default 10,000 of 100 KiB, `SETTEE_BENCH_BLOBS`), every other one a
//!    repeat of an earlier one: write and read MB/s, and the blob files' bytes against the
//!    unique bytes.
//!
//! `cargo bench -p settee-cli --bench blobs`. Prints a table and writes the figures as
//! JSON to `target/bench-blobs.json`.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Read;
use std::time::Instant;

use settee::blob::Compression;
use settee::{Op, Seq, Store};

#[path = "../tests/support/rng.rs"]
mod rng;

/// Peak RSS budget above the baseline, in MiB (issue 15).
const RSS_BUDGET_MIB: f64 = 64.0;

/// `left` incompressible bytes from `seed`, generated as they are read.
struct Noise {
    rng: rng::Rng,
    left: u64,
}

impl Read for Noise {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.left) as usize;
        for chunk in buf[..n].chunks_mut(8) {
            let word = self.rng.next().to_be_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn noise(seed: u64, left: u64) -> Noise {
    Noise { rng: rng::Rng(seed | 1), left }
}

/// A field of `/proc/self/status` in MiB.
fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    let kib: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib / 1024.0
}

/// Reset the peak RSS to the current RSS; returns the current RSS (the phase's baseline).
fn reset_peak() -> f64 {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    status_mib("VmRSS:")
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let env_or =
        |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let big = env_or("SETTEE_BENCH_BLOB_MIB", 1024) << 20;
    let many = env_or("SETTEE_BENCH_BLOBS", 10_000);
    let work = tempfile::tempdir().unwrap();
    let mut results = serde_json::Map::new();
    let mut report = |name: &str, value: f64, unit: &str| {
        println!("{name:<52} {value:>12.1} {unit}");
        results.insert(name.to_string(), serde_json::json!({"value": value, "unit": unit}));
    };
    let mb = |bytes: u64, t: Instant| bytes as f64 / 1e6 / t.elapsed().as_secs_f64();

    // 1. One large blob.
    let store = Store::init(&work.path().join("big/.settee")).unwrap();
    let base = reset_peak();
    let t = Instant::now();
    let info = store.write_blob(&mut noise(1, big), Some(big), Compression::Sample).unwrap();
    report(&format!("{} MiB blob: write", big >> 20), mb(big, t), "MB/s");
    let write_rss = status_mib("VmHWM:") - base;
    report(&format!("{} MiB blob: write peak RSS above baseline", big >> 20), write_rss, "MiB");
    let base = reset_peak();
    let t = Instant::now();
    let mut reader = store.open_blob(&info.id).unwrap().unwrap();
    let mut total = 0;
    loop {
        let chunk = reader.next_chunk().unwrap();
        if chunk.is_empty() {
            break;
        }
        total += chunk.len() as u64;
    }
    assert_eq!(total, big);
    report(&format!("{} MiB blob: read and verify", big >> 20), mb(big, t), "MB/s");
    let read_rss = status_mib("VmHWM:") - base;
    report(&format!("{} MiB blob: read peak RSS above baseline", big >> 20), read_rss, "MiB");

    // The blob in a document, bundled, and cloned from the bundle.
    let mut store = store;
    let mut attachments = settee::attachment::PendingSet::new();
    attachments.insert(
        "big.bin".into(),
        settee::attachment::Pending::New { content_type: "application/octet-stream".into(), info },
    );
    let body = settee::Body::from_map(&serde_json::Map::new());
    let id = settee::DocId::parse("big").unwrap();
    let op = Op::EditWithAttachments { id, base: None, deleted: false, body, attachments };
    store.write(vec![op]).unwrap().remove(0).unwrap();
    let file = work.path().join("big.bundle");
    let base = reset_peak();
    let t = Instant::now();
    let made = settee::bundle::create(&store, &file, Seq(0)).unwrap();
    report(&format!("{} MiB blob: bundle create", big >> 20), mb(big, t), "MB/s");
    let create_rss = status_mib("VmHWM:") - base;
    report(&format!("{} MiB blob: bundle create peak RSS above baseline", big >> 20), create_rss, "MiB");
    assert_eq!(made.blob_bytes, big);
    drop(store);
    let base = reset_peak();
    let t = Instant::now();
    let mut clone = Store::init(&work.path().join("clone/.settee")).unwrap();
    let bundle = settee::bundle::Bundle::open(&file).unwrap();
    let mut source = settee::transport::bundle::BundleSource::new(bundle);
    let mut target = settee::transport::local::LocalStore::new(&mut clone);
    let outcome = settee::replicate::replicate(
        &mut source,
        &mut target,
        &settee::replicate::Options::default(),
        &mut (),
    )
    .unwrap();
    clone.checkpoint().unwrap();
    report(&format!("{} MiB blob: clone from the bundle", big >> 20), mb(big, t), "MB/s");
    let clone_rss = status_mib("VmHWM:") - base;
    report(&format!("{} MiB blob: clone peak RSS above baseline", big >> 20), clone_rss, "MiB");
    assert_eq!(outcome.blob_bytes_written, big);
    assert_eq!(clone.verify_blob(&info.id).unwrap().map(|i| i.len), Some(big));
    drop(clone);
    std::fs::remove_dir_all(work.path().join("clone")).unwrap();
    std::fs::remove_file(&file).unwrap();

    // 2. Many 100 KiB attachments, half of them repeats.
    let store = Store::init(&work.path().join("many/.settee")).unwrap();
    const LEN: u64 = 100 << 10;
    let t = Instant::now();
    let mut ids = Vec::new();
    for i in 0..many {
        let seed = if i % 2 == 1 { i - 1 } else { i };
        ids.push(store.write_blob(&mut noise(seed + 2, LEN), Some(LEN), Compression::Sample).unwrap().id);
    }
    report(&format!("{many} x 100 KiB (half repeats): write"), mb(many * LEN, t), "MB/s");
    let t = Instant::now();
    let mut out = Vec::with_capacity(LEN as usize);
    for id in &ids {
        out.clear();
        store.open_blob(id).unwrap().unwrap().copy_to(&mut out).unwrap();
    }
    report(&format!("{many} x 100 KiB (half repeats): read"), mb(many * LEN, t), "MB/s");
    let stats = store.blob_stats().unwrap();
    let unique = many.div_ceil(2) * LEN;
    report("disk bytes / unique bytes", stats.bytes as f64 / unique as f64 * 100.0, "%");

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-blobs.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&results).unwrap()).unwrap();
    assert!(
        [write_rss, read_rss, create_rss, clone_rss].iter().all(|r| *r < RSS_BUDGET_MIB),
        "peak RSS above baseline: write {write_rss:.1} MiB, read {read_rss:.1} MiB, bundle create \
         {create_rss:.1} MiB, clone from the bundle {clone_rss:.1} MiB (budget {RSS_BUDGET_MIB})"
    );
}
