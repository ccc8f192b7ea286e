//! `put`, `get`, `rm` and `ls`: writing and reading documents, and every way a write is refused.

use serde_json::json;

use crate::{assert_rev, assert_text, h, hash, pos, replicated, TestEnv, CONFLICT, ERROR, NOT_FOUND, USAGE};

// ---------------------------------------------------------------------------------------
// put

#[test]
fn put_prints_the_new_rev_and_get_returns_the_body() {
    let env = TestEnv::new();
    let rev = env.put("a", r#"{"n":1,"s":"x"}"#);
    assert_eq!(pos(&rev), 1);
    let got = env.settee(["get", "a"]);
    assert_text!(
        got.ok(),
        format!("{{\n  \"_id\": \"a\",\n  \"_rev\": \"{rev}\",\n  \"n\": 1,\n  \"s\": \"x\"\n}}\n")
    );
}

#[test]
fn put_revs_are_deterministic_across_stores() {
    let (one, two) = (TestEnv::new(), TestEnv::new());
    let r1 = one.put("a", r#"{"n":1}"#);
    assert_eq!(two.put("a", r#"{"n":1}"#), r1, "the same edit gives the same rev");
    let r2 = one.update("a", &r1, r#"{"n":2}"#);
    assert_eq!(two.update("a", &r1, r#"{"n":2}"#), r2);
    assert_eq!(pos(&r2), 2);
    assert_ne!(one.put("b", r#"{"n":2}"#), r1, "a different body gives a different rev");
}

#[test]
fn put_reads_the_body_from_a_file() {
    let env = TestEnv::new();
    env.write_file("body.json", r#"{"_id":"a","from":"file"}"#);
    let rev = env.settee(["put", "a", "body.json"]).ok().trim_end().to_string();
    assert_rev(&rev);
    assert_eq!(env.get_json(&["a"]), json!({"_id": "a", "_rev": rev, "from": "file"}));
    let stdin = env.settee_stdin(["put", "b", "-"], r#"{"from":"stdin"}"#);
    assert_rev(stdin.ok().trim_end());
}

#[test]
fn put_of_a_missing_file_fails_naming_it() {
    let env = TestEnv::new();
    let msg = env.settee(["put", "a", "nope.json"]).fails(ERROR);
    assert!(msg.contains("nope.json"), "{msg}");
}

#[test]
fn put_json_output() {
    let env = TestEnv::new();
    let v = env.settee_stdin(["--json", "put", "a"], r#"{"n":1}"#).json();
    let rev = v["rev"].as_str().expect("rev is a string").to_string();
    assert_rev(&rev);
    assert_eq!(v, json!({"ok": true, "id": "a", "rev": rev}));
}

#[test]
fn put_refuses_invalid_json() {
    let env = TestEnv::new();
    for body in ["{", "", "{\"a\":}", "\u{0}"] {
        let msg = env.settee_stdin(["put", "a"], body).fails(ERROR);
        assert!(msg.contains("invalid JSON"), "{body:?}: {msg}");
    }
    assert_eq!(env.last_seq(), 0, "a refused write writes nothing");
}

#[test]
fn put_refuses_a_body_that_is_not_an_object() {
    let env = TestEnv::new();
    for body in ["[1,2]", r#""a string""#, "42", "null", "true"] {
        let msg = env.settee_stdin(["put", "a"], body).fails(ERROR);
        assert!(msg.contains("must be a JSON object"), "{body}: {msg}");
    }
    env.settee(["get", "a"]).fails(NOT_FOUND);
}

#[test]
fn put_refuses_unknown_underscore_members() {
    let env = TestEnv::new();
    let msg = env.settee_stdin(["put", "a"], r#"{"_foo":1}"#).fails(ERROR);
    assert!(msg.contains("_foo"), "{msg}");
    // CouchDB's read-only metadata is ignored on write, not refused.
    let rev = env.put("a", r#"{"_conflicts":["1-x"],"_revs_info":[],"n":1}"#);
    assert_eq!(env.get_json(&["a"]), json!({"_id": "a", "_rev": rev, "n": 1}));
}

#[test]
fn put_refuses_bad_rev_strings() {
    let env = TestEnv::new();
    let rev = env.put("a", "{}");
    for bad in ["nonsense", "0-a", "-a", "1-", "x-abc", "1-a-b"] {
        // On the command line a bad revision is a usage error; in the body, bad input.
        let msg = env.settee_stdin(["put", "a", &format!("--rev={bad}")], "{}").fails(USAGE);
        assert!(msg.contains("invalid revision") && msg.contains(bad), "{bad}: {msg}");
        let in_body = format!(r#"{{"_rev":"{bad}"}}"#);
        let msg = env.settee_stdin(["put", "a"], &in_body).fails(ERROR);
        assert!(msg.contains("invalid revision") && msg.contains(bad), "{bad}: {msg}");
    }
    env.settee(["rm", "a", "--rev", "nonsense"]).fails(USAGE);
    env.settee(["get", "a", "--rev", "0-a"]).fails(USAGE);
    assert_eq!(env.get_json(&["a"])["_rev"], json!(rev), "nothing was written");
}

#[test]
fn put_refuses_empty_and_underscore_ids() {
    let env = TestEnv::new();
    for (id, why) in
        [("", "is empty"), ("_x", "starts with '_'"), ("_design/", "empty name"), ("a\nb", "control")]
    {
        let msg = env.settee_stdin(["put", id], "{}").fails(USAGE);
        assert!(msg.contains("invalid document id") && msg.contains(why), "{id:?}: {msg}");
        let body = serde_json::json!({ "_id": id }).to_string();
        let msg = env.settee_stdin(["post"], &body).fails(ERROR);
        assert!(msg.contains("invalid document id") && msg.contains(why), "{id:?}: {msg}");
    }
    let long = "x".repeat(4097);
    env.settee_stdin(["put", &long], "{}").fails(USAGE);
    env.settee(["get", "_x"]).fails(USAGE);
    assert_eq!(env.last_seq(), 0);
}

#[test]
fn put_refuses_local_ids() {
    let env = TestEnv::new();
    let msg = env.settee_stdin(["put", "_local/x"], "{}").fails(USAGE);
    assert!(msg.contains("_local") && msg.contains("settee local"), "{msg}");
    env.settee(["local", "get", "x"]).fails(NOT_FOUND);
}

#[test]
fn put_accepts_design_documents() {
    let env = TestEnv::new();
    let rev = env.put("_design/x", r#"{"views":{}}"#);
    assert_eq!(env.get_json(&["_design/x"]), json!({"_id": "_design/x", "_rev": rev, "views": {}}));
    assert_text!(env.settee(["ls"]).ok(), format!("_design/x\t{rev}\n"));
}

#[test]
fn put_accepts_unicode_ids() {
    let env = TestEnv::new();
    let rev = env.put("é/ü 1", r#"{"n":"ü"}"#);
    assert_eq!(env.get_json(&["é/ü 1"]), json!({"_id": "é/ü 1", "_rev": rev, "n": "ü"}));
}

#[test]
fn put_with_a_body_id_other_than_the_id_is_a_usage_error() {
    let env = TestEnv::new();
    let msg = env.settee_stdin(["put", "a"], r#"{"_id":"b"}"#).fails(USAGE);
    assert!(msg.contains("\"b\"") && msg.contains("\"a\""), "{msg}");
    let rev = env.put("a", r#"{"_id":"a","n":1}"#);
    assert_eq!(env.get_json(&["a"]), json!({"_id": "a", "_rev": rev, "n": 1}));
}

#[test]
fn put_with_rev_and_a_different_body_rev_is_a_usage_error() {
    let env = TestEnv::new();
    let rev = env.put("a", "{}");
    let body = format!(r#"{{"_rev":"{rev}"}}"#);
    env.settee_stdin(["put", "a", "--rev", &format!("1-{}", h('f'))], &body).fails(USAGE);
    // The same rev in both places is fine.
    env.settee_stdin(["put", "a", "--rev", &rev], &body).ok();
}

#[test]
fn put_body_rev_counts_as_rev() {
    let env = TestEnv::new();
    let r1 = env.put("a", r#"{"n":1}"#);
    let r2 =
        env.settee_stdin(["put", "a"], &format!(r#"{{"_rev":"{r1}","n":2}}"#)).ok().trim_end().to_string();
    assert_eq!(pos(&r2), 2);
    assert_eq!(env.get_json(&["a"]), json!({"_id": "a", "_rev": r2, "n": 2}));
}

#[test]
fn put_on_an_existing_doc_without_rev_conflicts() {
    let env = TestEnv::new();
    let rev = env.put("a", r#"{"n":1}"#);
    let msg = env.settee_stdin(["put", "a"], r#"{"n":2}"#).fails(CONFLICT);
    assert!(msg.contains("conflict") && msg.contains(&rev), "names the current rev: {msg}");
    assert_eq!(env.get_json(&["a"])["n"], json!(1));
}

#[test]
fn put_with_a_stale_rev_conflicts() {
    let env = TestEnv::new();
    let r1 = env.put("a", r#"{"n":1}"#);
    let r2 = env.update("a", &r1, r#"{"n":2}"#);
    let msg = env.settee_stdin(["put", "a", "--rev", &r1], r#"{"n":3}"#).fails(CONFLICT);
    assert!(msg.contains(&r1) && msg.contains(&r2), "{msg}");
    assert_eq!(env.get_json(&["a"]), json!({"_id": "a", "_rev": r2, "n": 2}));
}

#[test]
fn put_with_a_rev_the_doc_never_had_conflicts() {
    let env = TestEnv::new();
    env.put("a", "{}");
    env.settee_stdin(["put", "a", "--rev", &format!("1-{}", h('0'))], "{}").fails(CONFLICT);
    env.settee_stdin(["put", "a", "--rev", &format!("7-{}", h('0'))], "{}").fails(CONFLICT);
    // A rev for a document that does not exist conflicts too (CouchDB's 409).
    env.settee_stdin(["put", "new", "--rev", &format!("1-{}", h('0'))], "{}").fails(CONFLICT);
    env.settee(["get", "new"]).fails(NOT_FOUND);
}

// ---------------------------------------------------------------------------------------
// rm, deleted documents

#[test]
fn rm_writes_a_tombstone_and_get_says_deleted() {
    let env = TestEnv::new();
    let r1 = env.put("a", r#"{"n":1}"#);
    let r2 = env.rm("a", &r1);
    assert_eq!(pos(&r2), 2);
    let msg = env.settee(["get", "a"]).fails(NOT_FOUND);
    assert_eq!(msg, "document a not found (deleted)");
    // The tombstone is an empty body, readable by rev.
    assert_eq!(env.get_json(&["a", "--rev", &r2]), json!({"_id": "a", "_rev": r2, "_deleted": true}));
    assert_eq!(env.settee(["ls"]).ok(), "");
}

#[test]
fn rm_json_output() {
    let env = TestEnv::new();
    let r1 = env.put("a", "{}");
    let v = env.settee(["--json", "rm", "a", "--rev", &r1]).json();
    let rev = v["rev"].as_str().expect("rev").to_string();
    assert_eq!(pos(&rev), 2);
    assert_eq!(v, json!({"ok": true, "id": "a", "rev": rev}));
}

#[test]
fn rm_needs_a_current_leaf() {
    let env = TestEnv::new();
    let r1 = env.put("a", "{}");
    let r2 = env.update("a", &r1, r#"{"n":2}"#);
    env.settee(["rm", "a", "--rev", &r1]).fails(CONFLICT);
    env.settee(["rm", "nope", "--rev", &r1]).fails(NOT_FOUND);
    env.settee(["rm", "a"]).usage_error();
    assert_eq!(env.get_json(&["a"])["_rev"], json!(r2));
}

#[test]
fn put_with_deleted_true_writes_a_tombstone() {
    let env = TestEnv::new();
    let r1 = env.put("a", r#"{"n":1}"#);
    let r2 = env.update("a", &r1, r#"{"_deleted":true,"keep":"me"}"#);
    env.settee(["get", "a"]).fails(NOT_FOUND);
    assert_eq!(
        env.get_json(&["a", "--rev", &r2]),
        json!({"_id": "a", "_rev": r2, "keep": "me", "_deleted": true})
    );
}

#[test]
fn updating_a_deleted_doc_with_a_rev_conflicts() {
    let env = TestEnv::new();
    let r1 = env.put("a", r#"{"n":1}"#);
    let r2 = env.rm("a", &r1);
    // Neither the tombstone's rev nor the old one may be extended (CouchDB-292 rule).
    for rev in [&r2, &r1] {
        let msg = env.settee_stdin(["put", "a", "--rev", rev], r#"{"n":2}"#).fails(CONFLICT);
        assert!(msg.contains("deleted"), "{msg}");
    }
    env.settee(["rm", "a", "--rev", &r2]).fails(CONFLICT);
    // Deleting it again without a rev conflicts too.
    env.settee_stdin(["put", "a"], r#"{"_deleted":true}"#).fails(CONFLICT);
    env.settee(["get", "a"]).fails(NOT_FOUND);
}

#[test]
fn recreating_a_deleted_doc_continues_from_the_tombstone() {
    let env = TestEnv::new();
    let r1 = env.put("a", r#"{"n":1}"#);
    let r2 = env.rm("a", &r1);
    let r3 = env.put("a", r#"{"n":3}"#);
    assert_eq!(pos(&r3), 3, "the new rev is a child of the tombstone");
    assert_eq!(
        env.get_json(&["a", "--revs"]),
        json!({"_id": "a", "_rev": r3, "n": 3, "_revisions": {"start": 3, "ids": [hash(&r3), hash(&r2), hash(&r1)]}})
    );
    assert_eq!(
        env.get_json(&["a", "--revs-info"])["_revs_info"],
        json!([
            {"rev": r3, "status": "available"},
            {"rev": r2, "status": "deleted"},
            {"rev": r1, "status": "available"},
        ])
    );
    assert_text!(env.settee(["ls"]).ok(), format!("a\t{r3}\n"));
}

// ---------------------------------------------------------------------------------------
// get

#[test]
fn get_of_a_missing_doc_is_not_found() {
    let env = TestEnv::new();
    let msg = env.settee(["get", "nope"]).fails(NOT_FOUND);
    assert_eq!(msg, "document nope not found (missing)");
    env.settee(["get", "nope", "--open-revs", "all"]).fails(NOT_FOUND);
    env.settee(["get", "nope", "--revs"]).fails(NOT_FOUND);
}

#[test]
fn get_json_is_one_compact_line_and_human_output_is_pretty() {
    let env = TestEnv::new();
    let rev = env.put("a", r#"{"z":1,"a":[1,2]}"#);
    let json = env.settee(["--json", "get", "a"]);
    assert_text!(json.ok(), format!("{{\"_id\":\"a\",\"_rev\":\"{rev}\",\"z\":1,\"a\":[1,2]}}\n"));
    let human = env.settee(["get", "a"]);
    assert_text!(
        human.ok(),
        format!("{{\n  \"_id\": \"a\",\n  \"_rev\": \"{rev}\",\n  \"z\": 1,\n  \"a\": [\n    1,\n    2\n  ]\n}}\n")
    );
}

#[test]
fn get_rev_reads_an_older_revision() {
    let env = TestEnv::new();
    let r1 = env.put("a", r#"{"n":1}"#);
    let r2 = env.update("a", &r1, r#"{"n":2}"#);
    assert_eq!(env.get_json(&["a", "--rev", &r1]), json!({"_id": "a", "_rev": r1, "n": 1}));
    assert_eq!(env.get_json(&["a", "--rev", &r2]), json!({"_id": "a", "_rev": r2, "n": 2}));
    // Revision ids are compared as spelled: the upper-case spelling names no revision.
    env.settee(["get", "a", "--rev", &r1.to_uppercase()]).fails(NOT_FOUND);
}

#[test]
fn get_rev_unknown_is_not_found() {
    let env = TestEnv::new();
    env.put("a", "{}");
    let msg = env.settee(["get", "a", "--rev", &format!("1-{}", h('0'))]).fails(NOT_FOUND);
    assert!(msg.contains(&format!("1-{}", h('0'))), "{msg}");
}

#[test]
fn get_latest_follows_a_rev_to_its_leaf() {
    let env = TestEnv::new();
    let r1 = env.put("a", r#"{"n":1}"#);
    let r2 = env.update("a", &r1, r#"{"n":2}"#);
    let r3 = env.update("a", &r2, r#"{"n":3}"#);
    assert_eq!(env.get_json(&["a", "--rev", &r1, "--latest"]), json!({"_id": "a", "_rev": r3, "n": 3}));
    assert_eq!(env.get_json(&["a", "--rev", &r3, "--latest"])["_rev"], json!(r3));
    assert_eq!(
        env.get_json(&["a", "--open-revs", &r1, "--latest"]),
        json!([{"ok": {"_id": "a", "_rev": r3, "n": 3}}])
    );
}

#[test]
fn get_open_revs_lists_found_and_missing() {
    let env = TestEnv::new();
    let r1 = env.put("a", r#"{"n":1}"#);
    let r2 = env.update("a", &r1, r#"{"n":2}"#);
    let unknown = format!("3-{}", h('0'));
    let list = format!("{r1},{unknown},{r2}");
    assert_eq!(
        env.get_json(&["a", "--open-revs", &list]),
        json!([
            {"ok": {"_id": "a", "_rev": r1, "n": 1}},
            {"missing": unknown},
            {"ok": {"_id": "a", "_rev": r2, "n": 2}},
        ])
    );
    assert_eq!(
        env.get_json(&["a", "--open-revs", &r2, "--revs"]),
        json!([{"ok": {"_id": "a", "_rev": r2, "n": 2, "_revisions": {"start": 2, "ids": [hash(&r2), hash(&r1)]}}}])
    );
    env.settee(["get", "a", "--open-revs", &format!("{r1},bad")]).fails(USAGE);
}

#[test]
fn get_open_revs_all_of_a_deleted_doc_returns_the_tombstone() {
    let env = TestEnv::new();
    let r1 = env.put("a", r#"{"n":1}"#);
    let r2 = env.rm("a", &r1);
    assert_eq!(
        env.get_json(&["a", "--open-revs", "all"]),
        json!([{"ok": {"_id": "a", "_rev": r2, "_deleted": true}}])
    );
}

#[test]
fn get_revs_info_shows_missing_for_an_ancestor_known_only_by_id() {
    let env = TestEnv::new();
    env.import_replicated(&[replicated("d", 3, &[&h('c'), &h('b'), &h('a')], json!({"v": 3}))]);
    let c = format!("3-{}", h('c'));
    assert_eq!(
        env.get_json(&["d", "--revs-info", "--revs"]),
        json!({
            "_id": "d", "_rev": c, "v": 3,
            "_revisions": {"start": 3, "ids": [h('c'), h('b'), h('a')]},
            "_revs_info": [
                {"rev": c, "status": "available"},
                {"rev": format!("2-{}", h('b')), "status": "missing"},
                {"rev": format!("1-{}", h('a')), "status": "missing"},
            ],
        })
    );
    // Its body was never received: reading it by rev is "not found".
    env.settee(["get", "d", "--rev", &format!("2-{}", h('b'))]).fails(NOT_FOUND);
    // But an edit on top of the replicated leaf works.
    let r4 = env.update("d", &c, r#"{"v":4}"#);
    assert_eq!(pos(&r4), 4);
}

// ---------------------------------------------------------------------------------------
// ls

/// A store with documents b, a, c, _design/d, and a deleted e; returns (id, rev) sorted.
fn ls_fixture(env: &TestEnv) -> Vec<(String, String)> {
    let mut docs = Vec::new();
    for (id, body) in
        [("b", r#"{"n":"b"}"#), ("a", r#"{"n":"a"}"#), ("c", r#"{"n":"c"}"#), ("_design/d", "{}")]
    {
        docs.push((id.to_string(), env.put(id, body)));
    }
    let e = env.put("e", r#"{"n":"e"}"#);
    env.rm("e", &e);
    docs.sort();
    docs
}

#[test]
fn ls_lists_winners_in_id_order_without_deleted_docs() {
    let env = TestEnv::new();
    let docs = ls_fixture(&env);
    let expected: String = docs.iter().map(|(id, rev)| format!("{id}\t{rev}\n")).collect();
    assert_text!(env.settee(["ls"]).ok(), expected);
    let rows = env.settee(["--json", "ls"]);
    rows.ok();
    let expected: Vec<_> = docs.iter().map(|(id, rev)| json!({"id": id, "rev": rev})).collect();
    assert_eq!(rows.json_lines(), expected);
}

#[test]
fn ls_of_an_empty_store_prints_nothing() {
    let env = TestEnv::new();
    assert_eq!(env.settee(["ls"]).ok(), "");
    assert_eq!(env.settee(["--json", "ls"]).ok(), "");
}

#[test]
fn ls_key_range_is_inclusive_and_limit_counts_listed_docs() {
    let env = TestEnv::new();
    let docs = ls_fixture(&env);
    let rev = |id: &str| docs.iter().find(|(i, _)| i == id).map(|(_, r)| r.clone()).expect("fixture id");
    assert_text!(
        env.settee(["ls", "--start-key", "a", "--end-key", "b"]).ok(),
        format!("a\t{}\nb\t{}\n", rev("a"), rev("b"))
    );
    assert_text!(env.settee(["ls", "--start-key", "b"]).ok(), format!("b\t{}\nc\t{}\n", rev("b"), rev("c")));
    assert_text!(
        env.settee(["ls", "--end-key", "a"]).ok(),
        format!("_design/d\t{}\na\t{}\n", rev("_design/d"), rev("a"))
    );
    assert_text!(
        env.settee(["ls", "--limit", "2"]).ok(),
        format!("_design/d\t{}\na\t{}\n", rev("_design/d"), rev("a"))
    );
    // The deleted e is skipped without using up the limit.
    assert_text!(env.settee(["ls", "--start-key", "c", "--limit", "1"]).ok(), format!("c\t{}\n", rev("c")));
    assert_eq!(env.settee(["ls", "--limit", "0"]).ok(), "");
    assert_eq!(env.settee(["ls", "--start-key", "x"]).ok(), "");
    env.settee(["ls", "--limit", "many"]).usage_error();
}

#[test]
fn ls_include_docs() {
    let env = TestEnv::new();
    let a = env.put("a", r#"{"n":1}"#);
    let human = env.settee(["ls", "--include-docs"]);
    assert_text!(human.ok(), format!("a\t{a}\t{{\"_id\":\"a\",\"_rev\":\"{a}\",\"n\":1}}\n"));
    let json = env.settee(["--json", "ls", "--include-docs"]);
    json.ok();
    assert_eq!(json.json_lines(), vec![json!({"id": "a", "rev": a, "doc": {"_id": "a", "_rev": a, "n": 1}})]);
}
