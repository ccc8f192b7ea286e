//! The `_attachments` member of documents a CouchDB-compatible server sends: stubs
//! (`stub: true`) and inline bytes (`data`, base64), as `_bulk_get`, `open_revs` and
//! `GET /db/ID?attachments=true` give them.
//!
//! Owns: reading that member into typed values, strictly. Not: whether the bytes match their
//! digest (the transport checks while it stores them), nor what is sent (the stored
//! `attachment::Attachment` renders stubs and data).
//! Invariants:
//! 1. Every attachment read has a content type, an `md5-` digest, a length and a positive
//!    revpos; a member of the wrong type is a [`WireError`] naming the attachment.
//! 2. Inline `data` is decoded here with the `base64` crate; its length must equal `length`.
#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;

use super::WireError;

/// One attachment as a server described it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub content_type: String,
    /// CouchDB's `md5-<base64>` of the (decoded) bytes.
    pub digest: String,
    /// The length of the decoded bytes.
    pub length: u64,
    pub revpos: u64,
    /// The bytes, when the server sent them inline; `None` for a stub.
    pub data: Option<Vec<u8>>,
}

/// Read a document's `_attachments` value; `endpoint` and `doc` name the place in errors.
pub fn parse(
    endpoint: &'static str,
    doc: &str,
    value: &Value,
) -> Result<BTreeMap<String, Received>, WireError> {
    let bad = |what: String| WireError::new(endpoint, format!("document {doc:?}: {what}"));
    let map = value.as_object().ok_or_else(|| bad("_attachments is not an object".into()))?;
    let mut out = BTreeMap::new();
    for (name, att) in map {
        let att = att.as_object().ok_or_else(|| bad(format!("attachment {name:?} is not an object")))?;
        let text = |key: &str| {
            att.get(key)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| bad(format!("attachment {name:?} has no {key} string")))
        };
        let number = |key: &str| {
            att.get(key)
                .and_then(Value::as_u64)
                .ok_or_else(|| bad(format!("attachment {name:?} has no {key} number")))
        };
        let content_type = match att.get("content_type") {
            None | Some(Value::Null) => crate::attachment::DEFAULT_CONTENT_TYPE.to_string(),
            Some(_) => text("content_type")?,
        };
        let digest = text("digest")?;
        if !digest.starts_with("md5-") {
            return Err(bad(format!("attachment {name:?} has a digest that is not md5-: {digest}")));
        }
        let revpos = number("revpos")?;
        if revpos == 0 {
            return Err(bad(format!("attachment {name:?} has revpos 0")));
        }
        let data = match att.get("data") {
            None => None,
            Some(Value::String(text)) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map_err(|e| bad(format!("attachment {name:?}: data is not base64 ({e})")))?,
            ),
            Some(_) => return Err(bad(format!("attachment {name:?}: data is not a string"))),
        };
        let length = match (att.get("length"), &data) {
            (Some(_), _) => number("length")?,
            (None, Some(bytes)) => bytes.len() as u64,
            (None, None) => return Err(bad(format!("attachment {name:?} has no length number"))),
        };
        if let Some(bytes) = &data {
            if bytes.len() as u64 != length {
                return Err(bad(format!(
                    "attachment {name:?}: {} bytes of data for a length of {length}",
                    bytes.len()
                )));
            }
        } else if att.get("stub").and_then(Value::as_bool) != Some(true) {
            return Err(bad(format!("attachment {name:?} has neither data nor stub: true")));
        }
        out.insert(name.clone(), Received { content_type, digest, length, revpos, data });
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stubs_and_data_are_read() {
        let value = json!({
            "a.txt": {"content_type": "text/plain", "digest": "md5-XUFAKrxLKna5cZ2REBfFkg==", "length": 5, "revpos": 2, "data": "aGVsbG8="},
            "b.bin": {"content_type": "application/octet-stream", "digest": "md5-abc", "length": 9, "revpos": 1, "stub": true}
        });
        let got = parse("_bulk_get", "d", &value).unwrap();
        assert_eq!(got["a.txt"].data.as_deref(), Some(&b"hello"[..]));
        assert_eq!((got["a.txt"].length, got["a.txt"].revpos), (5, 2));
        assert_eq!(got["b.bin"].data, None);
        assert_eq!(got["b.bin"].length, 9);
    }

    #[test]
    fn malformed_attachments_are_errors() {
        for bad in [
            json!([]),
            json!({"a": 1}),
            json!({"a": {"digest": "md5-x", "length": 1, "revpos": 1}}),
            json!({"a": {"digest": "sha-x", "length": 1, "revpos": 1, "stub": true}}),
            json!({"a": {"digest": "md5-x", "length": 1, "revpos": 0, "stub": true}}),
            json!({"a": {"digest": "md5-x", "length": 2, "revpos": 1, "data": "aGVsbG8="}}),
            json!({"a": {"digest": "md5-x", "length": 5, "revpos": 1, "data": "!!"}}),
        ] {
            assert!(parse("_bulk_get", "d", &bad).is_err(), "{bad}");
        }
    }
}
