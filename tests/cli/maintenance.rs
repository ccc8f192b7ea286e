//! compact, purge, fsck and stats: reclaiming space and finding damage.

use serde_json::Value;

use crate::*;

/// A store with documents updated a few times, a conflict and a `_local` document.
fn busy_store() -> TestEnv {
    let env = TestEnv::new();
    let mut lines = String::new();
    for i in 0..300 {
        lines.push_str(&format!(
            "{{\"_id\":\"doc{i:03}\",\"n\":0,\"text\":\"a body long enough to compress {i}\"}}\n"
        ));
    }
    env.settee_stdin(["import", "-"], &lines).ok();
    for i in 0..20 {
        let id = format!("doc{i:03}");
        let mut rev = env.get_json(&[&id])["_rev"].as_str().unwrap().to_string();
        for n in 1..4 {
            rev = env.update(&id, &rev, &format!("{{\"n\":{n}}}"));
        }
    }
    env.import_replicated(&[
        replicated("c", 1, &["a1"], serde_json::json!({"v": "base"})),
        replicated("c", 2, &["b2", "a1"], serde_json::json!({"v": "left"})),
        replicated("c", 2, &["c2", "a1"], serde_json::json!({"v": "right"})),
    ]);
    env.settee_stdin(["local", "put", "mark"], "{\"seq\":5}").ok();
    env
}

fn files(env: &TestEnv, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(env.store_dir().join("packs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

/// The one sealed pack (after `compact --full`) and its index.
fn sealed(env: &TestEnv) -> (PathBuf, PathBuf) {
    let idx = files(env, "idx")
        .into_iter()
        .find(|p| !p.to_string_lossy().contains(".part-"))
        .expect("a sealed index");
    let pack = idx.with_extension("pack");
    (pack, idx)
}

#[test]
fn compact_keeps_what_users_see_and_fsck_stays_clean() {
    let env = busy_store();
    let before: Vec<String> =
        (0..300).map(|i| env.settee(["--json", "get", &format!("doc{i:03}")]).ok().to_string()).collect();
    let conflicts = env.settee(["conflicts"]).ok().to_string();
    let stats = env.settee(["stats"]).ok().to_string();
    assert!(stats.contains("reclaimable"), "{stats}");
    let out = env.settee(["--json", "compact", "--full"]).json();
    assert!(out["bytes_after"].as_u64() < out["bytes_before"].as_u64(), "{out}");
    assert!(out["objects_dropped"].as_u64().unwrap() >= 60, "{out}");
    for (i, b) in before.iter().enumerate() {
        assert_eq!(&env.settee(["--json", "get", &format!("doc{i:03}")]).ok().to_string(), b);
    }
    assert_eq!(env.settee(["conflicts"]).ok(), conflicts);
    assert_eq!(env.settee(["local", "get", "mark", "--json"]).json()["seq"], 5);
    // an old body is gone, its revision id stays
    let info = env.get_json(&["doc000", "--revs-info"]);
    let statuses: Vec<&str> =
        info["_revs_info"].as_array().unwrap().iter().map(|i| i["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["available", "missing", "missing", "missing"]);
    let old = info["_revs_info"][1]["rev"].as_str().unwrap().to_string();
    let msg = env.settee(["get", "doc000", "--rev", &old]).fails(NOT_FOUND);
    assert!(msg.contains("compacted"), "{msg}");
    // the conflict's common ancestor keeps its body
    assert_eq!(env.get_json(&["c", "--rev", "1-a1"])["v"], "base");
    assert_eq!(env.settee(["fsck"]).ok(), "ok\n");
    assert_eq!(env.settee(["--json", "fsck"]).json(), serde_json::json!({"ok": true, "findings": []}));
    // a second compaction finds nothing to do
    let again = env.settee(["--json", "compact"]).json();
    assert_eq!(
        (again["packs_rewritten"].as_u64(), again["objects_copied"].as_u64()),
        (Some(0), Some(0)),
        "{again}"
    );
}

#[test]
fn purge_removes_a_leaf_and_compaction_reclaims_it() {
    let env = busy_store();
    // A revision the document does not have purges nothing, not even the others named.
    let msg = env.settee(["purge", "c", "2-c2", "2-b2x"]).fails(NOT_FOUND);
    assert!(msg.contains("2-b2x") && msg.contains("nothing purged"), "{msg}");
    assert_eq!(env.get_json(&["c", "--conflicts"])["_conflicts"], serde_json::json!(["2-b2"]));
    let right = env.settee(["purge", "c", "2-c2"]).ok().to_string();
    assert_eq!(right, "purged 2-c2\n");
    let doc = env.get_json(&["c", "--conflicts"]);
    assert_eq!((doc["_rev"].as_str(), doc.get("_conflicts")), (Some("2-b2"), None));
    env.settee(["get", "c", "--rev", "2-c2"]).fails(NOT_FOUND);
    // changes show the document again, at a new sequence
    let rows = env.settee(["--json", "changes"]).json_lines();
    assert_eq!(rows[rows.len() - 2]["id"], "c");
    let rev = env.get_json(&["doc299"])["_rev"].as_str().unwrap().to_string();
    let out = env.settee(["--json", "purge", "doc299", &rev]).json();
    assert_eq!(out["seq"], Value::Null);
    env.settee(["get", "doc299"]).fails(NOT_FOUND);
    env.settee(["purge", "nope", "1-a"]).fails(NOT_FOUND);
    env.settee(["purge", "c", "bad"]).fails(USAGE);
    let msg = env.settee(["purge", "c", "1-a1"]).fails(ERROR);
    assert!(msg.contains("not a leaf") && msg.contains("nothing purged"), "{msg}");
    env.settee(["compact", "--full"]).ok();
    assert_eq!(env.settee(["fsck"]).ok(), "ok\n");
}

fn damaged(env: &TestEnv, what: &str) -> String {
    let out = env.settee(["fsck"]);
    assert_eq!(out.code, ERROR, "fsck after {what} must fail: {}", out.describe());
    assert_no_panic(&out);
    assert!(out.stderr.starts_with("error: fsck found"), "{}", out.describe());
    let json = env.settee(["--json", "fsck"]);
    assert_eq!(json.code, ERROR);
    let parsed: Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(parsed["ok"], false);
    assert!(!parsed["findings"].as_array().unwrap().is_empty());
    out.stdout
}

#[test]
fn fsck_names_a_flipped_byte_in_a_pack() {
    let env = busy_store();
    env.settee(["compact", "--full"]).ok();
    let (pack, _) = sealed(&env);
    let mut bytes = std::fs::read(&pack).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    std::fs::write(&pack, bytes).unwrap();
    let report = damaged(&env, "a flipped pack byte");
    let name = pack.file_name().unwrap().to_string_lossy().to_string();
    assert!(report.contains(&name) && report.contains("offset"), "{report}");
    assert!(report.contains("checksum"), "{report}");
}

#[test]
fn fsck_names_a_flipped_byte_in_an_index() {
    let env = busy_store();
    env.settee(["compact", "--full"]).ok();
    let (_, idx) = sealed(&env);
    let mut bytes = std::fs::read(&idx).unwrap();
    let at = bytes.len() - 40;
    bytes[at] ^= 0x01;
    std::fs::write(&idx, bytes).unwrap();
    let report = damaged(&env, "a flipped index byte");
    assert!(report.contains(&idx.file_name().unwrap().to_string_lossy().to_string()), "{report}");
}

#[test]
fn fsck_names_a_truncated_pack() {
    let env = busy_store();
    env.settee(["compact", "--full"]).ok();
    let (pack, _) = sealed(&env);
    let bytes = std::fs::read(&pack).unwrap();
    std::fs::write(&pack, &bytes[..bytes.len() - 100]).unwrap();
    let report = damaged(&env, "a truncated pack");
    assert!(report.contains(&pack.file_name().unwrap().to_string_lossy().to_string()), "{report}");
    assert!(report.contains("past the end") || report.contains("truncated"), "{report}");
}

#[test]
fn fsck_names_a_missing_pack() {
    let env = busy_store();
    env.settee(["compact", "--full"]).ok();
    let (pack, _) = sealed(&env);
    std::fs::remove_file(&pack).unwrap();
    let report = damaged(&env, "a missing pack");
    assert!(
        report.contains(&pack.file_name().unwrap().to_string_lossy().to_string())
            && report.contains("missing"),
        "{report}"
    );
    // other commands refuse with one clear line
    env.settee(["get", "doc000"]).fails(ERROR);
}

#[test]
fn writers_wait_for_the_lock_when_asked() {
    let env = TestEnv::new();
    // another process's commit in progress: the lock held, as a writer holds it
    let holder = settee::store::lock::Lock::acquire(&env.store_dir(), None).unwrap();
    let msg = env.settee_stdin(["--no-wait", "put", "a"], "{}").fails(ERROR);
    assert!(msg.contains("locked") && msg.contains(&format!("pid {}", std::process::id())), "{msg}");
    let out = env.settee_stdin(["--wait", "0.2", "put", "a"], "{}");
    assert!(out.fails(ERROR).contains("locked") && out.stderr.contains("--wait SECONDS"), "{out:?}");
    // by default a writer waits its turn (up to 30 s)
    let waiter = {
        let mut cmd = env.command();
        cmd.args(["put", "a"]);
        std::thread::spawn(move || run(cmd, "{}"))
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(holder);
    let out = waiter.join().unwrap();
    assert_rev(out.ok().trim());
}

/// A store held open for writing, by an import waiting for input or by a library handle,
/// holds the lock only while it commits: other writers go ahead meanwhile.
#[test]
fn an_open_writer_does_not_block_other_writers() {
    let env = TestEnv::new();
    let mut import = env.command();
    import.args(["import", "-"]).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::null());
    let mut child = import.spawn().unwrap();
    let mut handle = settee::Store::open(
        &env.store_dir(),
        settee::OpenOptions { write: true, wait_for_lock: Some(std::time::Duration::from_secs(30)) },
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let rev = env.settee_stdin(["--no-wait", "put", "a"], r#"{"v":1}"#).ok().trim().to_string();
    // the handle opened before sees that commit when it writes: an update from it works
    let op = settee::Op::Edit {
        id: settee::DocId::parse("a").unwrap(),
        base: Some(settee::RevId::parse(&rev).unwrap()),
        deleted: false,
        body: settee::Body::from_map(&serde_json::Map::new()),
    };
    let written = handle.write(vec![op]).unwrap().remove(0).unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"{\"_id\":\"b\"}\n").unwrap();
    }
    assert!(child.wait().unwrap().success());
    // and the command line sees the handle's and the import's commits
    let doc = env.settee(["--json", "get", "a"]).json();
    assert_eq!(doc["_rev"], written.rev.to_string(), "{doc}");
    env.settee(["get", "b"]).ok();
}

#[test]
fn compaction_never_grows_a_store_and_stats_agree_with_it() {
    // A store of a few hundred bytes: its garbage is smaller than the index a compaction
    // would write, so compaction leaves it alone and stats say nothing is reclaimable.
    let env = TestEnv::new();
    let r1 = env.put("x", r#"{"a":1}"#);
    env.update("x", &r1, r#"{"a":2}"#);
    let stats = env.settee(["--json", "stats"]).json();
    assert_eq!(stats["bytes"]["reclaimable"], 0, "{stats}");
    let out = env.settee(["--json", "compact", "--full"]).json();
    assert_eq!(out["bytes_after"], out["bytes_before"], "{out}");
    assert_eq!(out["packs_rewritten"], 0, "{out}");
    // A larger store shrinks, and after a full compaction nothing is left to reclaim.
    let env = busy_store();
    let before = env.settee(["--json", "stats"]).json();
    assert!(before["bytes"]["reclaimable"].as_u64().unwrap() > 0, "{before}");
    let out = env.settee(["--json", "compact", "--full"]).json();
    assert!(out["bytes_after"].as_u64() < out["bytes_before"].as_u64(), "{out}");
    let after = env.settee(["--json", "stats"]).json();
    assert_eq!(after["bytes"]["reclaimable"], 0, "{after}");
    assert_eq!(after["bytes"]["packs_live"], after["bytes"]["packs"], "{after}");
    // and a second full compaction rewrites nothing
    let again = env.settee(["--json", "compact", "--full"]).json();
    assert_eq!(
        (again["packs_rewritten"].as_u64(), again["bytes_after"].as_u64()),
        (Some(0), out["bytes_after"].as_u64())
    );
}

/// `settee ARGS` started with `body` on its stdin, not waited for.
fn start_put(env: &TestEnv, args: &[&str], body: &str) -> std::process::Child {
    let mut cmd = env.command();
    cmd.args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), body.as_bytes()).unwrap();
    drop(child.stdin.take());
    child
}

/// Writers queue: many `settee put` started at once all succeed, one after another, and
/// concurrent updates of the same documents either succeed or are conflicts (exit 3), never
/// a lost update; the store stays sound.
#[test]
fn concurrent_writers_wait_their_turn() {
    let env = TestEnv::new();
    for i in 0..4 {
        env.put(&format!("shared{i}"), r#"{"n":0}"#);
    }
    let mut children = Vec::new();
    for i in 0..20 {
        children.push(start_put(&env, &["put", &format!("new{i:02}")], &format!("{{\"i\":{i}}}")));
    }
    // updates of the shared documents with the revision each writer read first
    let revs: Vec<String> = (0..4)
        .map(|i| env.get_json(&[&format!("shared{i}")])["_rev"].as_str().unwrap().to_string())
        .collect();
    let mut updates = Vec::new();
    for i in 0..8 {
        let id = format!("shared{}", i % 4);
        let rev = &revs[i % 4];
        let child = start_put(&env, &["put", &id, "--rev", rev], &format!("{{\"by\":{i}}}"));
        updates.push((id, child));
    }
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(OK), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let mut won = std::collections::BTreeMap::new();
    for (id, child) in updates {
        let out = child.wait_with_output().unwrap();
        match out.status.code() {
            Some(OK) => *won.entry(id).or_insert(0) += 1,
            Some(CONFLICT) => {}
            other => panic!("{other:?}: {}", String::from_utf8_lossy(&out.stderr)),
        }
    }
    // each shared document was updated from the same revision twice: exactly one won
    assert_eq!(won.values().copied().collect::<Vec<_>>(), [1, 1, 1, 1], "{won:?}");
    assert_eq!(env.settee(["--json", "stats"]).json()["documents"], 24);
    assert_eq!(env.settee(["fsck"]).ok(), "ok\n");
}
