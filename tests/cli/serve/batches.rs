//! Request sizes that adapt to the server: `settee serve --max-body` answers 413 to a
//! `_bulk_docs` body over its limit, and a push halves its requests until they pass, then
//! keeps them that small for the rest of the run instead of being refused again each batch.

use std::time::Duration;

use super::Server;
use crate::TestEnv;

#[test]
fn a_push_to_a_server_with_a_small_body_limit_shrinks_its_batches_once() {
    let served = TestEnv::new();
    let server = Server::start(&served, &["db=.", "--max-body", "8000"]);
    let url = server.url("/db");
    let env = TestEnv::new();
    // 500 documents of about 300 bytes each: 5 batches of 100 (35 kB a request) where the
    // server takes about 8 kB.
    let pad = "x".repeat(200);
    let lines: Vec<String> = (0..500).map(|i| format!(r#"{{"_id":"d{i:03}","pad":"{pad}"}}"#)).collect();
    env.settee_stdin(["import", "-"], &(lines.join("\n") + "\n")).ok();
    let report = env.settee(["--json", "push", &url, "--batch-size", "100"]);
    report.succeeded();
    let report: serde_json::Value = serde_json::from_str(report.stdout.trim()).expect("a report");
    assert_eq!(
        (report["revisions_written"].as_u64(), report["write_failures"].as_u64()),
        (Some(500), Some(0))
    );
    assert_eq!(crate::http::store_leaves(&served), crate::http::store_leaves(&env));
    std::thread::sleep(Duration::from_millis(200));
    let refused = server.log().iter().filter(|l| l.contains("POST /db/_bulk_docs 413")).count();
    // Halving from 100 meets the limit within 7 refusals for the whole run (halving again
    // for every batch would have cost 3 per batch, 15 in all).
    assert!((1..=7).contains(&refused), "{refused} refusals: {:?}", server.log());

    // One document larger than the limit is a write failure named in the report; the
    // documents around it still go.
    let rev = env.put("huge", &format!(r#"{{"pad":"{}"}}"#, "y".repeat(20_000)));
    env.put("after", "{}");
    let out = env.settee(["--json", "push", &url]);
    assert_eq!(out.code, crate::ERROR, "{out:?}");
    let report: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("a report");
    assert_eq!((report["revisions_written"].as_u64(), report["write_failures"].as_u64()), (Some(1), Some(1)));
    // The refused revision is named, with the server's reason, in the report and on stderr.
    assert_eq!(report["failures"][0]["id"], "huge", "{report}");
    assert_eq!(report["failures"][0]["rev"], rev.as_str(), "{report}");
    let named: Vec<&str> =
        out.stderr.lines().filter(|l| l.contains(&format!("huge {rev} not written"))).collect();
    assert_eq!(named.len(), 1, "{}", out.stderr);
    assert_eq!(served.get_json(&["after"])["_id"], "after");
    assert!(served.settee(["get", "huge"]).code != 0, "{rev} was not written");
    assert_eq!(server.stop(), 0);
}
