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
