//! `GET/POST /db/_all_docs`: documents by id, streamed a page at a time.
//!
//! Options: `keys` (query or body), `key`, `startkey`/`start_key`, `endkey`/`end_key`,
//! `inclusive_end`, `limit`, `skip`, `descending`, `include_docs`, `conflicts`, `attachments`,
//! `update_seq`. Ids sort bytewise (CouchDB's raw collation for `_all_docs`); deleted
//! documents are left out of ranges and shown as deleted for `keys`.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Method;
use axum::response::Response;
use serde_json::{json, Value};
use settee::refs::DocRef;
use settee::store::GetOptions;
use settee::{DocId, Store};

use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::route::Req;
use crate::stream;

/// Rows rendered per page (per store call).
const PAGE: usize = 1000;

#[derive(Clone)]
struct Options {
    include_docs: bool,
    conflicts: bool,
    /// With `include_docs`: attachments with their bytes (`data`), not stubs.
    attachments: bool,
}

fn key_string(value: Option<Value>, name: &str) -> ApiResult<Option<String>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::bad_request(format!("{name} must be a JSON string (a document id)"))),
    }
}

pub async fn handle(mut req: Req, db: Arc<Db>) -> ApiResult<Response> {
    req.allow(&[Method::GET, Method::POST])?;
    let p = &req.params;
    let mut keys = p.json("keys")?;
    if req.method == Method::POST {
        let body = std::mem::replace(&mut req.body, Body::empty());
        let value = http::json_body(&req.headers, body, req.limit()).await?;
        let mut map = http::object(value, "the _all_docs body")?;
        if let Some(k) = map.shift_remove("keys") {
            keys = Some(k);
        }
    }
    let p = &req.params;
    let keys: Option<Vec<String>> = match keys {
        None => None,
        Some(Value::Array(items)) => Some(
            items
                .into_iter()
                .map(|k| match k {
                    Value::String(s) => Ok(s),
                    _ => Err(ApiError::bad_request("keys must be document ids (strings)")),
                })
                .collect::<ApiResult<_>>()?,
        ),
        Some(_) => return Err(ApiError::bad_request("`keys` body member must be an array.")),
    };
    let options = Options {
        include_docs: p.flag("include_docs", false)?,
        conflicts: p.flag("conflicts", false)?,
        attachments: p.flag("attachments", false)?,
    };
    let descending = p.flag("descending", false)?;
    let limit = p.number("limit")?.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    let skip = p.number("skip")?.map_or(0, |s| usize::try_from(s).unwrap_or(usize::MAX));
    let inclusive_end = p.flag("inclusive_end", true)?;
    let key = key_string(p.json("key")?, "key")?;
    let mut start = key_string(p.json_any(&["startkey", "start_key"])?, "startkey")?;
    let mut end = key_string(p.json_any(&["endkey", "end_key"])?, "endkey")?;
    if let Some(k) = key {
        start = Some(k.clone());
        end = Some(k);
    }
    let update_seq = p.flag("update_seq", false)?;

    let (response, sink) = stream::response("application/json");
    tokio::spawn(async move {
        // `total_rows` ends the object: a scan of every document counts them on the way,
        // and any other query asks the (cached) counts once its rows are out.
        let mut header = format!("{{\"offset\":{skip},");
        if update_seq {
            match db.run(|store| Ok(store.last_seq().0)).await {
                Ok(seq) => header.push_str(&format!("\"update_seq\":{seq},")),
                Err(e) => return sink.fail(e.reason).await,
            }
        }
        header.push_str("\"rows\":[\n");
        if sink.send(header).await.is_err() {
            return;
        }
        let whole = start.is_none() && end.is_none();
        let result = match keys {
            Some(keys) => by_keys(&db, &sink, keys, options, skip, limit, descending).await.map(|()| None),
            None if descending => {
                // Descending: the range is [endkey, startkey], read forward, last rows kept.
                let range =
                    Range { start: end, end: start, inclusive_end: true, exclude_start: !inclusive_end };
                descending_range(&db, &sink, range, options, skip, limit).await.map(|()| None)
            }
            None => {
                let range = Range { start, end, inclusive_end, exclude_start: false };
                ascending(&db, &sink, range, options, skip, limit).await.map(|live| live.filter(|_| whole))
            }
        };
        let total = match result {
            Ok(Some(live)) => Ok(live),
            Ok(None) => {
                let counts_db = db.clone();
                db.run(move |store| Ok(db_counts(&counts_db, store)?.0)).await.map_err(Some)
            }
            Err(e) => Err(e),
        };
        match total {
            Ok(total) => {
                let _ = sink.send(format!("\n],\n\"total_rows\":{total}}}\n")).await;
            }
            Err(Some(e)) => sink.fail(e.reason).await,
            Err(None) => {}
        }
    });
    Ok(response)
}

fn db_counts(db: &Db, store: &Store) -> ApiResult<(u64, u64)> {
    db.counts(store)
}

struct Range {
    start: Option<String>,
    end: Option<String>,
    inclusive_end: bool,
    /// Leave out a row whose id is `start` (a descending range's excluded end).
    exclude_start: bool,
}

/// The `Err(None)` of a page loop: the client went away.
type PageResult = Result<(), Option<ApiError>>;

fn render_row(
    store: &Store,
    id: &DocId,
    doc: &DocRef,
    options: &Options,
    out: &mut Vec<u8>,
) -> ApiResult<()> {
    let Some(winner) = doc.winner() else { return Ok(()) };
    let id_json = serde_json::to_string(id.as_str()).unwrap_or_default();
    out.extend_from_slice(
        format!("{{\"id\":{id_json},\"key\":{id_json},\"value\":{{\"rev\":\"{}\"", winner.rev).as_bytes(),
    );
    if winner.deleted {
        out.extend_from_slice(b",\"deleted\":true}");
        if options.include_docs {
            out.extend_from_slice(b",\"doc\":null");
        }
        out.push(b'}');
        return Ok(());
    }
    out.push(b'}');
    if options.include_docs {
        out.extend_from_slice(b",\"doc\":");
        if options.conflicts || options.attachments {
            let asked = GetOptions {
                conflicts: options.conflicts,
                attachments: options.attachments,
                ..GetOptions::default()
            };
            let doc = store.get(id, &asked)?;
            out.extend_from_slice(&serde_json::to_vec(&doc).unwrap_or_default());
        } else if !store.write_winner_json(id, doc, out)? {
            out.extend_from_slice(b"null");
        }
    }
    out.push(b'}');
    Ok(())
}

fn push_sep(out: &mut Vec<u8>, first: &mut bool) {
    if !*first {
        out.extend_from_slice(b",\n");
    }
    *first = false;
}

/// Pages rendered at once, each on its own store handle, while the next is listed: the
/// bodies of a page are read in parallel with the next page's.
const IN_FLIGHT: usize = 2;

/// A page rendered on a task of its own: its rows as bytes.
type Rendering = tokio::task::JoinHandle<ApiResult<Vec<u8>>>;

/// Send the oldest rendered page.
async fn send_oldest(sink: &stream::Sink, pending: &mut VecDeque<Rendering>) -> PageResult {
    let Some(task) = pending.pop_front() else { return Ok(()) };
    let out = task.await.map_err(|_| Some(ApiError::internal("rendering a page failed")))?.map_err(Some)?;
    sink.send(out).await.map_err(|_| None)
}

async fn ascending(
    db: &Arc<Db>,
    sink: &stream::Sink,
    range: Range,
    options: Options,
    skip: usize,
    limit: usize,
) -> Result<Option<u64>, Option<ApiError>> {
    let mut cursor = range.start.clone().unwrap_or_default();
    let mut live = 0u64;
    let mut to_skip = skip;
    let mut left = limit;
    let mut first = true;
    let mut pending: VecDeque<Rendering> = VecDeque::new();
    let complete = loop {
        let (end, inclusive_end) = (range.end.clone(), range.inclusive_end);
        let from = cursor.clone();
        // List a page (refs only); its rows are rendered on another task.
        let page = db
            .run(move |store| {
                let mut docs = Vec::new();
                let mut next = None;
                let mut seen = 0u64;
                let mut ended = true;
                for item in store.docs(Some(&from), end.as_deref()) {
                    let (id, doc) = item?;
                    if !inclusive_end && end.as_deref() == Some(id.as_str()) {
                        break;
                    }
                    if doc.is_deleted() {
                        continue;
                    }
                    if docs.len() == left {
                        ended = false;
                        break;
                    }
                    if docs.len() == PAGE {
                        next = Some(id.as_str().to_string());
                        break;
                    }
                    seen += 1;
                    if to_skip > 0 {
                        to_skip -= 1;
                        continue;
                    }
                    docs.push((id, doc));
                }
                Ok((docs, next, to_skip, seen, ended))
            })
            .await
            .map_err(Some)?;
        let (docs, next, skip_left, seen, ended) = page;
        live += seen;
        to_skip = skip_left;
        left -= docs.len();
        if !docs.is_empty() {
            let mut first_row = first;
            first = false;
            let (render_db, options) = (db.clone(), options.clone());
            pending.push_back(tokio::spawn(async move {
                render_db
                    .run(move |store| {
                        let mut out = Vec::with_capacity(docs.len() * 160);
                        for (id, doc) in &docs {
                            push_sep(&mut out, &mut first_row);
                            render_row(store, id, doc, &options, &mut out)?;
                        }
                        Ok(out)
                    })
                    .await
            }));
        }
        while pending.len() >= IN_FLIGHT {
            send_oldest(sink, &mut pending).await?;
        }
        match next {
            Some(n) if left > 0 => cursor = n,
            // Every document was looked at only when nothing stopped the scan.
            Some(_) => break None,
            None => break ended.then_some(live),
        }
    };
    while !pending.is_empty() {
        send_oldest(sink, &mut pending).await?;
    }
    Ok(complete)
}

async fn descending_range(
    db: &Arc<Db>,
    sink: &stream::Sink,
    range: Range,
    options: Options,
    skip: usize,
    limit: usize,
) -> PageResult {
    let keep = skip.saturating_add(limit);
    let out = db
        .run(move |store| {
            let mut kept: VecDeque<(DocId, DocRef)> = VecDeque::new();
            for item in store.docs(range.start.as_deref(), range.end.as_deref()) {
                let (id, doc) = item?;
                if doc.is_deleted() || (range.exclude_start && range.start.as_deref() == Some(id.as_str())) {
                    continue;
                }
                if kept.len() == keep {
                    kept.pop_front();
                }
                if keep > 0 {
                    kept.push_back((id, doc));
                }
            }
            let mut out = Vec::new();
            let mut first = true;
            for (id, doc) in kept.iter().rev().skip(skip).take(limit) {
                push_sep(&mut out, &mut first);
                render_row(store, id, doc, &options, &mut out)?;
            }
            Ok(out)
        })
        .await
        .map_err(Some)?;
    sink.send(out).await.map_err(|_| None)
}

async fn by_keys(
    db: &Arc<Db>,
    sink: &stream::Sink,
    mut keys: Vec<String>,
    options: Options,
    skip: usize,
    limit: usize,
    descending: bool,
) -> PageResult {
    if descending {
        keys.reverse();
    }
    let keys: Vec<String> = keys.into_iter().skip(skip).take(limit).collect();
    let mut first = true;
    for chunk in keys.chunks(PAGE) {
        let chunk = chunk.to_vec();
        let options = options.clone();
        let mut first_row = first;
        let (out, first_after) = db
            .run(move |store| {
                let mut out = Vec::new();
                for key in &chunk {
                    push_sep(&mut out, &mut first_row);
                    let found = match DocId::parse(key) {
                        Ok(id) => store.doc_ref(&id)?.map(|d| (id, d)),
                        Err(_) => None,
                    };
                    match found {
                        Some((id, doc)) => render_row(store, &id, &doc, &options, &mut out)?,
                        None => out.extend_from_slice(
                            json!({"key": key, "error": "not_found"}).to_string().as_bytes(),
                        ),
                    }
                }
                Ok((out, first_row))
            })
            .await
            .map_err(Some)?;
        first = first_after;
        sink.send(out).await.map_err(|_| None)?;
    }
    Ok(())
}
