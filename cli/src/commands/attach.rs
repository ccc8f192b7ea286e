//! `settee attach`, `settee detach` and `settee attachment`: one attachment of a document
//! added or replaced, removed, or read as raw bytes.
//!
//! `attach` streams FILE (or stdin) into a blob before it takes the writer lock, then writes
//! a revision whose attachments are the base revision's (as stubs) plus the new one; the
//! body is the base revision's, unchanged. `detach` writes one without the named attachment.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
use settee::attachment::{Pending, PendingSet};
use settee::blob::Compression;
use settee::{Body, DocId, Op, RevId, Store};

use super::{parse_id, parse_rev};
use crate::ctx::{absolute, Ctx};
use crate::exit::Usage;

/// Add or replace attachment NAME of ID with the bytes of FILE (stdin when FILE is - or
/// absent); prints the new revision. Without --rev, ID must not exist yet (a new document
/// `{}` with the attachment).
#[derive(clap::Args)]
pub struct AttachArgs {
    id: String,
    name: String,
    file: Option<PathBuf>,
    /// The current leaf revision this write replaces.
    #[arg(long)]
    rev: Option<String>,
    /// The MIME type; guessed from FILE's name, else NAME's, when left out
    /// (application/octet-stream for an unknown extension).
    #[arg(long, value_name = "TYPE")]
    content_type: Option<String>,
}

/// Remove attachment NAME of ID; prints the new revision (exit 4 when REV has no such
/// attachment).
#[derive(clap::Args)]
pub struct DetachArgs {
    id: String,
    name: String,
    /// The current leaf revision this write replaces.
    #[arg(long)]
    rev: String,
}

/// Write attachment NAME of ID (of its winner, or of REV) as raw bytes to stdout or FILE;
/// exit 4 when absent. The bytes are checked as they are read: a damaged attachment ends
/// with an error, and -o FILE is then not created.
#[derive(clap::Args)]
pub struct AttachmentArgs {
    id: String,
    name: String,
    #[arg(long)]
    rev: Option<String>,
    /// Write the bytes to FILE instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.starts_with('_') {
        anyhow::bail!(Usage(format!("attachment name {name:?} is empty or starts with _")));
    }
    Ok(())
}

/// The body (without `_attachments`) and the attachments, as stubs, of `base` of `id`;
/// an empty body and none for a new document.
fn base_of(store: &Store, id: &DocId, base: Option<&RevId>) -> Result<(Body, PendingSet)> {
    let Some(rev) = base else { return Ok((Body::empty(), PendingSet::new())) };
    let (_, body, atts) = store.revision_attachments(id, Some(rev))?;
    let stubs = atts.into_iter().map(|(n, a)| (n, Pending::Stub { revpos: Some(a.revpos) })).collect();
    Ok((Body::from_map(&body), stubs))
}

pub fn run_attach(ctx: &Ctx, args: &AttachArgs) -> Result<u8> {
    let id = parse_id(&args.id)?;
    check_name(&args.name)?;
    let base = args.rev.as_deref().map(parse_rev).transpose()?;
    let content_type = match &args.content_type {
        Some(t) => t.clone(),
        None => {
            // FILE's name first, then NAME's (for stdin, or a FILE with no known extension).
            let file = args.file.as_deref().filter(|f| f.as_os_str() != "-");
            file.and_then(|f| mime_guess::from_path(f).first())
                .or_else(|| mime_guess::from_path(&args.name).first())
                .map_or_else(
                    || settee::attachment::DEFAULT_CONTENT_TYPE.to_string(),
                    |m| m.essence_str().to_string(),
                )
        }
    };
    let store = ctx.open_write()?;
    let compression = Compression::for_content_type(Some(&content_type));
    let info = match args.file.as_deref().filter(|f| f.as_os_str() != "-") {
        Some(f) => {
            let path = absolute(&ctx.cwd, f);
            let mut file =
                std::fs::File::open(&path).with_context(|| format!("reading {}", path.display()))?;
            let len = file.metadata().ok().filter(std::fs::Metadata::is_file).map(|m| m.len());
            store
                .write_blob(&mut file, len, compression)
                .with_context(|| format!("reading {}", path.display()))?
        }
        None => store
            .write_blob(&mut std::io::stdin().lock(), None, compression)
            .context("reading standard input")?,
    };
    let mut store = store;
    let (body, mut attachments) = match base_of(&store, &id, base.as_ref()) {
        Ok(b) => b,
        // A base that is not a revision of the document: let the edit report the conflict.
        Err(e) if is_not_found(&e) => (Body::empty(), PendingSet::new()),
        Err(e) => return Err(e),
    };
    attachments.insert(args.name.clone(), Pending::New { content_type, info });
    let op = Op::EditWithAttachments { id, base, deleted: false, body, attachments };
    let written = store.write(vec![op])?.remove(0)?;
    super::put::print_written(ctx, &written)
}

fn is_not_found(e: &anyhow::Error) -> bool {
    e.downcast_ref::<settee::Error>().is_some_and(|e| e.kind() == settee::ErrorKind::NotFound)
}

pub fn run_detach(ctx: &Ctx, args: &DetachArgs) -> Result<u8> {
    let id = parse_id(&args.id)?;
    let base = parse_rev(&args.rev)?;
    let mut store = ctx.open_write()?;
    let (body, mut attachments) = base_of(&store, &id, Some(&base))?;
    if attachments.remove(&args.name).is_none() {
        anyhow::bail!(crate::exit::NotFound(format!(
            "document {id} revision {base} has no attachment {:?}",
            args.name
        )));
    }
    let op = Op::EditWithAttachments { id, base: Some(base), deleted: false, body, attachments };
    let written = store.write(vec![op])?.remove(0)?;
    super::put::print_written(ctx, &written)
}

pub fn run_attachment(ctx: &Ctx, args: &AttachmentArgs) -> Result<u8> {
    let id = parse_id(&args.id)?;
    let rev = args.rev.as_deref().map(parse_rev).transpose()?;
    let store = ctx.open_read()?;
    let (rev, _, atts) = store.revision_attachments(&id, rev.as_ref())?;
    let Some(att) = atts.get(&args.name) else {
        anyhow::bail!(crate::exit::NotFound(format!(
            "document {id} revision {rev} has no attachment {:?}",
            args.name
        )));
    };
    let mut reader = store.open_blob(&att.blob)?.ok_or_else(|| settee::Error::Corrupt {
        path: store.root().join("blobs").join(att.blob.to_string()),
        offset: 0,
        what: format!("document {id}: revision {rev} attachment {}: blob {} is missing", args.name, att.blob),
    })?;
    match &args.output {
        None => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
            reader.copy_to(&mut out)?;
            out.flush()?;
        }
        Some(f) => {
            let path = absolute(&ctx.cwd, f);
            let dir =
                path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            let mut tmp = tempfile::NamedTempFile::new_in(dir)
                .with_context(|| format!("creating a file in {}", dir.display()))?;
            reader.copy_to(tmp.as_file_mut())?;
            tmp.as_file().sync_all().with_context(|| format!("writing {}", path.display()))?;
            tmp.persist(&path).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(0)
}
