//! `GET/PUT/DELETE /db/_local/ID`: per-database documents that are never replicated
//! (replication checkpoints). Their revisions count writes, `0-N`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::Value;
use settee::DocId;

use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::route::Req;

pub async fn handle(mut req: Req, db: Arc<Db>, name: &str) -> ApiResult<Response> {
    req.allow(&[Method::GET, Method::PUT, Method::DELETE])?;
    let id = DocId::parse_local(name)?;
    match req.method {
        Method::PUT => {
            let body = std::mem::replace(&mut req.body, Body::empty());
            let value = http::parse_json(&http::read_body(body, req.limit()).await?)?;
            if value.get("_id").is_some_and(|v| v.as_str() != Some(id.as_str())) {
                return Err(ApiError::bad_request("Document id must match the _id in the body"));
            }
            let map = settee::Incoming::from_value(value, id.as_str())?.body;
            let put_id = id.clone();
            let rev = db.run(move |store| Ok(store.put_local(&put_id, &map)?)).await?;
            Ok(http::written(StatusCode::CREATED, id.as_str(), &rev))
        }
        Method::DELETE => {
            let del_id = id.clone();
            let removed = db.run(move |store| Ok(store.remove_local(&del_id)?)).await?;
            if !removed {
                return Err(ApiError::not_found("missing"));
            }
            Ok(http::written(StatusCode::OK, id.as_str(), "0-0"))
        }
        _ => {
            let get_id = id.clone();
            let doc = db.run(move |store| Ok(store.get_local(&get_id)?)).await?;
            let doc = doc.ok_or_else(|| ApiError::not_found("missing"))?;
            Ok(http::json(StatusCode::OK, &Value::Object(doc)))
        }
    }
}
