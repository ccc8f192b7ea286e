//! `GET /db/_changes` bodies: the `results` of a normal or long-poll feed, the lines of a
//! continuous one, in `style=all_docs` (every leaf, winner first).

use serde::{Deserialize, Serialize};

use super::{Seq, WireError};
use crate::id::DocId;
use crate::rev::RevId;
use crate::transport::{ChangeRow, ChangesPage};

const ENDPOINT: &str = "_changes";

/// One revision of a row's `changes`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevEntry {
    pub rev: String,
}

/// One row: `{"seq":S,"id":ID,"changes":[{"rev":R},...],"deleted":true}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub seq: Seq,
    pub id: String,
    pub changes: Vec<RevEntry>,
    /// The winner is deleted (CouchDB leaves the member out otherwise).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

/// A normal or long-poll feed's body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub results: Vec<Row>,
    pub last_seq: Seq,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<u64>,
}

/// One line of a continuous feed.
#[derive(Clone, Debug, PartialEq)]
pub enum Line {
    /// An empty line, sent while the feed is idle.
    Heartbeat,
    Row(Row),
    /// The feed's last line: where a reconnection resumes.
    End(Seq),
}

impl Row {
    /// The row as the replicator takes it.
    pub fn to_change(&self) -> Result<ChangeRow, WireError> {
        let id = DocId::parse(&self.id)
            .map_err(|e| WireError::new(ENDPOINT, format!("row id {:?}: {e}", self.id)))?;
        let revs = self
            .changes
            .iter()
            .map(|c| {
                RevId::parse(&c.rev).map_err(|e| WireError::new(ENDPOINT, format!("row {}: {e}", self.id)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if revs.is_empty() {
            return Err(WireError::new(ENDPOINT, format!("row {} lists no revision", self.id)));
        }
        Ok(ChangeRow { seq: self.seq.to_token(), id, revs, deleted: self.deleted })
    }

    /// The row a server sends for `change`.
    pub fn from_change(change: &ChangeRow) -> Row {
        Row {
            seq: Seq::from_token(&change.seq),
            id: change.id.as_str().to_string(),
            changes: change.revs.iter().map(|r| RevEntry { rev: r.to_string() }).collect(),
            deleted: change.deleted,
        }
    }
}

/// Read a normal or long-poll feed's body.
pub fn parse_response(bytes: &[u8]) -> Result<ChangesPage, WireError> {
    let response: Response = super::parse(ENDPOINT, bytes)?;
    let rows = response.results.iter().map(Row::to_change).collect::<Result<Vec<_>, _>>()?;
    Ok(ChangesPage { rows, last_seq: response.last_seq.to_token() })
}

/// A row of a feed read with `include_docs=true`: the row, and the winner's body.
#[derive(Debug, Deserialize)]
pub struct DocRow {
    pub seq: Seq,
    pub id: String,
    pub changes: Vec<RevEntry>,
    #[serde(default)]
    pub deleted: bool,
    /// Absent (or `null`) when the server left it out.
    #[serde(default)]
    pub doc: Option<serde_json::Value>,
}

impl DocRow {
    pub fn split(self) -> (Row, Option<serde_json::Value>) {
        (Row { seq: self.seq, id: self.id, changes: self.changes, deleted: self.deleted }, self.doc)
    }
}

/// A feed's body read with `include_docs=true`.
#[derive(Debug, Deserialize)]
pub struct DocsResponse {
    pub results: Vec<DocRow>,
    pub last_seq: Seq,
}

/// Read a normal feed's body with its documents, in one pass (the rows still need
/// [`Row::to_change`]).
pub fn parse_response_with_docs(bytes: &[u8]) -> Result<DocsResponse, WireError> {
    super::parse(ENDPOINT, bytes)
}

/// Read one line of a continuous feed (without its newline).
pub fn parse_line(line: &[u8]) -> Result<Line, WireError> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(Line::Heartbeat);
    }
    let value: serde_json::Value = super::parse(ENDPOINT, line)?;
    if value.get("changes").is_none() {
        if let Some(seq) = value.get("last_seq") {
            return Ok(Line::End(Seq(seq.clone())));
        }
    }
    serde_json::from_value(value)
        .map(Line::Row)
        .map_err(|e| WireError::new(ENDPOINT, format!("malformed row: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of a CouchDB 3 normal feed (opaque string sequences, a deleted winner).
    #[test]
    fn reads_a_couchdb_feed() {
        let body = br#"{"results":[
            {"seq":"1-g1AAAA..","id":"fresh","changes":[{"rev":"1-967a00dff5e02add41819138abb3284d"}]},
            {"seq":"5-g1AAAA..","id":"gone","changes":[{"rev":"2-eec205a9d413992850a6e32678485900"},{"rev":"2-abc"}],"deleted":true}
          ],"last_seq":"5-g1AAAA..","pending":0}"#;
        let page = parse_response(body).unwrap();
        assert_eq!(page.last_seq, r#""5-g1AAAA..""#);
        assert_eq!(page.rows.len(), 2);
        assert_eq!(page.rows[1].id.as_str(), "gone");
        assert!(page.rows[1].deleted && !page.rows[0].deleted);
        assert_eq!(
            page.rows[1].revs.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["2-eec205a9d413992850a6e32678485900", "2-abc"]
        );
    }

    /// PouchDB-based servers number their sequences; a row written back reads the same.
    #[test]
    fn integer_sequences_round_trip() {
        let body = br#"{"results":[{"seq":7,"id":"a","changes":[{"rev":"3-x"}]}],"last_seq":7}"#;
        let page = parse_response(body).unwrap();
        assert_eq!(page.rows[0].seq, "7");
        let row = Row::from_change(&page.rows[0]);
        assert_eq!(serde_json::to_string(&row).unwrap(), r#"{"seq":7,"id":"a","changes":[{"rev":"3-x"}]}"#);
    }

    #[test]
    fn continuous_lines() {
        assert_eq!(parse_line(b"").unwrap(), Line::Heartbeat);
        assert_eq!(parse_line(b"  ").unwrap(), Line::Heartbeat);
        assert_eq!(
            parse_line(br#"{"last_seq":"9-z","pending":0}"#).unwrap(),
            Line::End(Seq::from_token(r#""9-z""#))
        );
        let Line::Row(row) = parse_line(br#"{"seq":3,"id":"b","changes":[{"rev":"1-a"}]}"#).unwrap() else {
            panic!("not a row")
        };
        assert_eq!(row.id, "b");
    }

    #[test]
    fn malformed_bodies_are_errors_naming_the_endpoint() {
        for bad in [
            &br#"{"results":[{"seq":1,"id":"a","changes":[{"rev":"nohyphen"}]}],"last_seq":1}"#[..],
            br#"{"results":[{"seq":1,"id":"a","changes":[]}],"last_seq":1}"#,
            br#"{"results":[{"seq":1,"changes":[{"rev":"1-a"}]}],"last_seq":1}"#,
            br#"{"results":[],"last_seq":1"#,
            br#"{"results":{},"last_seq":1}"#,
            br#"<html>502 Bad Gateway</html>"#,
        ] {
            let e = parse_response(bad).unwrap_err();
            assert_eq!(e.endpoint, "_changes", "{e}");
        }
        assert!(parse_line(b"{\"seq\":1}").is_err());
    }
}
