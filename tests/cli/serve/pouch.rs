//! PouchDB (pouchdb-node, from scripts/install-peer) as the client: replication both ways,
//! live sync, allDocs, changes, bulkGet, revsDiff and open_revs (tests/cli/serve/pouchdb.js),
//! attachments written, read, removed and replicated (pouchdb-attachments.js), then the
//! store checked with the CLI.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::Server;
use crate::TestEnv;

fn pouchdb_node() -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/peer/node_modules/pouchdb-node");
    assert!(dir.is_dir(), "pouchdb-node is missing: run scripts/install-peer ({})", dir.display());
    dir
}

/// Run `script` (in tests/cli/serve/) against `db` of `server` with a scratch directory;
/// returns the report line it printed.
fn run_script(server: &Server, script: &str, db: &str, scratch: &Path) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/cli/serve").join(script);
    let mut child = Command::new("node")
        .arg(&script)
        .arg(pouchdb_node())
        .arg(server.url(db))
        .arg(scratch)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running node");
    let deadline = Instant::now() + Duration::from_secs(180);
    while child.try_wait().expect("waiting for node").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the PouchDB script ran past 180 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("node output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "PouchDB checks failed:\n{stdout}\n{}\nserver log: {:?}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    serde_json::from_str(stdout.trim()).expect("the script's JSON line")
}

#[test]
fn pouchdb_replicates_both_ways_and_syncs_live_with_settee_serve() {
    let env = TestEnv::new();
    let server = Server::start(&env, &["app=."]);
    let scratch = tempfile::tempdir().expect("temp dir");
    let report = run_script(&server, "pouchdb.js", "/app", scratch.path());
    assert_eq!(report["checked"].as_array().map(Vec::len), Some(12), "{report}");
    assert_eq!(server.stop(), 0);

    // The store the server wrote, read by the CLI: the conflict PouchDB made is there.
    let conflicts = env.settee(["--json", "conflicts"]).succeeded().to_string();
    assert!(conflicts.contains("clash"), "{conflicts}");
    assert_eq!(env.get_json(&["from-local"])["v"], 3);
    env.settee(["fsck"]).succeeded();
}

#[test]
fn pouchdb_writes_reads_and_replicates_attachments_through_settee_serve() {
    let env = TestEnv::new();
    let server = Server::start(&env, &["app=."]);
    let scratch = tempfile::tempdir().expect("temp dir");
    let report = run_script(&server, "pouchdb-attachments.js", "/app", scratch.path());
    assert_eq!(report["checked"].as_array().map(Vec::len), Some(9), "{report}");
    assert_eq!(server.stop(), 0);

    // The bytes PouchDB pushed, read from the store by the CLI, are the ones it sent.
    let out = scratch.path().join("out.bin");
    env.settee(["attachment", "d2", "big.bin", "-o", out.to_str().expect("a UTF-8 path")]).succeeded();
    let sent = std::fs::read(scratch.path().join("big.bin")).expect("the script wrote big.bin");
    assert_eq!(std::fs::read(&out).expect("the attachment was written"), sent);
    env.settee(["fsck"]).succeeded();
}
