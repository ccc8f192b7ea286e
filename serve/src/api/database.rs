//! Database endpoints: `PUT/GET/HEAD/DELETE /db`, `_ensure_full_commit`, `_compact`,
//! `_security` and `_revs_limit`.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::json;

use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::http::json;
use crate::route::Req;

pub async fn handle(req: Req, name: &str) -> ApiResult<Response> {
    req.allow(&[Method::GET, Method::PUT, Method::DELETE, Method::POST])?;
    crate::dbs::check_name(name)?;
    match req.method {
        Method::PUT => {
            let app = req.app.clone();
            let name = name.to_string();
            blocking(move || app.dbs.create(&name)).await?;
            Ok(json(StatusCode::CREATED, &json!({"ok": true})))
        }
        Method::DELETE => {
            let app = req.app.clone();
            let name = name.to_string();
            blocking(move || app.dbs.delete(&name)).await?;
            Ok(json(StatusCode::OK, &json!({"ok": true})))
        }
        Method::POST => {
            let db = req.app.dbs.get(name).ok_or_else(ApiError::no_db)?;
            crate::api::doc::post(req, db).await
        }
        _ => {
            let db = req.app.dbs.get(name).ok_or_else(ApiError::no_db)?;
            info(db).await
        }
    }
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(work).await.map_err(|_| ApiError::internal("the database work failed"))?
}

/// `GET /db`: CouchDB's database information, sequences as integers.
async fn info(db: Arc<Db>) -> ApiResult<Response> {
    let d = db.clone();
    let (seq, live, deleted, bytes) = db
        .run(move |store| {
            let (live, deleted) = d.counts(store)?;
            Ok((store.last_seq().0, live, deleted, store.stats_files().total_bytes()))
        })
        .await?;
    Ok(json(
        StatusCode::OK,
        &json!({
            "db_name": db.name,
            "doc_count": live,
            "doc_del_count": deleted,
            "update_seq": seq,
            "purge_seq": 0,
            "compact_running": false,
            "sizes": {"file": bytes, "active": bytes, "external": bytes},
            "disk_size": bytes,
            "data_size": bytes,
            // As CouchDB 2 and later: every acknowledged write is durable, nothing to restart from.
            "instance_start_time": "0",
            "disk_format_version": settee::config::FORMAT,
            "committed_update_seq": seq,
            "props": {},
        }),
    ))
}

/// Every acknowledged write is already durable, so there is nothing to flush.
pub fn ensure_full_commit(req: Req) -> ApiResult<Response> {
    req.allow(&[Method::POST])?;
    Ok(json(StatusCode::CREATED, &json!({"ok": true, "instance_start_time": "0"})))
}

/// `POST /db/_compact`: accepted at once, compacted on a thread of its own.
pub fn compact(req: Req, db: Arc<Db>) -> ApiResult<Response> {
    req.allow(&[Method::POST])?;
    crate::http::require_json(&req.headers)?;
    let root = db.root.clone();
    let spawned = std::thread::Builder::new().name(format!("compact-{}", db.name)).spawn(move || {
        let opened = settee::Store::open(
            &root,
            settee::store::OpenOptions {
                write: true,
                wait_for_lock: Some(std::time::Duration::from_secs(60)),
            },
        );
        let result = opened.and_then(|mut s| s.compact(&settee::compact::Options::default()));
        if let Err(e) = result {
            eprintln!("settee serve: compacting {}: {e}", root.display());
        }
    });
    spawned.map_err(|e| ApiError::internal(format!("cannot start compaction: {e}")))?;
    Ok(json(StatusCode::ACCEPTED, &json!({"ok": true})))
}

/// `GET /db/_security`: settee keeps no per-database security object.
pub fn security(req: Req) -> ApiResult<Response> {
    req.allow(&[Method::GET])?;
    Ok(json(StatusCode::OK, &json!({})))
}

pub async fn revs_limit(req: Req, db: Arc<Db>) -> ApiResult<Response> {
    req.allow(&[Method::GET])?;
    let limit = db.run(|store| Ok(store.config().revs_limit)).await?;
    Ok(json(StatusCode::OK, &json!(limit)))
}
