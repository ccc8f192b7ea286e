//! Durability and recovery: reopen, torn tails, corruption detected rather than returned.

use serde_json::json;
use settee::ErrorKind;

use crate::*;

fn pack_files(root: &std::path::Path, ext: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(root.join("packs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

/// The one file of the store's directory whose name starts with `prefix`.
fn store_file(root: &std::path::Path, prefix: &str) -> std::path::PathBuf {
    std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .unwrap()
}

fn journal(root: &std::path::Path) -> std::path::PathBuf {
    store_file(root, "journal-")
}

#[test]
fn writes_survive_reopen_with_and_without_checkpoint() {
    let mut t = TestStore::new();
    let r = put(&mut t.store, "a", None, json!({"n": 1})).unwrap();
    t.reopen();
    assert_eq!(winner_body(&t.store, "a"), Some(json!({"n": 1})));
    put(&mut t.store, "a", Some(&r), json!({"n": 2})).unwrap();
    t.store.checkpoint().unwrap();
    put(&mut t.store, "b", None, json!({"n": 3})).unwrap();
    t.reopen();
    assert_eq!(winner_body(&t.store, "a"), Some(json!({"n": 2})));
    assert_eq!(winner_body(&t.store, "b"), Some(json!({"n": 3})));
    assert!(t.store.verify().unwrap().is_empty());
}

#[test]
fn a_torn_journal_tail_is_cut_and_earlier_commits_stay() {
    let mut t = TestStore::new();
    put(&mut t.store, "a", None, json!({"n": 1})).unwrap();
    let path = journal(&t.root());
    let len_after_first = std::fs::metadata(&path).unwrap().len();
    put(&mut t.store, "b", None, json!({"n": 2})).unwrap();
    let full = std::fs::read(&path).unwrap();
    t.release_writer();
    for cut in [len_after_first + 1, len_after_first + 9, full.len() as u64 - 1] {
        std::fs::write(&path, &full[..cut as usize]).unwrap();
        let store = Store::open(&t.root(), settee::OpenOptions { write: true, wait_for_lock: None }).unwrap();
        assert!(winner_body(&store, "a").is_some());
        assert!(winner_body(&store, "b").is_none(), "cut at {cut}");
        assert!(store.verify().unwrap().is_empty());
        drop(store);
        std::fs::write(&path, &full).unwrap();
    }
}

/// A commit syncs its journal record and its pack bytes at once, so a power loss can keep
/// the record and lose some of those bytes (the file cut short, or its last pages zeros).
/// Opening treats that record as torn: the commit was never acknowledged, and every earlier
/// one is intact. A reader sees the same, and the writer then cuts both files and goes on.
#[test]
fn a_record_whose_pack_bytes_did_not_reach_the_disk_is_cut_as_torn() {
    let mut t = TestStore::new();
    put(&mut t.store, "a", None, json!({"n": 1})).unwrap();
    let pack = pack_files(&t.root(), "pack").pop().unwrap();
    let journal_path = journal(&t.root());
    let pack_after_first = std::fs::metadata(&pack).unwrap().len() as usize;
    let journal_after_first = std::fs::metadata(&journal_path).unwrap().len();
    put(&mut t.store, "b", None, json!({"n": 2, "pad": "z".repeat(300)})).unwrap();
    t.release_writer();
    let full = std::fs::read(&pack).unwrap();
    assert!(full.len() > pack_after_first + 20, "b's commit wrote a frame");
    let losses: [(&str, Vec<u8>); 3] = [
        ("cut short", full[..full.len() - 7].to_vec()),
        ("cut at the first commit", full[..pack_after_first].to_vec()),
        ("last bytes zeroed", {
            let mut z = full.clone();
            z[pack_after_first + 10..].fill(0);
            z
        }),
    ];
    for (what, lost) in losses {
        std::fs::write(&pack, &lost).unwrap();
        let reader = t.reader();
        assert!(winner_body(&reader, "a").is_some(), "{what}");
        assert!(winner_body(&reader, "b").is_none(), "{what}: b's commit is cut");
        drop(reader);
        t.reopen();
        assert!(winner_body(&t.store, "b").is_none(), "{what}");
        assert_eq!(std::fs::metadata(&journal_path).unwrap().len(), journal_after_first, "{what}");
        assert_eq!(std::fs::metadata(&pack).unwrap().len() as usize, pack_after_first, "{what}");
        assert!(t.store.verify().unwrap().is_empty(), "{what}");
        put(&mut t.store, "c", None, json!({"n": 3})).unwrap();
        t.reopen();
        assert!(winner_body(&t.store, "a").is_some() && winner_body(&t.store, "c").is_some(), "{what}");
        // Back to the state with b's commit whole, for the next loss.
        t.release_writer();
        std::fs::write(&pack, &full).unwrap();
        let mut j = std::fs::read(&journal_path).unwrap();
        j.truncate(journal_after_first as usize);
        std::fs::write(&journal_path, &j).unwrap();
        t.reopen();
        put(&mut t.store, "b", None, json!({"n": 2, "pad": "z".repeat(300)}))
            .unwrap_or_else(|e| panic!("{e}"));
        t.release_writer();
        assert_eq!(std::fs::read(&pack).unwrap(), full, "{what}: the same commit writes the same bytes");
    }
}

#[test]
fn garbage_after_the_committed_pack_end_is_cut_off() {
    let mut t = TestStore::new();
    put(&mut t.store, "a", None, json!({"n": 1})).unwrap();
    t.release_writer();
    let pack = pack_files(&t.root(), "pack").pop().unwrap();
    let mut bytes = std::fs::read(&pack).unwrap();
    let committed = bytes.len();
    bytes.extend_from_slice(&[0xAB; 1000]);
    std::fs::write(&pack, &bytes).unwrap();
    t.reopen();
    assert_eq!(std::fs::metadata(&pack).unwrap().len() as usize, committed);
    put(&mut t.store, "b", None, json!({"n": 2})).unwrap();
    t.reopen();
    assert!(winner_body(&t.store, "a").is_some() && winner_body(&t.store, "b").is_some());
    assert!(t.store.verify().unwrap().is_empty());
}

#[test]
fn a_corrupt_pack_byte_is_an_error_never_wrong_data() {
    let mut t = TestStore::new();
    for i in 0..20 {
        put(&mut t.store, &format!("d{i:02}"), None, json!({"i": i, "pad": "x".repeat(50)})).unwrap();
    }
    t.store.checkpoint().unwrap();
    t.release_writer();
    let pack = pack_files(&t.root(), "pack").into_iter().next().unwrap();
    let clean = std::fs::read(&pack).unwrap();
    // flip a byte in every position past the header, one at a time
    for at in (16..clean.len()).step_by(7) {
        let mut bad = clean.clone();
        bad[at] ^= 0x5A;
        std::fs::write(&pack, &bad).unwrap();
        let store = t.reader();
        let mut errors = 0;
        for i in 0..20 {
            match store.get_winner(&id(&format!("d{i:02}"))) {
                Ok(Some((_, b))) => assert_eq!(b["i"], i, "wrong data with byte {at} flipped"),
                Ok(None) => panic!("document vanished"),
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
                    errors += 1;
                }
            }
        }
        assert!(errors > 0, "flip at {at} went unnoticed by reads");
        assert!(!store.verify().unwrap().is_empty(), "flip at {at} went unnoticed by verify");
    }
    // a truncated pack is found too: open refuses it, or verification reports it
    std::fs::write(&pack, &clean[..clean.len() / 2]).unwrap();
    match Store::open(&t.root(), settee::OpenOptions::default()) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}"),
        Ok(store) => assert!(!store.verify().unwrap().is_empty()),
    }
}

#[test]
fn a_reader_sees_only_committed_state_and_survives_checkpoints() {
    let mut t = TestStore::new();
    put(&mut t.store, "a", None, json!({"n": 1})).unwrap();
    let reader = t.reader();
    put(&mut t.store, "b", None, json!({"n": 2})).unwrap();
    t.store.checkpoint().unwrap();
    // the old reader keeps its snapshot, even though its journal was unlinked
    assert!(winner_body(&reader, "a").is_some());
    assert!(winner_body(&reader, "b").is_none());
    let fresh = t.reader();
    assert!(winner_body(&fresh, "b").is_some());
}

/// A refs table hint that points at the wrong place costs a lookup, never the document:
/// the read falls back to the pack index, and verification names the bad hint.
#[test]
fn a_wrong_body_hint_is_reported_and_the_document_still_reads() {
    let mut t = TestStore::new();
    for i in 0..40 {
        put(&mut t.store, &format!("d{i:02}"), None, json!({"i": i, "pad": "y".repeat(40)})).unwrap();
    }
    t.store.checkpoint().unwrap();
    assert!(t.store.verify().unwrap().is_empty());
    t.release_writer();
    let table = store_file(&t.root(), "refs-");
    let mut bytes = std::fs::read(&table).unwrap();
    // The last record ("d39") ends with its hint, whose last byte is the last byte of its
    // inner offset: moving that offset by 1 (or 128) points the hint elsewhere.
    let entries_end = u64::from_be_bytes(bytes[16..24].try_into().unwrap()) as usize;
    bytes[entries_end - 1] ^= 1;
    // A hint that is wrong although its table is intact (a stale one): the checksums are
    // made to match the changed bytes.
    reseal_refs_table(&mut bytes);
    std::fs::write(&table, &bytes).unwrap();
    let store = t.reader();
    for i in 0..40 {
        let (_, body) = store.get_winner(&id(&format!("d{i:02}"))).unwrap().unwrap();
        assert_eq!(body["i"], i);
    }
    let findings = store.verify().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f.to_string().contains("d39") && f.to_string().contains("does not locate body")),
        "{findings:?}"
    );
}

/// Recompute a version 3 refs table's group checksums and trailer over its bytes as they
/// are (`format-spec/refs.md`).
fn reseal_refs_table(bytes: &mut [u8]) {
    let be64 = |b: &[u8], at: usize| u64::from_be_bytes(b[at..at + 8].try_into().unwrap()) as usize;
    let (count, offsets_at) = (be64(bytes, 8), be64(bytes, 16));
    let groups = count.div_ceil(16);
    let crcs_at = offsets_at + 8 * groups;
    for g in 0..groups {
        let start = be64(bytes, offsets_at + 8 * g);
        let end = if g + 1 < groups { be64(bytes, offsets_at + 8 * (g + 1)) } else { offsets_at };
        let crc = crc32fast::hash(&bytes[start..end]);
        bytes[crcs_at + 4 * g..crcs_at + 4 * g + 4].copy_from_slice(&crc.to_be_bytes());
    }
    let body = bytes.len() - 4;
    let crc = crc32fast::hash(&bytes[..body]);
    bytes[body..].copy_from_slice(&crc.to_be_bytes());
}

/// A refs table whose group offsets are damaged is reported by verification as findings,
/// not as a failure to verify.
#[test]
fn a_refs_table_with_a_bad_group_offset_is_a_finding() {
    let mut t = TestStore::new();
    for i in 0..40 {
        put(&mut t.store, &format!("d{i:02}"), None, json!({"i": i})).unwrap();
    }
    t.store.checkpoint().unwrap();
    t.release_writer();
    let table = store_file(&t.root(), "refs-");
    let mut bytes = std::fs::read(&table).unwrap();
    let offsets_at = u64::from_be_bytes(bytes[16..24].try_into().unwrap()) as usize;
    bytes[offsets_at..offsets_at + 8].copy_from_slice(&u64::MAX.to_be_bytes());
    std::fs::write(&table, &bytes).unwrap();
    let findings = t.reader().verify().expect("damage is reported as findings");
    assert!(findings.iter().any(|f| f.to_string().contains("group offset")), "{findings:?}");
}

/// A repair that stops with every new file written but before its manifest switch leaves
/// the old store: same generation, same findings; the next writer open removes the new
/// files, and a repair run again succeeds.
#[test]
fn a_repair_interrupted_before_its_switch_leaves_the_old_store() {
    let mut t = TestStore::new();
    for i in 0..20 {
        put(&mut t.store, &format!("d{i:02}"), None, json!({"n": i})).unwrap();
    }
    t.store.checkpoint().unwrap();
    let before: Vec<Option<serde_json::Value>> =
        (0..20).map(|i| winner_body(&t.store, &format!("d{i:02}"))).collect();
    t.release_writer();
    let root = t.root();
    let changes = store_file(&root, "changes-");
    let mut bytes = std::fs::read(&changes).unwrap();
    bytes[30] ^= 0x01;
    std::fs::write(&changes, &bytes).unwrap();
    let findings = settee::store::fsck(&root).unwrap();
    assert!(!findings.is_empty());
    let listing = |dir: &std::path::Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        names
    };
    let (root_files, pack_files) = (listing(&root), listing(&root.join("packs")));
    let generation = t.reader().manifest().generation;

    let options = settee::repair::Options { fail_before_switch: true, ..Default::default() };
    let err = settee::repair::repair(&root, &options).unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    assert_eq!(t.reader().manifest().generation, generation);
    assert_eq!(settee::store::fsck(&root).unwrap(), findings);
    drop(Store::open(&root, OpenOptions { write: true, wait_for_lock: None }).unwrap());
    assert_eq!(listing(&root.join("packs")), pack_files, "the new packs are leftovers, removed");
    let mut now = listing(&root);
    now.retain(|n| n != "quarantine");
    assert_eq!(now, root_files.into_iter().filter(|n| n != "quarantine").collect::<Vec<_>>());

    let outcome = settee::repair::repair(&root, &settee::repair::Options::default()).unwrap();
    assert_eq!(outcome.generation, Some(generation + 1));
    assert!(outcome.unsaved.is_empty() && outcome.ranges.is_empty() && !outcome.lost_commits, "{outcome:?}");
    assert_eq!(settee::store::fsck(&root).unwrap(), vec![]);
    let store = t.reader();
    let after: Vec<Option<serde_json::Value>> =
        (0..20).map(|i| winner_body(&store, &format!("d{i:02}"))).collect();
    assert_eq!(after, before);
}
