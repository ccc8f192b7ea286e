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
/// after the last checkpoint, a manifest and a config.
fn store_of_every_file_kind() -> TestEnv {
    let env = TestEnv::new();
    let lines: String =
        (0..300).map(|i| format!("{{\"_id\":\"d{i:03}\",\"n\":{i},\"s\":\"text {i}\"}}\n")).collect();
    env.settee_stdin(["import", "-"], &lines).ok();
    let rev = env.get_json(&["d007"])["_rev"].as_str().unwrap().to_string();
    env.update("d007", &rev, r#"{"n":"seven"}"#);
    env.put("late", r#"{"after":"the checkpoint"}"#);
    env
}

/// Flips at spread offsets of every file: every read fails, answers exactly as before, or
/// (for the last commit, which a damaged journal record or pack frame makes unreadable)
/// answers without it and says so in a warning; nothing panics. Reads never cut, so each
/// flip is undone before the next.
#[test]
fn no_flip_in_any_file_gives_a_silently_wrong_answer() {
    let env = store_of_every_file_kind();
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
            if path.is_file() && name != "LOCK" {
                files.push(path);
            }
        }
    }
    let kinds = |ext: &str| files.iter().filter(|p| p.to_string_lossy().ends_with(ext)).count();
    assert!(kinds(".pack") >= 1 && kinds(".idx") >= 1 && kinds(".tbl") == 2, "{files:?}");
    let (mut flips, mut failed) = (0, 0);
    for file in &files {
        let original = std::fs::read(file).unwrap();
        let end = original.len();
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
                    if &out.stdout != good && !out.stderr.starts_with("warning: ") {
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

/// A store with `a` and `b` committed after the last checkpoint (so in the journal only),
/// with the journal's and the active pack's lengths before `b`.
fn two_commits_in_the_journal() -> (TestEnv, std::path::PathBuf, u64, std::path::PathBuf, u64) {
    let env = TestEnv::new();
    env.put("a", r#"{"n":1}"#);
    let file = |dir: std::path::PathBuf, prefix: &str| {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                let name = p.file_name().unwrap().to_string_lossy().to_string();
                name.starts_with(prefix) && !name.ends_with(".idx")
            })
            .unwrap()
    };
    let journal = file(env.store_dir(), "journal-");
    let pack = file(env.store_dir().join("packs"), "pack-");
    let (journal_len, pack_len) =
        (std::fs::metadata(&journal).unwrap().len(), std::fs::metadata(&pack).unwrap().len());
    env.put("b", r#"{"n":2,"text":"the second commit, acknowledged"}"#);
    (env, journal, journal_len, pack, pack_len)
}

/// Checks after a cut of `b`'s commit classified as `kind`: readers are warned, the next
/// writer cuts with a warning and keeps the bytes, fsck reports it until the quarantine is
/// removed.
fn check_reported_cut(env: &TestEnv, kind: &str, cut_from: &std::path::Path, cut_at: u64) {
    let read = env.settee(["get", "b"]);
    assert_eq!(read.code, crate::NOT_FOUND, "{read:?}");
    assert!(read.stderr.starts_with("warning: ") && read.stderr.contains(kind), "{}", read.stderr);
    let fsck = env.settee(["fsck"]);
    assert_eq!(fsck.code, ERROR, "{fsck:?}");
    let original = std::fs::read(cut_from).unwrap();
    let write = env.settee_stdin(["put", "c"], "{}");
    assert_eq!(write.code, OK, "{write:?}");
    assert!(
        write.stderr.contains("warning: cut ") && write.stderr.contains("quarantine"),
        "{}",
        write.stderr
    );
    let name = cut_from.file_name().unwrap().to_string_lossy().to_string();
    let kept = env.store_dir().join("quarantine").join(format!("{name}.at-{cut_at}"));
    assert_eq!(std::fs::read(&kept).unwrap(), original[cut_at as usize..], "the cut bytes are kept");
    let notes = std::fs::read_to_string(env.store_dir().join("quarantine/NOTES")).unwrap();
    assert!(notes.contains(kind), "{notes}");
    // later commands say nothing more, and fsck and stats keep reporting it
    let again = env.settee(["get", "a"]);
    assert_eq!((again.code, again.stderr.as_str()), (OK, ""));
    let fsck = env.settee(["fsck"]);
    assert!(fsck.code == ERROR && fsck.stdout.contains("quarantine"), "{fsck:?}");
    assert!(env.settee(["stats"]).ok().contains("quarantine  1 cuts"));
    std::fs::remove_dir_all(env.store_dir().join("quarantine")).unwrap();
    assert_eq!(env.settee(["fsck"]).ok(), "ok\n");
}

#[test]
fn a_damaged_last_journal_record_is_cut_loudly_and_kept() {
    let (env, journal, journal_len, _, _) = two_commits_in_the_journal();
    let mut bytes = std::fs::read(&journal).unwrap();
    let at = bytes.len() - 6;
    bytes[at] ^= 0x04;
    std::fs::write(&journal, &bytes).unwrap();
    check_reported_cut(&env, "damaged last commit", &journal, journal_len);
}

#[test]
fn a_truncated_journal_is_lost_acknowledged_commits_not_a_torn_write() {
    let (env, journal, journal_len, pack, pack_len) = two_commits_in_the_journal();
    env.put("d", r#"{"n":4}"#);
    // cut after `a`'s record: `b`'s, which the header says was acknowledged, is gone; the
    // pack bytes of `b` and `d` are what is left of them, and are kept
    let bytes = std::fs::read(&journal).unwrap();
    std::fs::write(&journal, &bytes[..journal_len as usize]).unwrap();
    check_reported_cut(&env, "acknowledged commits lost", &pack, pack_len);
}

#[test]
fn a_damaged_frame_of_the_last_commit_is_cut_loudly_and_kept() {
    let (env, _, _, pack, pack_len) = two_commits_in_the_journal();
    let mut bytes = std::fs::read(&pack).unwrap();
    let at = bytes.len() - 3;
    bytes[at] ^= 0x40;
    std::fs::write(&pack, &bytes).unwrap();
    check_reported_cut(&env, "damaged last commit", &pack, pack_len);
}

/// A commit interrupted before it was acknowledged (its record cut short) is cut quietly
/// for readers, with one warning from the writer, and is no damage to fsck.
#[test]
fn a_torn_write_is_cut_with_a_warning_and_no_finding() {
    let (env, journal, _, _, _) = two_commits_in_the_journal();
    let bytes = std::fs::read(&journal).unwrap();
    std::fs::write(&journal, &bytes[..bytes.len() - 9]).unwrap();
    let read = env.settee(["get", "a"]);
    assert_eq!((read.code, read.stderr.as_str()), (OK, ""));
    let write = env.settee_stdin(["put", "c"], "{}");
    assert!(write.code == OK && write.stderr.contains("interrupted commit"), "{write:?}");
    assert_eq!(env.settee(["fsck"]).ok(), "ok\n");
}

/// Rewrites do not launder damage: a checkpoint or a compaction that meets a damaged refs
/// group stops with the error and leaves the damaged table in place, so fsck still sees it.
#[test]
fn checkpoints_and_compactions_refuse_a_damaged_table_and_keep_it() {
    let env = store_with_history();
    let table = refs_table(&env);
    let mut bytes = std::fs::read(&table).unwrap();
    let at = bytes.windows(16).position(|w| w == [0xaa; 16]).unwrap();
    bytes[at] ^= 0x80;
    std::fs::write(&table, &bytes).unwrap();
    for args in [&["compact", "--full"][..], &["compact"]] {
        let msg = env.settee(args).fails(ERROR);
        assert!(msg.contains("refs-") && msg.contains("checksum"), "{args:?}: {msg}");
    }
    // an import ends with a checkpoint: the documents are committed, the checkpoint refused
    let out = env.settee_stdin(["import", "-"], "{\"_id\":\"new\"}\n");
    assert_eq!(out.code, ERROR, "{out:?}");
    assert!(out.stderr.contains("checksum"), "{}", out.stderr);
    assert_eq!(std::fs::read(refs_table(&env)).unwrap(), bytes, "the damaged table is left as it was");
    let fsck = env.settee(["fsck"]);
    assert!(fsck.code == ERROR && fsck.stdout.contains("checksum"), "{fsck:?}");
}

/// Damage in a source store's packs or pack indexes stops a fetch or a clone from it with an error: the
/// target gets no copy of the damage and no changed document. A fetch keeps the batches it
/// committed before meeting the damage (each an exact copy of the source's documents); a
/// clone leaves nothing behind. Damage to the source's last commit makes it read as the
/// store before that commit, with a warning, and that state is what gets copied.
#[test]
fn a_damaged_source_store_is_never_copied() {
    let src = TestEnv::new();
    let lines: String =
        (0..400).map(|i| format!("{{\"_id\":\"d{i:03}\",\"n\":{i},\"s\":\"text of {i}\"}}\n")).collect();
    src.settee_stdin(["import", "-"], &lines).ok();
    let before_last: std::collections::HashSet<String> =
        src.settee(["export", "--all-leaves"]).ok().lines().map(str::to_string).collect();
    let rev = src.get_json(&["d007"])["_rev"].as_str().unwrap().to_string();
    src.update("d007", &rev, r#"{"n":"seven"}"#);
    let good_lines: Vec<String> =
        src.settee(["export", "--all-leaves"]).ok().lines().map(str::to_string).collect();
    let good: std::collections::HashSet<&str> = good_lines.iter().map(String::as_str).collect();
    let packs: Vec<String> = std::fs::read_dir(src.store_dir().join("packs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|name| name.ends_with(".pack") || name.ends_with(".idx"))
        .collect();
    assert!(packs.len() >= 2, "{packs:?}");
    // A copy of the source with one byte of one pack flipped (reading it may cut its tail).
    let damaged_copy = |pack: &str, at: usize| {
        let env = TestEnv::bare();
        let status = std::process::Command::new("cp")
            .args(["-a", src.store_dir().to_str().unwrap(), env.path().to_str().unwrap()])
            .status()
            .unwrap();
        assert!(status.success());
        let path = env.path().join(".settee/packs").join(pack);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[at] ^= 0x10;
        std::fs::write(&path, &bytes).unwrap();
        env
    };
    let (mut flips, mut refused) = (0, 0);
    for pack in &packs {
        let len = std::fs::metadata(src.store_dir().join("packs").join(pack)).unwrap().len() as usize;
        for at in (0..len).step_by((len / 40).max(1)) {
            flips += 1;
            let source = damaged_copy(pack, at);
            let dst = TestEnv::new();
            dst.put("mine", r#"{"keep":"me"}"#);
            let fetched = dst.settee(["fetch", source.store_dir().to_str().unwrap()]);
            crate::assert_no_panic(&fetched);
            let copied = dst.settee(["export", "--all-leaves"]).ok().to_string();
            for line in copied.lines().filter(|l| !l.contains("\"mine\"")) {
                let older = before_last.contains(line) && fetched.stderr.contains("warning: ");
                assert!(
                    good.contains(line) || older,
                    "{pack} byte {at}: fetch copied a changed document: {line}\n{}",
                    fetched.stderr
                );
            }
            if fetched.code == OK {
                let complete = copied.lines().count() == good.len() + 1;
                assert!(
                    complete || fetched.stderr.contains("warning: "),
                    "{pack} byte {at}: fetch lost documents"
                );
            } else {
                refused += 1;
                assert!(fetched.stderr.starts_with("error: "), "{}", fetched.stderr);
            }
            assert_eq!(dst.settee(["fsck"]).ok(), "ok\n", "{pack} byte {at}");
            let source = damaged_copy(pack, at);
            let bare = TestEnv::bare();
            let cloned = bare.settee(["clone", source.store_dir().to_str().unwrap(), "copy"]);
            crate::assert_no_panic(&cloned);
            if cloned.code == OK {
                let copy = bare.path().join("copy");
                let export =
                    bare.settee(["-C", copy.to_str().unwrap(), "export", "--all-leaves"]).ok().to_string();
                let exact = export.lines().eq(good_lines.iter().map(String::as_str));
                let older = cloned.stderr.contains("warning: ")
                    && export.lines().count() == before_last.len()
                    && export.lines().all(|l| before_last.contains(l));
                assert!(exact || older, "{pack} byte {at}: the clone differs:\n{}", cloned.stderr);
            } else {
                assert!(!bare.path().join("copy").exists(), "a refused clone leaves nothing behind");
            }
        }
    }
    assert!(flips >= 40 && refused > flips / 2, "{flips} flips, {refused} fetches refused");
}
