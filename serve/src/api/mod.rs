//! The endpoints, one module per group: the server's own (`server`), databases
//! (`database`), documents (`doc`, `local`), the replication bodies (`bulk`), the id index
//! (`all_docs`), the changes feed (`changes`) and what would run design-document code
//! (`design`).

pub mod all_docs;
pub mod attachment;
pub mod bulk;
pub mod changes;
pub mod database;
pub mod design;
pub mod doc;
pub mod local;
pub mod server;
