//! `_local` documents: per store, never replicated, no history. Their revision is `0-N`,
//! counting writes; like CouchDB, a write does not check the revision it is given.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::Store;
use crate::doc::Body;
use crate::error::{Error, Result};
use crate::id::{DocId, Kind};
use crate::refs::{Entry, LocalRef};

impl Store {
    /// Write `_local/<name>` and return its new revision (`0-N`).
    pub fn put_local(&mut self, id: &DocId, body: &Map<String, Value>) -> Result<String> {
        self.locked(|store| store.put_local_locked(id, body))
    }

    fn put_local_locked(&mut self, id: &DocId, body: &Map<String, Value>) -> Result<String> {
        let rev = match self.entry(id.as_str())? {
            Some(Entry::Local(l)) => l.rev + 1,
            _ => 1,
        };
        let body = Body::from_map(body);
        self.put_object(body.id, Kind::Body, &body.bytes)?;
        self.commit(vec![(Arc::from(id.as_str()), Some(Entry::Local(LocalRef { rev, body: body.id })))])?;
        Ok(format!("0-{rev}"))
    }

    /// Read `_local/<name>` as `{_id, _rev, ...body}`.
    pub fn get_local(&self, id: &DocId) -> Result<Option<Map<String, Value>>> {
        let Some(Entry::Local(l)) = self.entry(id.as_str())? else { return Ok(None) };
        let bytes = self.odb.read_body(&l.body)?.ok_or_else(|| {
            Error::corrupt(self.root.clone(), 0, format!("body {} of {id} is missing", l.body))
        })?;
        let body = Body::parse(&bytes)?;
        let mut out = Map::new();
        out.insert("_id".into(), Value::String(id.to_string()));
        out.insert("_rev".into(), Value::String(format!("0-{}", l.rev)));
        out.extend(body);
        Ok(Some(out))
    }

    /// Delete `_local/<name>`; false if it did not exist.
    pub fn remove_local(&mut self, id: &DocId) -> Result<bool> {
        self.locked(|store| store.remove_local_locked(id))
    }

    fn remove_local_locked(&mut self, id: &DocId) -> Result<bool> {
        if !matches!(self.entry(id.as_str())?, Some(Entry::Local(_))) {
            return Ok(false);
        }
        self.commit(vec![(Arc::from(id.as_str()), None)])?;
        Ok(true)
    }
}
