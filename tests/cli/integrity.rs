//! Damage is an error, never an answer: flipped bits in a store's tables make reads,
//! listings, exports and clones fail with the damaged file named, instead of returning a
//! changed revision, a missing document or a copy of the damage.

use crate::{TestEnv, ERROR, OK};

/// A store whose refs table holds `d`, replicated with the history `2-bb…`, `1-aa…`.
fn store_with_history() -> TestEnv {
    let env = TestEnv::new();
    let line = format!(
        r#"{{"_id":"d","_revisions":{{"start":2,"ids":["{}","{}"]}},"v":1}}"#,
        "b".repeat(32),
        "a".repeat(32)
    );
    env.settee_stdin(["import", "--no-new-edits", "-"], &format!("{line}\n")).ok();
    env.settee_stdin(["import", "-"], "{\"_id\":\"e\",\"w\":2}\n").ok();
    env
}

fn refs_table(env: &TestEnv) -> std::path::PathBuf {
    std::fs::read_dir(env.store_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("refs-"))
        .expect("a refs table after the import's checkpoint")
}

#[test]
fn a_flipped_bit_in_a_revision_id_of_the_refs_table_is_an_error() {
    let env = store_with_history();
    let good = env.settee(["get", "d", "--revs"]).ok().to_string();
    let table = refs_table(&env);
    let mut bytes = std::fs::read(&table).unwrap();
    let at = bytes.windows(16).position(|w| w == [0xaa; 16]).expect("the 1-aa… hash, stored as 16 bytes");
    bytes[at + 3] ^= 0x01;
    std::fs::write(&table, &bytes).unwrap();
    for args in [
        &["get", "d", "--revs"][..],
        &["get", "e"],
        &["ls"],
        &["export", "--all-leaves"],
        &["--json", "changes"],
    ] {
        let msg = env.settee(args).fails(ERROR);
        assert!(msg.contains("refs-") && msg.contains("checksum"), "{args:?}: {msg}");
    }
    let out = env.settee(["fsck"]);
    assert_eq!(out.code, ERROR, "{out:?}");
    assert!(out.stdout.contains("refs-") && out.stdout.contains("checksum"), "{out:?}");
    // A clone refuses to copy the damage.
    let copy = env.path().join("copy");
    let msg = env.settee(["clone", ".", copy.to_str().unwrap()]).fails(ERROR);
    assert!(msg.contains("checksum"), "{msg}");
    assert_ne!(good, "");
}

/// Every single-byte flip in the refs and changes tables either leaves the answers exactly
/// as they were (the byte is not read on these paths) or makes them fail: never a changed
/// answer with exit 0.
#[test]
fn no_flip_in_a_table_gives_a_wrong_answer() {
    let env = store_with_history();
    let reads: [&[&str]; 4] =
        [&["get", "d", "--revs"], &["get", "e"], &["export", "--all-leaves"], &["changes"]];
    let good: Vec<String> = reads.iter().map(|args| env.settee(*args).ok().to_string()).collect();
    let tables: Vec<std::path::PathBuf> = std::fs::read_dir(env.store_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tbl"))
        .collect();
    assert_eq!(tables.len(), 2, "{tables:?}");
    let mut failed = 0;
    for table in &tables {
        let original = std::fs::read(table).unwrap();
        for at in 0..original.len() {
            let mut bytes = original.clone();
            bytes[at] ^= 0x10;
            std::fs::write(table, &bytes).unwrap();
            for (args, good) in reads.iter().zip(&good) {
                let out = env.settee(*args);
                if out.code == OK {
                    assert_eq!(
                        &out.stdout,
                        good,
                        "{} byte {at}: {args:?} answered differently",
                        table.display()
                    );
                } else {
                    failed += 1;
                    crate::assert_no_panic(&out);
                }
            }
        }
        std::fs::write(table, &original).unwrap();
    }
    assert!(failed > 0);
}

/// A store with every kind of file: a pack with an index, tables, a journal with commits
/// after the last checkpoint, a manifest and a config. Also returns each pack file's length
/// before the last commit.
fn store_of_every_file_kind() -> (TestEnv, Vec<(std::path::PathBuf, u64)>) {
    let env = TestEnv::new();
    let lines: String =
        (0..300).map(|i| format!("{{\"_id\":\"d{i:03}\",\"n\":{i},\"s\":\"text {i}\"}}\n")).collect();
    env.settee_stdin(["import", "-"], &lines).ok();
    let rev = env.get_json(&["d007"])["_rev"].as_str().unwrap().to_string();
    env.update("d007", &rev, r#"{"n":"seven"}"#);
    let packs: Vec<(std::path::PathBuf, u64)> = std::fs::read_dir(env.store_dir().join("packs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pack"))
        .map(|p| {
            let len = std::fs::metadata(&p).unwrap().len();
            (p, len)
        })
        .collect();
    env.put("late", r#"{"after":"the checkpoint"}"#);
    (env, packs)
}

/// Flips at spread offsets of every file: every read either fails or answers exactly as
/// before, and nothing panics. Left out, as a known gap (issue 13, point 3): the journal,
/// and the pack bytes of the last commit, where a flip is cut on open as a torn write
/// would be, losing that commit without a word.
#[test]
fn no_flip_in_packs_indexes_manifest_or_config_gives_a_wrong_answer() {
    let (env, pack_lengths) = store_of_every_file_kind();
    let reads: [&[&str]; 5] = [
        &["get", "d007", "--revs"],
        &["get", "late"],
        &["get", "d250"],
        &["export", "--all-leaves"],
        &["changes"],
    ];
    let good: Vec<String> = reads.iter().map(|args| env.settee(*args).ok().to_string()).collect();
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    for dir in [env.store_dir(), env.store_dir().join("packs")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if path.is_file() && name != "LOCK" && !name.starts_with("journal-") {
                files.push(path);
            }
        }
    }
    let kinds = |ext: &str| files.iter().filter(|p| p.to_string_lossy().ends_with(ext)).count();
    assert!(kinds(".pack") >= 1 && kinds(".idx") >= 1 && kinds(".tbl") == 2, "{files:?}");
    let (mut flips, mut failed) = (0, 0);
    for file in &files {
        let original = std::fs::read(file).unwrap();
        let end =
            pack_lengths.iter().find(|(p, _)| p == file).map_or(original.len(), |(_, len)| *len as usize);
        let step = (end / 60).max(1);
        for at in (0..end).step_by(step) {
            let mut bytes = original.clone();
            bytes[at] ^= 0x08;
            std::fs::write(file, &bytes).unwrap();
            flips += 1;
            for (args, good) in reads.iter().zip(&good) {
                let out = env.settee(*args);
                crate::assert_no_panic(&out);
                if out.code == OK {
                    if &out.stdout != good {
                        panic!(
                            "{} byte {at}: {args:?} answered differently:\n{}",
                            file.display(),
                            crate::text_diff(good, &out.stdout)
                        );
                    }
                } else {
                    failed += 1;
                }
            }
        }
        std::fs::write(file, &original).unwrap();
    }
    assert!(flips > 200 && failed > 0, "{flips} flips, {failed} failed reads");
    assert_eq!(env.settee(["fsck"]).ok(), "ok\n");
}
