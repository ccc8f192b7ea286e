//! Replication checkpoints: the replication id and the log documents kept on both peers.
//!
//! Owns: how a replication is named (source, target and filter) and where a restarted
//! replication resumes: the newest checkpoint both sides agree on, found by comparing the
//! two logs' session ids and histories as CouchDB does (reference section 5.5).
//! Invariant: a checkpoint is written (target first, then source) only after the batch it
//! records is durable on the target, so resuming from it never skips a change.

use serde_json::{json, Map, Value};

/// History entries kept in a log (CouchDB keeps 50).
pub const HISTORY: usize = 50;

/// The `_local` id both peers keep this replication's log under.
pub fn replication_id(source: &str, target: &str, filter: &str) -> String {
    let input = format!("settee-replication 1\0{source}\0{target}\0{filter}");
    format!("settee-rep-{}", crate::id::sha1(input.as_bytes()))
}

/// When the newest session of a log last recorded a checkpoint (its `end_time`, an HTTP
/// date as CouchDB writes it), if the log says.
pub fn last_recorded(log: &Map<String, Value>) -> Option<std::time::SystemTime> {
    history(log).first().and_then(|e| text(e, "end_time")).and_then(|t| httpdate::parse_http_date(t).ok())
}

/// The source sequence a log says was replicated, as the source wrote it.
pub fn source_last_seq(log: &Map<String, Value>) -> Option<&str> {
    text(log, "source_last_seq")
}

/// A fresh session id.
pub fn session_id() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    crate::id::sha1(format!("{now} {}", std::process::id()).as_bytes()).to_string()[..32].to_string()
}

fn history(log: &Map<String, Value>) -> Vec<&Map<String, Value>> {
    log.get("history")
        .and_then(Value::as_array)
        .map_or(Vec::new(), |h| h.iter().filter_map(Value::as_object).collect())
}

fn text<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str)
}

/// Where to resume: the source sequence both logs agree on, or `None` to start over.
pub fn agreed_seq(
    source: Option<&Map<String, Value>>,
    target: Option<&Map<String, Value>>,
) -> Option<String> {
    let (s, t) = (source?, target?);
    if text(s, "session_id").is_some() && text(s, "session_id") == text(t, "session_id") {
        return text(s, "source_last_seq").map(str::to_string);
    }
    let (sh, th) = (history(s), history(t));
    for i in 0..sh.len().min(th.len()) {
        let (se, te) = (sh[i], th[i]);
        let s_session = text(se, "session_id");
        if th[i..].iter().any(|e| text(e, "session_id") == s_session) {
            return text(se, "recorded_seq").map(str::to_string);
        }
        let t_session = text(te, "session_id");
        if sh[i + 1..].iter().any(|e| text(e, "session_id") == t_session) {
            return text(te, "recorded_seq").map(str::to_string);
        }
    }
    None
}

/// The log document to write after a batch: this session's entry on top of the earlier
/// history (capped), with the counts so far.
pub fn log_document(
    session: &str,
    start_time: &str,
    previous: Option<&Map<String, Value>>,
    start_seq: &str,
    recorded_seq: &str,
    counts: &super::Outcome,
) -> Map<String, Value> {
    let entry = json!({
        "session_id": session,
        "start_last_seq": start_seq,
        "end_last_seq": recorded_seq,
        "recorded_seq": recorded_seq,
        "missing_checked": counts.revisions_checked,
        "missing_found": counts.missing_found,
        "docs_read": counts.docs_read,
        "docs_written": counts.revisions_written,
        "doc_write_failures": counts.write_failures,
        "start_time": start_time,
        "end_time": httpdate::fmt_http_date(std::time::SystemTime::now()),
    });
    let mut entries = vec![entry];
    if let Some(p) = previous {
        entries.extend(
            history(p)
                .into_iter()
                .filter(|e| text(e, "session_id") != Some(session))
                .map(|e| Value::Object(e.clone())),
        );
    }
    entries.truncate(HISTORY);
    let mut doc = Map::new();
    doc.insert("session_id".into(), json!(session));
    doc.insert("source_last_seq".into(), json!(recorded_seq));
    doc.insert("replication_id_version".into(), json!(1));
    doc.insert("replicator".into(), json!("settee"));
    doc.insert("history".into(), Value::Array(entries));
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(session: &str, seq: &str, history: &[(&str, &str)]) -> Map<String, Value> {
        let h: Vec<Value> =
            history.iter().map(|(s, q)| json!({"session_id": s, "recorded_seq": q})).collect();
        match json!({"session_id": session, "source_last_seq": seq, "history": h}) {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn agreeing_sessions_resume_at_the_recorded_seq() {
        let s = log("b", "20", &[("b", "20"), ("a", "10")]);
        assert_eq!(agreed_seq(Some(&s), Some(&s)), Some("20".into()));
        // the target missed session b's last write: both know session a
        let t = log("a", "10", &[("a", "10")]);
        assert_eq!(agreed_seq(Some(&s), Some(&t)), Some("10".into()));
        assert_eq!(agreed_seq(Some(&t), Some(&s)), Some("10".into()));
        // nothing in common, or a log missing: start over
        assert_eq!(agreed_seq(Some(&s), Some(&log("z", "5", &[("z", "5")]))), None);
        assert_eq!(agreed_seq(None, Some(&s)), None);
    }

    #[test]
    fn logs_keep_a_capped_history_newest_first() {
        let mut prev: Option<Map<String, Value>> = None;
        for i in 0..60 {
            let d =
                log_document(&format!("s{i}"), "", prev.as_ref(), "0", &i.to_string(), &Default::default());
            prev = Some(d);
        }
        let p = prev.unwrap();
        assert_eq!(history(&p).len(), HISTORY);
        assert_eq!(text(history(&p)[0], "session_id"), Some("s59"));
        assert_eq!(replication_id("a", "b", ""), replication_id("a", "b", ""));
        assert_ne!(replication_id("a", "b", ""), replication_id("b", "a", ""));
    }
}
