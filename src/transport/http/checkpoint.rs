//! Checkpoint (`_local`) documents on a server, and noticing a database that was deleted
//! and created again while a replication ran.
//!
//! Owns: the `_rev` bookkeeping `_local` writes need (PouchDB Server refuses a write
//! without the current `_rev`; CouchDB does not check it) and the incarnation check.
//! A database's incarnation is what `instance_start_time` names, but PouchDB Server
//! changes it on every restart and keeps it across a re-creation, so a change only makes
//! settee look again: the database is the same one if every checkpoint document this
//! replication read or wrote is still there; one gone means the database was re-created,
//! and the replication stops rather than record a checkpoint in a database that lacks
//! what it names. The next run finds the logs disagree and starts from zero.

use serde_json::{Map, Value};
use ureq::http::Method;

use super::endpoints::doc_path;
use super::{Couch, Error};

impl Couch {
    fn local_path(id: &str) -> String {
        let id = id.strip_prefix("_local/").unwrap_or(id);
        doc_path(&format!("_local/{id}"))
    }

    /// `GET /db/_local/ID`, without `_id` and `_rev`.
    pub(crate) fn read_local(&mut self, id: &str) -> Result<Option<Map<String, Value>>, Error> {
        let path = Couch::local_path(id);
        let reply = self.get(&path)?;
        match reply.status {
            200 => {}
            404 => return Ok(None),
            _ => return Err(self.status("GET", &path, &reply)),
        }
        let mut doc: Map<String, Value> =
            crate::wire::parse("_local", &reply.body).map_err(|e| self.malformed(e))?;
        doc.remove("_id");
        if let Some(Value::String(rev)) = doc.remove("_rev") {
            self.local_revs.insert(id.to_string(), rev);
        }
        let session = doc.get("session_id").and_then(Value::as_str).map(str::to_string);
        self.local_sessions.insert(id.to_string(), session);
        Ok(Some(doc))
    }

    /// `PUT /db/_local/ID` with the `_rev` last seen; on a conflict (someone else wrote it,
    /// or our earlier attempt landed and its answer was lost) once more with the current one.
    pub(crate) fn write_local(&mut self, id: &str, body: &Map<String, Value>) -> Result<(), Error> {
        let path = Couch::local_path(id);
        for attempt in 0..2 {
            let mut doc = Map::new();
            doc.insert(
                "_id".into(),
                Value::String(format!("_local/{}", id.strip_prefix("_local/").unwrap_or(id))),
            );
            if let Some(rev) = self.local_revs.get(id) {
                doc.insert("_rev".into(), Value::String(rev.clone()));
            }
            doc.extend(body.iter().filter(|(k, _)| !k.starts_with('_')).map(|(k, v)| (k.clone(), v.clone())));
            let reply = self.send_json(Method::PUT, &path, &Value::Object(doc))?;
            match reply.status {
                200..=202 => {
                    let answer: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
                    match answer.get("rev").and_then(Value::as_str) {
                        Some(rev) => self.local_revs.insert(id.to_string(), rev.to_string()),
                        None => self.local_revs.remove(id),
                    };
                    let session = body.get("session_id").and_then(Value::as_str).map(str::to_string);
                    self.local_sessions.insert(id.to_string(), session);
                    return Ok(());
                }
                409 if attempt == 0 => {
                    let current = self.get(&path)?;
                    let rev = serde_json::from_slice::<Value>(&current.body)
                        .ok()
                        .and_then(|d| d.get("_rev").and_then(Value::as_str).map(str::to_string));
                    match rev {
                        Some(rev) if current.status == 200 => self.local_revs.insert(id.to_string(), rev),
                        _ => self.local_revs.remove(id),
                    };
                }
                _ => return Err(self.status("PUT", &path, &reply)),
            }
        }
        Err(Error::Status {
            method: "PUT".into(),
            url: format!("{}/{path}", self.url()),
            status: 409,
            body: "the checkpoint document keeps changing".into(),
        })
    }

    /// `POST /db/_ensure_full_commit`, then the incarnation check (module doc).
    pub(crate) fn full_commit(&mut self) -> Result<(), Error> {
        let reply = self.send_json(Method::POST, "_ensure_full_commit", &Value::Object(Map::new()))?;
        if reply.status == 404 {
            return Err(Error::Recreated { url: self.url().to_string() });
        }
        if !reply.ok() {
            return Err(self.status("POST", "_ensure_full_commit", &reply));
        }
        let answer: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        let now = match answer.get("instance_start_time") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => return Ok(()),
        };
        let known = self.instance.clone().unwrap_or_else(|| now.clone());
        if now == known || now == "0" || known == "0" {
            self.instance = Some(now);
            return Ok(());
        }
        let kept: Vec<(String, Option<String>)> =
            self.local_sessions.iter().map(|(id, s)| (id.clone(), s.clone())).collect();
        for (id, session) in kept {
            let found = self.read_local(&id)?;
            let found_session = found.as_ref().and_then(|d| d.get("session_id")).and_then(Value::as_str);
            if found.is_none() || (session.is_some() && found_session.is_none()) {
                return Err(Error::Recreated { url: self.url().to_string() });
            }
        }
        self.instance = Some(now);
        Ok(())
    }
}
