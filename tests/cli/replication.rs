//! Replication through the binary: clone, fetch, push, sync, remotes, and resolving the
//! conflicts concurrent edits make (CouchDB's business-card story).

use serde_json::{json, Value};

use crate::*;

/// Two stores side by side: `desktop` and `laptop`, each its own work tree.
fn pair() -> (TestEnv, TestEnv) {
    let desktop = TestEnv::new();
    desktop.put("alice", r#"{"name":"Alice","email":"alice@example.org","phone":"555-1234"}"#);
    let laptop = TestEnv::bare();
    let out = laptop.settee(["clone", desktop.path().to_str().unwrap(), "."]);
    assert!(out.succeeded().contains("cloned from"), "{}", out.describe());
    (desktop, laptop)
}

fn card(env: &TestEnv) -> Value {
    env.get_json(&["alice", "--conflicts"])
}

#[test]
fn the_business_card_story() {
    let (desktop, laptop) = pair();
    assert_eq!(card(&laptop), card(&desktop));
    let base = card(&desktop)["_rev"].as_str().unwrap().to_string();
    // Bob edits the card on both machines before they sync again.
    desktop.update("alice", &base, r#"{"name":"Alice","email":"alice@example.org","phone":"555-9876"}"#);
    laptop.update("alice", &base, r#"{"name":"Alice","email":"alice@work.example","phone":"555-1234"}"#);
    let out = laptop.settee(["sync", "origin"]);
    let text = out.ok();
    assert!(text.contains("pushed to") && text.contains("fetched from"), "{text}");
    // Both revisions are on both machines, and both pick the same winner.
    let (d, l) = (card(&desktop), card(&laptop));
    assert_eq!(d, l);
    assert_eq!(d["_conflicts"].as_array().map(Vec::len), Some(1));
    assert_eq!(desktop.settee(["conflicts"]).ok(), laptop.settee(["conflicts"]).ok());
    // Compaction keeps the conflict's common ancestor, so a three-way merge against it still
    // takes both changes afterwards.
    laptop.settee(["compact", "--full"]).ok();
    let merged = laptop.settee(["resolve", "alice", "--merge"]).ok().trim().to_string();
    assert_rev(&merged);
    laptop.settee(["sync", "origin"]).ok();
    for env in [&desktop, &laptop] {
        let c = card(env);
        assert_eq!(c["_rev"], merged.as_str());
        assert_eq!(
            (c["email"].as_str(), c["phone"].as_str()),
            (Some("alice@work.example"), Some("555-9876"))
        );
        assert!(c.get("_conflicts").is_none(), "the conflict is gone everywhere: {c}");
        assert_eq!(env.settee(["conflicts"]).ok(), "");
    }
    // Nothing is left to transfer.
    let again = laptop.settee(["--json", "sync", "origin"]).json_lines();
    assert!(again.iter().all(|r| r["revisions_written"] == 0), "{again:?}");
}

#[test]
fn a_merge_that_clashes_writes_nothing_and_keep_resolves() {
    let (desktop, laptop) = pair();
    let base = card(&desktop)["_rev"].as_str().unwrap().to_string();
    desktop.update("alice", &base, r#"{"name":"Alice","email":"a@desk.example","phone":"555-1234"}"#);
    laptop.update("alice", &base, r#"{"name":"Alice","email":"a@lap.example","phone":"555-1234"}"#);
    laptop.settee(["fetch", "origin"]).ok();
    let before = card(&laptop);
    let out = laptop.settee(["resolve", "alice", "--merge"]);
    assert_eq!(out.code, CONFLICT, "{}", out.describe());
    assert!(out.stdout.contains("clash at email"), "{}", out.describe());
    assert_eq!(card(&laptop), before, "a clashing merge writes nothing");
    let loser = before["_conflicts"][0].as_str().unwrap().to_string();
    laptop.settee(["resolve", "alice", "--keep", &loser]).ok();
    let after = card(&laptop);
    assert!(after.get("_conflicts").is_none());
    let diff =
        laptop.settee(["diff", "alice", before["_rev"].as_str().unwrap(), after["_rev"].as_str().unwrap()]);
    assert!(diff.ok().starts_with("~ email: "), "{}", diff.describe());
}

#[test]
fn remotes_are_named_listed_and_removed() {
    let (desktop, laptop) = pair();
    assert_eq!(
        laptop.settee(["remote", "list"]).ok(),
        format!("origin\t{}\n", desktop.store_dir().display())
    );
    laptop.settee(["remote", "add", "desk", desktop.path().to_str().unwrap()]).ok();
    laptop.settee(["remote", "add", "desk", "."]).fails(CONFLICT);
    laptop.settee(["remote", "add", "bad name", "."]).fails(USAGE);
    laptop.settee(["fetch", "desk"]).ok();
    laptop.settee(["remote", "remove", "desk"]).ok();
    laptop.settee(["remote", "remove", "desk"]).fails(NOT_FOUND);
    laptop.settee(["fetch", "desk"]).fails(NOT_FOUND);
    // push creates documents on the other side; --doc-ids carries only those
    laptop.put("bob", r#"{"name":"Bob"}"#);
    laptop.put("carol", r#"{"name":"Carol"}"#);
    let out = laptop.settee(["--json", "push", "origin", "--doc-ids", "bob"]).json();
    assert_eq!(out["revisions_written"], 1);
    assert_eq!(desktop.get_json(&["bob"])["name"], "Bob");
    desktop.settee(["get", "carol"]).fails(NOT_FOUND);
    let _ = json!(null);
}
