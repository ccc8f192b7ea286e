//! HTTPS end to end: a TLS front on 127.0.0.1 with a self-signed certificate (rcgen,
//! tokio-rustls) forwarding to a real `settee serve`, and the settee binary cloning, syncing
//! and failing through it.
//!
//! The front ends with the test: its runtime is shut down when it is dropped, which closes
//! the listener and every forwarded connection.

use std::sync::Arc;

use serde_json::Value;
use tokio_rustls::rustls;

use crate::serve::Server;
use crate::*;

/// A TLS listener on 127.0.0.1 whose connections are forwarded, decrypted, to `upstream`.
pub struct TlsFront {
    pub port: u16,
    /// The self-signed certificate (for 127.0.0.1 and localhost), PEM.
    pub cert_pem: String,
    runtime: Option<tokio::runtime::Runtime>,
}

impl TlsFront {
    pub fn start(upstream: std::net::SocketAddr) -> TlsFront {
        let certified =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .expect("a self-signed certificate");
        let cert_pem = certified.cert.pem();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_no_client_auth()
                .with_single_cert(vec![certified.cert.der().clone()], key)
                .expect("a server certificate");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_io()
            .build()
            .expect("a tokio runtime");
        let listener =
            runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("binding the TLS front");
        let port = listener.local_addr().expect("a bound address").port();
        runtime.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that refuses the certificate ends its handshake here.
                    let Ok(mut tls) = acceptor.accept(client).await else { return };
                    let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else { return };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
                });
            }
        });
        TlsFront { port, cert_pem, runtime: Some(runtime) }
    }

    /// `https://127.0.0.1:PORT/db`, with `userinfo@` before the host when given.
    pub fn url(&self, userinfo: &str, db: &str) -> String {
        format!("https://{userinfo}127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Every leaf `export --all-leaves` gives, sorted by id and revision.
fn leaves(env: &TestEnv) -> Vec<Value> {
    super::store_leaves(env)
}

/// A served store with a few documents (one deleted, one in conflict) behind `settee serve`
/// and a TLS front; the certificate is written to `cert.pem` in `client`'s work tree.
fn served_over_tls(served: &TestEnv, client: &TestEnv, serve_args: &[&str]) -> (Server, TlsFront) {
    let rev = served.put("card", r#"{"phone":"555-1234"}"#);
    served.update("card", &rev, r#"{"phone":"555-9999"}"#);
    let gone = served.put("gone", "{}");
    served.rm("gone", &gone);
    served.put("ünï ☃", r#"{"text":"héllo"}"#);
    let mut args = vec!["db=."];
    args.extend_from_slice(serve_args);
    let server = Server::start(served, &args);
    let front = TlsFront::start(server.addr().parse().expect("host:port"));
    client.write_file("cert.pem", &front.cert_pem);
    (server, front)
}

#[test]
fn clone_over_https_trusts_the_cacert_and_names_the_certificate_problem_without_it() {
    let served = TestEnv::new();
    let client = TestEnv::bare();
    let (server, front) = served_over_tls(&served, &client, &[]);
    let url = front.url("", "db");

    // Without --cacert the system's roots do not know the certificate: one clear line, no
    // store left behind.
    let out = client.settee(["clone", &url, "refused"]);
    let message = out.fails(ERROR);
    assert!(message.contains(&url), "{message}");
    assert!(message.to_lowercase().contains("certificate"), "names the certificate problem: {message}");
    assert!(out.stderr.contains("--cacert"), "says how to trust it: {}", out.stderr);
    assert!(!client.path().join("refused").exists(), "nothing left of the failed clone");

    // A file that is not a certificate is named.
    client.write_file("junk.pem", "not a certificate\n");
    let message = client.settee(["clone", &url, "junk", "--cacert", "junk.pem"]).fails(ERROR);
    assert!(message.contains("junk.pem"), "{message}");

    // With it, the clone holds every leaf of the served store.
    client.settee(["clone", &url, "copy", "--cacert", "cert.pem"]).succeeded();
    let copy_dir = client.path().join("copy");
    let export = |dir: &std::path::Path| {
        let mut cmd = client.command();
        cmd.current_dir(dir).args(["export", "--all-leaves"]);
        let mut lines: Vec<Value> =
            run(cmd, "").ok().lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
        lines
            .sort_by_key(|d| (d["_id"].as_str().map(str::to_string), d["_rev"].as_str().map(str::to_string)));
        lines
    };
    assert_eq!(export(&copy_dir), leaves(&served));

    // An edit made in the clone goes back over HTTPS with sync (origin is the https URL).
    let mut cmd = client.command();
    cmd.current_dir(&copy_dir).args(["put", "from-copy", "-"]);
    run(cmd, r#"{"over":"tls"}"#).ok();
    let mut cmd = client.command();
    cmd.current_dir(&copy_dir).args(["sync", "--cacert", "../cert.pem"]);
    run(cmd, "").succeeded();
    assert_eq!(served.get_json(&["from-copy"])["over"], "tls");
    assert_eq!(export(&copy_dir), leaves(&served));
    drop(front);
    assert_eq!(server.stop(), 0);
}

#[test]
fn credentials_in_an_https_url_never_show() {
    const SECRET: &str = "tls-s3cret-pw";
    let served = TestEnv::new();
    served.write_file("pw", &format!("{SECRET}\n"));
    let client = TestEnv::new();
    let (server, front) = served_over_tls(&served, &client, &["--user", "ann", "--password-file", "pw"]);
    let url = front.url(&format!("ann:{SECRET}@"), "db");
    let shown = front.url("", "db");

    let mut outputs = Vec::new();
    // A wrong password: refused, named by the URL without it.
    let wrong = front.url("ann:not-the-password@", "db");
    let out = client.settee(["fetch", &wrong, "--cacert", "cert.pem"]);
    let message = out.fails(ERROR);
    assert!(message.contains(&shown) && !message.contains("not-the-password"), "{message}");
    outputs.push(out);
    // No --cacert: the certificate error does not show them either.
    let out = client.settee(["fetch", &url, "--retries", "0"]);
    out.fails(ERROR);
    outputs.push(out);
    // The right one: fetch, push, sync, remote add, clone, each in text and JSON.
    for args in [
        vec!["fetch", url.as_str(), "--cacert", "cert.pem"],
        vec!["--json", "push", url.as_str(), "--cacert", "cert.pem"],
        vec!["sync", url.as_str(), "--cacert", "cert.pem"],
        vec!["remote", "add", "tls", url.as_str()],
        vec!["remote", "list"],
        vec!["--json", "status"],
        vec!["clone", url.as_str(), "cloned", "--cacert", "cert.pem"],
    ] {
        let out = client.settee(&args);
        assert_eq!(out.code, OK, "{args:?}: {out:?}");
        outputs.push(out);
    }
    assert_eq!(client.get_json(&["card"])["phone"], "555-9999");
    for out in &outputs {
        assert_no_panic(out);
        assert!(!out.stdout.contains(SECRET) && !out.stderr.contains(SECRET), "the password shows: {out:?}");
    }
    // Nor anything on disk: the config, the checkpoints, on either side.
    for dir in [client.path().to_path_buf(), served.path().to_path_buf()] {
        for file in walk(&dir) {
            let bytes = std::fs::read(&file).expect("reading a store file");
            assert!(
                !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()) || file.ends_with("pw"),
                "{} holds the password",
                file.display()
            );
        }
    }
    drop(front);
    assert_eq!(server.stop(), 0);
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).expect("reading a directory").map(|e| e.expect("an entry")) {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}
