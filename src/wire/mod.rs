//! CouchDB's wire types: the JSON bodies of the replication endpoints, as the HTTP transport
//! sends and reads them and as `settee serve` will answer them.
//!
//! Owns: the shapes of `_changes` results, `_revs_diff`, `_bulk_get` and `_bulk_docs`
//! bodies and CouchDB's error body, and their conversion to and from the `transport` types.
//! Invariants:
//! 1. Sequences are opaque: a [`Seq`] keeps the JSON value a peer sent (an integer from
//!    PouchDB-based servers, a string from CouchDB 2 and later) and gives it back unchanged;
//!    nothing here compares or computes with one.
//! 2. Parsing never panics and never accepts a body that would change meaning: a revision
//!    id that does not parse, a document without an id, or a member of the wrong type is a
//!    [`WireError`] naming the endpoint and what is wrong.
//! 3. Documents travel as CouchDB writes them (`_id`, `_rev`, `_revisions`, `_deleted`, then
//!    the body), so a body read back has the canonical numbers of `doc::Incoming`.
//!
//! The facts are in ../shared/reference/couchdb-replication.md, sections 4 and 5.

pub mod attachments;
pub mod bulk;
pub mod changes;
pub mod revs_diff;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A sequence as a peer wrote it: an integer or a string (invariant 1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Seq(pub Value);

impl Seq {
    /// The value for a `since=` query parameter: a string as it is, anything else as JSON.
    pub fn to_query(&self) -> String {
        match &self.0 {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    /// The sequence as the replicator keeps it (`transport::ChangeRow::seq`): the JSON text,
    /// so an integer and a string that look alike stay apart.
    pub fn to_token(&self) -> String {
        self.0.to_string()
    }

    /// Back from [`Seq::to_token`]; a token that is not JSON is taken as a string sequence.
    pub fn from_token(token: &str) -> Seq {
        Seq(serde_json::from_str(token).unwrap_or_else(|_| Value::String(token.to_string())))
    }
}

/// CouchDB's error body: `{"error":"conflict","reason":"Document update conflict."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default)]
    pub reason: String,
}

impl ErrorBody {
    /// `error: reason`, or `error` alone when there is no reason: a refusal on one line.
    pub fn described(&self) -> String {
        if self.reason.is_empty() {
            self.error.clone()
        } else {
            format!("{}: {}", self.error, self.reason)
        }
    }
}

/// A body that does not have the shape its endpoint gives it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{endpoint}: {what}")]
pub struct WireError {
    pub endpoint: &'static str,
    pub what: String,
}

impl WireError {
    pub(crate) fn new(endpoint: &'static str, what: impl Into<String>) -> WireError {
        WireError { endpoint, what: what.into() }
    }
}

/// Parse `bytes` as `T`, naming `endpoint` when they do not fit.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    endpoint: &'static str,
    bytes: &[u8],
) -> Result<T, WireError> {
    serde_json::from_slice(bytes).map_err(|e| WireError::new(endpoint, format!("malformed response: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_stay_as_the_peer_wrote_them() {
        let int: Seq = serde_json::from_str("42").unwrap();
        let text: Seq = serde_json::from_str(r#""5-g1AAAA_x""#).unwrap();
        assert_eq!(int.to_query(), "42");
        assert_eq!(text.to_query(), "5-g1AAAA_x");
        assert_ne!(Seq::from_token(&int.to_token()), Seq::from_token(r#""42""#));
        for seq in [int, text] {
            assert_eq!(Seq::from_token(&seq.to_token()), seq);
            assert_eq!(serde_json::to_string(&seq).unwrap(), seq.to_token());
        }
        assert_eq!(Seq::from_token("not json"), Seq(Value::String("not json".into())));
    }

    #[test]
    fn error_bodies_read_and_write_as_couchdb_sends_them() {
        let body: ErrorBody = serde_json::from_str(r#"{"error":"not_found","reason":"missing"}"#).unwrap();
        assert_eq!(body, ErrorBody { error: "not_found".into(), reason: "missing".into() });
        let reasonless: ErrorBody = serde_json::from_str(r#"{"error":"unauthorized"}"#).unwrap();
        assert_eq!(reasonless.reason, "");
    }
}
