//! Exit codes of the command-line contract, and how errors map to them.

use settee::ErrorKind;

pub const OK: u8 = 0;
pub const ERROR: u8 = 1;
pub const USAGE: u8 = 2;
pub const CONFLICT: u8 = 3;
pub const NOT_FOUND: u8 = 4;
/// A precondition on stored data failed (CouchDB's 412): an attachment stub the revision
/// replaced does not have.
pub const PRECONDITION: u8 = 5;

/// Errors the command line raises itself (not the library), each with its exit code.
macro_rules! cli_error {
    ($($(#[$doc:meta])* $name:ident => $code:expr;)*) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name(pub String);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::error::Error for $name {}

        impl $name {
            const CODE: u8 = $code;
        }
    )*};
}

cli_error! {
    /// The command line is wrong after parsing: an argument that does not parse (an id, a
    /// revision), or arguments that contradict each other or the input they name.
    Usage => USAGE;
    /// What the command names does not exist (a remote, a location, a revision to purge).
    NotFound => NOT_FOUND;
    /// What the command would create exists already (a remote's name).
    Conflict => CONFLICT;
}

fn settee_error(err: &anyhow::Error) -> Option<&settee::Error> {
    err.chain().find_map(|e| e.downcast_ref::<settee::Error>())
}

pub fn code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.is::<Usage>() {
            return Usage::CODE;
        }
        if cause.is::<NotFound>() {
            return NotFound::CODE;
        }
        if cause.is::<Conflict>() {
            return Conflict::CODE;
        }
    }
    match settee_error(err).map(settee::Error::kind) {
        Some(ErrorKind::Conflict) => CONFLICT,
        Some(ErrorKind::NotFound) => NOT_FOUND,
        Some(ErrorKind::Precondition) => PRECONDITION,
        _ => ERROR,
    }
}

pub fn hint(err: &anyhow::Error) -> Option<&'static str> {
    match settee_error(err)? {
        settee::Error::Locked { .. } => {
            Some("another settee command held the store's writer lock all along; pass --wait SECONDS to wait longer")
        }
        settee::Error::NoStore { .. } => Some("run `settee init` to create one, or pass -C DIR"),
        settee::Error::Http(e) if matches!(**e, settee::transport::http::Error::Tls { .. }) => {
            Some("to trust a self-signed server or a private CA, give its certificate with --cacert FILE (PEM)")
        }
        _ => None,
    }
}

/// Whether the error is a closed output pipe (`settee ls | head -1`), which ends a command
/// quietly with exit 0, as git does. serde_json keeps the I/O error it met inside its own
/// error, so that one is asked for the kind it wraps.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        let kind = e
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            .or_else(|| e.downcast_ref::<serde_json::Error>().and_then(serde_json::Error::io_error_kind));
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes on one line, `outer: inner: ...`, leaving out a cause whose
/// text the message before it already ends with (errors that print their source, as
/// `std::io` ones wrapped with a path do).
pub fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    let mut last = String::new();
    for cause in err.chain() {
        let message = cause.to_string();
        if last.ends_with(&message) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&message);
        last = message;
    }
    line
}
