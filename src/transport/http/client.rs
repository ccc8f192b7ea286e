//! The HTTP client of the CouchDB transport: one `ureq` agent (rustls, kept-alive
//! connections shared by the threads of a replication), basic auth, and retries.
//!
//! Owns: sending one request and reading its whole answer, within the size limit, retrying
//! what `retry` says is worth it. Not: what the bodies mean (the transport and `wire`).
//! Invariants:
//! 1. An answer is returned whole or not at all: a body cut short, or larger than
//!    `Config::max_response`, is an error (or a retry), never a prefix.
//! 2. Errors name the URL as `Endpoint::url` shows it, never the credentials.

use std::sync::Arc;
use std::time::Duration;

use ureq::http::Method;
use ureq::unversioned::multipart::Form;

use super::auth::Credentials;
use super::config::{Config, Endpoint};
use super::retry::{retry_error, retry_status, Backoff};
use super::Error;

/// Told about each retry (the CLI prints it on stderr).
pub type Notify = Arc<dyn Fn(&str) + Send + Sync>;

/// An answer: any status but those `request` turns into errors.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    auth: Option<String>,
    retries: u32,
    backoff: Backoff,
    max_response: u64,
    notify: Option<Notify>,
}

/// What one attempt ended with, before the retry decision.
enum Failure {
    Transport(ureq::Error),
    TooLarge,
    /// The body to send could not be made (a local file); not retried.
    Local(std::io::Error),
}

/// What a request sends.
#[derive(Clone, Copy)]
pub enum Outgoing<'a> {
    Nothing,
    Json(&'a [u8]),
    /// A `multipart/related` body, made afresh for each attempt (its parts stream from
    /// readers, so a retry cannot resend what the first attempt read).
    Related(&'a dyn Fn() -> std::io::Result<Form<'a>>),
}

impl Client {
    pub fn new(
        endpoint: &Endpoint,
        config: &Config,
        credentials: Option<&Credentials>,
    ) -> Result<Client, Error> {
        let mut builder = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(concat!("settee/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(config.timeout))
            .timeout_recv_response(Some(config.timeout))
            .timeout_per_read(Some(config.timeout))
            .max_idle_connections_per_host(8)
            .max_redirects(0);
        if endpoint.url.starts_with("https:") || config.cacert.is_some() {
            builder = builder.tls_config(tls(config)?);
        }
        Ok(Client {
            agent: builder.build().new_agent(),
            auth: credentials.map(Credentials::header),
            retries: config.retries,
            backoff: Backoff::default(),
            max_response: config.max_response,
            notify: None,
        })
    }

    pub fn set_notify(&mut self, notify: Option<Notify>) {
        self.notify = notify;
    }

    /// Send `method url` with a JSON `body`, retrying as `retry` says; 401 and 403 become
    /// [`Error::Denied`], a status still failing after the retries [`Error::Status`];
    /// other statuses are the caller's to read.
    pub fn request(&self, method: Method, url: &str, body: Option<&[u8]>) -> Result<Reply, Error> {
        self.send(method, url, body.map_or(Outgoing::Nothing, Outgoing::Json))
    }

    /// [`Client::request`] with any [`Outgoing`] body.
    pub fn send(&self, method: Method, url: &str, body: Outgoing<'_>) -> Result<Reply, Error> {
        self.send_as(method, url, body, &[401, 403])
    }

    /// [`Client::send`] for one document's write, where a 403 is the server refusing that
    /// document (a validation function's `forbidden`), the caller's to read; 401 is still
    /// [`Error::Denied`].
    pub fn send_document(&self, method: Method, url: &str, body: Outgoing<'_>) -> Result<Reply, Error> {
        self.send_as(method, url, body, &[401])
    }

    fn send_as(&self, method: Method, url: &str, body: Outgoing<'_>, denied: &[u16]) -> Result<Reply, Error> {
        let mut attempt = 0;
        loop {
            let outcome = self.attempt(&method, url, body);
            let (retry, why) = match &outcome {
                Ok(reply) if retry_status(reply.status) => (true, format!("status {}", reply.status)),
                Ok(_) => (false, String::new()),
                Err(Failure::Transport(e)) => {
                    (retry_error(e) && super::tls::failure(e).is_none(), e.to_string())
                }
                Err(Failure::TooLarge | Failure::Local(_)) => (false, String::new()),
            };
            if retry && attempt < self.retries {
                self.pause_before_retry(method.as_str(), url, &why, &mut attempt);
                continue;
            }
            return match outcome {
                Ok(reply) if denied.contains(&reply.status) => {
                    Err(Error::Denied { url: shown(url), status: reply.status })
                }
                Ok(reply) if retry_status(reply.status) => Err(Error::Status {
                    method: method.to_string(),
                    url: shown(url),
                    status: reply.status,
                    body: summary(&reply.body),
                }),
                Ok(reply) => Ok(reply),
                Err(Failure::TooLarge) => Err(Error::TooLarge { url: shown(url), limit: self.max_response }),
                Err(Failure::Local(e)) => Err(Error::Config(format!("reading the bytes to send: {e}"))),
                Err(Failure::Transport(e)) if super::tls::failure(&e).is_some() => {
                    Err(Error::Tls { url: shown(url), cause: super::tls::failure(&e).unwrap_or_default() })
                }
                Err(Failure::Transport(e)) => Err(Error::Connection {
                    method: method.to_string(),
                    url: shown(url),
                    attempts: attempt + 1,
                    cause: e.to_string(),
                }),
            };
        }
    }

    fn attempt(&self, method: &Method, url: &str, body: Outgoing<'_>) -> Result<Reply, Failure> {
        let mut request = ureq::http::Request::builder()
            .method(method.clone())
            .uri(url)
            .header("Accept", "application/json");
        if let Some(auth) = &self.auth {
            request = request.header("Authorization", auth.as_str());
        }
        let result = match body {
            Outgoing::Json(bytes) => {
                let request = request
                    .header("Content-Type", "application/json")
                    .body(bytes)
                    .map_err(|e| Failure::Transport(ureq::Error::Http(e)))?;
                self.agent.run(request)
            }
            Outgoing::Related(make) => {
                let form = make().map_err(Failure::Local)?;
                // Set here, so ureq does not add its own `multipart/form-data`.
                let content_type = format!("multipart/related; boundary={}", form.boundary());
                let request = request
                    .header("Content-Type", content_type)
                    .body(form)
                    .map_err(|e| Failure::Transport(ureq::Error::Http(e)))?;
                self.agent.run(request)
            }
            Outgoing::Nothing => {
                let request = request.body(()).map_err(|e| Failure::Transport(ureq::Error::Http(e)))?;
                self.agent.run(request)
            }
        };
        let mut response = result.map_err(Failure::Transport)?;
        let status = response.status().as_u16();
        let body =
            response.body_mut().with_config().limit(self.max_response).read_to_vec().map_err(
                |e| match e {
                    ureq::Error::BodyExceedsLimit(_) => Failure::TooLarge,
                    other => Failure::Transport(other),
                },
            )?;
        Ok(Reply { status, body })
    }

    /// `GET url` for an attachment's bytes, as a stream: the status, the `Content-Encoding`
    /// (lowercase) and the body. Connection failures are retried as `request` retries them;
    /// a status other than 200 is the caller's to read (with a short body).
    pub fn download(&self, url: &str) -> Result<(u16, Option<String>, ureq::Body), Error> {
        let mut attempt = 0;
        loop {
            let mut request = self.agent.get(url);
            if let Some(auth) = &self.auth {
                request = request.header("Authorization", auth.as_str());
            }
            match request.call() {
                Ok(response) => {
                    let status = response.status().as_u16();
                    if status == 401 || status == 403 {
                        return Err(Error::Denied { url: shown(url), status });
                    }
                    let encoding = response
                        .headers()
                        .get("content-encoding")
                        .and_then(|v| v.to_str().ok())
                        .map(|v| v.trim().to_ascii_lowercase());
                    return Ok((status, encoding, response.into_body()));
                }
                Err(e) if retry_error(&e) && attempt < self.retries => {
                    self.pause_before_retry("GET", url, &e.to_string(), &mut attempt);
                }
                Err(e) => {
                    return Err(Error::Connection {
                        method: "GET".into(),
                        url: shown(url),
                        attempts: attempt + 1,
                        cause: e.to_string(),
                    })
                }
            }
        }
    }

    /// Before retry `attempt + 1` of a request that failed (`why`): say so, wait the
    /// backoff's delay, and count the attempt.
    fn pause_before_retry(&self, method: &str, url: &str, why: &str, attempt: &mut u32) {
        let wait = self.backoff.delay(*attempt);
        *attempt += 1;
        if let Some(notify) = &self.notify {
            notify(&format!(
                "{method} {} failed ({why}); retry {attempt} of {} in {:.1} s",
                shown(url),
                self.retries,
                wait.as_secs_f64()
            ));
        }
        std::thread::sleep(wait);
    }

    /// Open `url` for reading as a stream (a long-poll feed), with one attempt; the caller
    /// retries the whole wait.
    pub fn open(&self, url: &str, read_timeout: Duration) -> Result<ureq::Body, Error> {
        let mut request = self.agent.get(url).header("Accept", "application/json");
        if let Some(auth) = &self.auth {
            request = request.header("Authorization", auth.as_str());
        }
        let response = request
            .config()
            .timeout_per_read(Some(read_timeout))
            .timeout_recv_response(Some(read_timeout))
            .build()
            .call()
            .map_err(|e| match super::tls::failure(&e) {
                Some(cause) => Error::Tls { url: shown(url), cause },
                None => Error::Connection {
                    method: "GET".into(),
                    url: shown(url),
                    attempts: 1,
                    cause: e.to_string(),
                },
            })?;
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            return Err(Error::Denied { url: shown(url), status });
        }
        if status != 200 {
            let mut response = response;
            let body = response.body_mut().with_config().limit(1 << 16).read_to_vec().unwrap_or_default();
            return Err(Error::Status {
                method: "GET".into(),
                url: shown(url),
                status,
                body: summary(&body),
            });
        }
        Ok(response.into_body())
    }
}

/// A URL as errors show it: without its query (long, and of no help).
fn shown(url: &str) -> String {
    url.split_once('?').map_or(url, |(path, _)| path).to_string()
}

/// The start of an error body, on one line.
pub fn summary(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The roots of trust: the system's, and those of `--cacert`.
fn tls(config: &Config) -> Result<ureq::tls::TlsConfig, Error> {
    let mut roots: Vec<ureq::tls::Certificate<'static>> = rustls_native_certs::load_native_certs()
        .certs
        .iter()
        .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    if let Some(path) = &config.cacert {
        let pem = std::fs::read(path)
            .map_err(|e| Error::Config(format!("reading the CA certificates {}: {e}", path.display())))?;
        let before = roots.len();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => roots.push(c),
                Ok(_) => {}
                Err(e) => {
                    return Err(Error::Config(format!(
                        "{} is not a PEM certificate file: {e}",
                        path.display()
                    )))
                }
            }
        }
        if roots.len() == before {
            return Err(Error::Config(format!("{} holds no PEM certificate", path.display())));
        }
    }
    let builder = ureq::tls::TlsConfig::builder();
    Ok(if roots.is_empty() {
        builder.root_certs(ureq::tls::RootCerts::WebPki).build()
    } else {
        builder.root_certs(ureq::tls::RootCerts::new_with_certs(&roots)).build()
    })
}
