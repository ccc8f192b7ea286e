//! A real PouchDB Server on 127.0.0.1 for the HTTP transport's tests: started on a free
//! port from `target/peer` (installed by `scripts/install-peer`), with in-memory or on-disk
//! storage in a temporary directory, stopped when dropped. Waits are bounded.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Where `scripts/install-peer` puts the npm packages.
pub fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/peer/node_modules")
}

pub struct PouchServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    in_memory: bool,
    admin: Option<(String, String)>,
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    listener.local_addr().expect("a bound address").port()
}

impl PouchServer {
    /// A server keeping its databases in memory.
    pub fn in_memory() -> PouchServer {
        PouchServer::start(true, None)
    }

    /// A server keeping its databases on disk (they survive `restart`).
    pub fn on_disk() -> PouchServer {
        PouchServer::start(false, None)
    }

    /// A server with an admin `user`:`password` (no more "admin party": creating a
    /// database needs the admin's credentials).
    pub fn with_admin(user: &str, password: &str) -> PouchServer {
        PouchServer::start(true, Some((user.into(), password.into())))
    }

    fn start(in_memory: bool, admin: Option<(String, String)>) -> PouchServer {
        let bin = peer_dir().join("pouchdb-server/bin/pouchdb-server");
        assert!(bin.exists(), "{} is missing: run scripts/install-peer", bin.display());
        let dir = tempfile::Builder::new().prefix("settee-pouch-").tempdir().expect("a temp dir");
        let mut server = PouchServer { child: None, port: free_port(), dir, in_memory, admin };
        server.launch();
        server
    }

    fn launch(&mut self) {
        let dir = self.dir.path();
        let mut config = serde_json::json!({"log": {"file": dir.join("log.txt"), "level": "warning"}});
        if let Some((user, password)) = &self.admin {
            config["admins"] = serde_json::json!({ user: password });
        }
        std::fs::write(dir.join("config.json"), config.to_string()).expect("writing the server's config");
        let mut cmd = Command::new("node");
        cmd.arg(peer_dir().join("pouchdb-server/bin/pouchdb-server"))
            .args(["-o", "127.0.0.1", "-p", &self.port.to_string(), "-d"])
            .arg(format!("{}/", dir.display()))
            .arg("-c")
            .arg(dir.join("config.json"))
            .args(["-n", "--no-color"])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.in_memory {
            cmd.arg("--in-memory");
        }
        self.child = Some(cmd.spawn().expect("starting pouchdb-server (is node installed?)"));
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(r) = ureq::get(&format!("{}/", self.root())).call() {
                if r.status() == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("pouchdb-server did not answer on port {} within 30 s", self.port);
    }

    /// `http://127.0.0.1:PORT`.
    pub fn root(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The URL of database `db`.
    pub fn db(&self, db: &str) -> String {
        format!("{}/{db}", self.root())
    }

    /// Kill the server (SIGKILL) and wait for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kill it and start it again on the same port and directory.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// `GET path` (JSON), with the admin's credentials if there is one.
    pub fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None)
    }

    /// `GET path` as bytes (an attachment).
    pub fn get_bytes(&self, path: &str) -> (u16, Vec<u8>) {
        let url = format!("{}/{path}", self.root());
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut response = agent.get(&url).call().expect("a request to pouchdb-server");
        let status = response.status().as_u16();
        let bytes = response.body_mut().with_config().limit(64 << 20).read_to_vec().expect("an answer");
        (status, bytes)
    }

    /// `method path` with a JSON body; status and parsed answer.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let url = format!("{}/{path}", self.root());
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut req =
            ureq::http::Request::builder().method(method).uri(&url).header("Accept", "application/json");
        if let Some((user, password)) = &self.admin {
            use base64::Engine as _;
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            req = req.header("Authorization", format!("Basic {token}"));
        }
        let mut response = match body {
            Some(b) => agent
                .run(req.header("Content-Type", "application/json").body(b.to_string()).expect("a request"))
                .expect("a request to pouchdb-server"),
            None => agent.run(req.body(()).expect("a request")).expect("a request to pouchdb-server"),
        };
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().expect("an answer");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

impl Drop for PouchServer {
    fn drop(&mut self) {
        self.kill();
    }
}
