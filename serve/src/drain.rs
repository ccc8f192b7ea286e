//! Request bodies an endpoint did not read to the end, read before the answer goes out, so
//! that the connection can be kept alive.
//!
//! hyper reuses an HTTP/1 connection only once the request's body was read to its end. An
//! endpoint that answers without reading it (`_ensure_full_commit` ignores its `{}`, an
//! error answered before the body is looked at) leaves hyper to drain what has already
//! arrived; a body still on its way is not waited for, and the connection is closed after
//! the answer without the answer saying so. A client that pooled the connection then finds
//! it closed on its next request.
//!
//! Owns: [`layer`], a middleware that hands endpoints a body which, when let go before its
//! end, comes back here; the rest is then read and thrown away (at most [`DRAIN_LIMIT`]
//! bytes, for at most the client timeout) before the answer is returned.
//! Invariant: every answer either follows a request read to its end, or says
//! `Connection: close` (a body too large or too slow to drain, one that failed, or one whose
//! reading already ended the request: 408, 413).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt;
use http_body::{Frame, SizeHint};

use crate::App;

/// The most bytes of an unread body read and thrown away to keep the connection.
pub const DRAIN_LIMIT: usize = 1 << 20;

/// Where a body let go before its end is put back.
type Slot = Arc<Mutex<Option<Body>>>;

/// A request body that, dropped before its end, puts the rest into its slot.
struct Tracked {
    inner: Option<Body>,
    slot: Slot,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let Some(inner) = self.inner.as_mut() else { return Poll::Ready(None) };
        let polled = Pin::new(inner).poll_frame(cx);
        // At its end, or broken: nothing left to drain.
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            self.inner = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(http_body::Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.as_ref().map_or_else(|| SizeHint::with_exact(0), http_body::Body::size_hint)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(rest) = self.inner.take().filter(|b| !http_body::Body::is_end_stream(b)) {
            *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(rest);
        }
    }
}

/// The middleware: run the request, then drain what its endpoint left of the body.
pub async fn layer(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let slot: Slot = Arc::new(Mutex::new(None));
    let (parts, body) = request.into_parts();
    let tracked = Tracked { inner: Some(body), slot: slot.clone() };
    let mut response = next.run(Request::from_parts(parts, Body::new(tracked))).await;
    let rest = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(rest) = rest {
        let gave_up =
            matches!(response.status(), StatusCode::REQUEST_TIMEOUT | StatusCode::PAYLOAD_TOO_LARGE);
        let too_large =
            usize::try_from(http_body::Body::size_hint(&rest).lower()).map_or(true, |n| n > DRAIN_LIMIT);
        if gave_up || too_large || !drain(rest, app.config.client_timeout).await {
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
    }
    response
}

/// Read `rest` to its end within `wait` and throw it away; false if it is too large, too
/// slow or broken.
async fn drain(rest: Body, wait: Duration) -> bool {
    let reading = async {
        let mut seen = 0usize;
        let mut stream = rest.into_data_stream();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => {
                    seen += bytes.len();
                    if seen > DRAIN_LIMIT {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
        true
    };
    tokio::time::timeout(wait, reading).await.unwrap_or(false)
}
