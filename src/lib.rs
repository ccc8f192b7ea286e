//! settee: a Git-like, content-addressed JSON document store with CouchDB's revision model.
//!
//! The model in one screen:
//! - A **document** (`DocId`) has a **revision tree** (`revtree::RevTree`), a forest of
//!   revisions (`RevId`, `N-hash`). Its leaves are the open revisions; one is the
//!   deterministic **winner** (not deleted, then higher N, then greater hash).
//! - **Objects** are immutable and named by SHA-1: document **bodies** (canonical JSON, with
//!   numbers in the canonical form of `number`) and
//!   **revisions** (`object::Revision`: doc id, rev id, deleted flag, body id, a link to the
//!   parent's revision object and the ancestor hashes known). A document's tree is the merge
//!   of the paths its revision objects describe, so replicated histories, forests and regrown
//!   stems are recorded without rewriting objects.
//! - **Packs** hold objects in checksummed zstd blocks; sealed packs have mmap'd **indexes**.
//! - **Refs** map each id to its leaves (winner first) and latest **sequence** (`Seq`); the
//!   **changes** feed lists each document once at that sequence.
//! - The **journal** records each commit; **checkpoints** fold it into sorted, mmap'd refs
//!   and changes tables and seal the active pack; the **manifest** names the live files.
//!
//! Format details live in `format-spec/`.

pub mod attachment;
pub mod blob;
pub mod bundle;
mod bytes;
pub mod compact;
pub mod config;
pub mod disk;
pub mod doc;
pub mod error;
mod filter;
mod fsutil;
pub mod hash;
pub mod history;
pub mod id;
pub mod import;
pub mod journal;
pub mod manifest;
pub mod merge;
pub mod number;
pub mod object;
pub mod odb;
pub mod pack;
mod prefetch;
pub mod refs;
pub mod repair;
pub mod replicate;
pub mod rev;
pub mod revtree;
pub mod selector;
pub mod store;
pub mod transport;
pub mod wire;

pub use doc::{Body, Incoming};
pub use error::{Error, ErrorKind, Result};
pub use id::{DocId, ObjectId, Seq};
pub use rev::{RevHash, RevId};
pub use revtree::RevTree;
pub use store::{Change, GetOptions, Op, OpenOptions, OpenRevs, Snapshot, Store, Written};
