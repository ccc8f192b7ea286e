//! Store settings kept in `.settee/config` (JSON): format version, `revs_limit`, remotes.
//!
//! Invariant: unknown keys are kept when the file is rewritten, so newer settee versions'
//! settings survive an older one touching the file.
//!
//! Spec: format-spec/config.md.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const FILE_NAME: &str = "config";
pub const FORMAT: u32 = 1;
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

impl Config {
    pub fn load(dir: &Path) -> Result<Config> {
        let path = dir.join(FILE_NAME);
        let bytes = std::fs::read(&path).map_err(Error::io(&path))?;
        let config: Config = serde_json::from_slice(&bytes)
            .map_err(|e| Error::corrupt(&path, e.column() as u64, format!("config is not valid: {e}")))?;
        if config.format > FORMAT {
            return Err(Error::UnsupportedVersion {
                path,
                what: "store format",
                found: config.format,
                max: FORMAT,
            });
        }
        if config.format == 0 {
            return Err(Error::corrupt(&path, 0, "config: format must be at least 1"));
        }
        if config.revs_limit == 0 {
            return Err(Error::corrupt(&path, 0, "config: revs_limit must be at least 1"));
        }
        Ok(config)
    }

    pub fn store(&self, dir: &Path) -> Result<()> {
        let mut bytes = serde_json::to_vec_pretty(self).map_err(|e| Error::Invalid(e.to_string()))?;
        bytes.push(b'\n');
        crate::fsutil::replace_atomically(&dir.join(FILE_NAME), &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        config.store(dir.path()).unwrap();
        let again = Config::load(dir.path()).unwrap();
        assert_eq!(again, config);
        assert_eq!(
            serde_json::to_string(&again.other["later"]).unwrap(),
            r#"{"f":1.5,"big":12345678901234567890123,"z":-0,"e":1e+5}"#
        );
    }
}
