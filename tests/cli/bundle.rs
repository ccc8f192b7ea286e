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

/// A store whose document `big` carries a 5 MiB attachment of incompressible bytes (more
/// than one of the blob layer's 1 MiB chunks and the bundle's 1 MiB pieces, and not a
/// multiple of either), next to a plain document; returns it and the attachment's bytes.
fn with_big_attachment() -> (TestEnv, Vec<u8>) {
    let src = TestEnv::new();
    let bytes = crate::rng::noise((5 << 20) + 12_345, 15);
    std::fs::write(src.path().join("big.bin"), &bytes).unwrap();
    let r = src.put("big", r#"{"kind":"large"}"#);
    src.settee(["attach", "big", "big.bin", "big.bin", "--rev", &r]).ok();
    src.put("small", r#"{"kind":"small"}"#);
    (src, bytes)
}

/// The blob count of `env`'s store.
fn blob_count(env: &TestEnv) -> u64 {
    env.settee(["--json", "stats"]).json()["blobs"]["count"].as_u64().unwrap()
}

#[test]
fn a_multi_mib_attachment_survives_a_bundle_and_a_clone() {
    let (src, bytes) = with_big_attachment();
    let made = src.settee(["--json", "bundle", "create", "big.bundle"]).json();
    assert_eq!((made["documents"].as_u64(), made["blobs"].as_u64()), (Some(2), Some(1)), "{made}");
    assert_eq!(made["blob_bytes"].as_u64(), Some(bytes.len() as u64), "{made}");
    let file = src.path().join("big.bundle");
    assert_eq!(made["bytes"].as_u64(), Some(std::fs::metadata(&file).unwrap().len()));
    assert!(!src.path().join("big.bundle.tmp").exists());
    let verified = src.settee(["bundle", "verify", "big.bundle"]).ok().to_string();
    assert_eq!(verified, format!("ok: 2 documents, {} objects, 1 attachment blobs\n", made["objects"]));

    let dst = TestEnv::bare();
    let out = dst.settee(["--json", "clone", file.to_str().unwrap(), "copy"]).json_lines();
    assert_eq!(out[0]["blob_bytes_written"].as_u64(), Some(bytes.len() as u64), "{out:?}");
    let copy = dst.path().join("copy");
    let run = |args: &[&str]| dst.command().args(args).current_dir(&copy).output().unwrap();
    let got = run(&["attachment", "big", "big.bin"]);
    assert!(got.status.success(), "{got:?}");
    assert!(got.stdout == bytes, "the attachment's bytes differ after the round trip");
    // The stub (digest, length, revpos) and the revision are the source's.
    let doc: serde_json::Value = serde_json::from_slice(&run(&["--json", "get", "big"]).stdout).unwrap();
    assert_eq!(doc, src.get_json(&["big"]));
    let digest = doc["_attachments"]["big.bin"]["digest"].as_str().unwrap();
    assert!(digest.starts_with("md5-"), "{doc}");
    assert_eq!(doc["_attachments"]["big.bin"]["length"].as_u64(), Some(bytes.len() as u64), "{doc}");
    assert_eq!(String::from_utf8(run(&["fsck"]).stdout).unwrap(), "ok\n");
}

/// Clone and fetch `bad` (a damaged copy of a bundle): both refused with `expect` in the
/// message; `dst`'s store keeps exactly what it had, and the clone leaves nothing behind.
fn refused_whole(dst: &TestEnv, bad: &[u8], expect: &str) {
    let before = everything(dst);
    let path = dst.path().join("bad.bundle");
    std::fs::write(&path, bad).unwrap();
    let msg = dst.settee(["bundle", "verify", "bad.bundle"]).fails(ERROR);
    assert!(msg.contains(expect), "expected {expect:?}: {msg}");
    let msg = dst.settee(["fetch", "bad.bundle"]).fails(ERROR);
    assert!(msg.contains(expect), "expected {expect:?}: {msg}");
    assert_eq!(everything(dst), before);
    assert_eq!(blob_count(dst), 0, "no blob was written");
    let nothing = TestEnv::bare();
    nothing.settee(["clone", path.to_str().unwrap(), "copy"]).fails(ERROR);
    assert!(!nothing.path().join("copy").exists(), "a refused clone leaves nothing behind");
}

#[test]
fn a_bundle_with_a_damaged_or_cut_blob_is_refused_whole() {
    let (src, bytes) = with_big_attachment();
    src.settee(["bundle", "create", "big.bundle"]).ok();
    let clean = std::fs::read(src.path().join("big.bundle")).unwrap();
    let start = clean.windows(64).position(|w| w == &bytes[..64]).unwrap();
    assert_eq!(&clean[start..start + bytes.len()], &bytes[..], "the blob is carried raw");
    let dst = TestEnv::new();
    dst.put("mine", r#"{"keep":"me"}"#);

    // A byte flipped in the blob's fourth MiB: the trailer no longer matches.
    let mut bad = clean.clone();
    bad[start + (3 << 20) + 7] ^= 0x01;
    refused_whole(&dst, &bad, "checksum mismatch");
    // The same with the trailer made to match again: the blob's id catches it.
    let n = bad.len() - 20;
    let sum = settee::id::sha1(&bad[..n]);
    bad[n..].copy_from_slice(sum.as_bytes());
    refused_whole(&dst, &bad, "is damaged");

    // Cut inside the blob, just before the trailer, and inside the trailer.
    for len in [start + 1, start + (2 << 20), clean.len() - 21, clean.len() - 20, clean.len() - 1] {
        refused_whole(&dst, &clean[..len], "bundle: ");
    }
    // And one byte too many.
    let mut long = clean.clone();
    long.push(0);
    refused_whole(&dst, &long, "checksum mismatch");
    assert_eq!(dst.settee(["fsck"]).ok(), "ok\n");
}

/// Bundles written by settee at `e238a8a`, before the writer streamed (it built the whole
/// file in memory): `v1` without attachments, `v2` with one, made from the store of
/// `tests/fixtures/bundles/README.md`. They open and clone as they did.
#[test]
fn bundles_written_by_the_in_memory_writer_still_clone() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/bundles");
    for (name, blobs) in [("e238a8a-v1.bundle", 0), ("e238a8a-v2.bundle", 1)] {
        let file = dir.join(name);
        let verify = TestEnv::bare().settee(["--json", "bundle", "verify", file.to_str().unwrap()]).json();
        assert_eq!(verify["blobs"], blobs, "{name}: {verify}");
        let dst = TestEnv::bare();
        dst.settee(["clone", file.to_str().unwrap(), "copy"]).ok();
        let copy = dst.path().join("copy");
        let run = |args: &[&str]| {
            let out = dst.command().args(args).current_dir(&copy).output().unwrap();
            assert!(out.status.success(), "{name}: {args:?}: {out:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        let doc: serde_json::Value = serde_json::from_str(&run(&["--json", "get", "doc1"])).unwrap();
        assert_eq!(doc["v"], 2, "{name}: {doc}");
        assert!(doc["_rev"].as_str().unwrap().starts_with("2-"), "{name}: {doc}");
        let conflicts: serde_json::Value =
            serde_json::from_str(&run(&["--json", "get", "c", "--conflicts"])).unwrap();
        assert_eq!(conflicts["_conflicts"].as_array().map(Vec::len), Some(1), "{name}: {conflicts}");
        if blobs > 0 {
            assert_eq!(run(&["attachment", "att", "notes.txt"]), "attachment bytes\n".repeat(300), "{name}");
        }
        assert_eq!(run(&["fsck"]), "ok\n", "{name}");
    }
}
