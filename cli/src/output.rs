//! Writing results: JSON (one object, or one per line for streams) or text for people.
//! stdout is buffered; a closed pipe ends the command quietly (see `exit::is_broken_pipe`).

use std::io::{BufWriter, Stdout, Write};

use anyhow::Result;
use serde_json::Value;

pub struct Out {
    inner: BufWriter<Stdout>,
}

impl Out {
    pub fn new() -> Out {
        Out { inner: BufWriter::with_capacity(1 << 16, std::io::stdout()) }
    }

    pub fn line(&mut self, text: &str) -> Result<()> {
        self.inner.write_all(text.as_bytes())?;
        self.inner.write_all(b"\n")?;
        Ok(())
    }

    /// One JSON value on one line.
    pub fn json(&mut self, value: &Value) -> Result<()> {
        serde_json::to_writer(&mut self.inner, value)?;
        self.inner.write_all(b"\n")?;
        Ok(())
    }

    pub fn pretty(&mut self, value: &Value) -> Result<()> {
        serde_json::to_writer_pretty(&mut self.inner, value)?;
        self.inner.write_all(b"\n")?;
        Ok(())
    }

    /// Push what is buffered to stdout now (a follower prints each change as it comes).
    pub fn flush(&mut self) -> Result<()> {
        self.inner.flush()?;
        Ok(())
    }

    pub fn finish(mut self) -> Result<()> {
        self.inner.flush()?;
        Ok(())
    }
}
