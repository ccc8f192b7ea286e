//! Where an HTTP peer is and how to talk to it: the database URL split into the parts a
//! request needs, and the client's settings (retries, timeouts, extra roots of trust).
//!
//! Owns: parsing `http(s)://[user:pass@]host[:port]/[prefix/]db` and the URL settee shows
//! for it. Invariant: [`Endpoint::url`] (used in errors, reports, the replication id and
//! everything settee stores) never holds the user or the password; they only travel
//! inside [`Endpoint::user`]/[`Endpoint::password`] to `auth`.

use std::path::PathBuf;
use std::time::Duration;

use super::Error;

/// A CouchDB database on a server.
#[derive(Clone)]
pub struct Endpoint {
    /// `scheme://host[:port]/[prefix/]db`, without credentials or a trailing slash.
    pub url: String,
    /// `scheme://host[:port]/[prefix/]`: the server root (`GET /` answers the welcome).
    pub server: String,
    /// The host name, for netrc look-ups.
    pub host: String,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").field("url", &self.url).field("user", &self.user).finish_non_exhaustive()
    }
}

impl Endpoint {
    /// Parse a database URL. The path's last segment is the database (kept as written,
    /// percent-encoding included); a query or fragment is refused.
    pub fn parse(text: &str) -> Result<Endpoint, Error> {
        let shown = redact(text);
        let bad = |why: &str| Error::BadUrl { url: shown.clone(), why: why.to_string() };
        let mut url = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("the scheme must be http or https"));
        }
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| bad("no host"))?.to_string();
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("a database URL takes no query or fragment"));
        }
        let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        let user = Some(decode(url.username())).filter(|u| !u.is_empty());
        let password = url.password().map(decode);
        url.set_username("").map_err(|()| bad("cannot remove the user name"))?;
        url.set_password(None).map_err(|()| bad("cannot remove the password"))?;
        let full = url.as_str().trim_end_matches('/').to_string();
        let path = url.path().trim_end_matches('/');
        let (prefix, db) = path.rsplit_once('/').unwrap_or(("", path));
        if db.is_empty() {
            return Err(bad("no database name in the path"));
        }
        url.set_path(&format!("{prefix}/"));
        Ok(Endpoint { url: full, server: url.as_str().to_string(), host, user, password })
    }
}

/// `text` with any `user:password@` taken out of its authority, for showing and storing.
pub fn redact(text: &str) -> String {
    if let Ok(mut url) = url::Url::parse(text) {
        if !url.username().is_empty() || url.password().is_some() {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            return url.as_str().to_string();
        }
        return text.to_string();
    }
    // Not a URL: cut from "//" to the last "@" of the authority all the same.
    match text.split_once("//") {
        Some((scheme, rest)) => {
            let end = rest.find('/').unwrap_or(rest.len());
            match rest[..end].rfind('@') {
                Some(at) => format!("{scheme}//{}", &rest[at + 1..]),
                None => text.to_string(),
            }
        }
        None => text.to_string(),
    }
}

/// Whether `text` carries a user or a password in its authority.
pub fn has_credentials(text: &str) -> bool {
    redact(text) != text
}

/// The client's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Attempts after the first for a request that failed in a way worth retrying
    /// (connection errors, timeouts, 5xx).
    pub retries: u32,
    /// How long a connection attempt, or a wait for the next bytes of an answer, may take.
    pub timeout: Duration,
    /// PEM certificates trusted besides the system's roots.
    pub cacert: Option<PathBuf>,
    /// The largest answer read into memory (a larger one is an error).
    pub max_response: u64,
    /// Create the database when it does not exist (push).
    pub create: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            retries: 5,
            timeout: Duration::from_secs(60),
            cacert: None,
            max_response: 512 << 20,
            create: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_and_lose_their_credentials() {
        let e = Endpoint::parse("http://ann:s%40cret@127.0.0.1:5984/db").unwrap();
        assert_eq!(e.url, "http://127.0.0.1:5984/db");
        assert_eq!(e.server, "http://127.0.0.1:5984/");
        assert_eq!((e.user.as_deref(), e.password.as_deref()), (Some("ann"), Some("s@cret")));
        assert!(!format!("{e:?}").contains("cret"));
        let e = Endpoint::parse("https://example.org/couch/my%2Fdb/").unwrap();
        assert_eq!(e.url, "https://example.org/couch/my%2Fdb");
        assert_eq!(e.server, "https://example.org/couch/");
        assert_eq!(e.host, "example.org");
        assert!(e.user.is_none());
        for bad in ["http://host/", "http://host", "ftp://host/db", "http://host/db?x=1", "http:///db"] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
        let err = Endpoint::parse("ftp://u:topsecret@h/db").unwrap_err().to_string();
        assert!(!err.contains("topsecret"), "{err}");
    }

    #[test]
    fn redaction() {
        assert_eq!(redact("http://u:p@h:1/db"), "http://h:1/db");
        assert_eq!(redact("http://h/db"), "http://h/db");
        assert_eq!(redact("http://u:p@[bad/db"), "http://[bad/db");
        assert!(has_credentials("https://u@h/db"));
        assert!(!has_credentials("https://h/db"));
    }
}
