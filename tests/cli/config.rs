//! A damaged config is refused, never read with a changed value; revision ids with
//! upper-case hex are kept as given.

use crate::*;

fn config_text(env: &TestEnv) -> String {
    std::fs::read_to_string(env.store_dir().join("config")).unwrap()
}

#[test]
fn a_flipped_byte_in_the_config_is_an_error_naming_the_file() {
    let env = TestEnv::new();
    env.put("a", r#"{"v":1}"#);
    let clean = config_text(&env);
    let uuid_at = clean.find("\"uuid\": \"").unwrap() + 9;
    let limit_at = clean.find("\"revs_limit\": 1000").unwrap() + 17;
    // revs_limit 1000 becomes 100, or a digit of the uuid changes: still valid JSON
    for (at, to) in [(limit_at, b' '), (uuid_at + 5, b'0'), (uuid_at + 5, b'f')] {
        let mut bytes = clean.clone().into_bytes();
        if bytes[at] == to {
            continue;
        }
        bytes[at] = to;
        std::fs::write(env.store_dir().join("config"), &bytes).unwrap();
        for args in [&["get", "a"][..], &["stats"], &["put", "b"], &["remote", "list"]] {
            let msg = env.settee_stdin(args, "{}").fails(ERROR);
            assert!(
                msg.contains(env.store_dir().join("config").to_str().unwrap()) && msg.contains("damaged"),
                "{args:?} after a flip at {at}: {msg}"
            );
        }
        assert_eq!(std::fs::read(env.store_dir().join("config")).unwrap(), bytes, "nothing rewrote it");
    }
    std::fs::write(env.store_dir().join("config"), &clean).unwrap();
    assert_eq!(env.get_json(&["a"])["v"], 1);
}

#[test]
fn a_config_from_before_checksums_opens_and_gets_one_on_the_next_write() {
    let env = TestEnv::new();
    env.put("a", r#"{"v":1}"#);
    let uuid =
        serde_json::from_str::<Value>(&config_text(&env)).unwrap()["uuid"].as_str().unwrap().to_string();
    let old = format!(
        "{{\n  \"format\": 1,\n  \"revs_limit\": 7,\n  \"remotes\": {{}},\n  \"uuid\": \"{uuid}\"\n}}\n"
    );
    std::fs::write(env.store_dir().join("config"), &old).unwrap();
    // readers leave it as it is
    assert_eq!(env.get_json(&["a"])["v"], 1);
    env.settee(["stats"]).ok();
    assert_eq!(config_text(&env), old);
    // the next write brings it to the current format, with a checksum and the same values
    env.put("b", r#"{"v":2}"#);
    let now = config_text(&env);
    let v: Value = serde_json::from_str(&now).unwrap();
    assert_eq!(v["format"], 2, "{now}");
    assert_eq!(v["revs_limit"], 7);
    assert_eq!(v["uuid"], uuid.as_str());
    assert!(v["checksum"].as_str().is_some_and(|c| c.len() == 40), "{now}");
    assert!(now.lines().rev().nth(1).unwrap().starts_with("  \"checksum\": "), "{now}");
    assert_eq!(env.get_json(&["b"])["v"], 2);
    // and from then on a change to it is refused
    std::fs::write(env.store_dir().join("config"), now.replace("\"revs_limit\": 7", "\"revs_limit\": 9"))
        .unwrap();
    let msg = env.settee(["get", "a"]).fails(ERROR);
    assert!(msg.contains("config") && msg.contains("checksum does not match"), "{msg}");
}

#[test]
fn a_current_config_whose_checksum_line_is_lost_is_refused() {
    let env = TestEnv::new();
    let text = config_text(&env);
    let cut = text.rfind(",\n  \"checksum\"").unwrap();
    std::fs::write(env.store_dir().join("config"), format!("{}\n}}\n", &text[..cut])).unwrap();
    let msg = env.settee(["stats"]).fails(ERROR);
    assert!(msg.contains("config") && msg.contains("no checksum"), "{msg}");
}

/// A replicated revision id comes back byte for byte: an upper-case hex hash is not folded
/// to lower case, so the peer that sent it recognises it, and the two spellings are two
/// revisions (as PouchDB compares them).
#[test]
fn replicated_revision_ids_are_kept_byte_for_byte() {
    let upper = "0123456789ABCDEF0123456789ABCDEF";
    let lower = upper.to_ascii_lowercase();
    let env = TestEnv::new();
    env.import_replicated(&[replicated("d", 1, &[upper], serde_json::json!({"v": 1}))]);
    assert_eq!(env.get_json(&["d"])["_rev"], format!("1-{upper}"));
    let revisions = env.get_json(&["d", "--revs"])["_revisions"].clone();
    assert_eq!(revisions, serde_json::json!({"start": 1, "ids": [upper]}));
    assert_eq!(env.get_json(&["d", "--rev", &format!("1-{upper}")])["v"], 1);
    // the lower-case spelling is another revision: a second leaf, not "unchanged"
    env.import_replicated(&[replicated("d", 1, &[&lower], serde_json::json!({"v": 2}))]);
    let leaves = env.settee(["export", "--all-leaves"]).ok().lines().count();
    assert_eq!(leaves, 2);
}
