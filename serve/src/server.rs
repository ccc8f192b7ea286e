//! Listening and serving: the accept loop over hyper's HTTP/1 connections, the layers every
//! request passes (access log, CORS, draining unread bodies, panic catching, basic auth,
//! body timeout), and the graceful stop on SIGINT or SIGTERM.
//!
//! Invariants:
//! 1. A non-loopback address is served only with credentials (checked before binding).
//! 2. With credentials, a request without valid basic auth gets a 401 and reaches no
//!    endpoint (CORS preflights are answered by the CORS layer, before auth).
//! 3. A panic in a handler is a 500 with a JSON body; the connection and the server go on.
//! 4. On a stop signal the listener closes, feeds that wait end their bodies, requests in
//!    flight finish (for up to [`DRAIN`]), and `run` returns `Ok`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::config::LogLevel;
use crate::error::{ApiError, StartError};
use crate::App;

/// How long requests in flight may take to finish after a stop signal.
const DRAIN: Duration = Duration::from_secs(10);

pub fn router(app: Arc<App>) -> Router {
    let routes = Router::new().fallback(crate::route::dispatch).with_state(app.clone());
    with_layers(routes, app)
}

/// `routes` behind the layers every request passes.
fn with_layers(routes: Router, app: Arc<App>) -> Router {
    let config = &app.config;
    let mut router = routes
        .layer(RequestBodyTimeoutLayer::new(config.client_timeout))
        .layer(middleware::from_fn_with_state(app.clone(), auth))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal("the request failed unexpectedly").into_response()
        }))
        .layer(middleware::from_fn_with_state(app.clone(), crate::drain::layer));
    if !config.cors.is_empty() {
        let origin = if config.cors.iter().any(|o| o == "*") {
            AllowOrigin::mirror_request()
        } else {
            AllowOrigin::list(config.cors.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
        };
        router = router.layer(
            CorsLayer::new()
                .allow_origin(origin)
                .allow_credentials(true)
                .allow_methods([
                    Method::GET,
                    Method::PUT,
                    Method::POST,
                    Method::DELETE,
                    Method::HEAD,
                    Method::OPTIONS,
                ])
                .allow_headers(AllowHeaders::mirror_request())
                .expose_headers([header::CONTENT_TYPE, header::ETAG, header::CACHE_CONTROL]),
        );
    }
    router.layer(middleware::from_fn_with_state(app, access_log))
}

async fn auth(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let Some(wanted) = &app.config.credentials else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let ok = given.as_deref().and_then(|g| g.split_once(':')).is_some_and(|(user, password)| {
        constant_time_eq(user.as_bytes(), wanted.user.as_bytes())
            & constant_time_eq(password.as_bytes(), wanted.password.as_bytes())
    });
    if ok {
        next.run(request).await
    } else {
        ApiError::unauthorized().into_response()
    }
}

/// Compare without stopping at the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

async fn access_log(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let level = app.config.log;
    if level == LogLevel::Off {
        return next.run(request).await;
    }
    let started = Instant::now();
    let method = request.method().clone();
    let target =
        if level >= LogLevel::Debug { request.uri().to_string() } else { request.uri().path().to_string() };
    let response = next.run(request).await;
    let status = response.status();
    let shown = match level {
        LogLevel::Off => false,
        LogLevel::Error => status.is_server_error(),
        LogLevel::Warn => status.is_client_error() || status.is_server_error(),
        LogLevel::Info | LogLevel::Debug => true,
    };
    if shown {
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        eprintln!(
            "{} {method} {target} {} {ms:.1}ms",
            httpdate::fmt_http_date(std::time::SystemTime::now()),
            status.as_u16()
        );
    }
    response
}

/// Serve until SIGINT or SIGTERM. `listening` is told the bound address once requests can
/// be made.
pub async fn serve(
    app: Arc<App>,
    listening: impl FnOnce(SocketAddr),
    stop: tokio::sync::watch::Sender<bool>,
) -> Result<(), StartError> {
    let addr = app.config.bind;
    let listener =
        tokio::net::TcpListener::bind(addr).await.map_err(|source| StartError::Bind { addr, source })?;
    let bound = listener.local_addr().map_err(|source| StartError::Bind { addr, source })?;
    listening(bound);
    let router = router(app.clone());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(app.config.client_timeout).keep_alive(true);
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(StartError::Runtime)?;
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(StartError::Runtime)?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((socket, _)) = accepted else {
                    // Out of file descriptors and the like: let others finish, then go on.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let _ = socket.set_nodelay(true);
                let service = TowerToHyperService::new(router.clone());
                let connection = http.serve_connection(TokioIo::new(socket), service);
                let watched = graceful.watch(connection);
                tokio::spawn(async move {
                    let _ = watched.await;
                });
            }
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
        }
    }
    drop(listener);
    let _ = stop.send(true);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(DRAIN) => {}
    }
    for db in app.dbs.all() {
        db.close();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    fn app(config: crate::Config) -> Arc<App> {
        let dbs = crate::dbs::Databases::load(&config).expect("no databases to open");
        let (_stop, shutdown) = tokio::sync::watch::channel(false);
        Arc::new(App { config, dbs, uuid: "0".repeat(32), shutdown })
    }

    fn config() -> crate::Config {
        let mut c = crate::Config::new("127.0.0.1:0".parse().expect("an address"));
        c.log = LogLevel::Off;
        c
    }

    async fn call(router: Router, request: Request) -> (u16, serde_json::Value) {
        let response = router.oneshot(request).await.expect("infallible");
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.expect("a body").to_bytes();
        (status, serde_json::from_slice(&bytes).expect("a JSON body"))
    }

    #[tokio::test]
    async fn a_panicking_handler_is_a_500_with_a_json_body() {
        let routes = Router::new().route("/boom", get(|| async { panic!("boom") as &'static str }));
        let router = with_layers(routes, app(config()));
        let request = Request::builder().uri("/boom").body(Body::empty()).expect("a request");
        let (status, body) = call(router, request).await;
        assert_eq!(status, 500);
        assert_eq!(body["error"], "internal_server_error");
    }

    #[tokio::test]
    async fn credentials_guard_every_route() {
        let mut c = config();
        c.credentials = Some(crate::Credentials { user: "u".into(), password: "p:w".into() });
        let routes = Router::new().route("/x", get(|| async { "{}" }));
        let router = with_layers(routes, app(c));
        let no = Request::builder().uri("/x").body(Body::empty()).expect("a request");
        assert_eq!(call(router.clone(), no).await.0, 401);
        let header = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("u:p:w"));
        let yes = Request::builder()
            .uri("/x")
            .header("authorization", header)
            .body(Body::empty())
            .expect("a request");
        assert_eq!(call(router, yes).await.0, 200);
    }

    #[test]
    fn comparison_without_early_exit_still_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
