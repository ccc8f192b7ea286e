//! Store settings kept in `.settee/config` (JSON): format version, `revs_limit`, remotes.
//!
//! Invariants:
//! 1. Unknown keys are kept when the file is rewritten, so newer settee versions' settings
//!    survive an older one touching the file.
//! 2. Every write ends the object with a `checksum` member, the SHA-1 of the bytes before
//!    its line, and writes the current store format. A reader verifies it before it trusts
//!    any value: a damaged config is refused naming the file, never read with a changed
//!    value. A config of store format 1 may lack it (stores made before it existed); the
//!    next write adds it.
//!
//! Spec: format-spec/config.md.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const FILE_NAME: &str = "config";
/// The store format this settee writes; it reads every format from 1 up to this one.
pub const FORMAT: u32 = 2;
/// The first store format whose config always carries a checksum.
pub const FORMAT_WITH_CHECKSUM: u32 = 2;
/// The config member that holds the checksum; written last, on a line of its own.
pub const CHECKSUM_KEY: &str = "checksum";
/// The text before the checksum's 40 hex digits, from the start of its line.
const CHECKSUM_HEAD: &[u8] = b"  \"checksum\": \"";
/// The text after them, to the end of the file.
const CHECKSUM_TAIL: &[u8] = b"\"\n}\n";
pub const DEFAULT_REVS_LIMIT: u64 = 1000;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Config {
    pub format: u32,
    #[serde(default = "default_revs_limit")]
    pub revs_limit: u64,
    #[serde(default)]
    pub remotes: BTreeMap<String, String>,
    /// This store's identity, for replication ids (made at init).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

fn default_revs_limit() -> u64 {
    DEFAULT_REVS_LIMIT
}

impl Default for Config {
    fn default() -> Self {
        Config {
            format: FORMAT,
            revs_limit: DEFAULT_REVS_LIMIT,
            remotes: BTreeMap::new(),
            uuid: None,
            other: BTreeMap::new(),
        }
    }
}

/// Where the checksummed part of `bytes` ends (the start of the checksum line) and the
/// checksum it carries, when `bytes` ends with a checksum line of the written form.
fn split_checksum(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let end = bytes.len().checked_sub(CHECKSUM_TAIL.len())?;
    if bytes.get(end..)? != CHECKSUM_TAIL {
        return None;
    }
    let hex_at = end.checked_sub(40)?;
    let line_at = hex_at.checked_sub(CHECKSUM_HEAD.len())?;
    let hex = bytes.get(hex_at..end)?;
    let starts_line = line_at > 0 && bytes.get(line_at - 1) == Some(&b'\n');
    (starts_line && bytes.get(line_at..hex_at)? == CHECKSUM_HEAD).then_some((line_at, hex))
}

/// The checksum of the part of the file before the checksum line.
fn checksum_of(covered: &[u8]) -> String {
    crate::id::sha1(covered).to_string()
}

impl Config {
    /// Read `dir/config`, verifying its checksum before anything else.
    pub fn load(dir: &Path) -> Result<Config> {
        let path = dir.join(FILE_NAME);
        let bytes = std::fs::read(&path).map_err(Error::io(&path))?;
        Config::from_bytes(&bytes, &path)
    }

    /// Parse and check the bytes of the config file at `path` (named in errors).
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Config> {
        let damaged = |at: usize, what: &str| {
            Error::corrupt(path, at as u64, format!("config is damaged: {what}; restore it from a backup"))
        };
        let checksum = split_checksum(bytes);
        if let Some((covered, hex)) = checksum {
            if checksum_of(bytes.get(..covered).unwrap_or_default()).as_bytes() != hex {
                return Err(damaged(covered, "its checksum does not match its contents"));
            }
        }
        let mut config: Config = serde_json::from_slice(bytes)
            .map_err(|e| Error::corrupt(path, e.column() as u64, format!("config is not valid: {e}")))?;
        let has_member = config.other.remove(CHECKSUM_KEY).is_some();
        if config.format > FORMAT {
            return Err(Error::UnsupportedVersion {
                path: path.into(),
                what: "store format",
                found: config.format,
                max: FORMAT,
            });
        }
        match (checksum.is_some(), has_member) {
            (true, _) => {}
            (false, true) => return Err(damaged(0, "its checksum line is not in the written form")),
            (false, false) if config.format >= FORMAT_WITH_CHECKSUM => {
                return Err(damaged(0, "it has no checksum"));
            }
            (false, false) => {}
        }
        if config.format == 0 {
            return Err(Error::corrupt(path, 0, "config: format must be at least 1"));
        }
        if config.revs_limit == 0 {
            return Err(Error::corrupt(path, 0, "config: revs_limit must be at least 1"));
        }
        Ok(config)
    }

    /// The bytes `store` writes: the config at the current store format, pretty-printed, its
    /// last member the checksum of everything before that member's line.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut current = self.clone();
        current.format = FORMAT;
        current.other.remove(CHECKSUM_KEY);
        let mut bytes = serde_json::to_vec_pretty(&current).map_err(|e| Error::Invalid(e.to_string()))?;
        // `{ ... \n}` becomes `{ ...,\n` + the checksum line + `}\n`.
        if bytes.pop() != Some(b'}') || bytes.pop() != Some(b'\n') {
            return Err(Error::Invalid("config did not serialize as a JSON object".into()));
        }
        bytes.extend_from_slice(b",\n");
        let sum = checksum_of(&bytes);
        bytes.extend_from_slice(CHECKSUM_HEAD);
        bytes.extend_from_slice(sum.as_bytes());
        bytes.extend_from_slice(CHECKSUM_TAIL);
        Ok(bytes)
    }

    /// Write the config to `dir/config` by atomic replace.
    pub fn store(&self, disk: &dyn crate::disk::Disk, dir: &Path) -> Result<()> {
        crate::fsutil::replace_atomically(disk, &dir.join(FILE_NAME), &self.to_bytes()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Config {
        let mut c = Config { uuid: Some("2d8ccb1c22d85aba096a5e2d488863f1".into()), ..Config::default() };
        c.remotes.insert("origin".into(), "/tmp/s/.settee".into());
        c.other.insert("zzz-newer".into(), serde_json::json!({"checksum": "nested stays"}));
        c
    }

    #[test]
    fn round_trips_with_a_checksum_line_last() {
        let bytes = sample().to_bytes().unwrap();
        let text = std::str::from_utf8(&bytes).unwrap();
        let last = text.lines().rev().nth(1).unwrap();
        assert!(
            last.starts_with("  \"checksum\": \"") && last.len() == "  \"checksum\": \"".len() + 40 + 1,
            "{text}"
        );
        assert_eq!(Config::from_bytes(&bytes, Path::new("config")).unwrap(), sample());
        // a config read and written again has one checksum, not two
        let again = Config::from_bytes(&bytes, Path::new("config")).unwrap().to_bytes().unwrap();
        assert_eq!(again, bytes);
    }

    #[test]
    fn writes_the_example_of_the_spec() {
        let c = Config { uuid: Some("2d8ccb1c22d85aba096a5e2d488863f1".into()), ..Config::default() };
        let expected = "{\n  \"format\": 2,\n  \"revs_limit\": 1000,\n  \"remotes\": {},\n  \"uuid\": \"2d8ccb1c22d85aba096a5e2d488863f1\",\n  \"checksum\": \"6639ee1503aae2b57a893fc6ca865432904fb1a8\"\n}\n";
        assert_eq!(String::from_utf8(c.to_bytes().unwrap()).unwrap(), expected);
    }

    #[test]
    fn every_flipped_byte_is_refused() {
        let bytes = sample().to_bytes().unwrap();
        for at in 0..bytes.len() {
            for mask in [0x01, 0x10, 0x20, 0x80] {
                let mut bad = bytes.clone();
                bad[at] ^= mask;
                let r = Config::from_bytes(&bad, Path::new("/s/.settee/config"));
                assert!(r.is_err(), "flip {mask:#x} at {at} accepted: {:?}", String::from_utf8_lossy(&bad));
            }
        }
    }

    #[test]
    fn a_changed_value_is_named_as_damage() {
        let bytes = sample().to_bytes().unwrap();
        let text = String::from_utf8(bytes).unwrap().replace("\"revs_limit\": 1000", "\"revs_limit\": 100 ");
        let err = Config::from_bytes(text.as_bytes(), Path::new("/s/.settee/config")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("/s/.settee/config") && msg.contains("checksum does not match"), "{msg}");
    }

    #[test]
    fn a_format_1_config_without_checksum_still_opens() {
        let old = b"{\n  \"format\": 1,\n  \"revs_limit\": 7,\n  \"remotes\": {}\n}\n";
        let c = Config::from_bytes(old, Path::new("config")).unwrap();
        assert_eq!((c.format, c.revs_limit), (1, 7));
        // written again, it is at the current format with a checksum
        let bytes = c.to_bytes().unwrap();
        let back = Config::from_bytes(&bytes, Path::new("config")).unwrap();
        assert_eq!((back.format, back.revs_limit), (FORMAT, 7));
        assert!(split_checksum(&bytes).is_some());
    }

    #[test]
    fn a_current_config_without_its_checksum_is_refused() {
        let text = String::from_utf8(sample().to_bytes().unwrap()).unwrap();
        let cut = text.rfind(",\n  \"checksum\"").unwrap();
        let bare = format!("{}\n}}\n", &text[..cut]);
        let msg = Config::from_bytes(bare.as_bytes(), Path::new("config")).unwrap_err().to_string();
        assert!(msg.contains("no checksum"), "{msg}");
        // a checksum member that is not the last line is not in the written form
        let moved = text.replacen("{\n", "{\n  \"checksum\": \"00\",\n", 1);
        let moved = moved.replace(&text[cut..text.len() - 3], "");
        assert!(Config::from_bytes(moved.as_bytes(), Path::new("config")).is_err());
    }

    /// Unknown keys keep their numbers as written (serde_json's `arbitrary_precision` goes
    /// through `flatten` too), and the known ones still parse.
    #[test]
    fn unknown_keys_keep_their_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let text =
            r#"{"format":1,"revs_limit":7,"later":{"f":1.5,"big":12345678901234567890123,"z":-0,"e":1E5}}"#;
        std::fs::write(dir.path().join(FILE_NAME), text).unwrap();
        let config = Config::load(dir.path()).unwrap();
        assert_eq!((config.format, config.revs_limit), (1, 7));
        config.store(&crate::disk::RealDisk, dir.path()).unwrap();
        let again = Config::load(dir.path()).unwrap();
        // storing writes the current format, with its checksum; the rest is unchanged
        assert_eq!(again, Config { format: FORMAT, ..config });
        assert_eq!(
            serde_json::to_string(&again.other["later"]).unwrap(),
            r#"{"f":1.5,"big":12345678901234567890123,"z":-0,"e":1e+5}"#
        );
    }
}
