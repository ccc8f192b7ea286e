//! `POST /db/_bulk_get` and `POST /db/_bulk_docs` (with `new_edits: false`) bodies:
//! revisions with their `_revisions` histories, as the replicator fetches and writes them.

use serde_json::{json, Map, Value};

use super::WireError;
use crate::doc::{Body, Incoming};
use crate::id::DocId;
use crate::rev::RevId;
use crate::transport::{Revision, WriteFailure};

/// A revision as a CouchDB document: `_id`, `_rev`, `_revisions`, `_deleted`, then its body.
pub fn document(revision: &Revision) -> Result<Value, WireError> {
    let body = Body::parse(&revision.body.bytes).map_err(|e| WireError::new("_bulk_docs", e.to_string()))?;
    let mut doc = Map::new();
    doc.insert("_id".into(), revision.id.as_str().into());
    doc.insert("_rev".into(), revision.rev.to_string().into());
    let ids: Vec<Value> = std::iter::once(&revision.rev.hash)
        .chain(&revision.ancestry)
        .map(|h| Value::from(h.to_string()))
        .collect();
    doc.insert("_revisions".into(), json!({"start": revision.rev.pos, "ids": ids}));
    if revision.deleted {
        doc.insert("_deleted".into(), true.into());
    }
    doc.extend(body);
    Ok(Value::Object(doc))
}

/// A document with `_revisions` (or `_rev` alone) read back as a revision.
pub fn revision(endpoint: &'static str, doc: Value) -> Result<Revision, WireError> {
    let bad = |e: crate::error::Error| WireError::new(endpoint, e.to_string());
    let incoming = Incoming::from_value(doc, "a document").map_err(bad)?;
    let id = incoming.doc_id("a document").map_err(bad)?;
    let (rev, ancestry) = incoming.replicated_rev(id.as_str()).map_err(bad)?;
    Ok(Revision {
        id,
        rev,
        ancestry,
        deleted: incoming.deleted,
        body: Body::from_map(&incoming.body),
        stubs: Vec::new(),
    })
}

/// `{"docs": [{"id": ID, "rev": REV}, ...]}`.
pub fn get_request(wanted: &[(DocId, Vec<RevId>)]) -> Value {
    let docs: Vec<Value> = wanted
        .iter()
        .flat_map(|(id, revs)| revs.iter().map(move |r| json!({"id": id.as_str(), "rev": r.to_string()})))
        .collect();
    json!({ "docs": docs })
}

/// The revisions of a `_bulk_get` answer. A `not_found` entry is a revision the peer does
/// not have (left out, as the `Transport` contract says); any other error is the peer's.
pub fn parse_get_response(bytes: &[u8]) -> Result<Vec<Revision>, WireError> {
    const ENDPOINT: &str = "_bulk_get";
    let body: Value = super::parse(ENDPOINT, bytes)?;
    let results = body
        .get("results")
        .and_then(Value::as_array)
        .ok_or_else(|| WireError::new(ENDPOINT, "no results array"))?;
    let mut out = Vec::new();
    for result in results {
        let docs = result
            .get("docs")
            .and_then(Value::as_array)
            .ok_or_else(|| WireError::new(ENDPOINT, "a result without docs"))?;
        for entry in docs {
            if let Some(doc) = entry.get("ok") {
                out.push(revision(ENDPOINT, doc.clone())?);
            } else if let Some(error) = entry.get("error") {
                if error.get("error").and_then(Value::as_str) != Some("not_found") {
                    return Err(WireError::new(
                        ENDPOINT,
                        format!("the peer failed to read a revision: {error}"),
                    ));
                }
            } else {
                return Err(WireError::new(ENDPOINT, "an entry with neither ok nor error"));
            }
        }
    }
    Ok(out)
}

/// `{"new_edits": false, "docs": [...]}`.
pub fn docs_request(revisions: &[Revision]) -> Result<Value, WireError> {
    let docs = revisions.iter().map(document).collect::<Result<Vec<_>, _>>()?;
    Ok(json!({"new_edits": false, "docs": docs}))
}

/// The refusals in a `_bulk_docs` answer (rows with `error`); rows with `ok` or without
/// either are accepted writes.
pub fn parse_docs_response(bytes: &[u8]) -> Result<Vec<WriteFailure>, WireError> {
    const ENDPOINT: &str = "_bulk_docs";
    let rows: Vec<Value> = super::parse(ENDPOINT, bytes)?;
    let mut out = Vec::new();
    for row in rows {
        let Some(error) = row.get("error").and_then(Value::as_str) else { continue };
        let text = |key: &str| row.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
        let id = DocId::parse(&text("id"))
            .map_err(|e| WireError::new(ENDPOINT, format!("refusal of {:?}: {e}", text("id"))))?;
        let rev = RevId::parse(&text("rev"))
            .map_err(|e| WireError::new(ENDPOINT, format!("refusal of {id}: {e}")))?;
        let refusal = super::ErrorBody { error: error.to_string(), reason: text("reason") };
        out.push(WriteFailure { id, rev, error: refusal.described() });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_reference_bulk_get_example() {
        let body = br#"{"results":[
          {"id":"doc1","docs":[{"ok":{"_id":"doc1","_rev":"3-x3","v":2,"_revisions":{"start":3,"ids":["x3","b2","a1"]}}}]},
          {"id":"doc2","docs":[{"error":{"id":"doc2","rev":"1-d4e5","error":"not_found","reason":"missing"}}]}
        ]}"#;
        let revisions = parse_get_response(body).unwrap();
        assert_eq!(revisions.len(), 1);
        let r = &revisions[0];
        assert_eq!((r.id.as_str(), r.rev.to_string().as_str(), r.deleted), ("doc1", "3-x3", false));
        assert_eq!(r.ancestry.iter().map(ToString::to_string).collect::<Vec<_>>(), ["b2", "a1"]);
        assert_eq!(
            Body::parse(&r.body.bytes).unwrap(),
            serde_json::from_str::<Map<String, Value>>(r#"{"v":2}"#).unwrap()
        );
    }

    /// A revision written as a document and read back is the same revision.
    #[test]
    fn documents_round_trip() {
        let doc = json!({"_id":"d","_rev":"2-bb","_revisions":{"start":2,"ids":["bb","aa"]},"_deleted":true,"x":[1,"y"]});
        let r = revision("test", doc.clone()).unwrap();
        assert_eq!(document(&r).unwrap(), doc);
        let request = docs_request(std::slice::from_ref(&r)).unwrap();
        assert_eq!(request["new_edits"], false);
        assert_eq!(revision("test", request["docs"][0].clone()).unwrap(), r);
    }

    #[test]
    fn bulk_docs_refusals_are_named() {
        let body =
            br#"[{"id":"a","rev":"1-x","ok":true},{"id":"b","rev":"2-y","error":"forbidden","reason":"no"}]"#;
        let failures = parse_docs_response(body).unwrap();
        assert_eq!(failures.len(), 1);
        assert_eq!((failures[0].id.as_str(), failures[0].error.as_str()), ("b", "forbidden: no"));
        assert!(parse_docs_response(b"[]").unwrap().is_empty());
    }

    #[test]
    fn malformed_answers_are_errors() {
        assert!(parse_get_response(
            br#"{"results":[{"id":"a","docs":[{"error":{"error":"unauthorized"}}]}]}"#
        )
        .is_err());
        assert!(parse_get_response(br#"{"results":[{"id":"a","docs":[{"ok":{"_rev":"1-a"}}]}]}"#).is_err());
        assert!(parse_get_response(br#"{"results":[{"id":"a","docs":[{}]}]}"#).is_err());
        assert!(parse_get_response(br#"{"rows":[]}"#).is_err());
        assert!(parse_docs_response(br#"{"ok":true}"#).is_err());
    }
}
