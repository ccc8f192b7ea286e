//! Attachments through the binary. Part 1 has blobs but no command that makes them yet:
//! these tests put blobs in through the library, as `settee attach` will, and check what
//! `stats` and `fsck` say about them.

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
