//! `settee fsck --repair [--from LOCATION]`: the damage reproductions of issue 13, each
//! rebuilt from what is intact, with every document that could not be saved named, and
//! restored whole from a replica (a store or a bundle).

use std::path::{Path, PathBuf};

use crate::{TestEnv, ERROR, OK};

/// A store of 40 documents in three refs groups, two of them edited (so that packs hold
/// revision objects too), checkpointed into its tables; `extra` puts after that stay in the
/// journal.
fn damaged_candidate(journal_edits: usize) -> TestEnv {
    let env = TestEnv::new();
    let lines: String = (0..40)
        .map(|i| {
            let pad: String =
                (0..6).map(|k| format!("{:08x}", (i * 7 + k) * 2_654_435_761u64 % 4_294_967_291)).collect();
            format!("{{\"_id\":\"d{i:02}\",\"n\":{i},\"pad\":\"{pad}\"}}\n")
        })
        .collect();
    env.settee_stdin(["import", "-"], &lines).ok();
    for id in ["d05", "d17"] {
        let rev = env.get_json(&[id])["_rev"].as_str().unwrap().to_string();
        env.update(id, &rev, "{\"edited\":true}");
    }
    // An import ends with a checkpoint: the edits move into the tables.
    env.settee_stdin(["import", "-"], "{\"_id\":\"e\",\"w\":1}\n").ok();
    for i in 0..journal_edits {
        env.put(&format!("j{i}"), &format!("{{\"j\":{i}}}"));
    }
    env
}

/// A clone of `env` in a new work tree: the replica (its `.settee` directory).
fn replica_of(env: &TestEnv) -> (TestEnv, PathBuf) {
    let replica = TestEnv::bare();
    replica.settee(["clone", env.store_dir().to_str().unwrap(), "copy"]).ok();
    let dir = replica.path().join("copy");
    (replica, dir)
}

fn export(env: &TestEnv) -> String {
    env.settee(["export", "--all-leaves"]).ok().to_string()
}

fn export_at(dir: &Path) -> String {
    let env = TestEnv::bare();
    let mut cmd = env.command();
    cmd.current_dir(dir).args(["export", "--all-leaves"]);
    crate::run(cmd, "").ok().to_string()
}

fn file_starting(dir: &Path, prefix: &str, suffix: &str) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            name.starts_with(prefix) && name.ends_with(suffix)
        })
        .unwrap_or_else(|| panic!("no {prefix}*{suffix} in {}", dir.display()))
}

fn flip(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0x20;
    std::fs::write(path, &bytes).unwrap();
}

/// The store is sound again, and what it shows equals what it showed before the damage.
fn assert_sound_and_same(env: &TestEnv, before: &str) {
    assert_eq!(env.settee(["fsck"]).ok(), "ok\n");
    let now = export(env);
    assert!(now == before, "{}", crate::text_diff(before, &now));
}

#[test]
fn a_sound_store_needs_no_repair() {
    let env = damaged_candidate(1);
    let out = env.settee(["fsck", "--repair"]).ok().to_string();
    assert_eq!(out, "nothing to rebuild: fsck finds no damage\n");
    let events = env.settee(["--json", "fsck", "--repair"]).json_lines();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "action");
    assert!(env.settee(["fsck", "--from", "x"]).code != OK, "--from needs --repair");
}

#[test]
fn a_damaged_changes_table_is_rebuilt_from_the_refs() {
    let env = damaged_candidate(0);
    let before = export(&env);
    let changes_before = env.settee(["changes"]).ok().to_string();
    let table = file_starting(&env.store_dir(), "changes-", ".tbl");
    flip(&table, 40);
    assert_eq!(env.settee(["fsck"]).code, ERROR);
    let events = env.settee(["--json", "fsck", "--repair"]).json_lines();
    assert!(events.iter().all(|e| e["type"] == "action"), "{events:?}");
    let said = |what: &str| events.iter().any(|e| e["data"]["what"].as_str().unwrap().contains(what));
    assert!(
        said("found: changes: ") && said("rebuilt refs-") && said("switched to generation"),
        "{events:?}"
    );
    assert_sound_and_same(&env, &before);
    assert_eq!(env.settee(["changes"]).ok(), changes_before);
    // The damaged table is kept, not deleted.
    let kept = file_starting(&env.store_dir().join("quarantine"), "repair-", "");
    assert!(kept.join(table.file_name().unwrap()).is_file());
}

#[test]
fn a_damaged_refs_group_is_named_and_restored_from_a_replica_store() {
    let env = damaged_candidate(1);
    let (_replica, replica_dir) = replica_of(&env);
    let before = export(&env);
    let table = file_starting(&env.store_dir(), "refs-", ".tbl");
    // Inside the second group's entries (d16..d31): the table's header is 24 bytes, its
    // first group about a third of the entries.
    let len = std::fs::metadata(&table).unwrap().len() as usize;
    flip(&table, len / 2);
    env.settee(["get", "d20"]).fails(ERROR);

    let out = env.settee(["fsck", "--repair"]);
    assert_eq!(out.code, ERROR, "{out:?}");
    assert!(out.stdout.contains("group 1"), "{out:?}");
    assert!(out.stdout.contains("could not save: documents after d15 and before d32"), "{out:?}");
    // d17 had an edit: its revision object names it, so it is named by id.
    assert!(out.stdout.contains("could not save: d17 (1-"), "{out:?}");
    assert!(out.stderr.contains("--from"), "{out:?}");
    // What was intact reads as before; the rest is absent, not wrong.
    assert_eq!(env.get_json(&["d05"])["edited"], true);
    env.settee(["get", "d20"]).fails(4);
    assert_eq!(env.settee(["fsck"]).code, ERROR);

    let out = env.settee(["fsck", "--repair", "--from", replica_dir.to_str().unwrap()]);
    assert_eq!(out.code, OK, "{out:?}");
    assert!(out.stdout.contains("restored: d17"), "{out:?}");
    assert_sound_and_same(&env, &before);
    assert_eq!(export_at(&replica_dir), before);
}

#[test]
fn a_damaged_body_frame_names_its_documents_and_a_bundle_restores_them() {
    let env = damaged_candidate(0);
    env.settee(["bundle", "create", "all.bundle"]).ok();
    env.settee(["compact", "--full"]).ok();
    let before = export(&env);
    let pack = file_starting(&env.store_dir().join("packs"), "pack-", ".pack");
    // A byte in the payload of the second frame (the header is 16 bytes, a frame header 16).
    let bytes = std::fs::read(&pack).unwrap();
    let first_len = u32::from_be_bytes(bytes[16..20].try_into().unwrap()) as usize + 16;
    flip(&pack, 16 + first_len + 16 + 5);
    assert_eq!(env.settee(["fsck"]).code, ERROR);

    let out = env.settee(["fsck", "--repair"]);
    assert_eq!(out.code, ERROR, "{out:?}");
    assert!(out.stdout.contains("frame checksum mismatch"), "{out:?}");
    let named: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("could not save: d")).collect();
    assert!(!named.is_empty() && named.len() < 40, "{out:?}");
    // Every other document reads as before.
    let restored_now = export(&env);
    for line in before.lines() {
        let id = &line[8..11];
        if !named.iter().any(|n| n.contains(&format!(" {id} "))) {
            assert!(restored_now.contains(line), "{id} lost: {out:?}");
        }
    }

    // A replica that lacks them names them again, and the note stays open.
    let empty = TestEnv::new();
    let out = env.settee(["fsck", "--repair", "--from", empty.path().to_str().unwrap()]);
    assert_eq!(out.code, ERROR, "{out:?}");
    let lacking = out.stdout.lines().filter(|l| l.ends_with(": the replica lacks it")).count();
    assert_eq!(lacking, named.len(), "{out:?}");
    assert!(out.stderr.contains(&format!("{} documents could not be saved", named.len())), "{out:?}");
    assert_eq!(env.settee(["fsck"]).code, ERROR, "the note stays open");
    let out = env.settee(["fsck", "--repair", "--from", "all.bundle"]);
    assert_eq!(out.code, OK, "{out:?}");
    assert_eq!(out.stdout.lines().filter(|l| l.starts_with("restored: ")).count(), named.len(), "{out:?}");
    assert_sound_and_same(&env, &before);
}

#[test]
fn a_damaged_prefix_index_is_replaced_by_a_new_pack_and_index() {
    let env = damaged_candidate(0);
    let before = export(&env);
    let index = file_starting(&env.store_dir().join("packs"), "pack-", ".idx");
    assert!(index.to_string_lossy().contains(".part-"), "{index:?}");
    let len = std::fs::metadata(&index).unwrap().len() as usize;
    flip(&index, len - 30);
    assert_eq!(env.settee(["fsck"]).code, ERROR);
    let out = env.settee(["fsck", "--repair"]);
    assert_eq!(out.code, OK, "{out:?}");
    assert!(out.stdout.contains("intact objects copied to a new pack"), "{out:?}");
    assert_sound_and_same(&env, &before);
}

#[test]
fn a_damaged_sealed_pack_index_is_rebuilt_from_its_pack() {
    let env = damaged_candidate(0);
    for i in 0..30 {
        let id = format!("d{i:02}");
        let rev = env.get_json(&[&id])["_rev"].as_str().unwrap().to_string();
        env.update(&id, &rev, &format!("{{\"again\":{i}}}"));
    }
    env.settee(["compact", "--full"]).ok();
    let before = export(&env);
    let index = file_starting(&env.store_dir().join("packs"), "pack-", ".idx");
    assert!(!index.to_string_lossy().contains(".part-"), "compaction seals its pack: {index:?}");
    let len = std::fs::metadata(&index).unwrap().len() as usize;
    flip(&index, len - 30);
    assert_eq!(env.settee(["fsck"]).code, ERROR);
    let out = env.settee(["fsck", "--repair"]);
    assert_eq!(out.code, OK, "{out:?}");
    assert!(out.stdout.contains("does not match its pack; rebuilt from the pack"), "{out:?}");
    assert_sound_and_same(&env, &before);
}

/// A journal cut short below its acknowledged length: opening for writing cuts and keeps the
/// tail; the repair names the lost commits, and a replica brings them back.
#[test]
fn a_truncated_journal_is_restored_from_a_bundle() {
    let env = damaged_candidate(2);
    env.settee(["bundle", "create", "all.bundle"]).ok();
    let before = export(&env);
    let journal = file_starting(&env.store_dir(), "journal-", ".log");
    // Inside the first of the two records (the header is 24 bytes): the second was
    // acknowledged, so this is no interrupted write.
    std::fs::OpenOptions::new().write(true).open(&journal).unwrap().set_len(24 + 20).unwrap();
    let out = env.settee(["fsck", "--repair"]);
    assert_eq!(out.code, ERROR, "{out:?}");
    assert!(out.stdout.starts_with("cut acknowledged commits lost"), "{out:?}");
    assert!(out.stdout.contains("could not save: the documents of lost journal commits"), "{out:?}");
    env.settee(["get", "j1"]).fails(4);
    let out = env.settee(["fsck", "--repair", "--from", "all.bundle"]);
    assert_eq!(out.code, OK, "{out:?}");
    assert!(out.stdout.contains("fetched 2 revisions of 2 documents"), "{out:?}");
    assert_sound_and_same(&env, &before);
}

/// A record damaged in the middle of the journal: the commits after it are kept.
#[test]
fn lost_journal_commits_come_back_from_a_replica() {
    let env = damaged_candidate(3);
    let (_replica, replica_dir) = replica_of(&env);
    let before = export(&env);
    let journal = file_starting(&env.store_dir(), "journal-", ".log");
    // The first record's payload: acknowledged commits after it are lost.
    flip(&journal, 24 + 12 + 3);
    let out = env.settee(["fsck", "--repair"]);
    assert_eq!(out.code, ERROR, "{out:?}");
    assert!(
        out.stdout.contains("offset 24: journal record fails its checksum; the commits there are not used"),
        "{out:?}"
    );
    assert!(out.stdout.contains("could not save: the documents of lost journal commits"), "{out:?}");
    // The first commit is lost; the two after it are intact and kept.
    env.settee(["get", "j0"]).fails(4);
    assert_eq!(env.get_json(&["j2"])["j"], 2);
    assert_eq!(env.get_json(&["d05"])["edited"], true, "the tables' documents stay");

    let out = env.settee(["fsck", "--repair", "--from", replica_dir.to_str().unwrap()]);
    assert_eq!(out.code, OK, "{out:?}");
    assert_sound_and_same(&env, &before);
}

/// A frame holding only a revision object above a leaf: the leaf and its body are intact,
/// so the document is saved with its link cleared and its ancestor ids kept.
#[test]
fn a_damaged_revision_object_above_a_leaf_cuts_only_the_link() {
    let env = TestEnv::new();
    let first = env.put("a", "{\"x\":1}");
    // The same body again: the second commit's frame holds only the first revision's object.
    let second = env.update("a", &first, "{\"x\":1}");
    // A later commit: open checks the last commit's pack bytes, and would cut that one.
    env.put("b", "{\"y\":2}");
    let pack = file_starting(&env.store_dir().join("packs"), "pack-", ".pack");
    let bytes = std::fs::read(&pack).unwrap();
    let first_len = u32::from_be_bytes(bytes[16..20].try_into().unwrap()) as usize + 16;
    assert!(bytes.len() > 16 + first_len, "two frames");
    flip(&pack, 16 + first_len + 16 + 2);
    assert_eq!(env.settee(["fsck"]).code, ERROR);
    let out = env.settee(["fsck", "--repair"]);
    assert_eq!(out.code, OK, "{out:?}");
    assert!(
        out.stdout.contains(&format!("document a: the revision object above leaf {second} is damaged")),
        "{out:?}"
    );
    assert_eq!(env.settee(["fsck"]).ok(), "ok\n");
    let doc = env.get_json(&["a", "--revs"]);
    assert_eq!(doc["_rev"], second.as_str());
    assert_eq!(doc["x"], 1);
    assert_eq!(doc["_revisions"]["ids"].as_array().unwrap().len(), 2, "{doc}");
}
