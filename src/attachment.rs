//! Attachments in documents: the `_attachments` member of a stored body, what a write may
//! give for it (inline `data` or a `stub`), and how a read presents it (stubs or data).
//!
//! Owns: the stored form of a revision's attachments (the body's first member, one entry per
//! name in name order: `content_type`, `digest`, `length`, `revpos`, `blob`), its strict
//! decoding, and the CouchDB rules for stubs (`missing_stub`) and `atts_since` (`revpos`).
//! Not: the bytes (`crate::blob`), nor when a blob is dropped (compaction).
//! Invariants:
//! 1. A stored body either has no `_attachments` member or has it first, non-empty, in the
//!    stored form above; so a body's bytes start with [`STORED_PREFIX`] exactly when the
//!    revision has attachments, and the body id (hence a new revision's id) covers every
//!    attachment's name, type, digest, length, revpos and blob.
//! 2. The `blob` of a stored attachment never leaves the store: reads give stubs or data.
//!
//! Spec: format-spec/objects.md ("Attachments", body rule version 3).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::blob;
use crate::error::{Error, Result};
use crate::id::{DocId, ObjectId};
use crate::rev::RevId;

/// The member that carries attachments, in written documents and stored bodies alike.
pub const MEMBER: &str = "_attachments";

/// How a stored body with attachments starts.
pub const STORED_PREFIX: &[u8] = b"{\"_attachments\":";

/// The content type an attachment gets when a write names none (CouchDB's default).
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// One attachment of a stored revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub content_type: String,
    /// CouchDB's `md5-<base64>` of the bytes.
    pub digest: String,
    pub length: u64,
    /// The position of the revision that last wrote these bytes under this name.
    pub revpos: u64,
    pub blob: ObjectId,
}

/// A revision's attachments by name (name order is the stored order).
pub type Attachments = BTreeMap<String, Attachment>;

impl Attachment {
    /// The attachment a write of blob `info` under `content_type` makes at `revpos`.
    pub fn new(content_type: String, info: &blob::Info, revpos: u64) -> Attachment {
        Attachment { content_type, digest: info.digest(), length: info.len, revpos, blob: info.id }
    }

    /// The stored form (in the body).
    pub fn stored(&self) -> Value {
        let mut m = Map::with_capacity(5);
        m.insert("content_type".into(), Value::String(self.content_type.clone()));
        m.insert("digest".into(), Value::String(self.digest.clone()));
        m.insert("length".into(), Value::from(self.length));
        m.insert("revpos".into(), Value::from(self.revpos));
        m.insert("blob".into(), Value::String(self.blob.to_string()));
        Value::Object(m)
    }

    /// What CouchDB reads give without the bytes: `{content_type, digest, length, revpos,
    /// stub: true}`.
    pub fn stub(&self) -> Value {
        let mut m = self.meta();
        m.insert("stub".into(), Value::Bool(true));
        Value::Object(m)
    }

    /// What CouchDB reads give with the bytes: `{content_type, digest, length, revpos,
    /// data: <base64>}`.
    pub fn with_data(&self, bytes: &[u8]) -> Value {
        let mut m = self.meta();
        m.insert("data".into(), Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)));
        Value::Object(m)
    }

    /// What a `multipart/related` document names for an attachment whose bytes come in a
    /// later part: `{content_type, digest, length, revpos, follows: true}`.
    pub fn follows(&self) -> Value {
        let mut m = self.meta();
        m.insert("follows".into(), Value::Bool(true));
        Value::Object(m)
    }

    fn meta(&self) -> Map<String, Value> {
        let mut m = Map::with_capacity(5);
        m.insert("content_type".into(), Value::String(self.content_type.clone()));
        m.insert("digest".into(), Value::String(self.digest.clone()));
        m.insert("length".into(), Value::from(self.length));
        m.insert("revpos".into(), Value::from(self.revpos));
        m
    }

    /// Decode one stored entry (strict: exactly the five members, well typed).
    fn from_stored(value: &Value) -> std::result::Result<Attachment, &'static str> {
        let m = value.as_object().ok_or("an attachment is not an object")?;
        if m.len() != 5 {
            return Err("an attachment has other members than the stored ones");
        }
        let text = |k: &str| m.get(k).and_then(Value::as_str).ok_or("an attachment member is missing");
        let number = |k: &str| m.get(k).and_then(Value::as_u64).ok_or("an attachment member is missing");
        let blob = text("blob")?;
        if blob.len() != 40 || !blob.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err("an attachment's blob is not 40 lowercase hex digits");
        }
        let blob = ObjectId::from_hex(blob.as_bytes()).map_err(|_| "an attachment's blob is not an id")?;
        let revpos = number("revpos")?;
        if revpos == 0 {
            return Err("an attachment's revpos is 0");
        }
        Ok(Attachment {
            content_type: text("content_type")?.to_string(),
            digest: text("digest")?.to_string(),
            length: number("length")?,
            revpos,
            blob,
        })
    }
}

/// The attachments of a stored body's bytes (empty when it has none), without parsing a
/// body that has none.
pub fn of_bytes(bytes: &[u8]) -> Result<Attachments> {
    if !bytes.starts_with(STORED_PREFIX) {
        return Ok(Attachments::new());
    }
    let mut map = crate::doc::Body::parse(bytes)?;
    take_stored(&mut map)
}

/// Take the stored `_attachments` member out of a parsed stored body.
pub fn take_stored(body: &mut Map<String, Value>) -> Result<Attachments> {
    let Some(value) = body.shift_remove(MEMBER) else { return Ok(Attachments::new()) };
    decode_stored(&value)
}

/// Decode a stored `_attachments` value.
pub fn decode_stored(value: &Value) -> Result<Attachments> {
    let bad = |why: &str| Error::Invalid(format!("stored body: {why}"));
    let m = value.as_object().ok_or_else(|| bad("_attachments is not an object"))?;
    if m.is_empty() {
        return Err(bad("_attachments is empty"));
    }
    let mut out = Attachments::new();
    for (name, v) in m {
        out.insert(name.clone(), Attachment::from_stored(v).map_err(bad)?);
    }
    Ok(out)
}

/// A stored body's map: `atts` (if any) first, then `body`'s members (which must not hold
/// `_attachments`).
pub fn stored_body(atts: &Attachments, body: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::with_capacity(body.len() + 1);
    if !atts.is_empty() {
        let stored: Map<String, Value> = atts.iter().map(|(n, a)| (n.clone(), a.stored())).collect();
        out.insert(MEMBER.into(), Value::Object(stored));
    }
    for (k, v) in body {
        if k != MEMBER {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// Replace a parsed stored body's `_attachments` with stubs, moved to the end (where CouchDB
/// puts them). A member that does not decode is left as it is.
pub fn stubs_in_place(body: &mut Map<String, Value>) {
    if let Some(value) = body.get(MEMBER) {
        if let Ok(atts) = decode_stored(value) {
            body.shift_remove(MEMBER);
            body.insert(MEMBER.into(), stubs(&atts));
        }
    }
}

/// `{name: stub}` for every attachment.
pub fn stubs(atts: &Attachments) -> Value {
    Value::Object(atts.iter().map(|(n, a)| (n.clone(), a.stub())).collect())
}

/// What a written document names for one attachment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Given {
    /// `stub: true`: keep the parent revision's attachment of this name; `revpos`, when
    /// given, must equal the parent's.
    Stub { revpos: Option<u64> },
    /// `data`: new bytes (base64 in the document) with their type; `digest`, when given,
    /// must match the bytes; `revpos` is kept only by replicated writes.
    Data { content_type: String, bytes: Vec<u8>, digest: Option<String>, revpos: Option<u64> },
}

/// One attachment of an edit: what the writer resolves under the writer lock against the
/// parent revision. `Data` is written as a blob (becoming `New`) by `Store::write` before it
/// takes the lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pending {
    Stub { revpos: Option<u64> },
    New { content_type: String, info: blob::Info },
    Data { content_type: String, bytes: Vec<u8>, digest: Option<String> },
}

impl From<Given> for Pending {
    fn from(g: Given) -> Pending {
        match g {
            Given::Stub { revpos } => Pending::Stub { revpos },
            Given::Data { content_type, bytes, digest, .. } => Pending::Data { content_type, bytes, digest },
        }
    }
}

/// The attachments an edit names, by name: exactly the new revision's attachments.
pub type PendingSet = BTreeMap<String, Pending>;

/// Parse a written document's `_attachments` value; `what` names the document in errors.
pub fn parse_given(value: &Value, what: &str) -> Result<BTreeMap<String, Given>> {
    let bad = |why: String| Error::InvalidDoc { id: what.into(), why };
    let m = value.as_object().ok_or_else(|| bad("_attachments must be an object".into()))?;
    let mut out = BTreeMap::new();
    for (name, v) in m {
        let att = v.as_object().ok_or_else(|| bad(format!("attachment {name:?} must be an object")))?;
        if name.is_empty() || name.starts_with('_') {
            return Err(bad(format!("attachment name {name:?} is empty or starts with _")));
        }
        let revpos = match att.get("revpos") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| bad(format!("attachment {name:?}: revpos must be a positive integer")))?,
            ),
        };
        let stub = att.get("stub").and_then(Value::as_bool).unwrap_or(false);
        let given = if let Some(data) = att.get("data") {
            if stub {
                return Err(bad(format!("attachment {name:?} has both stub and data")));
            }
            let data =
                data.as_str().ok_or_else(|| bad(format!("attachment {name:?}: data must be a string")))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|e| bad(format!("attachment {name:?}: data is not base64 ({e})")))?;
            let content_type = match att.get("content_type") {
                None | Some(Value::Null) => DEFAULT_CONTENT_TYPE.to_string(),
                Some(Value::String(t)) => t.clone(),
                Some(_) => return Err(bad(format!("attachment {name:?}: content_type must be a string"))),
            };
            let digest = match att.get("digest") {
                None | Some(Value::Null) => None,
                Some(Value::String(d)) => Some(d.clone()),
                Some(_) => return Err(bad(format!("attachment {name:?}: digest must be a string"))),
            };
            Given::Data { content_type, bytes, digest, revpos }
        } else if stub {
            Given::Stub { revpos }
        } else if att.get("follows").is_some() {
            return Err(bad(format!("attachment {name:?}: follows (multipart) is not supported here")));
        } else {
            return Err(bad(format!("attachment {name:?} needs data or stub: true")));
        };
        out.insert(name.clone(), given);
    }
    Ok(out)
}

/// The new revision's attachments: each stub resolved against `parent` (the attachments of
/// the revision the edit replaces), each new blob given `revpos` = `new_pos`. A stub that
/// `parent` lacks, or whose `revpos` differs, is CouchDB's `412 missing_stub`.
pub fn resolve(id: &DocId, pending: &PendingSet, parent: &Attachments, new_pos: u64) -> Result<Attachments> {
    let mut out = Attachments::new();
    for (name, p) in pending {
        let att = match p {
            Pending::Stub { revpos } => match parent.get(name) {
                Some(a) if revpos.is_none_or(|r| r == a.revpos) => a.clone(),
                _ => return Err(Error::MissingStub { id: id.clone(), name: name.clone() }),
            },
            Pending::New { content_type, info } => Attachment::new(content_type.clone(), info, new_pos),
            Pending::Data { .. } => {
                return Err(Error::Invalid(format!("attachment {name:?} of {id}: its data was not written")))
            }
        };
        out.insert(name.clone(), att);
    }
    Ok(out)
}

/// How the attachments changed from one revision to another, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: Vec<String>,
    /// Present in both with other bytes or another content type.
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

/// What changed from `from` to `to`.
pub fn compare(from: &Attachments, to: &Attachments) -> Changes {
    let mut c = Changes::default();
    for (name, a) in to {
        match from.get(name) {
            None => c.added.push(name.clone()),
            Some(b) if b.blob != a.blob || b.content_type != a.content_type => c.changed.push(name.clone()),
            Some(_) => {}
        }
    }
    c.removed = from.keys().filter(|n| !to.contains_key(*n)).cloned().collect();
    c
}

/// `atts_since`: the position of the newest of `since` found on `path` (the revision read
/// and its ancestors, newest first), or 0; attachments with a greater `revpos` are sent in
/// full, the others as stubs.
pub fn since_pos(path: &[RevId], since: &[RevId]) -> u64 {
    path.iter().find(|r| since.contains(r)).map_or(0, |r| r.pos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn info(bytes: &[u8]) -> blob::Info {
        use md5::Digest as _;
        blob::Info { id: blob::id_of(bytes), len: bytes.len() as u64, md5: md5::Md5::digest(bytes).into() }
    }

    #[test]
    fn stored_form_round_trips_and_comes_first() {
        let mut atts = Attachments::new();
        atts.insert("b.txt".into(), Attachment::new("text/plain".into(), &info(b"hello"), 2));
        atts.insert("a.bin".into(), Attachment::new(DEFAULT_CONTENT_TYPE.into(), &info(b""), 1));
        let body = json!({"x": 1}).as_object().cloned().unwrap();
        let stored = stored_body(&atts, &body);
        let bytes = crate::object::body_bytes(&stored);
        assert!(bytes.starts_with(STORED_PREFIX));
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.find("a.bin").unwrap() < text.find("b.txt").unwrap(), "{text}");
        assert_eq!(of_bytes(&bytes).unwrap(), atts);
        assert!(of_bytes(br#"{"x":1}"#).unwrap().is_empty());
        let stub = atts["b.txt"].stub();
        assert_eq!(
            stub,
            json!({"content_type":"text/plain","digest":"md5-XUFAKrxLKna5cZ2REBfFkg==","length":5,"revpos":2,"stub":true})
        );
    }

    #[test]
    fn stubs_resolve_against_the_parent() {
        let id = DocId::parse("d").unwrap();
        let mut parent = Attachments::new();
        parent.insert("a".into(), Attachment::new("text/plain".into(), &info(b"a"), 1));
        let mut pending = PendingSet::new();
        pending.insert("a".into(), Pending::Stub { revpos: Some(1) });
        pending.insert("n".into(), Pending::New { content_type: "x/y".into(), info: info(b"n") });
        let out = resolve(&id, &pending, &parent, 2).unwrap();
        assert_eq!(out["a"], parent["a"]);
        assert_eq!(out["n"].revpos, 2);
        pending.insert("a".into(), Pending::Stub { revpos: Some(2) });
        assert!(matches!(resolve(&id, &pending, &parent, 2), Err(Error::MissingStub { .. })));
        pending.insert("a".into(), Pending::Stub { revpos: None });
        pending.insert("z".into(), Pending::Stub { revpos: None });
        let err = resolve(&id, &pending, &parent, 2).unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::Precondition);
    }

    #[test]
    fn given_attachments_are_checked() {
        let ok = parse_given(
            &json!({"a": {"data": "aGVsbG8=", "content_type": "text/plain"}, "b": {"stub": true}}),
            "d",
        )
        .unwrap();
        assert_eq!(
            ok["a"],
            Given::Data {
                content_type: "text/plain".into(),
                bytes: b"hello".to_vec(),
                digest: None,
                revpos: None
            }
        );
        assert_eq!(ok["b"], Given::Stub { revpos: None });
        for bad in [
            json!([]),
            json!({"a": 1}),
            json!({"a": {"data": "!!"}}),
            json!({"a": {"content_type": "x"}}),
            json!({"a": {"stub": true, "data": ""}}),
            json!({"_a": {"stub": true}}),
            json!({"a": {"stub": true, "revpos": 0}}),
        ] {
            assert!(parse_given(&bad, "d").is_err(), "{bad}");
        }
    }

    #[test]
    fn since_pos_takes_the_newest_listed_ancestor() {
        let path: Vec<RevId> = ["3-c", "2-b", "1-a"].iter().map(|r| RevId::parse(r).unwrap()).collect();
        let since = |rs: &[&str]| rs.iter().map(|r| RevId::parse(r).unwrap()).collect::<Vec<_>>();
        assert_eq!(since_pos(&path, &since(&["1-a", "2-b"])), 2);
        assert_eq!(since_pos(&path, &since(&["2-x"])), 0);
        assert_eq!(since_pos(&path, &since(&["3-c"])), 3);
    }
}
