//! The databases a server serves, by name: those named at start, those found in the data
//! directory, and those `PUT /db` creates there.
//!
//! Owns: [`Databases`], name checks at the door, and creating and removing stores in the
//! data directory.
//! Invariants:
//! 1. Every name passes `config::check_db_name` (no `/`, no `.`), so a database's path is
//!    always `DATA_DIR/NAME/.settee` or a path given at start; a request never names a path.
//! 2. Only databases of the data directory are created or removed over HTTP, and removal
//!    needs `--allow-delete`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use axum::http::StatusCode;

use crate::config::{check_db_name, Config};
use crate::db::Db;
use crate::error::{ApiError, ApiResult, StartError};

pub struct Databases {
    map: RwLock<BTreeMap<String, Arc<Db>>>,
    data_dir: Option<PathBuf>,
    allow_delete: bool,
}

impl Databases {
    /// Open the databases named in `config` and those in its data directory.
    pub fn load(config: &Config) -> Result<Databases, StartError> {
        let mut map = BTreeMap::new();
        for (name, root) in &config.dbs {
            check_db_name(name).map_err(|why| StartError::BadDbName { name: name.clone(), why })?;
            if map.contains_key(name) {
                return Err(StartError::DuplicateDb { name: name.clone() });
            }
            let db = Db::open(name, root, false)
                .map_err(|source| StartError::Open { name: name.clone(), source })?;
            map.insert(name.clone(), db);
        }
        if let Some(dir) = &config.data_dir {
            let err = |source| StartError::DataDir { path: dir.clone(), source };
            std::fs::create_dir_all(dir).map_err(err)?;
            for entry in std::fs::read_dir(dir).map_err(err)?.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                let root = entry.path().join(settee::store::DIR_NAME);
                if check_db_name(&name).is_err() || map.contains_key(&name) || !is_store(&root) {
                    continue;
                }
                let db = Db::open(&name, &root, true)
                    .map_err(|source| StartError::Open { name: name.clone(), source })?;
                map.insert(name, db);
            }
        }
        Ok(Databases {
            map: RwLock::new(map),
            data_dir: config.data_dir.clone(),
            allow_delete: config.allow_delete,
        })
    }

    pub fn get(&self, name: &str) -> Option<Arc<Db>> {
        self.map.read().unwrap_or_else(|e| e.into_inner()).get(name).cloned()
    }

    pub fn names(&self) -> Vec<String> {
        self.map.read().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect()
    }

    pub fn all(&self) -> Vec<Arc<Db>> {
        self.map.read().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    /// `PUT /db`: a new store `DATA_DIR/NAME/.settee` (blocking).
    pub fn create(&self, name: &str) -> ApiResult<()> {
        check_name(name)?;
        let Some(dir) = &self.data_dir else {
            if self.get(name).is_some() {
                return Err(exists());
            }
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "creating databases needs a data directory (settee serve --data-dir DIR)",
            ));
        };
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if map.contains_key(name) {
            return Err(exists());
        }
        let root = dir.join(name).join(settee::store::DIR_NAME);
        if is_store(&root) {
            return Err(exists());
        }
        drop(settee::Store::init(&root)?);
        let db = Db::open(name, &root, true)?;
        map.insert(name.to_string(), db);
        Ok(())
    }

    /// `DELETE /db`: remove a store of the data directory (blocking).
    pub fn delete(&self, name: &str) -> ApiResult<()> {
        check_name(name)?;
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        let db = map.get(name).cloned().ok_or_else(ApiError::no_db)?;
        if !self.allow_delete {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "deleting databases is off (settee serve --allow-delete turns it on)",
            ));
        }
        let (true, Some(dir)) = (db.in_data_dir, &self.data_dir) else {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "only databases of the data directory can be deleted over HTTP",
            ));
        };
        map.remove(name);
        db.close();
        let tree = dir.join(name);
        std::fs::remove_dir_all(&tree)
            .map_err(|e| ApiError::internal(format!("removing {}: {e}", tree.display())))?;
        Ok(())
    }
}

fn is_store(root: &Path) -> bool {
    root.join(settee::manifest::FILE_NAME).is_file()
}

fn exists() -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "file_exists",
        "The database could not be created, the file already exists.",
    )
}

/// A name from a request: CouchDB's 400 `illegal_database_name` when it breaks the rule.
pub fn check_name(name: &str) -> ApiResult<()> {
    check_db_name(name).map_err(|why| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "illegal_database_name",
            format!("Name: {name:?}: {why}. Only lowercase characters (a-z), digits (0-9), and any of the characters _, $, (, ), +, - are allowed. Must begin with a letter."),
        )
    })
}
