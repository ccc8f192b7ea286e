//! The store as a whole: `init`, finding the store (`-C`, `SETTEE_DIR`, ancestors), usage
//! errors, `local`, `stats`, `cat-object`, and damaged packs.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::{json, Value};

use crate::{assert_text, run, TestEnv, ERROR, NOT_FOUND, OK, USAGE};

// ---------------------------------------------------------------------------------------
// init

#[test]
fn init_creates_a_store_and_says_where() {
    let env = TestEnv::bare();
    let out = env.settee(["init"]);
    let dir = env.path().canonicalize().expect("canonical temp dir").join(".settee");
    assert_text!(out.ok(), format!("Initialized empty settee store in {}\n", dir.display()));
    assert!(env.store_dir().join("packs").is_dir());
    assert_eq!(env.settee(["ls"]).ok(), "");
}

#[test]
fn init_twice_fails() {
    let env = TestEnv::new();
    env.put("a", "{}");
    let msg = env.settee(["init"]).fails(ERROR);
    assert!(msg.contains("already exists"), "{msg}");
    assert_eq!(env.get_json(&["a"])["_id"], json!("a"), "the store is untouched");
}

#[test]
fn init_json_reports_the_path() {
    let env = TestEnv::bare();
    let v = env.settee(["--json", "init"]).json();
    let dir = env.path().canonicalize().expect("canonical temp dir").join(".settee");
    assert_eq!(v, json!({"ok": true, "path": dir.to_str().expect("UTF-8 path")}));
}

#[test]
fn init_path_creates_the_store_there() {
    let env = TestEnv::bare();
    env.settee(["init", "sub/dir"]).ok();
    assert!(env.path().join("sub/dir/.settee").is_dir());
    env.settee(["ls"]).fails(ERROR);
    env.settee(["-C", "sub/dir", "ls"]).ok();
}

// ---------------------------------------------------------------------------------------
// Finding the store

#[test]
fn commands_outside_any_store_fail_and_mention_settee_init() {
    let env = TestEnv::bare();
    let oid = "0".repeat(40);
    let commands: [&[&str]; 11] = [
        &["ls"],
        &["get", "a"],
        &["put", "a"],
        &["rm", "a", "--rev", "1-a"],
        &["log", "a"],
        &["changes"],
        &["conflicts"],
        &["export"],
        &["stats"],
        &["local", "get", "x"],
        &["cat-object", &oid],
    ];
    for args in commands {
        let out = env.settee_stdin(args, "{}");
        let msg = out.fails(ERROR);
        assert!(msg.contains("no settee store"), "{args:?}: {msg}");
        assert_eq!(out.stderr.matches("settee init").count(), 1, "said once, in the hint: {}", out.stderr);
        assert!(out.stderr.contains("\nhint: run `settee init`"), "{}", out.stderr);
    }
    let out = env.settee_stdin(["import", "-"], "{\"_id\":\"a\"}\n");
    out.fails(ERROR);
    assert!(out.stderr.contains("settee init"));
    assert!(!env.store_dir().exists(), "nothing was created");
}

#[test]
fn dash_c_runs_as_if_started_in_dir() {
    let env = TestEnv::new();
    let rev = env.put("a", r#"{"n":1}"#);
    let elsewhere = TestEnv::bare();
    let store = env.path().to_str().expect("UTF-8 path");
    assert_text!(elsewhere.settee(["-C", store, "ls"]).ok(), format!("a\t{rev}\n"));
    // Files named on the command line are relative to DIR too.
    env.write_file("body.json", r#"{"n":2}"#);
    elsewhere.settee(["-C", store, "put", "b", "body.json"]).ok();
    assert_eq!(env.get_json(&["b"])["n"], json!(2));
    // -C is global: it may follow the subcommand.
    elsewhere.settee(["get", "a", "-C", store]).ok();
    // A directory without a store fails like any other.
    elsewhere.settee(["-C", elsewhere.path().to_str().expect("UTF-8"), "ls"]).fails(ERROR);
}

#[test]
fn the_store_is_found_from_a_subdirectory() {
    let env = TestEnv::new();
    let rev = env.put("a", "{}");
    std::fs::create_dir_all(env.path().join("x/y")).expect("mkdir");
    let mut cmd = env.command();
    cmd.current_dir(env.path().join("x/y")).arg("ls");
    assert_text!(run(cmd, "").ok(), format!("a\t{rev}\n"));
    assert_text!(env.settee(["-C", "x/y", "ls"]).ok(), format!("a\t{rev}\n"));
}

#[test]
fn settee_dir_names_the_store() {
    let env = TestEnv::new();
    let rev = env.put("a", "{}");
    let elsewhere = TestEnv::bare();
    let mut cmd = elsewhere.command();
    cmd.env("SETTEE_DIR", env.store_dir()).arg("ls");
    assert_text!(run(cmd, "").ok(), format!("a\t{rev}\n"));

    // It wins over a store found in the current directory.
    let local = TestEnv::new();
    let mut cmd = local.command();
    cmd.env("SETTEE_DIR", env.store_dir()).arg("ls");
    assert_text!(run(cmd, "").ok(), format!("a\t{rev}\n"));

    // An empty SETTEE_DIR is ignored.
    let mut cmd = env.command();
    cmd.env("SETTEE_DIR", "").arg("ls");
    assert_text!(run(cmd, "").ok(), format!("a\t{rev}\n"));
}

#[test]
fn settee_dir_pointing_nowhere_fails() {
    let env = TestEnv::new();
    let mut cmd = env.command();
    cmd.env("SETTEE_DIR", env.path().join("nowhere")).arg("ls");
    let out = run(cmd, "");
    let msg = out.fails(ERROR);
    assert!(msg.contains("nowhere") && out.stderr.contains("settee init"), "{msg}");
}

#[test]
fn settee_dir_with_init_creates_the_store_there() {
    // SETTEE_DIR names a `.settee` directory, or a work tree to hold one.
    let env = TestEnv::bare();
    let named = env.path().join("named").join(".settee");
    let tree = env.path().join("tree");
    for (dir, store) in [(&named, named.clone()), (&tree, tree.join(".settee"))] {
        let mut cmd = env.command();
        cmd.env("SETTEE_DIR", dir).arg("init");
        assert_eq!(run(cmd, "").ok(), format!("Initialized empty settee store in {}\n", store.display()));
        assert!(store.join("packs").is_dir());
        let mut cmd = env.command();
        cmd.env("SETTEE_DIR", dir).args(["put", "a"]);
        run(cmd, "{}").ok();
        for name in [&store, &store.parent().unwrap().to_path_buf()] {
            let mut cmd = env.command();
            cmd.env("SETTEE_DIR", name).arg("ls");
            assert!(run(cmd, "").ok().starts_with("a\t1-"), "SETTEE_DIR={}", name.display());
        }
    }
    assert!(!env.path().join("packs").exists() && !tree.join("packs").exists());
}

// ---------------------------------------------------------------------------------------
// Usage errors, help, pipes

#[test]
fn unknown_flags_and_commands_are_usage_errors() {
    let env = TestEnv::new();
    for args in [
        &["put", "a", "--frobnicate"][..],
        &["frobnicate"],
        &["get"],
        &["rm", "a"],
        &["ls", "--limit", "-3"],
        &["local", "frob", "x"],
        &["cat-object"],
    ] {
        let first = env.settee(args).usage_error();
        assert!(first.len() > "error: ".len(), "{args:?}");
    }
    // No command (or no `local` action) at all: the help goes to stderr, as a usage error.
    for args in [&[][..], &["local"]] {
        let out = env.settee(args);
        assert_eq!(out.code, crate::USAGE, "{out:?}");
        assert!(out.stdout.is_empty() && out.stderr.contains("Usage: settee"), "{out:?}");
        crate::assert_no_panic(&out);
    }
    assert_eq!(env.last_seq(), 0);
}

#[test]
fn help_and_version_succeed() {
    let env = TestEnv::bare();
    let help = env.settee(["--help"]);
    assert!(help.ok().contains("Usage: settee"), "{help:?}");
    for cmd in [
        "init",
        "put",
        "get",
        "rm",
        "ls",
        "log",
        "changes",
        "import",
        "export",
        "conflicts",
        "local",
        "stats",
        "cat-object",
    ] {
        assert!(help.stdout.contains(cmd), "--help lists {cmd}");
        env.settee([cmd, "--help"]).ok();
    }
    assert!(env.settee(["--version"]).ok().starts_with("settee "));
}

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    use std::os::fd::FromRawFd;
    let env = TestEnv::new();
    let lines: String = (0..50).map(|i| format!("{{\"_id\":\"d{i:02}\",\"n\":{i}}}\n")).collect();
    env.settee_stdin(["import", "-"], &lines).ok();
    let json_forms = [
        &["--json", "ls"][..],
        &["--json", "changes"],
        &["export", "--all-leaves"],
        &["--json", "log", "d01"],
    ];
    for args in [&["ls"][..], &["changes"], &["export"], &["get", "d01"]].into_iter().chain(json_forms) {
        let mut fds = [0i32; 2];
        // SAFETY: `pipe` fills two fresh descriptors; the read end is closed at once and the
        // write end is owned by `OwnedFd` from here on.
        let write_end = unsafe {
            assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
            libc::close(fds[0]);
            std::os::fd::OwnedFd::from_raw_fd(fds[1])
        };
        let mut cmd = env.command();
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::from(write_end)).stderr(Stdio::piped());
        let out = cmd.spawn().expect("spawn").wait_with_output().expect("wait");
        drop(cmd);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(OK), "{args:?}: a broken pipe exits 0; stderr: {stderr}");
        assert_eq!(stderr, "", "{args:?}");
    }
}

// ---------------------------------------------------------------------------------------
// local

#[test]
fn local_put_get_rm() {
    let env = TestEnv::new();
    assert_eq!(env.settee_stdin(["local", "put", "cp"], r#"{"seq":1}"#).ok(), "0-1\n");
    assert_eq!(env.settee_stdin(["local", "put", "cp"], r#"{"seq":2}"#).ok(), "0-2\n");
    assert_text!(
        env.settee(["local", "get", "cp"]).ok(),
        "{\n  \"_id\": \"_local/cp\",\n  \"_rev\": \"0-2\",\n  \"seq\": 2\n}\n"
    );
    // The `_local/` prefix may be given or left out.
    assert_eq!(
        env.settee(["--json", "local", "get", "_local/cp"]).json(),
        json!({"_id": "_local/cp", "_rev": "0-2", "seq": 2})
    );
    assert_eq!(env.settee(["local", "rm", "cp"]).ok(), "0-0\n");
    let msg = env.settee(["local", "get", "cp"]).fails(NOT_FOUND);
    assert_eq!(msg, "document _local/cp not found (missing)");
    env.settee(["local", "rm", "cp"]).fails(NOT_FOUND);
    // Written again, it starts over.
    assert_eq!(env.settee_stdin(["local", "put", "_local/cp"], "{}").ok(), "0-1\n");
}

#[test]
fn local_json_output() {
    let env = TestEnv::new();
    assert_eq!(
        env.settee_stdin(["--json", "local", "put", "x"], "{}").json(),
        json!({"ok": true, "id": "_local/x", "rev": "0-1"})
    );
    assert_eq!(
        env.settee(["--json", "local", "rm", "x"]).json(),
        json!({"ok": true, "id": "_local/x", "rev": "0-0"})
    );
}

#[test]
fn local_refuses_bad_ids_and_bodies() {
    let env = TestEnv::new();
    for id in ["", "_local/"] {
        env.settee_stdin(["local", "put", id], "{}").fails(USAGE);
        env.settee(["local", "get", id]).fails(USAGE);
    }
    for body in ["[1]", "\"s\"", "{"] {
        env.settee_stdin(["local", "put", "x"], body).fails(ERROR);
    }
    env.settee(["local", "get", "x"]).fails(NOT_FOUND);
}

#[test]
fn local_docs_stay_out_of_ls_changes_export_and_conflicts() {
    let env = TestEnv::new();
    let rev = env.put("a", "{}");
    env.settee_stdin(["local", "put", "x"], r#"{"n":1}"#).ok();
    env.settee_stdin(["local", "put", "_design/y"], "{}").ok();
    assert_text!(env.settee(["ls"]).ok(), format!("a\t{rev}\n"));
    assert_text!(env.settee(["changes"]).ok(), format!("1\ta\t{rev}\n"));
    assert_text!(
        env.settee(["export", "--all-leaves"]).ok(),
        format!(
            "{{\"_id\":\"a\",\"_rev\":\"{rev}\",\"_revisions\":{{\"start\":1,\"ids\":[\"{}\"]}}}}\n",
            crate::hash(&rev)
        )
    );
    assert_eq!(env.settee(["conflicts"]).ok(), "");
    let stats = env.settee(["--json", "stats"]).json();
    assert_eq!((&stats["documents"], &stats["local"], &stats["last_seq"]), (&json!(1), &json!(2), &json!(1)));
    env.settee(["get", "_local/x"]).fails(USAGE);
}

// ---------------------------------------------------------------------------------------
// stats

#[test]
fn stats_counts_documents_deleted_conflicted_and_leaves() {
    let env = TestEnv::new();
    let a = env.put("a", r#"{"n":1}"#);
    env.update("a", &a, r#"{"n":2}"#);
    let b = env.put("b", r#"{"n":3}"#);
    env.rm("b", &b);
    env.import_replicated(&[
        crate::replicated("c", 2, &[&crate::h('b'), &crate::h('a')], json!({"v": 1})),
        crate::replicated("c", 2, &[&crate::h('c'), &crate::h('a')], json!({"v": 2})),
    ]);
    env.settee_stdin(["local", "put", "x"], "{}").ok();

    let v = env.settee(["--json", "stats"]).json();
    for (field, expected) in
        [("documents", 2), ("deleted", 1), ("conflicted", 1), ("leaves", 4), ("local", 1), ("last_seq", 6)]
    {
        assert_eq!(v[field], json!(expected), "{field} in {v}");
    }
    for field in ["objects", "packs"] {
        assert!(v[field].as_u64().is_some_and(|n| n > 0), "{field} in {v}");
    }
    let bytes = &v["bytes"];
    let parts: u64 = ["packs", "indexes", "tables", "journal"]
        .iter()
        .map(|k| bytes[k].as_u64().expect("a byte count"))
        .sum();
    assert_eq!(bytes["total"].as_u64(), Some(parts), "total is the sum of the parts: {bytes}");
    assert!(bytes["packs"].as_u64().is_some_and(|n| n > 0));

    let human = env.settee(["stats"]);
    let lines: Vec<&str> = human.ok().lines().collect();
    assert_eq!(
        lines[..6],
        [
            "documents   2",
            "deleted     1",
            "conflicted  1",
            "leaves      4",
            "local       1",
            &format!("objects     {}", v["objects"])
        ]
    );
    assert_eq!(lines[7], "last seq    6");
    assert!(lines[8].starts_with(&format!("bytes       {} total (", bytes["total"])), "{}", lines[8]);
}

#[test]
fn stats_of_an_empty_store() {
    let env = TestEnv::new();
    let v = env.settee(["--json", "stats"]).json();
    assert_eq!(
        (&v["documents"], &v["deleted"], &v["leaves"], &v["last_seq"], &v["objects"]),
        (&json!(0), &json!(0), &json!(0), &json!(0), &json!(0))
    );
}

// ---------------------------------------------------------------------------------------
// cat-object

#[test]
fn cat_object_refuses_an_invalid_id() {
    let env = TestEnv::new();
    for bad in ["zz", &"0".repeat(39), &"g".repeat(40), &"0".repeat(41)] {
        let msg = env.settee(["cat-object", bad]).fails(USAGE);
        assert!(msg.contains("40-character hex"), "{bad}: {msg}");
    }
}

#[test]
fn cat_object_of_an_unknown_id_is_not_found() {
    let env = TestEnv::new();
    env.put("a", "{}");
    let oid = "0123456789abcdef0123456789abcdef01234567";
    let msg = env.settee(["cat-object", oid]).fails(NOT_FOUND);
    assert_eq!(msg, format!("object {oid} not found"));
    env.settee(["--json", "cat-object", oid]).fails(NOT_FOUND);
}

// ---------------------------------------------------------------------------------------
// Damaged packs: a clean one-line error naming the pack, never wrong data, never a panic.

/// A store whose documents were imported; `import` ends with a checkpoint, which indexes the
/// pack they were written to (seals it, or gives the active pack a prefix index). Returns
/// each document as `get --json` printed it before any damage.
fn indexed_store(docs: usize) -> (TestEnv, Vec<(String, String)>) {
    let env = TestEnv::new();
    // Distinct, poorly compressible payloads spread the objects over several blocks.
    let lines: String = (0..docs)
        .map(|i| {
            let noise: String = (0..24).map(|k| format!("{:x}", (i * 7919 + k * 104_729) % 65_521)).collect();
            format!("{{\"_id\":\"doc{i:03}\",\"n\":{i},\"noise\":\"{noise}\"}}\n")
        })
        .collect();
    env.write_file("docs.ndjson", &lines);
    env.settee(["import", "docs.ndjson"]).ok();
    let expected = (0..docs)
        .map(|i| {
            let id = format!("doc{i:03}");
            let out = env.settee(["--json", "get", &id]);
            let text = out.ok().to_string();
            (id, text)
        })
        .collect();
    (env, expected)
}

/// The one pack of the store that has an index (`pack-N.idx` once sealed, or a prefix index
/// `pack-N.part-G.idx` while active), and that index.
fn indexed_pack(env: &TestEnv) -> (PathBuf, PathBuf) {
    let packs = env.store_dir().join("packs");
    let names: Vec<String> = std::fs::read_dir(&packs)
        .expect("packs dir")
        .map(|e| e.expect("dir entry").file_name().into_string().expect("UTF-8 name"))
        .collect();
    let indexed: Vec<(PathBuf, PathBuf)> = names
        .iter()
        .filter_map(|n| n.strip_suffix(".pack"))
        .filter_map(|stem| {
            let idx = names.iter().find(|n| n.starts_with(&format!("{stem}.")) && n.ends_with(".idx"))?;
            Some((packs.join(format!("{stem}.pack")), packs.join(idx)))
        })
        .collect();
    assert_eq!(indexed.len(), 1, "after import exactly one pack has an index: {names:?}");
    indexed.into_iter().next().expect("one indexed pack")
}

/// Read every document: each must come back exactly as before, or fail with exit 1 and one
/// `error:` line naming the pack. Returns how many failed.
fn read_all_checking(env: &TestEnv, expected: &[(String, String)], pack: &Path) -> usize {
    let name = pack.file_name().and_then(|n| n.to_str()).expect("pack file name");
    let mut failed = 0;
    for (id, doc) in expected {
        let out = env.settee(["--json", "get", id]);
        if out.code == OK {
            assert_text!(out.ok(), doc);
        } else {
            let msg = out.fails(ERROR);
            assert!(msg.contains(name), "the error names the pack {name}: {msg}");
            failed += 1;
        }
        // The slower path through the revision tree must hold up the same way.
        let out = env.settee(["--json", "get", id, "--revs"]);
        if out.code != OK {
            assert!(out.fails(ERROR).contains(name));
        }
    }
    failed
}

#[test]
fn a_flipped_byte_in_an_indexed_pack_is_a_clean_error() {
    let (env, expected) = indexed_store(120);
    let (pack, _) = indexed_pack(&env);
    let mut bytes = std::fs::read(&pack).expect("reading the pack");
    // Pack header (16 bytes), then the first frame's header (12 bytes), then its zstd data.
    let compressed_len = u32::from_be_bytes(bytes[16..20].try_into().expect("4 bytes")) as usize;
    assert!(compressed_len > 8 && 28 + compressed_len <= bytes.len(), "first frame fits");
    let at = 28 + compressed_len / 2;
    bytes[at] ^= 0x5a;
    std::fs::write(&pack, &bytes).expect("writing the pack");

    let failed = read_all_checking(&env, &expected, &pack);
    assert!(failed > 0, "some document lives in the damaged block");
    assert!(failed < expected.len(), "documents in other blocks still read");
    // Commands that read many documents stop with the same kind of error.
    for args in [&["export"][..], &["ls", "--include-docs"], &["export", "--all-leaves"]] {
        let out = env.settee(args);
        assert_eq!(out.code, ERROR, "{args:?}: {out:?}");
        crate::assert_no_panic(&out);
        assert!(
            out.stderr.starts_with("error: ") && out.stderr.lines().count() == 1,
            "{args:?}: {}",
            out.stderr
        );
    }
}

#[test]
fn an_indexed_pack_truncated_to_half_is_a_clean_error() {
    let (env, expected) = indexed_store(120);
    let (pack, _) = indexed_pack(&env);
    let len = std::fs::metadata(&pack).expect("pack metadata").len();
    let file = std::fs::OpenOptions::new().write(true).open(&pack).expect("opening the pack");
    file.set_len(len / 2).expect("truncating the pack");
    drop(file);

    let failed = read_all_checking(&env, &expected, &pack);
    // Documents before the cut may still read (a sealed pack) or the store may refuse to
    // open at all (an active pack shorter than its committed length): both are clean.
    assert!(failed > 0, "documents past the cut cannot be read");
}

#[test]
fn a_truncated_active_pack_is_a_clean_error() {
    let env = TestEnv::new();
    for i in 0..3 {
        env.put(&format!("d{i}"), &format!("{{\"n\":{i}}}"));
    }
    let packs = env.store_dir().join("packs");
    let active: Vec<PathBuf> = std::fs::read_dir(&packs)
        .expect("packs dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "pack"))
        .collect();
    assert_eq!(active.len(), 1, "plain puts stay in the one active pack: {active:?}");
    let stem = active[0].file_stem().and_then(|s| s.to_str()).expect("stem").to_string();
    let indexes = std::fs::read_dir(&packs).expect("packs dir").filter(|e| {
        e.as_ref().is_ok_and(|e| {
            e.file_name().to_string_lossy().starts_with(&stem)
                && e.file_name().to_string_lossy().ends_with(".idx")
        })
    });
    assert_eq!(indexes.count(), 0, "no checkpoint yet, so no index");
    let len = std::fs::metadata(&active[0]).expect("metadata").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&active[0])
        .expect("open")
        .set_len(len / 2)
        .expect("truncate");
    let name = active[0].file_name().and_then(|n| n.to_str()).expect("name").to_string();
    for args in [&["get", "d0"][..], &["ls"], &["put", "d9"]] {
        let msg = env.settee_stdin(args, "{}").fails(ERROR);
        assert!(msg.contains(&name), "{args:?}: {msg}");
    }
}

#[test]
fn import_indexes_the_pack_and_reads_continue_to_work() {
    let (env, expected) = indexed_store(5);
    let (pack, _) = indexed_pack(&env);
    assert_eq!(read_all_checking(&env, &expected, &pack), 0, "an undamaged store reads everything");
    let v: Value = serde_json::from_str(&expected[0].1).expect("JSON");
    assert_eq!(v["n"], json!(0));
}

/// Index layout (src/pack/index/mod.rs, index format 2): a 24-byte header and a 256-entry
/// u32 fanout, then `count` 20-byte ids, `count` 6-byte locations and a 4-byte CRC.
const INDEX_IDS_OFFSET: usize = 24 + 256 * 4;

/// (byte flipped, document read, Ok or (exit code, error message)).
type IndexFlip = (usize, &'static str, Result<(), (i32, String)>);

/// Flip each byte of the ids and locations of the only index of a two-document store, and
/// return, per flip, the outcome of `get --json --rev` for each document (a read by
/// revision finds the body through the index): Ok(()) when it printed the document
/// exactly, Err((code, message)) otherwise. A plain `get` finds the body through the refs
/// table's hint, without the index: it must print the document exactly whatever the flip.
fn index_flips() -> Vec<IndexFlip> {
    let env = TestEnv::new();
    env.settee_stdin(["import", "-"], "{\"_id\":\"a\",\"n\":1}\n{\"_id\":\"b\",\"n\":2}\n").ok();
    let good: Vec<(&str, String, String)> = ["a", "b"]
        .iter()
        .map(|&id| {
            let doc = env.settee(["--json", "get", id]).ok().to_string();
            let rev = serde_json::from_str::<Value>(&doc).expect("JSON")["_rev"]
                .as_str()
                .expect("_rev")
                .to_string();
            (id, rev, doc)
        })
        .collect();
    let (_, index) = indexed_pack(&env);
    let original = std::fs::read(&index).expect("reading the index");
    let mut outcomes = Vec::new();
    for at in INDEX_IDS_OFFSET..original.len() - 4 {
        let mut bytes = original.clone();
        bytes[at] ^= 0x01;
        std::fs::write(&index, &bytes).expect("writing the index");
        for (id, rev, doc) in &good {
            assert_text!(env.settee(["--json", "get", id]).ok(), doc);
            let out = env.settee(["--json", "get", id, "--rev", rev]);
            let outcome = if out.code == OK {
                assert_text!(out.ok(), doc);
                Ok(())
            } else {
                let code = out.code;
                Err((code, out.fails(code)))
            };
            outcomes.push((at, *id, outcome));
        }
    }
    outcomes
}

#[test]
fn a_damaged_index_never_yields_wrong_data() {
    // `index_flips` asserts exact data on success and a one-line error otherwise.
    let outcomes = index_flips();
    assert!(outcomes.iter().any(|(_, _, o)| o.is_err()), "some flips must be noticed");
    for (at, id, outcome) in &outcomes {
        if let Err((code, msg)) = outcome {
            assert!([ERROR, NOT_FOUND].contains(code), "flip at {at}, get {id}: exit {code}: {msg}");
        }
    }
}

#[test]
fn a_damaged_index_never_makes_a_stored_document_look_not_found() {
    for (at, id, outcome) in index_flips() {
        if let Err((code, msg)) = outcome {
            assert_eq!(code, ERROR, "flip at index byte {at}, get {id}: {msg}");
            assert!(msg.contains("corrupt"), "flip at index byte {at}, get {id}: {msg}");
        }
    }
}

/// Export renders chunks of documents on worker threads: a damaged block early in a large
/// store stops it with one clean error while later chunks are still in flight, not a hang.
#[test]
fn export_of_a_large_store_with_an_early_damaged_block_fails_cleanly() {
    let env = TestEnv::new();
    let lines: String = (0..60_000).map(|i| format!("{{\"_id\":\"d{i:06}\",\"n\":{i}}}\n")).collect();
    env.write_file("docs.ndjson", &lines);
    env.settee(["import", "docs.ndjson"]).ok();
    let (pack, _) = indexed_pack(&env);
    let mut bytes = std::fs::read(&pack).expect("reading the pack");
    let compressed_len = u32::from_be_bytes(bytes[16..20].try_into().expect("4 bytes")) as usize;
    bytes[28 + compressed_len / 2] ^= 0x5a;
    std::fs::write(&pack, &bytes).expect("writing the pack");
    let out = env.settee(["export", "out.ndjson"]);
    assert_eq!(out.code, ERROR, "{out:?}");
    crate::assert_no_panic(&out);
    assert!(out.stderr.starts_with("error: ") && out.stderr.lines().count() == 1, "{}", out.stderr);
}
