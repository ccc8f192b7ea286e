//! Waiting for a server's database to change: a long-poll `_changes` request
//! (`feed=longpoll` with heartbeats, so a quiet connection is told from a dead one).

use super::endpoints::encode;
use super::{Couch, Error};
use crate::wire;

impl Couch {
    /// Wait until the database has a change after `since` (a sequence token), and return
    /// the feed's `last_seq` token. One attempt: the caller retries, as long as it likes.
    pub fn wait_for_change(&self, since: &str, heartbeat: std::time::Duration) -> Result<String, Error> {
        let since = encode(&wire::Seq::from_token(since).to_query());
        let url = format!(
            "{}/_changes?feed=longpoll&style=all_docs&limit=1&since={since}&heartbeat={}",
            self.url(),
            heartbeat.as_millis().max(1000)
        );
        let mut body = self.client.open(&url, heartbeat * 3)?;
        let bytes = body.with_config().limit(64 << 20).read_to_vec().map_err(|e| Error::Connection {
            method: "GET".into(),
            url: format!("{}/_changes", self.url()),
            attempts: 1,
            cause: e.to_string(),
        })?;
        let text = String::from_utf8_lossy(&bytes);
        let page = wire::changes::parse_response(text.trim().as_bytes()).map_err(|e| self.malformed(e))?;
        Ok(page.last_seq)
    }

    /// The database's `update_seq` token now.
    pub fn update_seq(&mut self) -> Result<String, Error> {
        use crate::transport::Transport as _;
        self.info().map(|i| i.update_seq).map_err(|e| match e {
            crate::error::Error::Http(e) => *e,
            other => Error::Config(other.to_string()),
        })
    }
}
