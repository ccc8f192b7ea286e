//! Basic-auth credentials for an HTTP peer: from the URL, from the environment
//! (`SETTEE_COUCH_USER`, `SETTEE_COUCH_PASSWORD`), or from a netrc file (`SETTEE_NETRC`,
//! else `~/.netrc`), in that order.
//!
//! Owns: finding the credentials and turning them into an `Authorization` header.
//! Invariant: a password never leaves this module except inside that header; `Debug`
//! shows the user name only.

use base64::Engine as _;

use super::config::Endpoint;
use super::Error;

pub const USER_VAR: &str = "SETTEE_COUCH_USER";
pub const PASSWORD_VAR: &str = "SETTEE_COUCH_PASSWORD";
pub const NETRC_VAR: &str = "SETTEE_NETRC";

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("user", &self.user).finish_non_exhaustive()
    }
}

impl Credentials {
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials { user: user.into(), password: password.into() }
    }

    /// `Basic base64(user:password)`.
    pub fn header(&self) -> String {
        let pair = format!("{}:{}", self.user, self.password);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
    }
}

/// The credentials for `endpoint`, if any source has them. A user named in the URL without
/// a password takes the password from the environment or netrc entry for that user.
pub fn find(endpoint: &Endpoint) -> Result<Option<Credentials>, Error> {
    if let (Some(user), Some(password)) = (&endpoint.user, &endpoint.password) {
        return Ok(Some(Credentials::new(user, password)));
    }
    let env_user = std::env::var(USER_VAR).ok().filter(|u| !u.is_empty());
    if let (Some(user), Ok(password)) = (env_user, std::env::var(PASSWORD_VAR)) {
        if endpoint.user.as_ref().is_none_or(|u| *u == user) {
            return Ok(Some(Credentials::new(user, password)));
        }
    }
    let path = match std::env::var_os(NETRC_VAR) {
        Some(p) => Some(std::path::PathBuf::from(p)),
        None => std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".netrc")),
    };
    let Some(path) = path else { return Ok(endpoint.user.as_ref().map(|u| Credentials::new(u, ""))) };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && std::env::var_os(NETRC_VAR).is_none() => {
            String::new()
        }
        Err(e) => return Err(Error::Config(format!("reading the netrc file {}: {e}", path.display()))),
    };
    let found = netrc_lookup(&text, &endpoint.host, endpoint.user.as_deref());
    Ok(found.or_else(|| endpoint.user.as_ref().map(|u| Credentials::new(u, ""))))
}

/// The login and password of the netrc entry for `host` (or the `default` entry), whose
/// login is `user` when one is given.
pub fn netrc_lookup(text: &str, host: &str, user: Option<&str>) -> Option<Credentials> {
    // (machine, login, password); `machine: None` is the `default` entry.
    let mut entries: Vec<(Option<String>, Option<String>, Option<String>)> = Vec::new();
    let mut in_macro = false;
    for line in text.lines() {
        if in_macro {
            // A macro's body runs to the next empty line.
            in_macro = !line.trim().is_empty();
            continue;
        }
        let mut tokens = line.split_whitespace();
        while let Some(token) = tokens.next() {
            match token {
                "machine" => entries.push((tokens.next().map(str::to_string), None, None)),
                "default" => entries.push((None, None, None)),
                "login" | "password" | "account" => {
                    let value = tokens.next().map(str::to_string);
                    match (token, entries.last_mut()) {
                        ("login", Some(entry)) => entry.1 = value,
                        ("password", Some(entry)) => entry.2 = value,
                        _ => {}
                    }
                }
                "macdef" => {
                    in_macro = true;
                    break;
                }
                _ => {}
            }
        }
    }
    let fits = |(machine, login, _): &&(Option<String>, Option<String>, Option<String>),
                want: Option<&str>| {
        machine.as_deref() == want && user.is_none_or(|u| login.as_deref() == Some(u))
    };
    let entry =
        entries.iter().find(|e| fits(e, Some(host))).or_else(|| entries.iter().find(|e| fits(e, None)))?;
    let login = entry.1.clone().or_else(|| user.map(str::to_string))?;
    Some(Credentials::new(login, entry.2.clone().unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netrc_entries_by_host_then_default() {
        let text = "machine a.example login ann password one\n\
                    machine b.example\n  login bob\n  password two\n\
                    default login dee password three\n";
        assert_eq!(netrc_lookup(text, "b.example", None), Some(Credentials::new("bob", "two")));
        assert_eq!(netrc_lookup(text, "a.example", None), Some(Credentials::new("ann", "one")));
        assert_eq!(netrc_lookup(text, "c.example", None), Some(Credentials::new("dee", "three")));
        assert_eq!(netrc_lookup(text, "a.example", Some("zed")), None);
        assert_eq!(netrc_lookup("machine x login y password z", "other", None), None);
        let with_macro = "macdef init\nmachine evil login e password e\n\nmachine m login l password p\n";
        assert_eq!(netrc_lookup(with_macro, "evil", None), None);
        assert_eq!(netrc_lookup(with_macro, "m", None), Some(Credentials::new("l", "p")));
    }

    #[test]
    fn the_header_is_basic_auth_and_debug_hides_the_password() {
        let c = Credentials::new("Aladdin", "open sesame");
        assert_eq!(c.header(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(!format!("{c:?}").contains("sesame"));
    }
}
