//! Streamed response bodies: chunks made by a task and sent through a bounded channel, so
//! a large `_all_docs` or `_changes` answer holds one page in memory, not the whole.
//!
//! Owns: [`Sink`] (the producer's end) and [`response`]; [`from_reader`], a body read
//! from a blocking `std::io::Read` on tokio's blocking pool. A producer whose client went
//! away sees [`Sink::send`] fail (a reader: its send fails) and stops; a producer that fails
//! midway ends the body with an error, so the client sees a cut response, never a
//! well-formed wrong one.

use std::io::Read;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::error::{ApiError, ApiResult};

/// Pages in flight between a producer and the connection.
const DEPTH: usize = 4;

/// The most a blocking reader's page holds.
const READ_LEN: u64 = 64 * 1024;

pub struct Sink(mpsc::Sender<Result<Bytes, std::io::Error>>);

/// The client is gone: stop producing.
#[derive(Debug)]
pub struct Gone;

impl Sink {
    pub async fn send(&self, bytes: impl Into<Bytes>) -> Result<(), Gone> {
        self.0.send(Ok(bytes.into())).await.map_err(|_| Gone)
    }

    /// End the body with an error (the connection is cut).
    pub async fn fail(&self, why: String) {
        let _ = self.0.send(Err(std::io::Error::other(why))).await;
    }
}

/// A streamed response of `content_type` and its producer's sink.
pub fn response(content_type: &'static str) -> (Response, Sink) {
    let (tx, rx) = mpsc::channel(DEPTH);
    let body = Body::from_stream(ReceiverStream::new(rx));
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("must-revalidate"));
    (r, Sink(tx))
}

/// A streamed response read from a blocking reader: `make` runs on tokio's blocking pool
/// (so the reader need not be `Send`) and gives the response's content type and the
/// reader, which is then read a page at a time, at most [`DEPTH`] pages ahead of the
/// connection. `make` failing is a 500 before anything is sent; a read failing cuts the body.
pub async fn from_reader<R, F>(make: F) -> ApiResult<Response>
where
    R: Read,
    F: FnOnce() -> Result<(String, R), String> + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(DEPTH);
    let (head_tx, head_rx) = tokio::sync::oneshot::channel();
    tokio::task::spawn_blocking(move || {
        let mut reader = match make() {
            Ok((content_type, reader)) => {
                if head_tx.send(Ok(content_type)).is_err() {
                    return;
                }
                reader
            }
            Err(why) => {
                let _ = head_tx.send(Err(why));
                return;
            }
        };
        loop {
            let mut page = Vec::new();
            match reader.by_ref().take(READ_LEN).read_to_end(&mut page) {
                Ok(0) => return,
                Ok(_) => {
                    if tx.blocking_send(Ok(page.into())).is_err() {
                        return; // The client went away.
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    let content_type = head_rx
        .await
        .map_err(|_| ApiError::internal("the response's producer stopped before it started"))?
        .map_err(ApiError::internal)?;
    let content_type = HeaderValue::from_str(&content_type)
        .map_err(|_| ApiError::internal(format!("not a header value: {content_type:?}")))?;
    let body = Body::from_stream(ReceiverStream::new(rx));
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, content_type);
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("must-revalidate"));
    Ok(r)
}
