//! Replication progress: `--progress` reports each batch of fetch, push, sync and clone on
//! stderr (JSON Lines with `--json`, text otherwise) over every transport (another store, a
//! bundle, `settee serve` over HTTP), while stdout keeps only the final report.

use serde_json::Value;

use crate::serve::Server;
use crate::*;

/// A store with `n` documents.
fn store_with(n: usize) -> TestEnv {
    let env = TestEnv::new();
    let lines: Vec<String> = (0..n).map(|i| format!(r#"{{"_id":"d{i:03}","i":{i}}}"#)).collect();
    env.settee_stdin(["import", "-"], &(lines.join("\n") + "\n")).ok();
    env
}

/// The events on stderr, each checked to be `{"type", "data"}` JSON on one line.
#[track_caller]
fn events(out: &Output) -> Vec<(String, Value)> {
    assert_eq!(out.code, OK, "{out:?}");
    assert_no_panic(out);
    out.stderr
        .lines()
        .map(|l| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?} is not JSON ({e}): {out:?}"));
            let kind = v["type"].as_str().unwrap_or_else(|| panic!("no type: {l}")).to_string();
            assert!(v["data"].is_object(), "no data: {l}");
            (kind, v["data"].clone())
        })
        .collect()
}

/// Check one replication's events (`start`, `progress`..., `end`) against its report:
/// one event a batch (each at a new `last_seq`), counts never shrink (documents read run
/// ahead of revisions written: the pipeline reads the next pages while it writes), the last
/// progress and the end say what the report says; returns the `revisions_written` of each
/// progress event.
#[track_caller]
fn check_run(events: &[(String, Value)], report: &Value, direction: &str) -> Vec<u64> {
    assert_eq!(
        events.first().map(|(k, d)| (k.as_str(), d["direction"].clone())),
        Some(("start", direction.into()))
    );
    let (last_kind, end) = events.last().expect("events");
    assert_eq!(last_kind, "end", "{events:?}");
    let progress: Vec<&Value> = events[1..events.len() - 1]
        .iter()
        .map(|(k, d)| {
            assert_eq!(k, "progress", "{events:?}");
            d
        })
        .collect();
    let mut read = Vec::new();
    let (mut docs, mut written, mut elapsed, mut seq) = (0, 0, 0, Value::Null);
    for p in &progress {
        assert_eq!(p["direction"], direction);
        let d = p["docs_read"].as_u64().expect("docs_read");
        let w = p["revisions_written"].as_u64().expect("revisions_written");
        let e = p["elapsed_ms"].as_u64().expect("elapsed_ms");
        assert!(d >= docs && w >= written && e >= elapsed, "counts never shrink: {events:?}");
        assert_ne!(p["last_seq"], seq, "one event a batch: {events:?}");
        seq = p["last_seq"].clone();
        assert!(p["docs_per_sec"].is_u64(), "a rate: {p}");
        (docs, written, elapsed) = (d, w, e);
        read.push(w);
    }
    for field in ["docs_read", "revisions_written", "missing_found", "write_failures", "last_seq"] {
        assert_eq!(end[field], report[field], "{field}: end {end} report {report}");
        if let Some(p) = progress.last() {
            assert_eq!(p[field], report[field], "{field}: last progress {p} report {report}");
        }
    }
    assert_eq!(end["direction"], direction);
    read
}

/// Split the events of a sync (push, then fetch) at each `end`.
fn runs(events: &[(String, Value)]) -> Vec<Vec<(String, Value)>> {
    let mut out = vec![Vec::new()];
    for e in events {
        out.last_mut().expect("a run").push(e.clone());
        if e.0 == "end" {
            out.push(Vec::new());
        }
    }
    out.pop();
    out
}

#[test]
fn json_progress_events_report_each_batch_between_stores_and_from_a_bundle() {
    let peer = store_with(25);
    let env = TestEnv::new();
    let peer_path = peer.path().to_str().expect("a UTF-8 path").to_string();
    // Without --progress, stderr stays quiet (scripts read one report).
    let quiet = TestEnv::new();
    quiet.settee(["--json", "fetch", &peer_path, "--batch-size", "10"]).json();

    let out = env.settee(["--json", "--progress", "fetch", &peer_path, "--batch-size", "10"]);
    let report: Value = serde_json::from_str(out.stdout.trim()).expect("one report on stdout");
    assert_eq!(report["docs_read"], 25);
    assert_eq!(check_run(&events(&out), &report, "fetched"), vec![10, 20, 25]);

    // Pushing back what came from there: one batch read, nothing written.
    let out = env.settee(["--json", "--progress", "push", &peer_path]);
    let report: Value = serde_json::from_str(out.stdout.trim()).expect("one report");
    assert_eq!(check_run(&events(&out), &report, "pushed"), vec![0]);
    // Nothing new: start and end, no batch.
    let out = env.settee(["--json", "--progress", "push", &peer_path]);
    let report: Value = serde_json::from_str(out.stdout.trim()).expect("one report");
    assert!(check_run(&events(&out), &report, "pushed").is_empty());

    // From a bundle, into a clone.
    peer.settee(["bundle", "create", "all.bundle"]).ok();
    let bundle = peer.path().join("all.bundle");
    let fresh = TestEnv::bare();
    let out = fresh.settee(["--json", "--progress", "clone", bundle.to_str().expect("UTF-8"), "copy"]);
    let report: Value = serde_json::from_str(out.stdout.trim()).expect("one report");
    assert_eq!(report["direction"], "cloned");
    assert_eq!(check_run(&events(&out), &report, "cloned").last(), Some(&25));

    // Without --json, a line of text per batch (stderr is not a terminal here).
    let text = TestEnv::new();
    let out = text.settee(["--progress", "fetch", &peer_path, "--batch-size", "20"]);
    assert_eq!(out.code, OK, "{out:?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{out:?}");
    // (Documents read run ahead of those written: the next page is read meanwhile.)
    assert!(lines[0].contains(" documents read, 20 revisions written, "), "{out:?}");
    assert!(lines[1].starts_with("fetching: 25 documents read, 25 revisions written, "), "{out:?}");
    assert!(lines[1].contains(" documents/s, at "), "{out:?}");
}

#[test]
fn json_progress_events_over_http_for_push_fetch_sync_and_clone() {
    let served = TestEnv::new();
    let server = Server::start(&served, &["db=."]);
    let url = server.url("/db");
    let env = store_with(35);

    let out = env.settee(["--json", "--progress", "push", &url, "--batch-size", "10"]);
    let report: Value = serde_json::from_str(out.stdout.trim()).expect("one report");
    assert_eq!(report["revisions_written"], 35);
    assert_eq!(check_run(&events(&out), &report, "pushed"), vec![10, 20, 30, 35]);

    // A clone over HTTP.
    let fresh = TestEnv::bare();
    let out = fresh.settee(["--json", "--progress", "clone", &url, "copy"]);
    let report: Value = serde_json::from_str(out.stdout.trim()).expect("one report");
    assert_eq!(check_run(&events(&out), &report, "cloned").last(), Some(&35));

    // A sync: a push run, then a fetch run, each with its report.
    served.put("there", "{}");
    env.put("here", "{}");
    let out = env.settee(["--json", "--progress", "sync", &url, "--batch-size", "10"]);
    let reports = out.json_lines();
    let runs = runs(&events(&out));
    assert_eq!((reports.len(), runs.len()), (2, 2), "{out:?}");
    assert_eq!(check_run(&runs[0], &reports[0], "pushed"), vec![1]);
    // The fetch reads the served store's 37 changes in 4 batches; only one is new here.
    assert_eq!(check_run(&runs[1], &reports[1], "fetched").len(), 4);
    assert_eq!(reports[1]["revisions_written"], 1);
    assert_eq!(server.stop(), 0);
}
