//! The replication convergence property over HTTP (issue 17): random edits on two stores,
//! one of them served by the real `settee serve` on 127.0.0.1, the other replicating with it
//! through the HTTP transport (`fetch`, `push`, `sync`) in a random order. After a last
//! `sync`, both hold the same leaves with the same bodies and histories
//! (`export --all-leaves`), choose the same winners, keep every revision ever written, and
//! pass `fsck`.
//!
//! The schedules come from the generator the store-to-store property uses
//! (tests/support/schedule.rs), mapped onto two replicas: store 0 is the client, store 1
//! the served one.

#[path = "../../support/schedule.rs"]
mod schedule;

use std::collections::BTreeSet;

use quickcheck::{Gen, QuickCheck};
use schedule::{Action, DOCS};
use serde_json::Value;

use super::Server;
use crate::TestEnv;

/// The winner's revision of `doc` in `env`, unless it is absent or deleted.
fn live_winner(env: &TestEnv, doc: &str) -> Option<String> {
    let out = env.settee(["--json", "get", doc]);
    match out.code {
        crate::OK => Some(out.json()["_rev"].as_str().expect("a _rev").to_string()),
        crate::NOT_FOUND => None,
        _ => panic!("get {doc}: {out:?}"),
    }
}

/// Every revision id named in `leaves`' histories (`_revisions`), as `N-hash`.
fn revisions_in(leaves: &[Value]) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for leaf in leaves {
        let id = leaf["_id"].as_str().expect("an _id").to_string();
        let start = leaf["_revisions"]["start"].as_u64().expect("a start");
        for (i, hash) in leaf["_revisions"]["ids"].as_array().expect("ids").iter().enumerate() {
            out.insert((id.clone(), format!("{}-{}", start - i as u64, hash.as_str().expect("a hash"))));
        }
    }
    out
}

/// What `get DOC --conflicts --deleted-conflicts` says: the winner, or that there is none.
fn winner(env: &TestEnv, doc: &str) -> (i32, String) {
    let out = env.settee(["--json", "get", doc, "--conflicts", "--deleted-conflicts"]);
    (out.code, out.stdout)
}

fn converge_over_http(actions: Vec<Action>) -> bool {
    let local = TestEnv::new();
    let served = TestEnv::new();
    let server = Server::start(&served, &["db=."]);
    let url = server.url("/db");
    let envs = [&local, &served];
    let pick = |i: u8| usize::from(i % 2);
    let name = |d: u8| format!("doc{d}");
    let replicate = |verb: &str| {
        local.settee([verb, url.as_str(), "--batch-size", "3"]).succeeded();
    };
    let mut written: Vec<(String, String)> = Vec::new();
    for action in actions {
        match action {
            Action::Put { store, doc, n } => {
                let env = envs[pick(store)];
                let body = format!(r#"{{"v":{n},"at":{}}}"#, pick(store));
                let rev = match live_winner(env, &name(doc)) {
                    Some(base) => env.update(&name(doc), &base, &body),
                    None => env.put(&name(doc), &body),
                };
                written.push((name(doc), rev));
            }
            Action::Delete { store, doc } => {
                let env = envs[pick(store)];
                if let Some(base) = live_winner(env, &name(doc)) {
                    written.push((name(doc), env.rm(&name(doc), &base)));
                }
            }
            Action::Resolve { store, doc } => {
                let env = envs[pick(store)];
                let out = env.settee(["--json", "get", &name(doc), "--conflicts"]);
                if out.code == crate::OK {
                    let conflicts = out.json()["_conflicts"].as_array().cloned().unwrap_or_default();
                    for rev in conflicts {
                        let rev = rev.as_str().expect("a conflict rev");
                        written.push((name(doc), env.rm(&name(doc), rev)));
                    }
                }
            }
            Action::Pull { to, from } | Action::Sync { a: to, b: from } if pick(to) == pick(from) => {}
            Action::Pull { to, .. } if pick(to) == 0 => replicate("fetch"),
            Action::Pull { .. } => replicate("push"),
            Action::Sync { .. } => replicate("sync"),
        }
    }
    replicate("sync");
    let leaves = crate::http::store_leaves(&local);
    assert_eq!(leaves, crate::http::store_leaves(&served), "leaves differ after a sync");
    for d in 0..DOCS {
        assert_eq!(winner(&local, &name(d)), winner(&served, &name(d)), "winners of {} differ", name(d));
    }
    let kept = revisions_in(&leaves);
    for (doc, rev) in &written {
        assert!(kept.contains(&(doc.clone(), rev.clone())), "revision {rev} of {doc} was lost");
    }
    // A second sync has nothing to carry.
    for report in local.settee(["--json", "sync", url.as_str()]).json_lines() {
        assert_eq!(report["revisions_written"], 0, "{report}");
    }
    for env in envs {
        env.settee(["fsck"]).succeeded();
    }
    assert_eq!(server.stop(), 0);
    true
}

/// `SETTEE_HTTP_CONVERGENCE_CASES` cases (10), schedules of up to 16 actions.
#[test]
fn stores_converge_over_http_with_settee_serve_whatever_the_schedule() {
    let cases =
        std::env::var("SETTEE_HTTP_CONVERGENCE_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    QuickCheck::new()
        .rng(Gen::new(16))
        .tests(cases)
        .max_tests(cases * 10)
        .quickcheck(converge_over_http as fn(Vec<Action>) -> bool);
}
