//! The exit-code contract, command by command (0 ok, 1 error, 2 usage, 3 conflict, 4 not
//! found), with each error naming the thing and the cause; and the first-hour behaviour
//! around it: clap's whole usage message, `post` and id-less `put`, generated ids in
//! `import`, `origin` as the default LOCATION, `status`.

use serde_json::{json, Value};

use crate::{replicated, TestEnv, CONFLICT, ERROR, NOT_FOUND, OK, USAGE};

/// One case: arguments, standard input, the exit code, and words the error must hold.
struct Case<'a> {
    args: &'a [&'a str],
    stdin: &'a str,
    code: i32,
    names: &'a [&'a str],
}

const fn case<'a>(args: &'a [&'a str], code: i32, names: &'a [&'a str]) -> Case<'a> {
    Case { args, stdin: "", code, names }
}

const fn with_input<'a>(args: &'a [&'a str], stdin: &'a str, code: i32, names: &'a [&'a str]) -> Case<'a> {
    Case { args, stdin, code, names }
}

#[track_caller]
fn check(env: &TestEnv, cases: &[Case]) {
    for c in cases {
        let out = env.settee_stdin(c.args, c.stdin);
        if c.code == OK {
            out.ok();
            continue;
        }
        // A usage error from the parser may go on for lines (clap's usage and tips); an
        // import prints its summary even when lines fail.
        let message = if c.code == USAGE {
            out.usage_error();
            out.stderr.clone()
        } else if c.args[0] == "import" && !out.stdout.is_empty() {
            assert_eq!(out.code, c.code, "{:?}: {out:?}", c.args);
            assert!(out.stdout.starts_with("imported "), "{:?}: {out:?}", c.args);
            out.stderr.clone()
        } else {
            out.fails(c.code)
        };
        for name in c.names {
            assert!(message.contains(name), "{:?}: the error should name {name:?}: {message}", c.args);
        }
    }
}

/// A store with `a` (two revisions), `c` in conflict, and a remote `peer` (the second
/// work tree, kept alive with the first).
fn store() -> ((TestEnv, TestEnv), String, String) {
    let env = TestEnv::new();
    let r1 = env.put("a", r#"{"n":1}"#);
    let r2 = env.update("a", &r1, r#"{"n":2}"#);
    env.import_replicated(&[
        replicated("c", 1, &["a1"], json!({"v": 0})),
        replicated("c", 2, &["b2", "a1"], json!({"v": 1})),
        replicated("c", 2, &["c2", "a1"], json!({"v": 2})),
    ]);
    let peer = TestEnv::new();
    env.settee(["remote", "add", "peer", peer.path().to_str().unwrap()]).ok();
    ((env, peer), r1, r2)
}

#[test]
fn put_get_rm_and_post() {
    let ((env, _peer), r1, r2) = store();
    let stale = format!("--rev={r1}");
    check(
        &env,
        &[
            with_input(&["put", "a"], "{}", CONFLICT, &["a", "conflict"]),
            with_input(&["put", "a", &stale], "{}", CONFLICT, &["a", &r1]),
            with_input(&["put", "a", "--rev=1-zz"], "{}", CONFLICT, &["a", "1-zz"]),
            with_input(&["put", "a", "--rev=zz"], "{}", USAGE, &["invalid revision", "zz"]),
            with_input(&["put", "a"], r#"{"_id":"b"}"#, USAGE, &["_id", "\"b\""]),
            with_input(&["put", "a"], "{nope", ERROR, &["a", "invalid JSON"]),
            with_input(&["put", "a"], "[1]", ERROR, &["a", "JSON object"]),
            with_input(&["put", "a"], r#"{"_rev":"zz"}"#, ERROR, &["invalid revision", "zz"]),
            with_input(&["put", "_x"], "{}", USAGE, &["_x", "starts with '_'"]),
            with_input(&["put", "a", "missing.json"], "", ERROR, &["missing.json"]),
            with_input(&["post"], r#"{"_rev":"1-aa"}"#, USAGE, &["must name its document"]),
            with_input(&["post"], "7", ERROR, &["JSON object"]),
            case(&["get", "nope"], NOT_FOUND, &["nope", "not found"]),
            case(&["get", "a", "--rev", "9-aa"], NOT_FOUND, &["9-aa", "a"]),
            case(&["get", "a", "--rev", "x"], USAGE, &["invalid revision", "x"]),
            case(&["rm", "a", "--rev", &r1], CONFLICT, &["a", &r1]),
            case(&["rm", "nope", "--rev", "1-aa"], NOT_FOUND, &["nope"]),
            case(&["rm", "a", "--rev", "x"], USAGE, &["invalid revision"]),
            case(&["rm", "a"], USAGE, &["--rev"]),
            case(&["rm", "a", "--rev", &r2], OK, &[]),
        ],
    );
}

#[test]
fn ls_log_changes_conflicts_diff() {
    let ((env, _peer), r1, r2) = store();
    check(
        &env,
        &[
            case(&["ls", "--limit", "x"], USAGE, &["--limit", "x"]),
            case(&["log"], USAGE, &["<ID>"]),
            case(&["log", "nope"], NOT_FOUND, &["nope"]),
            case(&["changes", "--since", "x"], USAGE, &["--since"]),
            case(&["conflicts", "extra"], USAGE, &["extra"]),
            case(&["diff", "a", &r1], USAGE, &["<REV2>"]),
            case(&["diff", "nope", &r1, &r2], NOT_FOUND, &["nope"]),
            case(&["diff", "a", &r1, "5-aa"], NOT_FOUND, &["5-aa"]),
            case(&["diff", "a", &r1, "x"], USAGE, &["invalid revision"]),
            case(&["diff", "a", &r1, &r2], OK, &[]),
        ],
    );
}

#[test]
fn import_export_local() {
    let ((env, _peer), _, _) = store();
    check(
        &env,
        &[
            case(&["import"], USAGE, &["<FILE>"]),
            case(&["import", "nope.ndjson"], ERROR, &["nope.ndjson"]),
            with_input(&["import", "-"], "{\"_id\":\"a\"}\n", CONFLICT, &["line 1", "a"]),
            with_input(&["import", "-"], "{\"_id\":\"_bad\"}\n", ERROR, &["line 1", "_bad"]),
            with_input(&["import", "-", "--no-new-edits"], "{\"_id\":\"z\"}\n", ERROR, &["line 1", "_rev"]),
            case(&["export", "/nonexistent-dir/out.ndjson"], ERROR, &["/nonexistent-dir/out.ndjson"]),
            case(&["local", "get", "nope"], NOT_FOUND, &["nope"]),
            case(&["local", "rm", "nope"], NOT_FOUND, &["nope"]),
            case(&["local", "get", ""], USAGE, &["invalid document id"]),
            with_input(&["local", "put", "x"], "[]", ERROR, &["JSON object"]),
            with_input(&["local", "put", "x"], "{}", OK, &[]),
            case(&["local", "remove", "x"], OK, &[]),
        ],
    );
}

#[test]
fn resolve_purge_compact_fsck_stats_cat_object() {
    let ((env, _peer), r1, r2) = store();
    check(
        &env,
        &[
            case(&["resolve", "a", "--keep", &r2], ERROR, &["a", "no conflicts"]),
            case(&["resolve", "nope", "--keep", &r2], NOT_FOUND, &["nope"]),
            case(&["resolve", "c", "--keep", "2-ff"], NOT_FOUND, &["2-ff", "c"]),
            case(&["resolve", "c", "--keep", "x"], USAGE, &["invalid revision"]),
            case(&["purge", "a"], USAGE, &["<REVS>"]),
            case(&["purge", "nope", "1-aa"], NOT_FOUND, &["nope"]),
            case(&["purge", "a", "7-aa"], NOT_FOUND, &["a", "7-aa", "nothing purged"]),
            case(&["purge", "a", &r1], ERROR, &["a", &r1, "not a leaf"]),
            case(&["compact", "--revs-limit", "x"], USAGE, &["--revs-limit"]),
            case(&["cat-object", "xyz"], USAGE, &["xyz"]),
            case(&["cat-object", &"0".repeat(40)], NOT_FOUND, &[&"0".repeat(40)]),
            case(&["stats", "extra"], USAGE, &["extra"]),
            case(&["fsck"], OK, &[]),
            case(&["compact"], OK, &[]),
        ],
    );
}

#[test]
fn remotes_replication_and_bundles() {
    let ((env, _peer), _, _) = store();
    let here = env.path().to_str().unwrap().to_string();
    check(
        &env,
        &[
            case(&["remote", "add", "peer", "."], CONFLICT, &["peer", "exists"]),
            case(&["remote", "add", "bad name", "."], USAGE, &["bad name"]),
            case(&["remote", "add", "x", "nowhere"], NOT_FOUND, &["nowhere"]),
            case(&["remote", "remove", "ghost"], NOT_FOUND, &["no remote named ghost"]),
            case(&["remote", "rm", "ghost"], NOT_FOUND, &["ghost"]),
            case(&["fetch", "nowhere"], NOT_FOUND, &["nowhere", "does not exist"]),
            case(&["fetch", "/"], ERROR, &["neither a settee store nor a bundle"]),
            case(&["fetch", "--doc-ids", "a", "--selector", "{}"], USAGE, &["--doc-ids", "--selector"]),
            case(&["push", &here], USAGE, &["itself"]),
            case(&["fetch"], USAGE, &["origin"]),
            case(&["clone", "nowhere", "x"], NOT_FOUND, &["nowhere"]),
            case(&["bundle", "verify", "nope.bundle"], ERROR, &["nope.bundle"]),
            case(&["fetch", "peer"], OK, &[]),
            case(&["remote", "rm", "peer"], OK, &[]),
        ],
    );
}

#[test]
fn usage_errors_keep_what_clap_says() {
    let env = TestEnv::new();
    for (args, wanted) in [
        (&["log"][..], "<ID>"),
        (&["rm", "b"], "--rev <REV>"),
        (&["diff", "x", "1-a"], "<REV2>"),
        (&["purge", "a"], "<REVS>"),
        (&["statu"], "status"),
        (&["get", "a", "--revz"], "tip: a similar argument exists: '--rev'"),
    ] {
        let out = env.settee(args);
        out.usage_error();
        assert!(out.stderr.contains(wanted), "{args:?} should say {wanted:?}: {}", out.stderr);
        assert!(out.stderr.contains("Usage: settee"), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn a_document_without_an_id_gets_a_random_one() {
    let env = TestEnv::new();
    let is_new_id =
        |id: &str| id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    // post, and put without ID, print the id and the revision
    let mut ids = Vec::new();
    for args in [&["post"][..], &["put"]] {
        let out = env.settee_stdin(args, r#"{"n":1}"#).ok().to_string();
        let (id, rev) = out.trim_end().split_once('\t').expect("id TAB rev");
        assert!(is_new_id(id), "{out}");
        assert_eq!(env.get_json(&[id])["_rev"], rev);
        ids.push(id.to_string());
    }
    assert_ne!(ids[0], ids[1]);
    // a body's _id names the document; --json says the id
    let out = env.settee_stdin(["--json", "post"], r#"{"_id":"named","n":2}"#).json();
    assert_eq!((&out["ok"], &out["id"]), (&json!(true), &json!("named")));
    // import gives each id-less line an id and lists them with --json
    let out = env.settee_stdin(["--json", "import", "-"], "{\"n\":3}\n{\"_id\":\"k\"}\n{\"n\":4}\n");
    let events = out.json_lines();
    let new: Vec<&Value> = events.iter().filter(|e| e["type"] == "id").map(|e| &e["data"]).collect();
    assert_eq!(new.iter().map(|d| d["line"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 3]);
    for d in &new {
        let id = d["id"].as_str().unwrap();
        assert!(is_new_id(id));
        assert_eq!(env.get_json(&[id])["_rev"], d["rev"]);
    }
    assert_eq!(events.last().unwrap()["data"]["generated_ids"], 2);
    assert_eq!(env.settee(["--json", "stats"]).json()["documents"], 6);
}

#[test]
fn import_errors_come_in_line_order() {
    let env = TestEnv::new();
    env.put("taken", "{}");
    // line 2 fails when written (a conflict), line 3 when parsed: line 2 still comes first
    let out = env.settee_stdin(["import", "-"], "{\"_id\":\"x\"}\n{\"_id\":\"taken\"}\n{bad\n");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stderr);
    assert!(lines[0].starts_with("error: line 2: ") && lines[1].starts_with("error: line 3: "), "{lines:?}");
}

#[test]
fn fetch_push_and_sync_use_origin_by_default() {
    let desktop = TestEnv::new();
    desktop.put("card", r#"{"name":"Alice"}"#);
    let laptop = TestEnv::bare();
    let dir = laptop.path().join("copy");
    laptop.settee(["clone", desktop.path().to_str().unwrap(), dir.to_str().unwrap()]).ok();
    let run = |args: &[&str]| {
        let mut cmd = laptop.command();
        cmd.current_dir(&dir).args(args);
        crate::run(cmd, "")
    };
    desktop.put("more", "{}");
    assert!(run(&["fetch"]).ok().starts_with("fetched from"));
    assert_eq!(run(&["get", "more"]).code, OK);
    let mut cmd = laptop.command();
    cmd.current_dir(&dir).args(["put", "back"]);
    crate::run(cmd, "{}").ok();
    assert!(run(&["push"]).ok().starts_with("pushed to"));
    assert_eq!(desktop.settee(["get", "back"]).code, OK);
    let out = run(&["sync"]).ok().to_string();
    assert!(out.starts_with("pushed to") && out.contains("\nfetched from"), "{out}");
}

#[test]
fn status_shows_documents_conflicts_and_what_each_remote_lacks() {
    let desktop = TestEnv::new();
    let laptop = TestEnv::new();
    let out = laptop.settee(["status"]).ok().to_string();
    assert!(out.contains("documents   0 (0 deleted)") && out.contains("remotes     none"), "{out}");
    laptop.put("a", "{}");
    laptop.put("b", "{}");
    laptop.import_replicated(&[
        replicated("c", 1, &["a1"], json!({})),
        replicated("c", 2, &["b2", "a1"], json!({})),
        replicated("c", 2, &["c2", "a1"], json!({})),
    ]);
    laptop.settee(["remote", "add", "origin", desktop.path().to_str().unwrap()]).ok();
    let before = laptop.settee(["--json", "status"]).json();
    assert_eq!((&before["documents"], &before["conflicted"]), (&json!(3), &json!(1)));
    let origin = &before["remotes"][0];
    assert_eq!((&origin["name"], &origin["unpushed_documents"]), (&json!("origin"), &json!(3)));
    assert_eq!((&origin["pushed_seq"], &origin["last_synced"]), (&Value::Null, &Value::Null));
    assert!(laptop.settee(["status"]).ok().contains("never pushed: 3 documents to push"));
    laptop.settee(["push"]).ok();
    laptop.put("d", "{}");
    let after = laptop.settee(["--json", "status"]).json();
    let origin = &after["remotes"][0];
    assert_eq!(origin["unpushed_documents"], 1, "{after}");
    let synced = origin["last_synced"].as_str().expect("a time once pushed");
    assert!(synced.ends_with(" GMT"), "{synced}");
    laptop.settee(["sync"]).ok();
    let text = laptop.settee(["status"]).ok().to_string();
    assert!(text.contains("everything here has been pushed") && text.contains("last synced"), "{text}");
    assert!(text.contains("conflicts   1 (list them with `settee conflicts`)"), "{text}");
}
