//! Replication with a real CouchDB-compatible server (PouchDB Server on 127.0.0.1): push,
//! fetch, sync and clone over HTTP, checked with plain HTTP reads of the server.

mod attachments;
mod proxy;
mod server;
mod tls;

use serde_json::{json, Value};

use crate::*;
pub use server::PouchServer;

/// 32 hex digits made from `i` (a revision hash).
fn hx(i: usize) -> String {
    format!("{i:032x}")
}

/// A store holding what replication must carry faithfully: a conflict with a deleted
/// branch, a deleted document, a long history, unicode ids, and a `_local` document.
fn varied_store() -> TestEnv {
    let env = TestEnv::new();
    let rev = env.put("plain", r#"{"v":1}"#);
    env.update("plain", &rev, r#"{"v":2,"nested":{"list":[1,2.5,"three"]}}"#);
    let gone = env.put("gone", r#"{"soon":"deleted"}"#);
    env.rm("gone", &gone);
    env.put("ünï/cødé ☃", r#"{"text":"héllo wörld ☃"}"#);
    env.put("space id", r#"{"x":null}"#);
    let long: Vec<String> = (1..=300).rev().map(hx).collect();
    let long: Vec<&str> = long.iter().map(String::as_str).collect();
    let (a, b, c, one) = (h('a'), h('b'), h('c'), h('1'));
    env.import_replicated(&[
        replicated("long", 300, &long, json!({"depth": 300})),
        replicated("conflicted", 2, &[&a, &one], json!({"side": "a"})),
        replicated("conflicted", 2, &[&b, &one], json!({"side": "b"})),
        replicated("conflicted", 3, &[&c, &a, &one], json!({"_deleted": true})),
    ]);
    env.settee_stdin(["local", "put", "settings"], r#"{"private":true}"#).ok();
    env
}

/// Every leaf of every document on the server: `GET /db/ID?open_revs=all&revs=true` for
/// each id in the changes feed, as JSON lines sorted like `export --all-leaves`.
pub fn server_leaves(server: &PouchServer, db: &str) -> Vec<Value> {
    let (status, changes) = server.get(&format!("{db}/_changes?style=all_docs"));
    assert_eq!(status, 200, "{changes}");
    let mut ids: Vec<String> = changes["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    let mut out = Vec::new();
    for id in ids {
        let path = format!("{db}/{}?open_revs=all&revs=true", percent(&id));
        let (status, leaves) = server.get(&path);
        assert_eq!(status, 200, "{path}: {leaves}");
        let mut docs: Vec<Value> = leaves.as_array().unwrap().iter().map(|l| l["ok"].clone()).collect();
        docs.sort_by_key(|d| d["_rev"].as_str().map(str::to_string));
        out.extend(docs);
    }
    out
}

/// Each document's id and leaf revisions on the server (`_changes?style=all_docs`), sorted.
pub fn server_revs(server: &PouchServer, db: &str) -> Vec<(String, Vec<String>)> {
    let (status, changes) = server.get(&format!("{db}/_changes?style=all_docs"));
    assert_eq!(status, 200, "{changes}");
    revs_of(changes["results"].as_array().unwrap())
}

/// The same from the store (`changes --all-docs`).
pub fn store_revs(env: &TestEnv) -> Vec<(String, Vec<String>)> {
    let rows = env.settee(["--json", "changes", "--all-docs"]).json_lines();
    revs_of(&rows)
}

fn revs_of(rows: &[Value]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = rows
        .iter()
        .filter_map(|r| {
            let id = r["id"].as_str()?.to_string();
            let mut revs: Vec<String> =
                r["changes"].as_array()?.iter().map(|c| c["rev"].as_str().unwrap().to_string()).collect();
            revs.sort();
            Some((id, revs))
        })
        .collect();
    out.sort();
    out
}

/// The leaves `export --all-leaves` gives, in the same order as `server_leaves`.
pub fn store_leaves(env: &TestEnv) -> Vec<Value> {
    let out = env.settee(["export", "--all-leaves"]);
    let mut docs: Vec<Value> = out.ok().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    docs.sort_by_key(|d| (d["_id"].as_str().map(str::to_string), d["_rev"].as_str().map(str::to_string)));
    docs
}

pub fn percent(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn push_then_clone_carries_every_leaf_and_no_local_document() {
    let server = PouchServer::in_memory();
    let env = varied_store();
    let url = server.db("round");
    let out = env.settee(["--json", "push", &url]);
    let report = out.json();
    assert_eq!(report["direction"], "pushed");
    assert_eq!(report["location"], url.as_str());
    assert_eq!(report["write_failures"], 0);
    // Plain HTTP reads of the server show the same leaves, bodies and histories.
    let mine = store_leaves(&env);
    assert_eq!(server_leaves(&server, "round"), mine);
    // The same winners, and the deleted document reads as deleted.
    for id in ["plain", "long", "conflicted", "ünï/cødé ☃"] {
        let (status, doc) = server.get(&format!("round/{}?conflicts=true", percent(id)));
        assert_eq!(status, 200);
        let local = env.get_json(&[id, "--conflicts"]);
        assert_eq!(doc, local, "{id}");
    }
    let (status, gone) = server.get("round/gone");
    // (PouchDB Server says "missing" where CouchDB says "deleted".)
    assert_eq!(status, 404, "{gone}");
    // `_local` documents stay home; only the replication's checkpoint is there.
    assert_eq!(server.get("round/_local/settings").0, 404);
    // A fresh store cloned from the server is the same.
    let copy = TestEnv::bare();
    copy.settee(["clone", &url, "."]).ok();
    assert_eq!(store_leaves(&copy), mine);
    assert_eq!(copy.settee(["remote", "list"]).ok(), format!("origin\t{url}\n"));
    // Run again, both transfer nothing.
    let again = env.settee(["--json", "push", &url]).json();
    assert_eq!((again["docs_read"].as_u64(), again["revisions_written"].as_u64()), (Some(0), Some(0)));
    let again = copy.settee(["--json", "fetch"]).json();
    assert_eq!((again["docs_read"].as_u64(), again["revisions_written"].as_u64()), (Some(0), Some(0)));
}

#[test]
fn push_creates_the_database_and_fetch_names_a_missing_one() {
    let server = PouchServer::in_memory();
    let env = TestEnv::new();
    let url = server.db("nowhere");
    let message = env.settee(["fetch", &url]).fails(NOT_FOUND);
    assert!(message.contains(&url) && message.contains("does not exist"), "{message}");
    assert_eq!(server.get("nowhere").0, 404);
    env.put("a", "{}");
    env.settee(["push", &url]).ok();
    assert_eq!(server.get("nowhere").1["doc_count"], 1);
}

#[test]
fn sync_carries_edits_both_ways_and_settles_conflicts_like_the_server() {
    let server = PouchServer::in_memory();
    let url = server.db("shared");
    let env = TestEnv::new();
    let base = env.put("card", r#"{"phone":"555-1234"}"#);
    env.settee(["push", &url]).ok();
    // The same document edited on the server and here.
    let (status, theirs) =
        server.call("PUT", "shared/card", Some(&json!({"_rev": base, "phone": "555-9999"})));
    assert_eq!(status, 201, "{theirs}");
    env.update("card", &base, r#"{"phone":"555-0000"}"#);
    server.call("PUT", "shared/new-there", Some(&json!({"from": "server"})));
    let out = env.settee(["sync", &url]);
    assert!(out.ok().contains("fetched from"));
    // Both sides hold both revisions and pick the same winner.
    let (_, there) = server.get("shared/card?conflicts=true");
    let here = env.get_json(&["card", "--conflicts"]);
    assert_eq!(there, here);
    assert_eq!(here["_conflicts"].as_array().map(Vec::len), Some(1));
    assert_eq!(env.get_json(&["new-there"])["from"], "server");
    // Resolving here and syncing ends the conflict on the server too.
    let merged =
        env.settee_stdin(["resolve", "card", "-"], r#"{"phone":"555-4321"}"#).ok().trim().to_string();
    env.settee(["sync", &url]).ok();
    let (_, there) = server.get("shared/card?conflicts=true");
    assert_eq!(there["_rev"], merged.as_str());
    assert_eq!(there["phone"], "555-4321");
    assert!(there.get("_conflicts").is_none(), "{there}");
}

#[test]
fn credentials_come_from_the_url_the_environment_or_netrc_and_are_never_shown() {
    let server = PouchServer::with_admin("ann", "s3cret-pw");
    // A database only ann may use (PouchDB Server falls over on an anonymous PUT /db when
    // it has admins, so the databases are made here).
    assert_eq!(server.call("PUT", "guarded", None).0, 201);
    let members = json!({"members": {"names": ["ann"], "roles": []}, "admins": {"names": [], "roles": []}});
    assert_eq!(server.call("PUT", "guarded/_security", Some(&members)).0, 200);
    let env = TestEnv::new();
    env.put("a", r#"{"v":1}"#);
    let port = server.port;
    let plain = server.db("guarded");
    // No or a wrong password: one line naming the URL, never the password.
    let message = env.settee(["push", &plain]).fails(ERROR);
    assert!(message.contains(&plain) && message.contains("401"), "{message}");
    let out = env.settee(["push", &format!("http://ann:wrong-pw@127.0.0.1:{port}/guarded")]);
    let message = out.fails(ERROR);
    assert!(message.contains(&plain) && message.contains("401"), "{message}");
    assert!(!out.stderr.contains("wrong-pw"));
    // The right password in the URL.
    let with = format!("http://ann:s3cret-pw@127.0.0.1:{port}/guarded");
    let out = env.settee(["push", &with]);
    assert!(!out.ok().contains("s3cret"), "{}", out.stdout);
    assert_eq!(server.get("guarded").1["doc_count"], 1);
    // A remote keeps the URL without its credentials, and says so.
    let out = env.settee(["remote", "add", "origin", &with]);
    assert_eq!(out.code, OK);
    assert!(out.stderr.starts_with("warning: ") && !out.stderr.contains("s3cret"), "{}", out.stderr);
    assert_eq!(env.settee(["remote", "list"]).ok(), format!("origin\t{plain}\n"));
    // Credentials from the environment...
    env.put("b", r#"{"v":2}"#);
    let mut cmd = env.command();
    cmd.args(["push"]).env("SETTEE_COUCH_USER", "ann").env("SETTEE_COUCH_PASSWORD", "s3cret-pw");
    run(cmd, "").ok();
    assert_eq!(server.get("guarded").1["doc_count"], 2);
    // ...or from a netrc file.
    env.put("c", r#"{"v":3}"#);
    let netrc = env.write_file("netrc", "machine 127.0.0.1\n  login ann\n  password s3cret-pw\n");
    let mut cmd = env.command();
    cmd.args(["sync", "origin"]).env("SETTEE_NETRC", &netrc);
    run(cmd, "").ok();
    assert_eq!(server.get("guarded").1["doc_count"], 3);
    // Nothing the store keeps holds the password (config, checkpoints).
    for entry in walkdir(&env.store_dir()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("s3cret"),
            "{} holds the password",
            entry.display()
        );
    }
}

/// Every file under `dir`.
fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walkdir(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn a_restarted_server_keeps_the_checkpoint_and_a_recreated_database_starts_over() {
    let mut server = PouchServer::on_disk();
    let url = server.db("kept");
    let env = TestEnv::new();
    let lines: Vec<String> =
        (0..50).map(|i| json!({"_id": format!("d{i:02}"), "i": i}).to_string()).collect();
    env.settee_stdin(["import", "-"], &(lines.join("\n") + "\n")).ok();
    assert_eq!(env.settee(["--json", "push", &url]).json()["docs_read"], 50);
    // The server restarts (its instance_start_time changes): the run resumes, reads nothing.
    server.restart();
    let again = env.settee(["--json", "push", &url]).json();
    assert_eq!((again["docs_read"].as_u64(), again["start_seq"].as_str()), (Some(0), Some("50")));
    // The database is deleted and made again: its log is gone, so the push starts over.
    assert_eq!(server.call("DELETE", "kept", None).0, 200);
    assert_eq!(server.call("PUT", "kept", None).0, 201);
    let fresh = env.settee(["--json", "push", &url]).json();
    assert_eq!((fresh["docs_read"].as_u64(), fresh["start_seq"].as_str()), (Some(50), Some("0")));
    assert_eq!(server.get("kept").1["doc_count"], 50);
}

mod continuous {
    use std::process::{Child, Stdio};
    use std::time::Duration;

    use serde_json::{json, Value};

    use super::PouchServer;
    use crate::TestEnv;

    fn spawn(env: &TestEnv, args: &[&str]) -> Child {
        env.command()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    #[test]
    fn sync_continuous_carries_writes_both_ways_within_two_seconds_and_stops_on_sigterm() {
        let server = PouchServer::in_memory();
        let url = server.db("live");
        let env = TestEnv::new();
        env.put("before", "{}");
        let mut child = spawn(&env, &["sync", "--continuous", &url]);
        crate::within(Duration::from_secs(20), || (server.get("live/before").0 == 200).then_some(()));
        // A write here reaches the server...
        let rev = env.put("here", r#"{"side":"settee"}"#);
        let (_, took) = crate::within(Duration::from_secs(10), || {
            let (status, doc) = server.get("live/here");
            (status == 200 && doc["_rev"] == rev.as_str()).then_some(())
        });
        assert!(took < Duration::from_secs(2), "push took {took:?}");
        // ...and one on the server reaches here.
        let (status, put) = server.call("PUT", "live/there", Some(&json!({"side": "server"})));
        assert_eq!(status, 201, "{put}");
        let (doc, took) = crate::within(Duration::from_secs(10), || {
            let out = env.settee(["get", "there"]);
            serde_json::from_str::<Value>(&out.stdout).ok()
        });
        assert_eq!(doc["side"], "server");
        assert!(took < Duration::from_secs(2), "fetch took {took:?}");
        let (code, stderr) = crate::sigterm(&mut child);
        assert_eq!(code, Some(0), "{stderr}");
        // Checkpoints on both sides, for both directions: a plain sync resumes from them
        // (a replication starts from "0" unless the two sides' logs agree) and writes nothing.
        let again = env.settee(["--json", "sync", &url]).json_lines();
        assert_eq!(again.len(), 2);
        for r in &again {
            assert_ne!(r["start_seq"], "0", "{r}");
            assert_eq!(r["revisions_written"], 0, "{r}");
        }
    }

    #[test]
    fn continuous_replication_rides_out_a_server_restart() {
        let mut server = PouchServer::on_disk();
        let url = server.db("bumpy");
        let env = TestEnv::new();
        env.put("first", "{}");
        let mut child = spawn(&env, &["sync", "--continuous", &url]);
        crate::within(Duration::from_secs(20), || (server.get("bumpy/first").0 == 200).then_some(()));
        server.kill();
        let rev = env.put("while-down", r#"{"n":1}"#);
        std::thread::sleep(Duration::from_millis(1500));
        server.restart();
        crate::within(Duration::from_secs(40), || {
            let (status, doc) = server.get("bumpy/while-down");
            (status == 200 && doc["_rev"] == rev.as_str()).then_some(())
        });
        server.call("PUT", "bumpy/after", Some(&json!({"n": 2})));
        crate::within(Duration::from_secs(40), || {
            let out = env.settee(["get", "after"]);
            serde_json::from_str::<Value>(&out.stdout).ok()
        });
        let (code, stderr) = crate::sigterm(&mut child);
        assert_eq!(code, Some(0), "{stderr}");
        assert!(stderr.contains("trying again"), "the outage is said on stderr: {stderr}");
    }
}

mod faults {
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    use serde_json::{json, Value};

    use super::proxy::{Faults, Proxy};
    use super::{server_leaves, server_revs, store_leaves, store_revs, PouchServer};
    use crate::*;

    fn store_with(n: usize) -> TestEnv {
        let env = TestEnv::new();
        let lines: Vec<String> = (0..n)
            .map(|i| json!({"_id": format!("doc{i:05}"), "i": i, "pad": "x".repeat(i % 200)}).to_string())
            .collect();
        env.settee_stdin(["import", "-"], &(lines.join("\n") + "\n")).ok();
        env
    }

    /// Every document `other` holds is one `env` holds, with the same revision and body.
    fn no_partial_documents(env: &TestEnv, leaves: &[Value]) {
        let mine = store_leaves(env);
        for doc in leaves {
            assert!(mine.contains(doc), "a document that differs from what was written: {doc}");
        }
    }

    /// Through a proxy that answers 500 or cuts answers on a third of the connections, a
    /// push and a fetch either finish (with retries) or fail with one error line; the
    /// documents that arrive are always whole, and a clean run converges.
    #[test]
    fn answers_cut_short_or_500_are_retried_and_never_half_written() {
        let server = PouchServer::in_memory();
        let env = store_with(600);
        let (mut finished, mut faults) = (0, 0);
        for seed in 1..=4u64 {
            let proxy = Proxy::start(server.port, Faults { error_500: 20, cut: 50 }, seed);
            let url = proxy.url("faulty");
            let retries = if seed % 2 == 0 { "0" } else { "30" };
            let out = env.settee(["push", "--batch-size", "100", "--retries", retries, &url]);
            assert_no_panic(&out);
            if out.code == OK {
                finished += 1;
            } else {
                out.fails(ERROR);
            }
            if server.get("faulty").0 == 200 {
                no_partial_documents(&env, &server_leaves(&server, "faulty"));
            }
            faults += proxy.faults.load(std::sync::atomic::Ordering::SeqCst);
        }
        assert!(faults > 0, "the proxy misbehaved");
        assert!(finished >= 1, "runs with 30 retries finish");
        // A clean push converges.
        env.settee(["push", &server.db("faulty")]).ok();
        assert_eq!(server_leaves(&server, "faulty"), store_leaves(&env));
        // Fetching through the faults into an empty store: whole documents only.
        let copy = TestEnv::new();
        for seed in 10..=13u64 {
            let proxy = Proxy::start(server.port, Faults { error_500: 20, cut: 50 }, seed);
            let retries = if seed % 2 == 0 { "0" } else { "30" };
            let out =
                copy.settee(["fetch", "--batch-size", "100", "--retries", retries, &proxy.url("faulty")]);
            assert_no_panic(&out);
            no_partial_documents(&env, &store_leaves(&copy));
        }
        copy.settee(["fetch", &server.db("faulty")]).ok();
        assert_eq!(store_leaves(&copy), store_leaves(&env));
    }

    /// PouchDB Server killed in the middle of a push (on-disk storage): started again within
    /// the retries, the push carries on and finishes; left down, the push fails, and the
    /// next push resumes from the checkpoint rather than from zero, and converges.
    #[test]
    fn a_server_killed_mid_push_costs_a_retry_or_a_resume_never_a_restart() {
        let mut server = PouchServer::on_disk();
        let env = store_with(12_000);
        let url = server.db("killed");
        let push = |retries: &str| {
            env.command()
                .args(["--json", "push", "--batch-size", "500", "--retries", retries, &url])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let count = |server: &PouchServer| server.get("killed").1["doc_count"].as_u64().unwrap_or(0);
        let wait_for = |server: &PouchServer, n: u64| {
            let start = Instant::now();
            while count(server) < n {
                assert!(start.elapsed() < Duration::from_secs(60), "the push did not get going");
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        // Killed and started again: retries carry the push through.
        let child = push("12");
        wait_for(&server, 2000);
        server.restart();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(stderr.contains("retry"), "the retries are said on stderr: {stderr}");
        assert_eq!(count(&server), 12_000);
        // Killed and left down: the push fails; the next one resumes.
        let more: Vec<String> =
            (0..20_000).map(|i| json!({"_id": format!("more{i:05}"), "i": i}).to_string()).collect();
        env.settee_stdin(["import", "-"], &(more.join("\n") + "\n")).ok();
        let child = push("1");
        wait_for(&server, 24_000);
        server.kill();
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(ERROR), "{}", String::from_utf8_lossy(&out.stderr));
        server.restart();
        let resumed = env.settee(["--json", "push", &url]).json();
        let start: u64 = resumed["start_seq"].as_str().unwrap().parse().unwrap();
        assert!(start > 12_000, "resumed from a checkpoint past the first push: {resumed}");
        assert!(resumed["docs_read"].as_u64().unwrap() < 20_000, "{resumed}");
        assert_eq!(count(&server), 32_000);
        assert_eq!(server_revs(&server, "killed"), store_revs(&env));
    }
}

/// `--doc-ids` goes to the server as `filter=_doc_ids`; `--selector` is applied here, since
/// PouchDB Server is not CouchDB 2 (it falls over on `filter=_selector`).
#[test]
fn filtered_fetches_take_only_the_documents_asked_for() {
    let server = PouchServer::in_memory();
    let src = TestEnv::new();
    for (id, kind) in [("a", "fruit"), ("b", "veg"), ("c", "fruit"), ("d", "veg")] {
        src.put(id, &json!({"kind": kind}).to_string());
    }
    let gone = src.put("e", r#"{"kind":"fruit"}"#);
    src.rm("e", &gone);
    src.settee(["push", &server.db("filtered")]).ok();
    let by_id = TestEnv::new();
    let out = by_id.settee(["--json", "fetch", "--doc-ids", "b,e", &server.db("filtered")]).json();
    assert_eq!(out["revisions_written"], 2);
    let ids: Vec<String> = store_revs(&by_id).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["b", "e"]);
    let by_selector = TestEnv::new();
    let out = by_selector
        .settee(["--json", "fetch", "--selector", r#"{"kind":"fruit"}"#, &server.db("filtered")])
        .json();
    assert_eq!(out["revisions_written"], 2, "{out}");
    let ids: Vec<String> = store_revs(&by_selector).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["a", "c"]);
    // the server is still up
    assert_eq!(server.get("filtered").0, 200);
}

/// A server without `_bulk_get` is read with `GET /db/ID?open_revs=[..]` instead.
#[test]
fn a_server_without_bulk_get_is_read_with_open_revs() {
    let server = PouchServer::in_memory();
    let env = varied_store();
    env.settee(["push", &server.db("old")]).ok();
    let proxy =
        proxy::Proxy::start_hiding(server.port, proxy::Faults { error_500: 0, cut: 0 }, 1, Some("_bulk_get"));
    assert!(proxy.hidden.is_some());
    let copy = TestEnv::bare();
    copy.settee(["clone", &proxy.url("old"), "."]).ok();
    assert_eq!(store_leaves(&copy), store_leaves(&env));
}

/// Run the PouchDB client script (`pouchdb_client.js`) with its own LevelDB in `dir`.
pub fn pouchdb(command: &str, dir: &std::path::Path, url: &str, ids: &str) -> Value {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/cli/http/pouchdb_client.js");
    let out = std::process::Command::new("node")
        .arg(script)
        .args([command, dir.to_str().unwrap(), url, ids])
        .env("NODE_PATH", server::peer_dir())
        .output()
        .expect("running node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "pouchdb {command}: {}{}", stdout, String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("pouchdb {command} printed {stdout:?}: {e}"))
}

/// PouchDB (the client library, its own replicator) and settee share a server: what one
/// writes the other reads, and a conflict made across the two ends with the same winner on
/// both, then is resolved in settee for everyone.
#[test]
fn pouchdb_and_settee_read_each_others_edits_and_agree_on_conflicts() {
    let server = PouchServer::in_memory();
    let url = server.db("apps");
    let pouch = tempfile::tempdir().unwrap();
    let pouch_db = pouch.path().join("db");
    pouchdb("write", &pouch_db, &url, "");
    // Fetched by settee as PouchDB wrote them.
    let env = TestEnv::new();
    env.settee(["fetch", &url]).ok();
    let p2 = env.get_json(&["p2"]);
    assert_eq!(p2["nested"]["ünï"], "☃");
    assert_eq!(p2["list"], json!([1, 2, 3]));
    // Edited in settee and pushed back; PouchDB edits "shared" meanwhile.
    let p1 = env.get_json(&["p1"]);
    let p1_rev = env.update("p1", p1["_rev"].as_str().unwrap(), r#"{"from":"settee","n":2}"#);
    let shared = env.get_json(&["shared"]);
    env.update("shared", shared["_rev"].as_str().unwrap(), r#"{"v":"settee"}"#);
    env.settee(["push", &url]).ok();
    let seen = pouchdb("edit-sync", &pouch_db, &url, "p1,shared");
    assert_eq!(seen["p1"]["_rev"], p1_rev.as_str());
    assert_eq!(seen["p1"]["from"], "settee");
    // Both hold both edits of "shared" and pick the same winner.
    env.settee(["sync", &url]).ok();
    let here = env.get_json(&["shared", "--conflicts"]);
    assert_eq!(here["_conflicts"].as_array().map(Vec::len), Some(1), "{here}");
    assert_eq!(seen["shared"]["_rev"], here["_rev"]);
    assert_eq!(seen["shared"]["_conflicts"], here["_conflicts"]);
    // Resolved in settee, the conflict ends for PouchDB too.
    let merged = env.settee_stdin(["resolve", "shared", "-"], r#"{"v":"both"}"#).ok().trim().to_string();
    env.settee(["sync", &url]).ok();
    let seen = pouchdb("read", &pouch_db, &url, "shared");
    assert_eq!(seen["shared"]["_rev"], merged.as_str());
    assert_eq!(seen["shared"]["v"], "both");
    assert!(seen["shared"].get("_conflicts").is_none(), "{seen}");
}
