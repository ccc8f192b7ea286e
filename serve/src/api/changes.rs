//! `GET/POST /db/_changes`: the changes feed, each document once at its latest sequence.
//!
//! Feeds: `normal` (one JSON object, streamed a page at a time), `longpoll` (the same,
//! waiting for a first change), `continuous` (a row a line, for as long as the client
//! stays) and `eventsource` (server-sent events). Waits are woken by the database's
//! sequence watch (`db.rs`), never by polling the store; `heartbeat` sends newlines while
//! waiting, `timeout` ends the wait. Options: `since` (an integer or `now`), `limit`,
//! `descending`, `style=all_docs`, `include_docs`, `conflicts`, `attachments`, and the filters
//! `_doc_ids`, `_selector` and `_design`; a JavaScript filter `D/F` or `_view` is a 404
//! when its design document or function is missing and a 501 otherwise.
//! Sequences are integers, as pouchdb-server gives them.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::Method;
use axum::response::Response;
use serde_json::{Map, Value};
use settee::selector::Selector;
use settee::store::{Change, GetOptions};
use settee::{DocId, Seq, Store};
use tokio::time::Instant;

use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Params};
use crate::route::Req;
use crate::stream::{self, Sink};

/// Rows per store call.
const PAGE: usize = 1000;
/// CouchDB's default `timeout` for feeds that wait, and `heartbeat=true`'s interval.
const DEFAULT_WAIT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Feed {
    Normal,
    Longpoll,
    Continuous,
    EventSource,
}

enum Filter {
    All,
    DocIds(HashSet<String>),
    Selector(Selector),
    Design,
}

struct Options {
    all_leaves: bool,
    include_docs: bool,
    conflicts: bool,
    /// With `include_docs`: attachments with their bytes (`data`), not stubs.
    attachments: bool,
    filter: Filter,
}

pub async fn handle(mut req: Req, db: Arc<Db>) -> ApiResult<Response> {
    req.allow(&[Method::GET, Method::POST])?;
    let mut body = Map::new();
    if req.method == Method::POST {
        let raw = std::mem::replace(&mut req.body, Body::empty());
        let bytes = http::read_body(raw, req.limit()).await?;
        if !bytes.iter().all(u8::is_ascii_whitespace) {
            http::require_json(&req.headers)?;
            body = http::object(http::parse_json(&bytes)?, "the _changes body")?;
        }
    }
    let p = &req.params;
    let feed = match p.get("feed").unwrap_or("normal") {
        "normal" => Feed::Normal,
        "longpoll" => Feed::Longpoll,
        "continuous" => Feed::Continuous,
        "eventsource" => Feed::EventSource,
        other => {
            return Err(ApiError::bad_request(format!(
                "Supported `feed` types: normal, continuous, longpoll, eventsource (not {other:?})"
            )))
        }
    };
    let filter = filter(p, &mut body, &db).await?;
    let options = Arc::new(Options {
        all_leaves: match p.get("style") {
            None | Some("main_only") => false,
            Some("all_docs") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "Supported `style` values: main_only, all_docs (not {other:?})"
                )))
            }
        },
        include_docs: p.flag("include_docs", false)?,
        conflicts: p.flag("conflicts", false)?,
        attachments: p.flag("attachments", false)?,
        filter,
    });
    let limit = p.number("limit")?.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    let descending = p.flag("descending", false)?;
    let heartbeat = match p.get("heartbeat") {
        None | Some("false") => None,
        Some("true") => Some(DEFAULT_WAIT),
        Some(_) => p.number("heartbeat")?.map(|ms| Duration::from_millis(ms.max(10))),
    };
    let timeout = match p.number("timeout")? {
        Some(ms) => Some(Duration::from_millis(ms)),
        None if heartbeat.is_some() && feed != Feed::Longpoll => None,
        None => Some(DEFAULT_WAIT),
    };
    let since_text = p
        .get("since")
        .map(str::to_string)
        .or_else(|| req.headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_string));
    let since = match since_text.as_deref() {
        None => Some(0),
        Some("now") => None,
        Some(text) => Some(parse_since(text)?),
    };
    let since = match since {
        Some(s) => s,
        None => db.run(|store| Ok(store.last_seq().0)).await?,
    };
    let content_type = if feed == Feed::EventSource { "text/event-stream" } else { "application/json" };
    let (response, sink) = stream::response(content_type);
    let shutdown = req.app.shutdown.clone();
    let run = Run { db, sink, options, feed, limit, heartbeat, timeout, shutdown };
    tokio::spawn(async move {
        let result = if descending && feed == Feed::Normal {
            run.descending(since).await
        } else {
            run.forward(since).await
        };
        if let Err(Some(e)) = result {
            run.sink.fail(e.reason).await;
        }
    });
    Ok(response)
}

/// `since`: an integer, quoted or not; a CouchDB-style `N-opaque` sequence counts as N.
fn parse_since(text: &str) -> ApiResult<u64> {
    let t = text.trim_matches('"');
    let number = t.split_once('-').map_or(t, |(n, _)| n);
    number.parse().map_err(|_| ApiError::bad_request("Malformed sequence supplied in 'since' parameter."))
}

async fn filter(p: &Params, body: &mut Map<String, Value>, db: &Arc<Db>) -> ApiResult<Filter> {
    match p.get("filter") {
        None => Ok(Filter::All),
        Some("_doc_ids") => {
            let ids = match body.shift_remove("doc_ids") {
                Some(v) => Some(v),
                None => p.json("doc_ids")?,
            };
            let Some(Value::Array(ids)) = ids else {
                return Err(ApiError::bad_request(
                    "filter=_doc_ids needs doc_ids, a JSON array of document ids",
                ));
            };
            let ids = ids
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    _ => Err(ApiError::bad_request("doc_ids must hold strings")),
                })
                .collect::<ApiResult<_>>()?;
            Ok(Filter::DocIds(ids))
        }
        Some("_selector") => {
            let selector = match body.shift_remove("selector") {
                Some(v) => Some(v),
                None => p.json("selector")?,
            };
            let selector = selector
                .ok_or_else(|| ApiError::bad_request("filter=_selector needs a selector in the body"))?;
            Ok(Filter::Selector(
                Selector::parse(&selector)
                    .map_err(|e| ApiError::bad_request(format!("invalid selector: {e}")))?,
            ))
        }
        Some("_design") => Ok(Filter::Design),
        Some("_view") => {
            let view =
                p.get("view").ok_or_else(|| ApiError::bad_request("filter=_view needs view=DESIGN/VIEW"))?;
            let (ddoc, name) =
                view.split_once('/').ok_or_else(|| ApiError::bad_request("view must be DESIGN/VIEW"))?;
            Err(crate::api::design::missing_or_unsupported(db, ddoc, "views", name, "view").await)
        }
        Some(named) => {
            let Some((ddoc, name)) = named.split_once('/') else {
                return Err(ApiError::bad_request(format!(
                    "`filter` must be DESIGN/FILTER or a built-in filter, not {named:?}"
                )));
            };
            Err(crate::api::design::missing_or_unsupported(db, ddoc, "filters", name, "filter").await)
        }
    }
}

/// The changes after `since`, up to `max` of them (after the filter), to be rendered.
struct Page {
    changes: Vec<Change>,
    /// The sequence of the last change looked at (kept or filtered out), or `since`.
    scanned: u64,
    /// The feed ended: every change of the view was looked at.
    ended: bool,
    /// The view's last sequence.
    view_seq: u64,
}

fn wanted(store: &Store, change: &Change, filter: &Filter) -> ApiResult<bool> {
    Ok(match filter {
        Filter::All => true,
        Filter::Design => change.id.as_str().starts_with("_design/"),
        Filter::DocIds(ids) => ids.contains(change.id.as_str()),
        Filter::Selector(s) => {
            let Some(winner) = change.doc.winner() else { return Ok(false) };
            let body = store.body_map(&change.id, &winner.rev, &winner.body)?;
            let doc = settee::store::render_doc(&change.id, &winner.rev, winner.deleted, body);
            s.matches(&doc)
        }
    })
}

fn render(store: &Store, change: &Change, options: &Options) -> ApiResult<Vec<u8>> {
    let mut out = Vec::with_capacity(128);
    let id = serde_json::to_string(change.id.as_str()).unwrap_or_default();
    out.extend_from_slice(format!("{{\"seq\":{},\"id\":{id},\"changes\":[", change.seq.0).as_bytes());
    let leaves = &change.doc.leaves;
    let shown = if options.all_leaves { leaves.len() } else { 1.min(leaves.len()) };
    for (i, leaf) in leaves.iter().take(shown).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(format!("{{\"rev\":\"{}\"}}", leaf.rev).as_bytes());
    }
    out.push(b']');
    if change.deleted() {
        out.extend_from_slice(b",\"deleted\":true");
    }
    if options.include_docs {
        out.extend_from_slice(b",\"doc\":");
        doc_json(store, &change.id, change, options, &mut out)?;
    }
    out.push(b'}');
    Ok(out)
}

fn doc_json(
    store: &Store,
    id: &DocId,
    change: &Change,
    options: &Options,
    out: &mut Vec<u8>,
) -> ApiResult<()> {
    let Some(winner) = change.doc.winner() else {
        out.extend_from_slice(b"null");
        return Ok(());
    };
    if winner.deleted {
        let body = store.body_map(id, &winner.rev, &winner.body)?;
        let doc = settee::store::render_doc(id, &winner.rev, true, body);
        out.extend_from_slice(&serde_json::to_vec(&doc).unwrap_or_default());
    } else if options.conflicts || options.attachments {
        let asked = GetOptions {
            conflicts: options.conflicts,
            attachments: options.attachments,
            ..GetOptions::default()
        };
        let doc = store.get(id, &asked)?;
        out.extend_from_slice(&serde_json::to_vec(&doc).unwrap_or_default());
    } else if !store.write_winner_json(id, &change.doc, out)? {
        out.extend_from_slice(b"null");
    }
    Ok(())
}

fn scan(store: &Store, since: u64, max: usize, options: &Options) -> ApiResult<Page> {
    let view_seq = store.last_seq().0;
    let mut page = Page { changes: Vec::new(), scanned: since, ended: true, view_seq };
    for change in store.changes(Seq(since)) {
        let change = change?;
        if page.changes.len() >= max {
            page.ended = false;
            break;
        }
        page.scanned = change.seq.0;
        if wanted(store, &change, &options.filter)? {
            page.changes.push(change);
        }
    }
    Ok(page)
}

/// Pages rendered at once, each on its own store handle, while the next is scanned.
const IN_FLIGHT: usize = 2;

/// A page's rows being rendered on a task of its own.
type Rendering = tokio::task::JoinHandle<ApiResult<Vec<(u64, Vec<u8>)>>>;

struct Run {
    db: Arc<Db>,
    sink: Sink,
    options: Arc<Options>,
    feed: Feed,
    limit: usize,
    heartbeat: Option<Duration>,
    timeout: Option<Duration>,
    shutdown: tokio::sync::watch::Receiver<bool>,
}

/// `Err(None)`: the client went away.
type RunResult = Result<(), Option<ApiError>>;

impl Run {
    async fn send(&self, bytes: Vec<u8>) -> RunResult {
        self.sink.send(bytes).await.map_err(|_| None)
    }

    async fn page(&self, since: u64, max: usize) -> Result<Page, Option<ApiError>> {
        let options = self.options.clone();
        self.db.run(move |store| scan(store, since, max, &options)).await.map_err(Some)
    }

    /// Render `changes` on a task of its own.
    fn render(&self, changes: Vec<Change>) -> Rendering {
        let (db, options) = (self.db.clone(), self.options.clone());
        tokio::spawn(async move {
            db.run(move |store| {
                changes
                    .iter()
                    .map(|c| Ok((c.seq.0, render(store, c, &options)?)))
                    .collect::<ApiResult<Vec<_>>>()
            })
            .await
        })
    }

    /// Send the oldest rendered page.
    async fn send_oldest(
        &self,
        pending: &mut std::collections::VecDeque<Rendering>,
        first: &mut bool,
    ) -> RunResult {
        let Some(task) = pending.pop_front() else { return Ok(()) };
        let rows =
            task.await.map_err(|_| Some(ApiError::internal("rendering changes failed")))?.map_err(Some)?;
        let bytes = self.frame(rows, first);
        if bytes.is_empty() {
            return Ok(());
        }
        self.send(bytes).await
    }

    /// Rows as this feed writes them; `first` says whether one was written before.
    fn frame(&self, rows: Vec<(u64, Vec<u8>)>, first: &mut bool) -> Vec<u8> {
        let mut out = Vec::new();
        for (seq, row) in rows {
            match self.feed {
                Feed::Normal | Feed::Longpoll => {
                    if !*first {
                        out.extend_from_slice(b",\n");
                    }
                    out.extend_from_slice(&row);
                }
                Feed::Continuous => {
                    out.extend_from_slice(&row);
                    out.push(b'\n');
                }
                Feed::EventSource => {
                    out.extend_from_slice(b"data: ");
                    out.extend_from_slice(&row);
                    out.extend_from_slice(format!("\nid: {seq}\n\n").as_bytes());
                }
            }
            *first = false;
        }
        out
    }

    fn heartbeat_bytes(&self) -> &'static [u8] {
        if self.feed == Feed::EventSource {
            b"event: heartbeat\ndata: \n\n"
        } else {
            b"\n"
        }
    }

    async fn forward(&self, since: u64) -> RunResult {
        let batch_feed = matches!(self.feed, Feed::Normal | Feed::Longpoll);
        if batch_feed {
            self.send(b"{\"results\":[\n".to_vec()).await?;
        }
        let mut since = since;
        let mut sent = 0usize;
        let mut first = true;
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let mut seq_watch = self.db.seq_watch();
        let mut last_seq;
        loop {
            // Everything the view holds now, a page at a time; pages are rendered while the
            // next is scanned, and sent in order.
            let mut pending = std::collections::VecDeque::new();
            let view_seq = loop {
                let max = PAGE.min(self.limit - sent);
                let page = self.page(since, max).await?;
                since = page.scanned.max(since);
                sent += page.changes.len();
                if let Some(change) = page.changes.last() {
                    since = since.max(change.seq.0);
                }
                if !page.changes.is_empty() {
                    pending.push_back(self.render(page.changes));
                }
                while pending.len() >= IN_FLIGHT {
                    self.send_oldest(&mut pending, &mut first).await?;
                }
                if page.ended || sent >= self.limit {
                    break page.view_seq;
                }
            };
            while !pending.is_empty() {
                self.send_oldest(&mut pending, &mut first).await?;
            }
            last_seq = if sent >= self.limit { since } else { view_seq.max(since) };
            let done = match self.feed {
                Feed::Normal => true,
                Feed::Longpoll => sent > 0,
                Feed::Continuous | Feed::EventSource => sent >= self.limit,
            };
            if done || sent >= self.limit {
                break;
            }
            if !self.wait_past(view_seq, deadline, &mut seq_watch).await? {
                break;
            }
        }
        let tail = match self.feed {
            Feed::Normal | Feed::Longpoll => format!("\n],\n\"last_seq\":{last_seq},\"pending\":0}}\n"),
            Feed::Continuous => format!("{{\"last_seq\":{last_seq}}}\n"),
            Feed::EventSource => String::new(),
        };
        if !tail.is_empty() {
            self.send(tail.into_bytes()).await?;
        }
        Ok(())
    }

    /// Wait until the database's last sequence passes `seen`, sending heartbeats; false
    /// when the deadline passed or the server is stopping.
    async fn wait_past(
        &self,
        seen: u64,
        deadline: Option<Instant>,
        seq_watch: &mut tokio::sync::watch::Receiver<u64>,
    ) -> Result<bool, Option<ApiError>> {
        let mut shutdown = self.shutdown.clone();
        loop {
            if *seq_watch.borrow_and_update() > seen {
                return Ok(true);
            }
            if *shutdown.borrow() {
                return Ok(false);
            }
            let now = Instant::now();
            let until_deadline = deadline.map(|d| d.saturating_duration_since(now));
            if until_deadline == Some(Duration::ZERO) {
                return Ok(false);
            }
            let tick = match (self.heartbeat, until_deadline) {
                (Some(h), Some(d)) => h.min(d),
                (Some(h), None) => h,
                (None, Some(d)) => d,
                (None, None) => Duration::from_secs(3600),
            };
            tokio::select! {
                changed = seq_watch.changed() => {
                    if changed.is_err() {
                        return Ok(false);
                    }
                }
                _ = shutdown.changed() => return Ok(false),
                _ = tokio::time::sleep(tick) => {
                    if self.heartbeat.is_some() && deadline.is_none_or(|d| Instant::now() < d) {
                        self.send(self.heartbeat_bytes().to_vec()).await?;
                    }
                }
            }
        }
    }

    /// `descending=true` (normal feed): the last `limit` rows, newest first.
    async fn descending(&self, since: u64) -> RunResult {
        let options = self.options.clone();
        let limit = self.limit;
        let (rows, view_seq) = self
            .db
            .run(move |store| {
                let view_seq = store.last_seq().0;
                let mut kept: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
                for change in store.changes(Seq(since)) {
                    let change = change?;
                    if !wanted(store, &change, &options.filter)? {
                        continue;
                    }
                    if kept.len() == limit {
                        kept.pop_front();
                    }
                    if limit > 0 {
                        kept.push_back((change.seq.0, render(store, &change, &options)?));
                    }
                }
                Ok((kept.into_iter().rev().collect::<Vec<_>>(), view_seq))
            })
            .await
            .map_err(Some)?;
        let last_seq = rows.last().map_or(view_seq, |(s, _)| *s);
        let mut first = true;
        let mut out = b"{\"results\":[\n".to_vec();
        out.extend(self.frame(rows, &mut first));
        out.extend_from_slice(format!("\n],\n\"last_seq\":{last_seq},\"pending\":0}}\n").as_bytes());
        self.send(out).await
    }
}

#[cfg(test)]
mod tests {
    use super::parse_since;

    #[test]
    fn since_is_an_integer_quoted_or_not() {
        assert_eq!(parse_since("42").ok(), Some(42));
        assert_eq!(parse_since("\"42\"").ok(), Some(42));
        assert_eq!(parse_since("7-g1AAAA").ok(), Some(7));
        for bad in ["", "x", "-1", "1.5", "now!"] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
    }
}
