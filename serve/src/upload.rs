//! Request bytes streamed into blobs: the body of `PUT /db/ID/ATTNAME` and the attachment
//! parts of a `multipart/related` document.
//!
//! Owns: [`Upload`], one blob being written on a blocking thread (with a store handle of
//! the database) from chunks the async side pushes through a bounded channel.
//! Invariants:
//! 1. At most [`DEPTH`] chunks wait between the connection and the disk: memory per upload
//!    is bounded whatever the attachment's size.
//! 2. A blob is finished (durable under its name) only when every chunk arrived and the
//!    total stayed within the limit; an upload cut short, refused or too large leaves no
//!    blob (the writer's temporary file is removed).

use std::sync::Arc;

use axum::body::Bytes;
use settee::blob::{self, Compression};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::db::Db;
use crate::error::{ApiError, ApiResult};

/// Chunks in flight between the connection and the blob writer.
const DEPTH: usize = 4;

/// What the writer is sent: bytes, then `End` once all arrived. A channel closed without
/// `End` (a source that failed, a request dropped midway) leaves no blob.
enum Chunk {
    Bytes(Bytes),
    End,
}

/// One blob being written from pushed chunks.
pub struct Upload {
    tx: mpsc::Sender<Chunk>,
    /// The writer's task; taken once its result was read.
    task: Option<JoinHandle<ApiResult<blob::Info>>>,
    len: u64,
    limit: u64,
}

impl Upload {
    /// Start writing a blob of `db` for bytes of `content_type`, refusing more than `limit`.
    pub fn start(db: &Arc<Db>, content_type: &str, limit: u64) -> Upload {
        let (tx, mut rx) = mpsc::channel::<Chunk>(DEPTH);
        let compression = Compression::for_content_type(Some(content_type));
        let db = db.clone();
        let task = tokio::spawn(async move {
            db.run(move |store| {
                let mut writer = store.blob_writer(None, compression)?;
                loop {
                    match rx.blocking_recv() {
                        Some(Chunk::Bytes(bytes)) => writer.write(&bytes)?,
                        Some(Chunk::End) => return Ok(writer.finish()?),
                        None => return Err(ApiError::bad_request("the attachment's bytes were cut short")),
                    }
                }
            })
            .await
        });
        Upload { tx, task: Some(task), len: 0, limit }
    }

    /// Add the next bytes.
    pub async fn push(&mut self, bytes: Bytes) -> ApiResult<()> {
        self.len += bytes.len() as u64;
        if self.len > self.limit {
            return Err(ApiError::too_large(usize::try_from(self.limit).unwrap_or(usize::MAX)));
        }
        if self.tx.send(Chunk::Bytes(bytes)).await.is_err() {
            // The writer stopped: its error says why.
            let result = match self.task.take() {
                Some(task) => joined(task.await),
                None => Err(stopped()),
            };
            return Err(result.err().unwrap_or_else(stopped));
        }
        Ok(())
    }

    /// Every byte pushed: finish the blob and return what was stored.
    pub async fn finish(mut self) -> ApiResult<blob::Info> {
        let task = self.task.take();
        if self.tx.send(Chunk::End).await.is_err() && task.is_none() {
            return Err(stopped());
        }
        match task {
            Some(task) => joined(task.await),
            None => Err(stopped()),
        }
    }

    /// The source failed: drop what was written (as dropping the upload does, without
    /// waiting for the writer to be done).
    pub async fn abort(mut self) {
        let task = self.task.take();
        drop(self.tx);
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

fn stopped() -> ApiError {
    ApiError::internal("the blob writer stopped unexpectedly")
}

fn joined(r: Result<ApiResult<blob::Info>, tokio::task::JoinError>) -> ApiResult<blob::Info> {
    r.unwrap_or_else(|_| Err(stopped()))
}
