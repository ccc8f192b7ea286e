//! settee to settee over HTTP: the settee binary replicating with `settee serve` (issue 17
//! point 4). Both stores are read directly with the CLI and must hold the same leaves.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use super::Server;
use crate::TestEnv;

/// Every leaf `export --all-leaves` gives, sorted by id and revision.
fn leaves(env: &TestEnv) -> Vec<Value> {
    let out = env.settee(["export", "--all-leaves"]);
    let mut docs: Vec<Value> =
        out.ok().lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    docs.sort_by_key(|d| (d["_id"].as_str().map(str::to_string), d["_rev"].as_str().map(str::to_string)));
    docs
}

fn rev_of(env: &TestEnv, id: &str) -> String {
    env.get_json(&[id])["_rev"].as_str().expect("a rev").to_string()
}

#[test]
fn clone_push_fetch_and_sync_with_settee_serve_leave_equal_stores() {
    let served = TestEnv::new();
    let card = served.put("card", r#"{"phone":"555-1234"}"#);
    let gone = served.put("gone", r#"{"soon":"deleted"}"#);
    served.put("kept", r#"{"n":1}"#);
    let server = Server::start(&served, &["db=."]);
    let url = server.url("/db");

    let copy = TestEnv::bare();
    // `ok`: nothing on stderr, so no request was retried (a kept-alive connection closed by
    // the server after an unread body once made the transport retry, with a warning).
    copy.settee(["clone", &url, "."]).ok();
    assert_eq!(leaves(&copy), leaves(&served));

    // Edits on both sides: the same document changed twice (a conflict), a deletion there,
    // new documents on each side.
    copy.update("card", &card, r#"{"phone":"555-0000"}"#);
    served.update("card", &card, r#"{"phone":"555-9999"}"#);
    served.rm("gone", &gone);
    copy.put("from-copy", r#"{"side":"copy"}"#);
    served.put("from-served", r#"{"side":"served"}"#);

    copy.settee(["push"]).ok();
    copy.settee(["fetch"]).ok();
    assert_eq!(leaves(&copy), leaves(&served));
    let here = copy.get_json(&["card", "--conflicts"]);
    let there = served.get_json(&["card", "--conflicts"]);
    assert_eq!(here, there);
    assert_eq!(here["_conflicts"].as_array().map(Vec::len), Some(1), "{here}");
    assert!(copy.settee(["get", "gone"]).code != 0, "the deletion came over");

    // Resolve and delete on the copy; sync carries both.
    copy.settee_stdin(["resolve", "card", "-"], r#"{"phone":"555-4321"}"#).ok();
    let kept = rev_of(&copy, "kept");
    copy.rm("kept", &kept);
    served.put("later", "{}");
    copy.settee(["sync"]).ok();
    assert_eq!(leaves(&copy), leaves(&served));
    assert!(served.get_json(&["card", "--conflicts"]).get("_conflicts").is_none());
    assert!(served.settee(["get", "kept"]).code != 0);
    assert_eq!(copy.get_json(&["later"]), served.get_json(&["later"]));

    // Nothing left to carry.
    for r in copy.settee(["--json", "sync"]).json_lines() {
        assert_eq!(r["revisions_written"], 0, "{r}");
    }
    assert_eq!(server.stop(), 0);
}

fn body_of(env: &TestEnv, id: &str) -> Option<Value> {
    serde_json::from_str(&env.settee(["get", id]).stdout).ok()
}

#[test]
fn sync_continuous_with_settee_serve_carries_writes_both_ways_and_stops_on_sigterm() {
    let served = TestEnv::new();
    let server = Server::start(&served, &["db=."]);
    let url = server.url("/db");
    let local = TestEnv::new();
    local.put("before", "{}");
    let mut child = local
        .command()
        .args(["sync", "--continuous", &url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning sync --continuous");
    crate::within(Duration::from_secs(20), || body_of(&served, "before"));
    // A write here reaches the served store...
    let rev = local.put("here", r#"{"side":"local"}"#);
    let (_, took) = crate::within(Duration::from_secs(10), || {
        body_of(&served, "here").filter(|d| d["_rev"] == rev.as_str())
    });
    assert!(took < Duration::from_secs(5), "push took {took:?}");
    // ...and one made directly in the served store reaches here.
    served.put("there", r#"{"side":"served"}"#);
    let (doc, took) = crate::within(Duration::from_secs(10), || body_of(&local, "there"));
    assert_eq!(doc["side"], "served");
    assert!(took < Duration::from_secs(5), "fetch took {took:?}");
    let (code, stderr) = crate::sigterm(&mut child);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(leaves(&local), leaves(&served));
    assert_eq!(server.stop(), 0);
}
