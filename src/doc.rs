//! Incoming documents: splitting CouchDB's `_` members from the body, and prepared bodies.
//!
//! Owns: which `_` members a written document may carry (`_id`, `_rev`, `_deleted`,
//! `_revisions`, and `_attachments` where the caller takes them; `_conflicts`, `_deleted_conflicts`, `_revs_info` and `_local_seq` are
//! ignored as CouchDB does) and the canonical body bytes with their object id.
//!
//! Invariants:
//! 1. An `Incoming` document's body has every number in canonical form (`number`): this is
//!    the one place documents from outside (`put`, imports, `_local` writes, `resolve`
//!    bodies) are checked, and a number beyond the range of a double makes the document
//!    invalid, naming it.
//! 2. A `Body` holds a JSON object's canonical bytes and their id. `Body::from_map` relies
//!    on its map's numbers being canonical, which they are when the map comes from an
//!    `Incoming`, from a stored body, or from serde_json's constructors (`json!`,
//!    `Number::from`, `Number::from_f64`); a map parsed from other text goes through
//!    `number::canonicalize_value` first.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::attachment::{parse_given, Given};
use crate::error::{Error, Result};
use crate::id::{DocId, ObjectId};
use crate::number;
use crate::object::{body_bytes, body_id};
use crate::rev::{RevHash, RevId};

/// A document body ready to store: canonical bytes and object id.
#[derive(Clone, Debug)]
pub struct Body {
    pub bytes: Vec<u8>,
    pub id: ObjectId,
    /// `RevId::for_edit(None, false, id)` for the `id` it was computed with, once
    /// [`Body::with_new_doc_rev`] computed it (on an import's parsing threads, so that the
    /// writer does not). Not part of the body's value: `==` ignores it.
    new_doc_rev: Option<(ObjectId, RevId)>,
}

impl PartialEq for Body {
    fn eq(&self, other: &Body) -> bool {
        (&self.bytes, &self.id) == (&other.bytes, &other.id)
    }
}

impl Eq for Body {}

impl Body {
    /// The body of `map`, whose numbers are canonical (invariant 2).
    pub fn from_map(map: &Map<String, Value>) -> Body {
        debug_assert!(map.values().all(number::is_canonical_value), "a body number is not canonical");
        let bytes = body_bytes(map);
        let id = body_id(&bytes);
        Body { bytes, id, new_doc_rev: None }
    }

    /// A body read back from the store: its stored bytes and their id.
    pub fn stored(bytes: Vec<u8>, id: ObjectId) -> Body {
        Body { bytes, id, new_doc_rev: None }
    }

    /// This body with the revision a new, live document holding it gets, computed now.
    pub fn with_new_doc_rev(mut self) -> Body {
        self.new_doc_rev = Some((self.id, RevId::for_edit(None, false, &self.id)));
        self
    }

    /// `RevId::for_edit(None, deleted, id)`: the revision of a new document with this body,
    /// from [`Body::with_new_doc_rev`] if that computed it for this id.
    pub fn new_doc_rev(&self, deleted: bool) -> RevId {
        match &self.new_doc_rev {
            Some((id, rev)) if !deleted && *id == self.id => rev.clone(),
            _ => RevId::for_edit(None, deleted, &self.id),
        }
    }

    /// The empty body `{}` (what `rm` stores in a tombstone).
    pub fn empty() -> Body {
        Body::from_map(&Map::new())
    }

    /// Parse stored bytes back into a JSON object.
    pub fn parse(bytes: &[u8]) -> Result<Map<String, Value>> {
        serde_json::from_slice(bytes).map_err(|_| Error::Invalid("stored body is not a JSON object".into()))
    }
}

/// A document as written by a user or a peer, split into its parts.
#[derive(Clone, Debug, PartialEq)]
pub struct Incoming {
    pub id: Option<String>,
    pub rev: Option<String>,
    pub deleted: bool,
    /// `_revisions`: start position and hashes, newest first.
    pub revisions: Option<(u64, Vec<String>)>,
    /// `_attachments`, when the caller accepts them ([`Incoming::from_value_with_attachments`]).
    pub attachments: Option<BTreeMap<String, Given>>,
    pub body: Map<String, Value>,
}

impl Incoming {
    /// Split a parsed JSON value and put the body's numbers in canonical form. `what` names
    /// the document in errors (an id or a line).
    /// A document with `_attachments` is invalid here: the callers that take attachments use
    /// [`Incoming::from_value_with_attachments`].
    pub fn from_value(value: Value, what: &str) -> Result<Incoming> {
        Incoming::split(value, what, false)
    }

    /// [`Incoming::from_value`], taking `_attachments` (inline `data` or `stub: true`) too.
    pub fn from_value_with_attachments(value: Value, what: &str) -> Result<Incoming> {
        Incoming::split(value, what, true)
    }

    fn split(value: Value, what: &str, attachments: bool) -> Result<Incoming> {
        let Value::Object(mut map) = value else {
            return Err(Error::InvalidDoc {
                id: what.into(),
                why: "document body must be a JSON object".into(),
            });
        };
        let bad = |why: String| Error::InvalidDoc { id: what.into(), why };
        let mut out = Incoming {
            id: None,
            rev: None,
            deleted: false,
            revisions: None,
            attachments: None,
            body: Map::new(),
        };
        // The special members are taken out in document order (the first bad one is the
        // one reported); the rest of the map, in its order, is the body.
        let specials: Vec<String> = map.keys().filter(|k| k.starts_with('_')).cloned().collect();
        for key in specials {
            let Some(value) = map.shift_remove(&key) else { continue };
            match key.as_str() {
                "_id" => match value {
                    Value::String(s) => out.id = Some(s),
                    _ => return Err(bad("_id must be a string".into())),
                },
                "_rev" => match value {
                    Value::String(s) => out.rev = Some(s),
                    _ => return Err(bad("_rev must be a string".into())),
                },
                "_deleted" => match value {
                    Value::Bool(b) => out.deleted = b,
                    _ => return Err(bad("_deleted must be true or false".into())),
                },
                "_revisions" => out.revisions = Some(parse_revisions(&value).map_err(bad)?),
                "_conflicts" | "_deleted_conflicts" | "_revs_info" | "_local_seq" => {}
                "_attachments" if attachments => out.attachments = Some(parse_given(&value, what)?),
                "_attachments" => return Err(bad("attachments are not accepted here".into())),
                other => return Err(bad(format!("bad special document member {other}"))),
            }
        }
        for value in map.values_mut() {
            number::canonicalize_value(value).map_err(|e| bad(e.to_string()))?;
        }
        out.body = map;
        Ok(out)
    }

    /// Parse one line of JSON.
    pub fn from_slice(bytes: &[u8], what: &str) -> Result<Incoming> {
        Incoming::from_value(parse_json(bytes, what)?, what)
    }

    /// Parse one line of JSON that may carry `_attachments`.
    pub fn from_slice_with_attachments(bytes: &[u8], what: &str) -> Result<Incoming> {
        Incoming::from_value_with_attachments(parse_json(bytes, what)?, what)
    }

    /// The document id, validated.
    pub fn doc_id(&self, what: &str) -> Result<DocId> {
        match &self.id {
            Some(id) => Ok(DocId::parse(id)?),
            None => Err(Error::InvalidDoc { id: what.into(), why: "document has no _id".into() }),
        }
    }

    /// For a replicated write: the revision and its ancestry (newest first, without itself),
    /// from `_revisions` (which wins over `_rev`, as in CouchDB) or `_rev` alone.
    pub fn replicated_rev(&self, what: &str) -> Result<(RevId, Vec<RevHash>)> {
        let bad = |why: String| Error::InvalidDoc { id: what.into(), why };
        if let Some((start, ids)) = &self.revisions {
            let mut hashes = Vec::with_capacity(ids.len());
            for h in ids {
                hashes.push(RevHash::parse(h).map_err(|why| bad(format!("_revisions id {h:?}: {why}")))?);
            }
            let mut it = hashes.into_iter();
            let leaf = it.next().ok_or_else(|| bad("_revisions.ids is empty".into()))?;
            let rev = RevId::new(*start, leaf);
            if let Some(r) = &self.rev {
                let given = RevId::parse(r)?;
                if given != rev {
                    return Err(bad(format!("_rev {given} does not match _revisions ({rev})")));
                }
            }
            return Ok((rev, it.collect()));
        }
        match &self.rev {
            Some(r) => Ok((RevId::parse(r)?, Vec::new())),
            None => Err(bad("a replicated document needs _rev or _revisions".into())),
        }
    }
}

fn parse_json(bytes: &[u8], what: &str) -> Result<Value> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::InvalidDoc { id: what.into(), why: format!("invalid JSON: {e}") })
}

fn parse_revisions(value: &Value) -> std::result::Result<(u64, Vec<String>), String> {
    let obj = value.as_object().ok_or("_revisions must be an object")?;
    let start =
        obj.get("start").and_then(Value::as_u64).ok_or("_revisions.start must be a positive integer")?;
    let ids = obj.get("ids").and_then(Value::as_array).ok_or("_revisions.ids must be an array")?;
    if ids.is_empty() {
        return Err("_revisions.ids is empty".into());
    }
    if start < ids.len() as u64 {
        return Err(format!("_revisions.start {start} is smaller than the number of ids {}", ids.len()));
    }
    if start > u64::from(u32::MAX) {
        return Err("_revisions.start is too large".into());
    }
    let ids = ids
        .iter()
        .map(|v| v.as_str().map(str::to_string).ok_or("_revisions.ids must hold strings"))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((start, ids))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn splits_special_members() {
        let d = Incoming::from_value(
            json!({"_id":"a","_rev":"1-x","b":1,"_conflicts":["2-y"],"c":{"_d":2}}),
            "a",
        )
        .unwrap();
        assert_eq!(d.id.as_deref(), Some("a"));
        assert_eq!(d.rev.as_deref(), Some("1-x"));
        assert_eq!(serde_json::to_string(&d.body).unwrap(), r#"{"b":1,"c":{"_d":2}}"#);
    }

    #[test]
    fn refuses_bad_documents() {
        for bad in [
            json!([1]),
            json!({"_x": 1}),
            json!({"_id": 3}),
            json!({"_deleted": "yes"}),
            json!({"_revisions": {"start": 1, "ids": ["a", "b"]}}),
        ] {
            assert!(Incoming::from_value(bad.clone(), "d").is_err(), "{bad}");
        }
    }

    fn new_doc_rev(text: &str) -> (String, String) {
        let d = Incoming::from_slice(text.as_bytes(), "pin").unwrap();
        let body = Body::from_map(&d.body);
        (String::from_utf8(body.bytes.clone()).unwrap(), body.new_doc_rev(false).to_string())
    }

    /// Bodies whose numbers settee always kept as written have the bytes, and so the
    /// revision ids, they had before numbers were canonicalized: the ids below were made by
    /// `settee put` of commit 8b05d92 (serde_json without `arbitrary_precision`).
    #[test]
    fn ordinary_numbers_keep_their_bytes_and_revision_ids() {
        let pinned = r#"{"int":42,"neg":-7,"u64max":18446744073709551615,"i64min":-9223372036854775808,"half":1.5,"big":1e+22,"tiny":1e-7,"zero":0.0,"negzero":-0.0,"pi":3.141592653589793,"fixed":100000.0,"sub":5e-324,"max":1.7976931348623157e+308,"list":[0,1,-2.5,0.1,{"x":123456789.125}]}"#;
        assert_eq!(
            new_doc_rev(pinned),
            (pinned.to_string(), "1-f6e6329b7fad7cb7c5a75a0e84a381b4".to_string())
        );
        // Other spellings of the same doubles: stored as before, too.
        assert_eq!(
            new_doc_rev(r#"{"a":1E5,"b":-0,"c":1.50,"d":1e22,"e":0.000001}"#),
            (
                r#"{"a":100000.0,"b":-0.0,"c":1.5,"d":1e+22,"e":1e-6}"#.to_string(),
                "1-4288fa7c31bf5cdb497cd97b7d2945aa".to_string()
            )
        );
        // What was rounded before is kept now (before: -31.65190973915885 and
        // 1.2345678901234568e+22).
        assert_eq!(new_doc_rev(r#"{"lat":-31.651909739158846}"#).0, r#"{"lat":-31.651909739158846}"#);
        assert_eq!(new_doc_rev(r#"{"n":12345678901234567890123}"#).0, r#"{"n":12345678901234567890123}"#);
    }

    #[test]
    fn a_number_beyond_the_doubles_is_an_invalid_document() {
        let err = Incoming::from_slice(br#"{"ok":1,"deep":[{"n":-1e400}]}"#, "d7").unwrap_err();
        assert!(matches!(&err, Error::InvalidDoc { id, .. } if id == "d7"), "{err}");
        assert!(err.to_string().contains("out of range"), "{err}");
    }

    #[test]
    fn revisions_win_over_rev_and_must_agree() {
        let d = Incoming::from_value(json!({"_id":"a","_revisions":{"start":3,"ids":["c","b","a"]}}), "a")
            .unwrap();
        let (rev, anc) = d.replicated_rev("a").unwrap();
        assert_eq!(rev.to_string(), "3-c");
        assert_eq!(anc.len(), 2);
        let d =
            Incoming::from_value(json!({"_id":"a","_rev":"3-x","_revisions":{"start":3,"ids":["c"]}}), "a")
                .unwrap();
        assert!(d.replicated_rev("a").is_err());
    }
}
