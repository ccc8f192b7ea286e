//! The crate's error type and the kinds the CLI maps to exit codes.
//!
//! Owns: `Error`, `ErrorKind`, `Result`. Messages are one lowercase line naming the thing and
//! the cause; callers match on `kind()`, never on the text.

use std::path::PathBuf;

use crate::id::{DocId, DocIdError, ObjectId};
use crate::rev::{ParseError as RevParseError, RevId};

/// What sort of failure an error is; the CLI turns these into exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    Conflict,
    NotFound,
    Corrupt,
    Locked,
    InvalidInput,
    Io,
    Peer,
    /// A write's precondition on stored data does not hold (CouchDB's 412): an attachment
    /// stub the parent revision lacks, or a blob the store does not hold.
    Precondition,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("document update conflict: {id} {why}")]
    Conflict { id: DocId, why: String },
    #[error("document {id} not found{}", why_suffix(why))]
    NotFound { id: String, why: &'static str },
    #[error("object {oid} not found")]
    ObjectNotFound { oid: ObjectId },
    #[error("revision {rev} of {id} not found{}", why_suffix(why))]
    RevNotFound { id: DocId, rev: RevId, why: &'static str },
    #[error("corrupt {path}: {what} at offset {offset}")]
    Corrupt { path: PathBuf, offset: u64, what: String },
    #[error("unsupported {what} version {found} in {path} (this settee reads up to {max})")]
    UnsupportedVersion { path: PathBuf, what: &'static str, found: u32, max: u32 },
    #[error("store is locked by another writer ({holder}); lock file {path}")]
    Locked { path: PathBuf, holder: String },
    #[error("no settee store at {path}")]
    NoStore { path: PathBuf },
    #[error("a settee store already exists at {path}")]
    AlreadyExists { path: PathBuf },
    #[error(transparent)]
    DocId(#[from] DocIdError),
    #[error(transparent)]
    Rev(#[from] RevParseError),
    #[error("invalid document {id}: {why}")]
    InvalidDoc { id: String, why: String },
    #[error("invalid attachment stub in {id} for {name}: the parent revision has no such attachment")]
    MissingStub { id: DocId, name: String },
    #[error("document {id}: attachment {name}: blob {blob} is missing")]
    BlobMissing { id: DocId, name: String, blob: ObjectId },
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// Talking to a CouchDB-compatible server failed.
    #[error(transparent)]
    Http(Box<crate::transport::http::Error>),
}

fn why_suffix(why: &str) -> String {
    if why.is_empty() {
        String::new()
    } else {
        format!(" ({why})")
    }
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Conflict { .. } => ErrorKind::Conflict,
            Error::NotFound { .. } | Error::RevNotFound { .. } => ErrorKind::NotFound,
            Error::ObjectNotFound { .. } => ErrorKind::NotFound,
            Error::Corrupt { .. } | Error::UnsupportedVersion { .. } => ErrorKind::Corrupt,
            Error::Locked { .. } => ErrorKind::Locked,
            Error::NoStore { .. } | Error::AlreadyExists { .. } => ErrorKind::InvalidInput,
            Error::DocId(_) | Error::Rev(_) | Error::InvalidDoc { .. } | Error::Invalid(_) => {
                ErrorKind::InvalidInput
            }
            Error::Io { .. } => ErrorKind::Io,
            Error::MissingStub { .. } | Error::BlobMissing { .. } => ErrorKind::Precondition,
            Error::Http(e) => e.kind(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, offset: u64, what: impl Into<String>) -> Error {
        Error::Corrupt { path: path.into(), offset, what: what.into() }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
