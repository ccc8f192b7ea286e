//! Attachments through the binary: `attach`, `detach`, `attachment`, `put` with inline data
//! or stubs, `get --attachments`/`--atts-since`, `log` and `diff`, and what `stats` and
//! `fsck` say about blobs (some put in through the library).

use settee::blob::Compression;
use settee::store::OpenOptions;

use crate::*;

/// Write `bytes` as a blob of the env's store; returns its id.
fn put_blob(env: &TestEnv, bytes: &[u8]) -> String {
    let store =
        settee::Store::open(&env.store_dir(), OpenOptions { write: true, wait_for_lock: None }).unwrap();
    store.write_blob(&mut &bytes[..], None, Compression::Sample).unwrap().id.to_string()
}

#[test]
fn stats_counts_blobs_only_when_there_are_some() {
    let env = TestEnv::new();
    assert!(!env.settee(["stats"]).ok().contains("blobs"));
    assert_eq!(env.settee(["--json", "stats"]).json()["blobs"], serde_json::json!({"count": 0, "bytes": 0}));
    let a = vec![7u8; 3 << 20];
    put_blob(&env, &a);
    put_blob(&env, &a);
    put_blob(&env, b"hello");
    let json = env.settee(["--json", "stats"]).json();
    assert_eq!(json["blobs"]["count"], 2, "{json}");
    let bytes = json["blobs"]["bytes"].as_u64().unwrap();
    // Three runs of one byte compress to almost nothing; "hello" is 5 bytes plus framing.
    assert!(bytes < 4096, "{bytes} bytes");
    assert!(env.settee(["stats"]).ok().contains(&format!("blobs       2 ({bytes} bytes)\n")));
}

#[test]
fn fsck_reads_every_blob_and_names_a_damaged_one() {
    let env = TestEnv::new();
    let sound = put_blob(&env, b"a sound attachment");
    let bad = put_blob(&env, &(0..200_000u32).map(|i| (i * 7 % 251) as u8).collect::<Vec<_>>());
    assert_eq!(env.settee(["fsck"]).ok(), "ok\n");
    let path = env.store_dir().join("blobs").join(&bad);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 10;
    bytes[at] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let out = env.settee(["fsck"]);
    assert_eq!(out.code, ERROR, "{out:?}");
    assert!(out.stdout.contains(&format!("blob {bad}")) && out.stdout.contains("checksum"), "{out:?}");
    assert!(!out.stdout.contains(&sound), "{out:?}");
}

const PRECONDITION: i32 = 5;

/// `settee attach ID NAME FILE [--rev REV]`; returns the new revision.
fn attach(env: &TestEnv, id: &str, name: &str, file: &str, rev: Option<&str>) -> String {
    let mut args = vec!["attach", id, name, file];
    if let Some(r) = rev {
        args.extend(["--rev", r]);
    }
    let rev = env.settee(args).ok().trim_end().to_string();
    assert_rev(&rev);
    rev
}

#[test]
fn attach_get_and_read_back_an_attachment() {
    let env = TestEnv::new();
    let r1 = env.put("doc", r#"{"title":"report"}"#);
    env.write_file("notes.txt", "hello");
    let r2 = attach(&env, "doc", "notes.txt", "notes.txt", Some(&r1));
    let doc = env.get_json(&["doc"]);
    assert_eq!(
        doc,
        serde_json::json!({"_id": "doc", "_rev": r2, "title": "report", "_attachments": {"notes.txt": {
            "content_type": "text/plain", "digest": "md5-XUFAKrxLKna5cZ2REBfFkg==", "length": 5, "revpos": 2, "stub": true}}})
    );
    assert_eq!(env.settee(["attachment", "doc", "notes.txt"]).ok(), "hello");
    env.settee(["attachment", "doc", "notes.txt", "-o", "copy.txt"]).ok();
    assert_eq!(std::fs::read(env.path().join("copy.txt")).unwrap(), b"hello");
    let full = env.get_json(&["doc", "--attachments"]);
    assert_eq!(full["_attachments"]["notes.txt"]["data"], "aGVsbG8=");
    // ls --include-docs shows the same stubs as get.
    let row = env.settee(["--json", "ls", "--include-docs"]).json_lines().remove(0);
    assert_eq!(row["doc"], doc, "{row}");
    let since = env.get_json(&["doc", "--atts-since", &r2]);
    assert_eq!(since["_attachments"]["notes.txt"]["stub"], true);
    let since = env.get_json(&["doc", "--atts-since", &r1]);
    assert_eq!(since["_attachments"]["notes.txt"]["data"], "aGVsbG8=");
    // The older revision has none; the content type can be given; stdin works.
    assert!(env.get_json(&["doc", "--rev", &r1]).get("_attachments").is_none());
    let r3 = env
        .settee_stdin(["attach", "doc", "raw", "-", "--rev", &r2, "--content-type", "x/y"], "bytes")
        .ok()
        .trim_end()
        .to_string();
    let doc = env.get_json(&["doc"]);
    assert_eq!(doc["_rev"], r3);
    assert_eq!(doc["_attachments"]["raw"]["content_type"], "x/y");
    assert_eq!(doc["_attachments"]["notes.txt"]["revpos"], 2);
    assert_eq!(env.settee(["attachment", "doc", "notes.txt", "--rev", &r2]).ok(), "hello");
    // Without --rev, attach makes a new document.
    let n = attach(&env, "new", "a.json", "notes.txt", None);
    assert!(n.starts_with("1-"));
    assert_eq!(env.get_json(&["new"])["_attachments"]["a.json"]["content_type"], "text/plain");
    // From stdin, the type comes from NAME.
    let n2 =
        env.settee_stdin(["attach", "new", "pic.png", "-", "--rev", &n], "png").ok().trim_end().to_string();
    let doc = env.get_json(&["new"]);
    assert_eq!(doc["_rev"], n2);
    assert_eq!(doc["_attachments"]["pic.png"]["content_type"], "image/png");
    assert_eq!(doc["_attachments"]["a.json"]["revpos"], 1);
}

#[test]
fn absent_attachments_are_not_found_and_stale_revisions_conflict() {
    let env = TestEnv::new();
    let r1 = env.put("doc", "{}");
    env.write_file("f.bin", "x");
    let out = env.settee(["attachment", "doc", "nope"]);
    assert_eq!(out.code, NOT_FOUND, "{out:?}");
    assert!(out.stderr.starts_with("error: ") && out.stderr.contains("nope"), "{out:?}");
    assert_eq!(env.settee(["attachment", "missing", "a"]).code, NOT_FOUND);
    assert_eq!(env.settee(["detach", "doc", "nope", "--rev", &r1]).code, NOT_FOUND);
    let r2 = attach(&env, "doc", "f.bin", "f.bin", Some(&r1));
    assert_eq!(env.settee(["attach", "doc", "g", "f.bin", "--rev", &r1]).code, CONFLICT);
    assert_eq!(env.settee(["attach", "doc", "g", "f.bin", "--rev", "9-abc"]).code, CONFLICT);
    assert_eq!(env.settee(["attach", "doc", "_bad", "f.bin", "--rev", &r2]).code, USAGE);
    assert_eq!(env.get_json(&["doc"])["_rev"], r2);
}

#[test]
fn a_stub_the_parent_lacks_exits_5_and_writes_nothing() {
    let env = TestEnv::new();
    let r1 = env.put("doc", r#"{"_attachments":{"a":{"content_type":"text/plain","data":"YQ=="}}}"#);
    let seq = env.last_seq();
    let out = env.settee_stdin(["put", "doc", "--rev", &r1], r#"{"_attachments":{"b":{"stub":true}}}"#);
    assert_eq!(out.code, PRECONDITION, "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.contains("invalid attachment stub in doc for b"), "{out:?}");
    assert_eq!(env.last_seq(), seq);
    // The stub of an attachment the parent has keeps it.
    let r2 = env.update("doc", &r1, r#"{"v":2,"_attachments":{"a":{"stub":true}}}"#);
    assert_eq!(env.get_json(&["doc"])["_rev"], r2);
    assert_eq!(env.settee(["attachment", "doc", "a"]).ok(), "a");
    // Bad base64 is invalid input.
    let out = env.settee_stdin(["put", "doc", "--rev", &r2], r#"{"_attachments":{"c":{"data":"%%%"}}}"#);
    assert_eq!(out.code, ERROR, "{out:?}");
}

#[test]
fn log_and_diff_show_attachments_added_changed_and_removed() {
    let env = TestEnv::new();
    let r1 = env.put("doc", r#"{"n":1}"#);
    env.write_file("a.txt", "first");
    env.write_file("b.txt", "other");
    let r2 = attach(&env, "doc", "a.txt", "a.txt", Some(&r1));
    let r3 = attach(&env, "doc", "b.txt", "b.txt", Some(&r2));
    env.write_file("a.txt", "second");
    let r4 = attach(&env, "doc", "a.txt", "a.txt", Some(&r3));
    let r5 = env.settee(["detach", "doc", "b.txt", "--rev", &r4]).ok().trim_end().to_string();
    assert_eq!(
        env.settee(["log", "doc"]).ok(),
        format!(
            "* {r5} (winner) attachments: -b.txt\n* {r4} attachments: ~a.txt\n* {r3} attachments: +b.txt\n* {r2} attachments: +a.txt\n* {r1}\n"
        )
    );
    let json = env.settee(["--json", "log", "doc"]).json();
    assert_eq!(
        json["revisions"][1]["attachments"],
        serde_json::json!({"added": [], "changed": ["a.txt"], "removed": []})
    );
    assert!(json["revisions"][4].get("attachments").is_none());
    let diff = env.settee(["diff", "doc", &r2, &r5]).ok().to_string();
    assert!(diff.contains("~ attachment a.txt: text/plain, 5 bytes, md5-"), "{diff}");
    assert!(diff.contains(" -> text/plain, 6 bytes, md5-"), "{diff}");
    let diff = env.settee(["diff", "doc", &r4, &r5]).ok().to_string();
    assert!(diff.starts_with("- attachment b.txt: text/plain, 5 bytes"), "{diff}");
    let rows = env.settee(["--json", "diff", "doc", &r1, &r3]).json_lines();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["op"], "added");
}

#[test]
fn a_damaged_attachment_is_an_error_never_wrong_bytes() {
    let env = TestEnv::new();
    let r1 = env.put("doc", "{}");
    let big: String = (0..300_000u32).map(|i| char::from(b'a' + (i * 7 % 26) as u8)).collect();
    env.write_file("big.txt", &big);
    attach(&env, "doc", "big.txt", "big.txt", Some(&r1));
    let blob = settee::blob::id_of(big.as_bytes()).to_string();
    let path = env.store_dir().join("blobs").join(&blob);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 10;
    bytes[at] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let out = env.settee(["attachment", "doc", "big.txt", "-o", "copy.txt"]);
    assert_eq!(out.code, ERROR, "{out:?}");
    assert!(out.stderr.contains(&blob), "{out:?}");
    assert!(!env.path().join("copy.txt").exists());
    let out = env.settee(["get", "doc", "--attachments"]);
    assert_eq!(out.code, ERROR, "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    // Stubs need no bytes.
    env.settee(["get", "doc"]).ok();
}

/// Make every blob look written an hour ago (compaction keeps younger unreferenced blobs).
fn age_blobs(env: &TestEnv) {
    let when = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for e in std::fs::read_dir(env.store_dir().join("blobs")).unwrap() {
        std::fs::File::open(e.unwrap().path()).unwrap().set_modified(when).unwrap();
    }
}

#[test]
fn compact_drops_detached_blobs_and_fsck_names_a_missing_one() {
    let env = TestEnv::new();
    let r1 = env.put("doc", "{}");
    env.write_file("a.txt", "kept");
    env.write_file("b.txt", "dropped");
    let r2 = attach(&env, "doc", "a.txt", "a.txt", Some(&r1));
    let r3 = attach(&env, "doc", "b.txt", "b.txt", Some(&r2));
    env.settee(["detach", "doc", "b.txt", "--rev", &r3]).ok();
    age_blobs(&env);
    let out = env.settee(["compact"]).ok().to_string();
    assert!(out.ends_with("1 blobs no kept revision names dropped (67 bytes)\n"), "{out}");
    assert_eq!(env.settee(["attachment", "doc", "a.txt"]).ok(), "kept");
    assert_eq!(env.settee(["fsck"]).ok(), "ok\n");
    let a = settee::blob::id_of(b"kept").to_string();
    std::fs::remove_file(env.store_dir().join("blobs").join(&a)).unwrap();
    let out = env.settee(["fsck"]);
    assert_eq!(out.code, ERROR, "{out:?}");
    let rev = env.get_json(&["doc"])["_rev"].as_str().unwrap().to_string();
    assert!(
        out.stdout.contains(&format!("document doc: revision {rev} attachment a.txt: blob {a} is missing")),
        "{out:?}"
    );
    let out = env.settee(["attachment", "doc", "a.txt"]);
    assert_eq!(out.code, ERROR, "{out:?}");
    assert!(out.stderr.contains("is missing"), "{out:?}");
}

#[test]
fn export_and_import_carry_attachments_inline() {
    let env = TestEnv::new();
    let r1 = env.put("doc", r#"{"n":1}"#);
    env.write_file("a.txt", "alpha");
    env.write_file("b.png", "not really a png");
    let r2 = attach(&env, "doc", "a.txt", "a.txt", Some(&r1));
    let r3 = attach(&env, "doc", "b.png", "b.png", Some(&r2));
    env.put("plain", r#"{"x":true}"#);
    let stubs = |v: &serde_json::Value| {
        let mut v = v.clone();
        for a in v["_attachments"].as_object_mut().unwrap().values_mut() {
            a.as_object_mut().unwrap().remove("revpos");
        }
        v["_attachments"].clone()
    };
    let original = env.get_json(&["doc"]);
    assert_eq!(original["_rev"], r3);

    // Winners with data, loaded (without their _rev) as new documents: same bytes, types,
    // digests, lengths.
    let lines = env.settee(["export", "--attachments"]).ok().to_string();
    assert!(lines.contains(r#""data":"YWxwaGE=""#), "{lines}");
    let fresh: String = lines
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("_rev");
            format!("{v}\n")
        })
        .collect();
    let other = TestEnv::new();
    other.settee_stdin(["import", "-"], &fresh).succeeded();
    let copy = other.get_json(&["doc"]);
    assert_eq!(stubs(&copy), stubs(&original));
    assert_eq!(copy["_attachments"]["a.txt"]["revpos"], 1);
    assert_eq!(other.settee(["attachment", "doc", "b.png"]).ok(), "not really a png");

    // Every leaf with its history and data, loaded as replicated history: the same
    // document, revisions and revpos.
    let lines = env.settee(["export", "--all-leaves", "--attachments"]).ok().to_string();
    let third = TestEnv::new();
    third.import_replicated(&lines.lines().map(str::to_string).collect::<Vec<_>>());
    assert_eq!(third.get_json(&["doc"]), original);
    assert_eq!(third.get_json(&["doc", "--attachments"]), env.get_json(&["doc", "--attachments"]));
    assert_eq!(third.settee(["fsck"]).ok(), "ok\n");

    // Without --attachments the lines hold stubs, which a new document cannot keep.
    let lines = env.settee(["export"]).ok().to_string();
    assert!(lines.contains(r#""stub":true"#), "{lines}");
    let fourth = TestEnv::new();
    let out = fourth.settee_stdin(["import", "-"], &lines.replace(&format!(r#""_rev":"{r3}","#), ""));
    assert_ne!(out.code, OK, "{out:?}");
    assert!(out.stderr.contains("invalid attachment stub in doc"), "{out:?}");
}

#[test]
fn clone_and_fetch_copy_each_missing_blob_once_and_say_so() {
    let src = TestEnv::new();
    src.write_file("shared.bin", &"0123456789abcdef".repeat(4096));
    for d in ["a", "b", "c"] {
        let r = src.put(d, &format!(r#"{{"name":"{d}"}}"#));
        attach(&src, d, "shared.bin", "shared.bin", Some(&r));
    }
    let dst = TestEnv::bare();
    let out = dst.settee(["clone", src.store_dir().to_str().unwrap(), "copy"]).succeeded().to_string();
    assert!(
        out.contains("3 revisions written (3 missing, 0 failed), 1 attachment blobs (65536 bytes) copied;"),
        "{out}"
    );
    let copy = dst.path().join("copy");
    let in_copy = |args: &[&str]| {
        let out = dst.command().args(args).current_dir(&copy).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(in_copy(&["attachment", "b", "shared.bin"]), "0123456789abcdef".repeat(4096));
    assert_eq!(in_copy(&["fsck"]), "ok\n");
    // A new revision naming the same bytes: no blob to copy.
    let r = src.get_json(&["a"])["_rev"].as_str().unwrap().to_string();
    src.settee(["attach", "a", "again.bin", "shared.bin", "--rev", &r]).ok();
    let out = in_copy(&["--json", "fetch"]);
    let row: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (row["revisions_written"].as_u64(), row["blobs_written"].as_u64()),
        (Some(1), Some(0)),
        "{out}"
    );
}

#[test]
fn bundles_carry_the_blobs_they_need_and_a_damaged_one_is_refused_whole() {
    let src = TestEnv::new();
    let content = "bundle attachment ".repeat(1000);
    src.write_file("f.txt", &content);
    let r = src.put("a", "{}");
    attach(&src, "a", "f.txt", "f.txt", Some(&r));
    let r = src.put("b", r#"{"same":"bytes"}"#);
    attach(&src, "b", "copy.txt", "f.txt", Some(&r));
    src.put("plain", "{}");
    let out = src.settee(["bundle", "create", "all.bundle"]).ok().to_string();
    assert!(out.contains(&format!("1 attachment blobs of {} bytes", content.len())), "{out}");
    assert!(src.settee(["bundle", "verify", "all.bundle"]).ok().ends_with("1 attachment blobs\n"));
    let dst = TestEnv::bare();
    let bundle = src.path().join("all.bundle");
    let out = dst.settee(["clone", bundle.to_str().unwrap(), "copy"]).succeeded().to_string();
    assert!(out.contains("1 attachment blobs"), "{out}");
    let copy = dst.path().join("copy");
    let run = |args: &[&str]| dst.command().args(args).current_dir(&copy).output().unwrap();
    assert_eq!(String::from_utf8(run(&["attachment", "b", "copy.txt"]).stdout).unwrap(), content);
    let got: serde_json::Value = serde_json::from_slice(&run(&["--json", "get", "a"]).stdout).unwrap();
    assert_eq!(got, src.get_json(&["a"]));
    assert_eq!(String::from_utf8(run(&["fsck"]).stdout).unwrap(), "ok\n");

    // A bundle without attachments stays at version 1.
    let plain = TestEnv::new();
    plain.put("x", "{}");
    plain.settee(["bundle", "create", "p.bundle"]).ok();
    assert_eq!(&std::fs::read(plain.path().join("p.bundle")).unwrap()[4..8], &[0, 0, 0, 1]);
    let bytes = std::fs::read(&bundle).unwrap();
    assert_eq!(&bytes[4..8], &[0, 0, 0, 2]);

    // One flipped byte in the blob: the trailer catches it; with the trailer made to match,
    // the blob's id does. Either way the bundle is refused whole.
    let at = bytes.windows(content.len()).position(|w| w == content.as_bytes()).unwrap() + 100;
    let mut bad = bytes.clone();
    bad[at] ^= 1;
    std::fs::write(src.path().join("bad.bundle"), &bad).unwrap();
    let out = src.settee(["bundle", "verify", "bad.bundle"]);
    assert_eq!(out.code, ERROR, "{out:?}");
    let n = bad.len() - 20;
    let sum = sha1(&bad[..n]);
    bad[n..].copy_from_slice(&sum);
    std::fs::write(src.path().join("bad.bundle"), &bad).unwrap();
    let out = src.settee(["bundle", "verify", "bad.bundle"]);
    assert_eq!(out.code, ERROR, "{out:?}");
    assert!(out.stderr.contains("is damaged"), "{out:?}");
    let out = dst.settee(["clone", src.path().join("bad.bundle").to_str().unwrap(), "other"]);
    assert_eq!(out.code, ERROR, "{out:?}");
    assert!(!dst.path().join("other").join(".settee").exists());
}

/// SHA-1 of `bytes` (a bundle's trailer).
fn sha1(bytes: &[u8]) -> [u8; 20] {
    settee::id::sha1(bytes).as_bytes().try_into().unwrap()
}

#[test]
fn resolve_keeps_the_attachments_of_the_revision_it_keeps() {
    let env = TestEnv::new();
    let r1 = env.put("d", r#"{"a":1}"#);
    env.write_file("f.txt", "hi\n");
    let r2 = attach(&env, "d", "f.txt", "f.txt", Some(&r1));
    let other = format!(
        r#"{{"_id":"d","_rev":"2-zzz","_revisions":{{"start":2,"ids":["zzz","{}"]}},"a":9}}"#,
        r1.trim_start_matches("1-")
    );
    env.import_replicated(&[other]);
    env.settee(["resolve", "d", "--keep", &r2]).ok();
    let doc = env.get_json(&["d"]);
    assert!(doc["_rev"].as_str().unwrap().starts_with("3-"));
    assert_eq!(doc["_attachments"]["f.txt"]["revpos"], 2);
    assert_eq!(env.settee(["attachment", "d", "f.txt"]).ok(), "hi\n");
    // A body with _attachments is refused where attachments are not taken.
    let out = env.settee_stdin(["local", "put", "_local/x"], r#"{"_attachments":{}}"#);
    assert_eq!(out.code, ERROR, "{out:?}");
}
