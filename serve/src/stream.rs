//! Streamed response bodies: chunks made by a task and sent through a bounded channel, so
//! a large `_all_docs` or `_changes` answer holds one page in memory, not the whole.
//!
//! Owns: [`Sink`] (the producer's end) and [`response`]. A producer whose client went away
//! sees [`Sink::send`] fail and stops; a producer that fails midway ends the body with an
//! error, so the client sees a cut response, never a well-formed wrong one.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// Pages in flight between a producer and the connection.
const DEPTH: usize = 4;

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
