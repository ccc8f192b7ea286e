//! `POST /db/_revs_diff` bodies: the revisions asked about per document, and what the peer
//! lacks of them with the leaves it holds below them (`possible_ancestors`).

use serde_json::{Map, Value};

use super::WireError;
use crate::id::DocId;
use crate::rev::RevId;
use crate::transport::Missing;

const ENDPOINT: &str = "_revs_diff";

/// `{"ID": ["REV", ...], ...}`.
pub fn request(revs: &[(DocId, Vec<RevId>)]) -> Value {
    let map: Map<String, Value> = revs
        .iter()
        .map(|(id, revs)| {
            (id.as_str().to_string(), revs.iter().map(|r| Value::from(r.to_string())).collect())
        })
        .collect();
    Value::Object(map)
}

/// `{"ID": {"missing": [...], "possible_ancestors": [...]}, ...}`, documents with nothing
/// missing left out.
pub fn response(missing: &[Missing]) -> Value {
    let strings = |revs: &[RevId]| revs.iter().map(|r| Value::from(r.to_string())).collect::<Vec<_>>();
    let map: Map<String, Value> = missing
        .iter()
        .filter(|m| !m.missing.is_empty())
        .map(|m| {
            let mut row = Map::new();
            row.insert("missing".into(), strings(&m.missing).into());
            if !m.possible_ancestors.is_empty() {
                row.insert("possible_ancestors".into(), strings(&m.possible_ancestors).into());
            }
            (m.id.as_str().to_string(), Value::Object(row))
        })
        .collect();
    Value::Object(map)
}

/// Read a peer's answer.
pub fn parse_response(bytes: &[u8]) -> Result<Vec<Missing>, WireError> {
    let map: Map<String, Value> = super::parse(ENDPOINT, bytes)?;
    let bad = |what: String| WireError::new(ENDPOINT, what);
    let revs = |id: &str, row: &Value, key: &str| -> Result<Vec<RevId>, WireError> {
        match row.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|r| {
                    let text = r.as_str().ok_or_else(|| bad(format!("{id}: {key} holds a non-string")))?;
                    RevId::parse(text).map_err(|e| bad(format!("{id}: {e}")))
                })
                .collect(),
            Some(_) => Err(bad(format!("{id}: {key} is not an array"))),
        }
    };
    map.iter()
        .map(|(id, row)| {
            if !row.is_object() {
                return Err(bad(format!("{id}: not an object")));
            }
            let doc = DocId::parse(id).map_err(|e| bad(format!("document id {id:?}: {e}")))?;
            Ok(Missing {
                id: doc,
                missing: revs(id, row, "missing")?,
                possible_ancestors: revs(id, row, "possible_ancestors")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(s: &str) -> RevId {
        RevId::parse(s).unwrap()
    }

    #[test]
    fn reads_the_reference_example_and_writes_it_back() {
        let body = br#"{"doc1": {"missing": ["3-x3"], "possible_ancestors": ["2-b2"]},
                        "doc2": {"missing": ["1-d4e5"]}}"#;
        let missing = parse_response(body).unwrap();
        assert_eq!(missing.len(), 2);
        assert_eq!(missing[0].missing, vec![rev("3-x3")]);
        assert_eq!(missing[0].possible_ancestors, vec![rev("2-b2")]);
        assert!(missing[1].possible_ancestors.is_empty());
        let again = serde_json::to_vec(&response(&missing)).unwrap();
        assert_eq!(parse_response(&again).unwrap(), missing);
    }

    #[test]
    fn a_request_lists_every_revision_asked_about() {
        let asked = vec![(DocId::parse("a").unwrap(), vec![rev("1-x"), rev("2-y")])];
        assert_eq!(request(&asked), serde_json::json!({"a": ["1-x", "2-y"]}));
    }

    #[test]
    fn malformed_answers_are_errors() {
        for bad in [
            &br#"{"a": {"missing": ["nohyphen"]}}"#[..],
            br#"{"a": {"missing": "1-x"}}"#,
            br#"{"a": 3}"#,
            br#"[]"#,
        ] {
            assert_eq!(parse_response(bad).unwrap_err().endpoint, "_revs_diff");
        }
    }
}
