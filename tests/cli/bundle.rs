//! Bundles: clone and fetch from a file, incremental bundles, damaged files refused whole.

use crate::*;

/// A store with history, a conflict, a deleted document and a `_local` document.
fn source() -> TestEnv {
    let env = TestEnv::new();
    for i in 0..40 {
        env.put(&format!("doc{i:02}"), &format!("{{\"i\":{i},\"text\":\"document number {i}\"}}"));
    }
    let r = env.get_json(&["doc00"])["_rev"].as_str().unwrap().to_string();
    let r = env.update("doc00", &r, r#"{"i":0,"v":2}"#);
    env.update("doc00", &r, r#"{"i":0,"v":3}"#);
    let r = env.get_json(&["doc01"])["_rev"].as_str().unwrap().to_string();
    env.rm("doc01", &r);
    env.import_replicated(&[
        replicated("c", 1, &["a1"], serde_json::json!({"v": "base"})),
        replicated("c", 2, &["b2", "a1"], serde_json::json!({"v": "left"})),
        replicated("c", 2, &["c2", "a1"], serde_json::json!({"v": "right"})),
    ]);
    env.settee_stdin(["local", "put", "private"], "{\"x\":1}").ok();
    env
}

fn everything(env: &TestEnv) -> String {
    env.settee(["export", "--all-leaves"]).ok().to_string()
}

#[test]
fn a_store_cloned_from_a_bundle_equals_the_original() {
    let src = source();
    let made = src.settee(["--json", "bundle", "create", "all.bundle"]).json();
    assert_eq!(made["documents"], 41);
    let file = src.path().join("all.bundle");
    assert!(src.settee(["bundle", "verify", "all.bundle"]).ok().starts_with("ok: 41 documents"));
    let list = src.settee(["bundle", "list", "all.bundle"]).ok().to_string();
    assert!(list.contains("doc01\t") && list.contains("deleted"), "{list}");
    let dst = TestEnv::bare();
    dst.settee(["clone", file.to_str().unwrap(), "."]).ok();
    assert_eq!(everything(&dst), everything(&src));
    assert_eq!(dst.get_json(&["c", "--conflicts"]), src.get_json(&["c", "--conflicts"]));
    assert_eq!(dst.get_json(&["doc00", "--revs"]), src.get_json(&["doc00", "--revs"]));
    // _local documents are not replicated
    dst.settee(["local", "get", "private"]).fails(NOT_FOUND);
    assert_eq!(dst.settee(["fsck"]).ok(), "ok\n");
    // fetching the same bundle again writes nothing
    let again = dst.settee(["--json", "fetch", file.to_str().unwrap()]).json_lines();
    assert_eq!(again[0]["revisions_written"], 0);
}

#[test]
fn an_incremental_bundle_applies_on_top() {
    let src = source();
    src.settee(["bundle", "create", "full.bundle"]).ok();
    let seq = src.last_seq();
    let r = src.get_json(&["doc05"])["_rev"].as_str().unwrap().to_string();
    src.update("doc05", &r, r#"{"i":5,"v":2}"#);
    src.put("new", r#"{"fresh":true}"#);
    let made = src.settee(["--json", "bundle", "create", "inc.bundle", "--since", &seq.to_string()]).json();
    assert_eq!(made["documents"], 2);
    let dst = TestEnv::new();
    dst.settee(["fetch", src.path().join("full.bundle").to_str().unwrap()]).ok();
    dst.settee(["fetch", src.path().join("inc.bundle").to_str().unwrap()]).ok();
    assert_eq!(everything(&dst), everything(&src));
}

#[test]
fn a_damaged_bundle_is_refused_and_changes_nothing() {
    let src = source();
    src.settee(["bundle", "create", "all.bundle"]).ok();
    let path = src.path().join("all.bundle");
    let clean = std::fs::read(&path).unwrap();
    let dst = TestEnv::new();
    dst.put("mine", r#"{"keep":"me"}"#);
    let before = everything(&dst);
    let bad = dst.path().join("bad.bundle");
    let mut positions: Vec<usize> = (0..clean.len().min(64)).collect();
    positions.extend((64..clean.len()).step_by(97));
    positions.push(clean.len() - 1);
    for at in positions {
        let mut bytes = clean.clone();
        bytes[at] ^= 0x20;
        std::fs::write(&bad, &bytes).unwrap();
        let msg = dst.settee(["bundle", "verify", "bad.bundle"]).fails(ERROR);
        assert!(msg.contains("bundle"), "flip at {at}: {msg}");
        dst.settee(["fetch", "bad.bundle"]).fails(ERROR);
    }
    for len in [0, 3, 20, clean.len() / 3, clean.len() / 2, clean.len() - 21, clean.len() - 1] {
        std::fs::write(&bad, &clean[..len]).unwrap();
        dst.settee(["fetch", "bad.bundle"]).fails(ERROR);
        let nothing = TestEnv::bare();
        nothing.settee(["clone", bad.to_str().unwrap(), "copy"]).fails(ERROR);
        assert!(!nothing.path().join("copy").exists(), "a refused clone leaves nothing behind");
    }
    assert_eq!(everything(&dst), before);
    assert_eq!(dst.settee(["fsck"]).ok(), "ok\n");
    // bundles are read-only peers
    dst.settee(["push", path.to_str().unwrap()]).fails(USAGE);
}

#[test]
fn bundle_create_replaces_only_a_regular_file() {
    use std::os::unix::fs::FileTypeExt;
    let src = source();
    // a FIFO stands in for a device node: renaming over it would replace it the same way
    let fifo = src.path().join("pipe.bundle");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let msg = src.settee(["bundle", "create", "pipe.bundle"]).fails(ERROR);
    assert!(msg.contains(fifo.to_str().unwrap()) && msg.contains("not a regular file"), "{msg}");
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO is still there");
    assert!(!src.path().join("pipe.bundle.tmp").exists(), "nothing was written");

    // a symbolic link is not replaced either, and neither is its target
    std::fs::write(src.path().join("target"), b"precious").unwrap();
    std::os::unix::fs::symlink("target", src.path().join("link.bundle")).unwrap();
    let msg = src.settee(["bundle", "create", "link.bundle"]).fails(ERROR);
    assert!(msg.contains("link.bundle") && msg.contains("symbolic link"), "{msg}");
    assert!(std::fs::symlink_metadata(src.path().join("link.bundle")).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read(src.path().join("target")).unwrap(), b"precious");

    // a directory
    std::fs::create_dir(src.path().join("dir.bundle")).unwrap();
    let msg = src.settee(["bundle", "create", "dir.bundle"]).fails(ERROR);
    assert!(msg.contains("dir.bundle") && msg.contains("a directory"), "{msg}");

    // a regular file is replaced
    std::fs::write(src.path().join("old.bundle"), b"stale").unwrap();
    src.settee(["bundle", "create", "old.bundle"]).ok();
    src.settee(["bundle", "verify", "old.bundle"]).ok();
}
