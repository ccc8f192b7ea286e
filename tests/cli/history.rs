//! Revision history across documents: replicated conflicts, `conflicts`, `log`, `changes`,
//! `import` and `export`.

use serde_json::{json, Value};

use crate::{assert_no_panic, assert_text, h, pos, replicated, TestEnv, CONFLICT, ERROR, NOT_FOUND, OK};

/// Revision `pos-hhhh…` with a repeated digit, as used by the replicated fixtures.
fn r(pos: u32, c: char) -> String {
    format!("{pos}-{}", h(c))
}

/// `doc` with root 1-a and two live children 2-b (v "b") and 2-c (v "c"), plus a deleted
/// child 2-d, loaded as replicated history in the given order of letters.
fn conflicted(env: &TestEnv, order: &[char]) {
    let lines: Vec<String> = order
        .iter()
        .map(|&c| {
            let extra = if c == 'd' { json!({"_deleted": true}) } else { json!({"v": c.to_string()}) };
            replicated("doc", 2, &[&h(c), &h('a')], extra)
        })
        .collect();
    let summary = env.import_replicated(&lines);
    assert_eq!(
        summary,
        format!("imported {} documents (0 unchanged, 0 conflicts, 0 invalid)\n", order.len())
    );
}

// ---------------------------------------------------------------------------------------
// The conflict story

#[test]
fn replicated_branches_make_a_conflict_visible_to_get() {
    let env = TestEnv::new();
    conflicted(&env, &['b', 'c', 'd']);
    assert_eq!(env.get_json(&["doc"]), json!({"_id": "doc", "_rev": r(2, 'c'), "v": "c"}));
    assert_eq!(
        env.get_json(&["doc", "--conflicts"]),
        json!({"_id": "doc", "_rev": r(2, 'c'), "v": "c", "_conflicts": [r(2, 'b')]})
    );
    assert_eq!(
        env.get_json(&["doc", "--conflicts", "--deleted-conflicts"]),
        json!({"_id": "doc", "_rev": r(2, 'c'), "v": "c", "_conflicts": [r(2, 'b')], "_deleted_conflicts": [r(2, 'd')]})
    );
    assert_eq!(
        env.get_json(&["doc", "--revs-info"])["_revs_info"],
        json!([{"rev": r(2, 'c'), "status": "available"}, {"rev": r(1, 'a'), "status": "missing"}])
    );
}

#[test]
fn winner_is_the_greater_hash_whatever_the_arrival_order() {
    for order in [['b', 'c', 'd'], ['d', 'c', 'b'], ['c', 'd', 'b']] {
        let env = TestEnv::new();
        conflicted(&env, &order);
        assert_eq!(env.get_json(&["doc"])["_rev"], json!(r(2, 'c')), "arrival order {order:?}");
        // A deleted leaf never wins over a live one, even at a higher position.
        env.import_replicated(&[replicated(
            "doc",
            3,
            &[&h('e'), &h('d'), &h('a')],
            json!({"_deleted": true}),
        )]);
        assert_eq!(env.get_json(&["doc"])["_rev"], json!(r(2, 'c')), "arrival order {order:?}");
    }
}

#[test]
fn conflicts_lists_documents_with_more_than_one_live_leaf() {
    let env = TestEnv::new();
    conflicted(&env, &['b', 'c', 'd']);
    env.put("calm", "{}");
    assert_text!(
        env.settee(["conflicts"]).ok(),
        format!("doc\twinner {}\tconflicts {}\n", r(2, 'c'), r(2, 'b'))
    );
    let json = env.settee(["--json", "conflicts"]);
    json.ok();
    assert_eq!(json.json_lines(), vec![json!({"id": "doc", "winner": r(2, 'c'), "conflicts": [r(2, 'b')]})]);
}

#[test]
fn conflicts_are_listed_in_winner_order() {
    let env = TestEnv::new();
    conflicted(&env, &['b', 'c']);
    env.import_replicated(&[replicated("doc", 2, &[&h('e'), &h('a')], json!({"v": "e"}))]);
    assert_eq!(env.get_json(&["doc", "--conflicts"])["_conflicts"], json!([r(2, 'c'), r(2, 'b')]));
    assert_text!(
        env.settee(["conflicts"]).ok(),
        format!("doc\twinner {}\tconflicts {},{}\n", r(2, 'e'), r(2, 'c'), r(2, 'b'))
    );
}

#[test]
fn an_empty_store_has_no_conflicts() {
    let env = TestEnv::new();
    env.put("a", "{}");
    assert_eq!(env.settee(["conflicts"]).ok(), "");
}

#[test]
fn log_draws_both_branches_and_marks_winner_and_conflict() {
    let env = TestEnv::new();
    conflicted(&env, &['b', 'c', 'd']);
    let expected = [
        format!("* {} (winner)", r(2, 'c')),
        format!("| * {} (conflict)", r(2, 'b')),
        format!("| | * {} (deleted)", r(2, 'd')),
        "|/ /".to_string(),
        format!("* {} [missing]", r(1, 'a')),
    ];
    assert_text!(env.settee(["log", "doc"]).ok(), expected.join("\n") + "\n");
}

#[test]
fn log_json_gives_the_tree() {
    let env = TestEnv::new();
    conflicted(&env, &['b', 'c']);
    let row = |rev: String, parent: Option<String>, leaf: bool, winner: bool, status: &str| json!({"rev": rev, "parent": parent, "leaf": leaf, "winner": winner, "deleted": false, "status": status});
    assert_eq!(
        env.settee(["--json", "log", "doc"]).json(),
        json!({"id": "doc", "revisions": [
            row(r(2, 'c'), Some(r(1, 'a')), true, true, "available"),
            row(r(2, 'b'), Some(r(1, 'a')), true, false, "available"),
            row(r(1, 'a'), None, false, false, "missing"),
        ]})
    );
}

#[test]
fn log_of_a_linear_history_and_of_a_missing_doc() {
    let env = TestEnv::new();
    let r1 = env.put("a", r#"{"n":1}"#);
    let r2 = env.update("a", &r1, r#"{"n":2}"#);
    let r3 = env.rm("a", &r2);
    assert_text!(env.settee(["log", "a"]).ok(), format!("* {r3} (winner, deleted)\n* {r2}\n* {r1}\n"));
    let msg = env.settee(["log", "nope"]).fails(NOT_FOUND);
    assert_eq!(msg, "document nope not found (missing)");
}

#[test]
fn log_marks_the_roots_of_a_forest_until_the_history_connects_them() {
    let env = TestEnv::new();
    // 1-a -> 2-b, then 4-d -> 5-e whose ancestry does not reach 2-b: two roots, a conflict.
    env.import_replicated(&[replicated("f", 2, &[&h('b'), &h('a')], json!({"v": 2}))]);
    env.import_replicated(&[replicated("f", 5, &[&h('e'), &h('d')], json!({"v": 5}))]);
    let forest = [
        format!("* {} (winner)", r(5, 'e')),
        format!("* {} (root) [missing]", r(4, 'd')),
        format!("* {} (conflict)", r(2, 'b')),
        format!("* {} (root) [missing]", r(1, 'a')),
    ];
    assert_text!(env.settee(["log", "f"]).ok(), forest.join("\n") + "\n");
    assert_eq!(env.get_json(&["f", "--conflicts"])["_conflicts"], json!([r(2, 'b')]));
    // The full history arrives: the tree grows back into one line and the conflict is gone.
    env.import_replicated(&[replicated(
        "f",
        5,
        &[&h('e'), &h('d'), &h('c'), &h('b'), &h('a')],
        json!({"v": 5}),
    )]);
    let line = [
        format!("* {} (winner)", r(5, 'e')),
        format!("* {} [missing]", r(4, 'd')),
        format!("* {} [missing]", r(3, 'c')),
        format!("* {}", r(2, 'b')),
        format!("* {} [missing]", r(1, 'a')),
    ];
    assert_text!(env.settee(["log", "f"]).ok(), line.join("\n") + "\n");
    assert_eq!(env.settee(["conflicts"]).ok(), "");
    assert_eq!(
        env.get_json(&["f", "--revs-info"])["_revs_info"],
        json!([
            {"rev": r(5, 'e'), "status": "available"},
            {"rev": r(4, 'd'), "status": "missing"},
            {"rev": r(3, 'c'), "status": "missing"},
            {"rev": r(2, 'b'), "status": "available"},
            {"rev": r(1, 'a'), "status": "missing"},
        ])
    );
    // An interactive edit continues from the replicated leaf.
    let six = env.update("f", &r(5, 'e'), r#"{"v":6}"#);
    assert_eq!(pos(&six), 6);
}

#[test]
fn open_revs_all_returns_every_leaf() {
    let env = TestEnv::new();
    conflicted(&env, &['b', 'c', 'd']);
    assert_eq!(
        env.get_json(&["doc", "--open-revs", "all"]),
        json!([
            {"ok": {"_id": "doc", "_rev": r(2, 'c'), "v": "c"}},
            {"ok": {"_id": "doc", "_rev": r(2, 'b'), "v": "b"}},
            {"ok": {"_id": "doc", "_rev": r(2, 'd'), "_deleted": true}},
        ])
    );
    // --latest from the shared root reaches every leaf.
    let latest = env.get_json(&["doc", "--open-revs", &r(1, 'a'), "--latest"]);
    let mut revs: Vec<&str> =
        latest.as_array().expect("array").iter().map(|x| x["ok"]["_rev"].as_str().expect("rev")).collect();
    revs.sort();
    assert_eq!(revs, [r(2, 'b'), r(2, 'c'), r(2, 'd')]);
}

#[test]
fn removing_the_winner_of_a_conflict_promotes_the_other_leaf() {
    let env = TestEnv::new();
    conflicted(&env, &['b', 'c']);
    let tomb = env.rm("doc", &r(2, 'c'));
    assert_eq!(pos(&tomb), 3);
    assert_eq!(
        env.get_json(&["doc", "--conflicts", "--deleted-conflicts"]),
        json!({"_id": "doc", "_rev": r(2, 'b'), "v": "b", "_deleted_conflicts": [tomb]})
    );
    assert_eq!(env.settee(["conflicts"]).ok(), "");
    // The losing branch can be edited by its rev.
    let next = env.update("doc", &r(2, 'b'), r#"{"v":"b2"}"#);
    assert_eq!(env.get_json(&["doc"]), json!({"_id": "doc", "_rev": next, "v": "b2"}));
}

#[test]
fn editing_a_losing_leaf_is_allowed() {
    let env = TestEnv::new();
    conflicted(&env, &['b', 'c']);
    let b3 = env.update("doc", &r(2, 'b'), r#"{"v":"b3"}"#);
    // Now at position 3 the edited branch wins.
    assert_eq!(
        env.get_json(&["doc", "--conflicts"]),
        json!({"_id": "doc", "_rev": b3, "v": "b3", "_conflicts": [r(2, 'c')]})
    );
}

#[test]
fn export_all_leaves_round_trips_through_import_no_new_edits() {
    let src = TestEnv::new();
    conflicted(&src, &['b', 'c', 'd']);
    // Some interactive history too: an edit, a delete and a recreation.
    let a1 = src.put("plain", r#"{"n":1}"#);
    let a2 = src.update("plain", &a1, r#"{"n":2}"#);
    let a3 = src.rm("plain", &a2);
    src.put("plain", r#"{"n":4}"#);
    let gone = src.put("gone", "{}");
    src.rm("gone", &gone);

    let export = src.settee(["export", "--all-leaves"]);
    let lines = export.ok();
    assert_eq!(lines.lines().count(), 5, "every leaf, deleted ones included:\n{lines}");
    for line in lines.lines() {
        let v: Value = serde_json::from_str(line).expect("export lines are JSON");
        assert!(v["_id"].is_string() && v["_rev"].is_string() && v["_revisions"].is_object(), "{line}");
    }

    let dst = TestEnv::new();
    dst.write_file("leaves.ndjson", lines);
    assert_eq!(
        dst.settee(["import", "--no-new-edits", "leaves.ndjson"]).ok(),
        "imported 5 documents (0 unchanged, 0 conflicts, 0 invalid)\n"
    );
    for id in ["doc", "plain", "gone"] {
        for extra in [&[][..], &["--revs"][..]] {
            let mut args = vec!["--json", "get", id, "--open-revs", "all"];
            args.extend_from_slice(extra);
            assert_text!(dst.settee(&args).ok(), src.settee(&args).ok());
        }
    }
    assert_eq!(dst.get_json(&["plain", "--revs"])["_revisions"]["ids"][1], json!(crate::hash(&a3)));
    assert_text!(dst.settee(["conflicts"]).ok(), src.settee(["conflicts"]).ok());
    assert_text!(dst.settee(["ls"]).ok(), src.settee(["ls"]).ok());
}

#[test]
fn reimporting_replicated_history_changes_nothing() {
    let env = TestEnv::new();
    conflicted(&env, &['b', 'c']);
    let seq = env.last_seq();
    let again = [
        replicated("doc", 2, &[&h('b'), &h('a')], json!({"v": "b"})),
        replicated("doc", 2, &[&h('c'), &h('a')], json!({"v": "c"})),
    ];
    assert_eq!(env.import_replicated(&again), "imported 0 documents (2 unchanged, 0 conflicts, 0 invalid)\n");
    // An ancestor already in the tree is not news either.
    env.import_replicated(&[replicated("doc", 3, &[&h('f'), &h('c'), &h('a')], json!({"v": "f"}))]);
    let seq2 = env.last_seq();
    assert_eq!(seq2, seq + 1);
    assert_eq!(
        env.import_replicated(&[replicated("doc", 2, &[&h('c'), &h('a')], json!({"v": "c"}))]),
        "imported 0 documents (1 unchanged, 0 conflicts, 0 invalid)\n"
    );
    assert_eq!(env.last_seq(), seq2, "no new sequence for an unchanged tree");
}

// ---------------------------------------------------------------------------------------
// changes

/// a: put, b: put, a: update, b: rm. Returns (a's latest rev, b's tombstone).
fn changes_fixture(env: &TestEnv) -> (String, String) {
    let a1 = env.put("a", r#"{"n":1}"#);
    let b1 = env.put("b", r#"{"n":2}"#);
    let a2 = env.update("a", &a1, r#"{"n":3}"#);
    let b2 = env.rm("b", &b1);
    (a2, b2)
}

#[test]
fn changes_lists_each_document_once_at_its_latest_seq() {
    let env = TestEnv::new();
    let (a2, b2) = changes_fixture(&env);
    assert_text!(env.settee(["changes"]).ok(), format!("3\ta\t{a2}\n4\tb\t{b2}\tdeleted\n"));
    let json = env.settee(["--json", "changes"]);
    json.ok();
    assert_eq!(
        json.json_lines(),
        vec![
            json!({"seq": 3, "id": "a", "changes": [{"rev": a2}]}),
            json!({"seq": 4, "id": "b", "changes": [{"rev": b2}], "deleted": true}),
            json!({"last_seq": 4}),
        ]
    );
}

#[test]
fn changes_since_is_exclusive_and_limit_caps_rows() {
    let env = TestEnv::new();
    let (a2, b2) = changes_fixture(&env);
    let rows = |args: &[&str]| {
        let mut all = vec!["--json", "changes"];
        all.extend_from_slice(args);
        let out = env.settee(all);
        out.ok();
        out.json_lines()
    };
    assert_eq!(
        rows(&["--since", "3"]),
        vec![json!({"seq": 4, "id": "b", "changes": [{"rev": b2}], "deleted": true}), json!({"last_seq": 4})]
    );
    assert_eq!(rows(&["--since", "2"]).len(), 3, "a (seq 3) and b (seq 4) both come after 2");
    assert_eq!(rows(&["--since", "4"]), vec![json!({"last_seq": 4})]);
    assert_eq!(
        rows(&["--limit", "1"]),
        vec![json!({"seq": 3, "id": "a", "changes": [{"rev": a2}]}), json!({"last_seq": 3})]
    );
    assert_eq!(rows(&["--since", "3", "--limit", "5"]).len(), 2);
    assert_eq!(env.settee(["changes", "--since", "4"]).ok(), "");
    env.settee(["changes", "--since", "x"]).usage_error();
}

#[test]
fn changes_of_an_empty_store() {
    let env = TestEnv::new();
    assert_eq!(env.settee(["changes"]).ok(), "");
    assert_eq!(env.settee(["--json", "changes"]).ok(), "{\"last_seq\":0}\n");
}

#[test]
fn changes_all_docs_lists_every_leaf_winner_first() {
    let env = TestEnv::new();
    conflicted(&env, &['b', 'c', 'd']);
    let a = env.put("a", "{}");
    let gone = env.rm("a", &a);
    let json = env.settee(["--json", "changes", "--all-docs"]);
    json.ok();
    assert_eq!(
        json.json_lines(),
        vec![
            json!({"seq": 3, "id": "doc", "changes": [{"rev": r(2, 'c')}, {"rev": r(2, 'b')}, {"rev": r(2, 'd')}]}),
            json!({"seq": 5, "id": "a", "changes": [{"rev": gone}], "deleted": true}),
            json!({"last_seq": 5}),
        ]
    );
    assert_text!(
        env.settee(["changes", "--all-docs"]).ok(),
        format!("3\tdoc\t{},{},{}\n5\ta\t{gone}\tdeleted\n", r(2, 'c'), r(2, 'b'), r(2, 'd'))
    );
    // Without --all-docs, only the winner.
    assert_eq!(
        env.settee(["--json", "changes"]).json_lines()[0],
        json!({"seq": 3, "id": "doc", "changes": [{"rev": r(2, 'c')}]})
    );
}

#[test]
fn changes_move_a_doc_when_a_losing_branch_grows() {
    let env = TestEnv::new();
    conflicted(&env, &['b', 'c']);
    env.put("other", "{}");
    env.import_replicated(&[replicated("doc", 3, &[&h('e'), &h('b'), &h('a')], json!({"_deleted": true}))]);
    let json = env.settee(["--json", "changes"]);
    json.ok();
    let ids: Vec<Value> =
        json.json_lines().iter().map(|v| v.get("id").cloned().unwrap_or(Value::Null)).collect();
    assert_eq!(ids, vec![json!("other"), json!("doc"), Value::Null]);
}

#[test]
fn changes_stay_correct_across_an_import_checkpoint() {
    let env = TestEnv::new();
    env.settee_stdin(
        ["import", "-"],
        "{\"_id\":\"a\",\"n\":1}\n{\"_id\":\"b\",\"n\":1}\n{\"_id\":\"c\",\"n\":1}\n",
    )
    .ok();
    let a1 = env.get_json(&["a"])["_rev"].as_str().expect("rev").to_string();
    let a2 = env.update("a", &a1, r#"{"n":2}"#);
    let b2 = env.rm("b", &a1);
    let c1 = a1.clone();
    assert_text!(env.settee(["changes"]).ok(), format!("3\tc\t{c1}\n4\ta\t{a2}\n5\tb\t{b2}\tdeleted\n"));
    assert_text!(env.settee(["ls"]).ok(), format!("a\t{a2}\nc\t{c1}\n"));
}

// ---------------------------------------------------------------------------------------
// import

#[test]
fn import_writes_documents_and_prints_a_summary() {
    let env = TestEnv::new();
    env.write_file(
        "docs.ndjson",
        "{\"_id\":\"a\",\"n\":1}\n\n{\"_id\":\"b\",\"n\":2}\r\n{\"_id\":\"c\",\"n\":3}",
    );
    assert_eq!(
        env.settee(["import", "docs.ndjson"]).ok(),
        "imported 3 documents (0 unchanged, 0 conflicts, 0 invalid)\n"
    );
    let a = env.get_json(&["a"]);
    assert_eq!(pos(a["_rev"].as_str().expect("rev")), 1);
    assert_eq!(a["n"], json!(1));
    assert_eq!(env.get_json(&["c"])["n"], json!(3), "a last line without newline counts");
    // The same edit as a put gives the same rev.
    let other = TestEnv::new();
    assert_eq!(other.put("a", r#"{"n":1}"#), a["_rev"].as_str().expect("rev"));
}

#[test]
fn import_from_stdin_with_small_batches_applies_lines_in_order() {
    let env = TestEnv::new();
    let probe = TestEnv::new();
    let r1 = probe.put("k", r#"{"n":1}"#);
    let input = format!(
        "{{\"_id\":\"k\",\"n\":1}}\n{{\"_id\":\"k\",\"_rev\":\"{r1}\",\"n\":2}}\n{{\"_id\":\"z\"}}\n"
    );
    for batch in ["1", "2", "1000"] {
        let env = TestEnv::new();
        let out = env.settee_stdin(["import", "-", "--batch-size", batch], &input);
        assert_eq!(
            out.ok(),
            "imported 3 documents (0 unchanged, 0 conflicts, 0 invalid)\n",
            "batch size {batch}"
        );
        assert_eq!(env.get_json(&["k"])["n"], json!(2), "batch size {batch}");
    }
    env.settee_stdin(["import", "-", "--batch-size", "0"], &input).usage_error();
    env.settee_stdin(["import", "-", "--batch-size", "-1"], &input).usage_error();
}

#[test]
fn import_reports_invalid_lines_writes_the_valid_ones_and_exits_1() {
    let env = TestEnv::new();
    let input = [
        r#"{"_id":"a","n":1}"#,       // 1
        r#"{nope"#,                   // 2: invalid JSON
        r#"{"_id":"b","n":2}"#,       // 3
        r#"[1]"#,                     // 4: not an object
        r#"{"_rev":"1-ab","n":3}"#,   // 5: an update with no _id
        r#"{"_id":"_bad"}"#,          // 6: bad id
        r#"{"_id":"c","_rev":"zz"}"#, // 7: bad rev
        r#"{"_id":"d"}"#,             // 8
    ]
    .join("\n");
    env.write_file("mixed.ndjson", &input);
    let out = env.settee(["import", "mixed.ndjson"]);
    assert_eq!(out.code, ERROR, "{out:?}");
    assert_eq!(out.stdout, "imported 3 documents (0 unchanged, 0 conflicts, 5 invalid)\n");
    let errors: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(errors.len(), 5, "one line per invalid line: {}", out.stderr);
    for (line, n) in errors.iter().zip([2, 4, 5, 6, 7]) {
        assert!(
            line.starts_with("error: ") && line.contains(&format!("line {n}")),
            "{line:?} names line {n}"
        );
    }
    crate::assert_no_panic(&out);
    let ls = env.settee(["ls"]);
    let ids: Vec<&str> = ls.ok().lines().map(|l| l.split('\t').next().unwrap_or_default()).collect();
    assert_eq!(ids, ["a", "b", "d"]);
}

#[test]
fn import_reports_every_invalid_line_as_error_line_n() {
    let env = TestEnv::new();
    let out = env.settee_stdin(
        ["import", "-"],
        "{\"_id\":\"a\"}\n{nope\n[1]\n{\"_rev\":\"1-ab\"}\n{\"_id\":\"_bad\"}\n",
    );
    assert_eq!(out.code, ERROR);
    let errors: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(errors.len(), 4, "{}", out.stderr);
    for (line, n) in errors.iter().zip(2..) {
        let prefix = format!("error: line {n}: ");
        assert!(line.starts_with(&prefix), "{line:?} should start with {prefix:?}");
        assert!(!line.contains(&format!("on line {n}")), "{line:?} names the line once");
    }
}

#[test]
fn import_of_an_unreadable_input_names_it_on_one_line() {
    let env = TestEnv::new();
    let dir = tempfile::tempdir().unwrap();
    let out = env.settee(["import", dir.path().to_str().unwrap()]);
    assert_eq!(out.code, ERROR, "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    let line = out.stderr.trim_end();
    assert!(line.starts_with(&format!("error: {}: ", dir.path().display())), "{line}");
    assert_eq!(line.matches("os error").count(), 1, "the cause is said once: {line}");
    assert_no_panic(&out);
}

#[test]
fn import_of_an_existing_doc_without_rev_counts_a_conflict_and_exits_3() {
    let env = TestEnv::new();
    let rev = env.put("a", r#"{"n":1}"#);
    let out = env.settee_stdin(["import", "-"], "{\"_id\":\"a\",\"n\":9}\n{\"_id\":\"b\"}\n");
    assert_eq!(out.code, CONFLICT, "{out:?}");
    assert_eq!(out.stdout, "imported 1 documents (0 unchanged, 1 conflicts, 0 invalid)\n");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.starts_with("error: line 1: ") && out.stderr.contains("conflict"), "{}", out.stderr);
    assert_eq!(env.get_json(&["a"]), json!({"_id": "a", "_rev": rev, "n": 1}));
    env.get_json(&["b"]);
}

#[test]
fn import_with_invalid_and_conflicting_lines_exits_1() {
    let env = TestEnv::new();
    env.put("a", "{}");
    let out = env.settee_stdin(["import", "-"], "{\"_id\":\"a\"}\n{oops\n");
    assert_eq!(out.code, ERROR, "invalid lines win over conflicts: {out:?}");
    assert_eq!(out.stdout, "imported 0 documents (0 unchanged, 1 conflicts, 1 invalid)\n");
}

#[test]
fn import_no_new_edits_needs_a_rev() {
    let env = TestEnv::new();
    let out = env.settee_stdin(["import", "--no-new-edits", "-"], "{\"_id\":\"x\",\"n\":1}\n");
    assert_eq!(out.code, ERROR);
    assert_eq!(out.stdout, "imported 0 documents (0 unchanged, 0 conflicts, 1 invalid)\n");
    assert!(out.stderr.starts_with("error: line 1: ") && out.stderr.contains("_rev"), "{}", out.stderr);
    // _rev and _revisions that disagree are refused too.
    let bad = format!(
        r#"{{"_id":"x","_rev":"{}","_revisions":{{"start":2,"ids":["{}","{}"]}}}}"#,
        r(2, 'b'),
        h('c'),
        h('a')
    );
    assert_eq!(env.settee_stdin(["import", "--no-new-edits", "-"], &bad).code, ERROR);
    env.settee(["get", "x"]).fails(NOT_FOUND);
}

#[test]
fn import_of_a_missing_file_fails_naming_it() {
    let env = TestEnv::new();
    let msg = env.settee(["import", "nope.ndjson"]).fails(ERROR);
    assert!(msg.contains("nope.ndjson"), "{msg}");
    env.settee(["import"]).usage_error();
}

#[test]
fn import_json_output_is_json_lines() {
    let env = TestEnv::new();
    let out = env.settee_stdin(["--json", "import", "-"], "{\"_id\":\"a\"}\n{\"_id\":\"b\"}\n");
    assert_eq!(out.code, OK, "{out:?}");
    let lines = out.json_lines();
    assert!(!lines.is_empty(), "{out:?}");
    let summary = lines.last().expect("a summary line").to_string();
    assert!(summary.contains("\"written\":2") && summary.contains("\"invalid\":0"), "{summary}");
}

// ---------------------------------------------------------------------------------------
// export

#[test]
fn export_prints_winners_without_deleted_docs() {
    let env = TestEnv::new();
    conflicted(&env, &['b', 'c']);
    let a = env.put("a", r#"{"n":1}"#);
    let gone = env.put("gone", "{}");
    env.rm("gone", &gone);
    assert_text!(
        env.settee(["export"]).ok(),
        format!(
            "{{\"_id\":\"a\",\"_rev\":\"{a}\",\"n\":1}}\n{{\"_id\":\"doc\",\"_rev\":\"{}\",\"v\":\"c\"}}\n",
            r(2, 'c')
        )
    );
    assert_eq!(TestEnv::new().settee(["export"]).ok(), "");
}

#[test]
fn export_to_a_file_then_import_elsewhere() {
    let env = TestEnv::new();
    let a = env.put("a", r#"{"n":1}"#);
    let out = env.settee(["export", "out.ndjson"]);
    assert_eq!(out.code, OK);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.starts_with("exported 1 documents to ") && out.stderr.contains("out.ndjson"),
        "{}",
        out.stderr
    );
    let text = std::fs::read_to_string(env.path().join("out.ndjson")).expect("export file");
    assert_text!(text, format!("{{\"_id\":\"a\",\"_rev\":\"{a}\",\"n\":1}}\n"));
    // Loaded as replicated history, the revision is kept.
    let other = TestEnv::new();
    other.write_file("in.ndjson", &text);
    other.settee(["import", "--no-new-edits", "in.ndjson"]).ok();
    assert_eq!(other.get_json(&["a"]), json!({"_id": "a", "_rev": a, "n": 1}));
}
