//! How the server is set up: where it listens, what it serves, who may use it, its limits.
//!
//! Owns: [`Config`] and its parts, with CouchDB's database-name rule ([`check_db_name`]).
//! The CLI builds a `Config` from its arguments; nothing here reads the command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The credentials every request must carry (HTTP basic auth) when set.
#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("user", &self.user).finish_non_exhaustive()
    }
}

/// Which requests the access log shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Nothing.
    Off,
    /// Failed requests with a 5xx status.
    Error,
    /// Failed requests (4xx and 5xx).
    Warn,
    /// Every request.
    Info,
    /// Every request, with its query string.
    Debug,
}

impl std::str::FromStr for LogLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<LogLevel, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "off" | "none" => LogLevel::Off,
            "error" => LogLevel::Error,
            "warn" | "warning" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" | "trace" => LogLevel::Debug,
            _ => return Err(format!("unknown log level {s:?} (off, error, warn, info, debug)")),
        })
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub bind: SocketAddr,
    /// Databases by name, with their `.settee` directories.
    pub dbs: Vec<(String, PathBuf)>,
    /// Origins allowed by CORS (`*` for any); empty: no CORS headers.
    pub cors: Vec<String>,
    pub credentials: Option<Credentials>,
    /// Where `PUT /db` creates stores (as `DIR/NAME/.settee`); its stores are served too.
    pub data_dir: Option<PathBuf>,
    /// `DELETE /db` removes a database of the data directory.
    pub allow_delete: bool,
    /// The longest request body accepted, in bytes (JSON bodies, inline attachments
    /// included).
    pub max_body: usize,
    /// The longest attachment accepted as its own body or part (streamed to disk), in bytes.
    pub max_attachment: u64,
    /// How long a client may take to send a request's headers or its body, and how long a
    /// kept-alive connection may sit idle.
    pub client_timeout: Duration,
    pub log: LogLevel,
}

impl Config {
    pub fn new(bind: SocketAddr) -> Config {
        Config {
            bind,
            dbs: Vec::new(),
            cors: Vec::new(),
            credentials: None,
            data_dir: None,
            allow_delete: false,
            max_body: 64 << 20,
            max_attachment: 4 << 30,
            client_timeout: Duration::from_secs(60),
            log: LogLevel::Warn,
        }
    }
}

/// CouchDB's rule for database names, `^[a-z][a-z0-9_$()+/-]*$`, without `/` (a name is a
/// directory under the data directory).
pub fn check_db_name(name: &str) -> Result<(), &'static str> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Err("it is empty"),
        Some(c) if !c.is_ascii_lowercase() => return Err("it must begin with a letter from a to z"),
        Some(_) => {}
    }
    if name.len() > 238 {
        return Err("it is longer than 238 characters");
    }
    if name.contains('/') {
        return Err("'/' is not allowed in the names settee serves");
    }
    if chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_$()+-".contains(c)) {
        Ok(())
    } else {
        Err("only a-z, 0-9 and _$()+- are allowed")
    }
}

#[cfg(test)]
mod tests {
    use super::check_db_name;

    #[test]
    fn couchdb_names_pass_and_paths_do_not() {
        for ok in ["a", "cards", "a1_$()+-"] {
            assert_eq!(check_db_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", "A", "1a", "_users", "a/b", "..", "a.b", "a b", "a\u{0}"] {
            assert!(check_db_name(bad).is_err(), "{bad:?}");
        }
    }
}
