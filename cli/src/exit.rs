//! Exit codes of the command-line contract, and how errors map to them.

use settee::ErrorKind;

pub const OK: u8 = 0;
pub const ERROR: u8 = 1;
pub const USAGE: u8 = 2;
pub const CONFLICT: u8 = 3;
pub const NOT_FOUND: u8 = 4;

/// A usage error raised after parsing (a bad combination of arguments).
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn settee_error(err: &anyhow::Error) -> Option<&settee::Error> {
    err.chain().find_map(|e| e.downcast_ref::<settee::Error>())
}

pub fn code_for(err: &anyhow::Error) -> u8 {
    if err.chain().any(|e| e.downcast_ref::<Usage>().is_some()) {
        return USAGE;
    }
    match settee_error(err).map(settee::Error::kind) {
        Some(ErrorKind::Conflict) => CONFLICT,
        Some(ErrorKind::NotFound) => NOT_FOUND,
        _ => ERROR,
    }
}

pub fn hint(err: &anyhow::Error) -> Option<&'static str> {
    match settee_error(err)? {
        settee::Error::Locked { .. } => {
            Some("another settee command is writing to this store; retry when it ends")
        }
        settee::Error::NoStore { .. } => Some("run `settee init` or pass -C DIR"),
        _ => None,
    }
}

pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
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
