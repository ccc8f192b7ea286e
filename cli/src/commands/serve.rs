//! `settee serve [STORE | NAME=STORE ...]`: the CouchDB HTTP API over stores (the server
//! itself is the `settee-serve` crate; this turns the command line into its `Config`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use settee_serve::{Config, Credentials, LogLevel};

use crate::ctx::{absolute, Ctx};
use crate::exit::Usage;

/// Serve stores over CouchDB's HTTP API, so that PouchDB, CouchDB's replicator and other
/// settee stores replicate with them. Each STORE (a work tree or its .settee directory) is
/// served under its directory's name, NAME=STORE under NAME; with none, the store of the
/// current directory. Listens on loopback only unless credentials are given; with them,
/// every request needs HTTP basic auth. Stops on Ctrl-C or SIGTERM after the requests in
/// flight, with exit code 0.
#[derive(clap::Args)]
pub struct Args {
    /// Stores to serve: STORE (served as its directory's name) or NAME=STORE.
    stores: Vec<String>,
    /// The address to listen on (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:5984", value_name = "ADDR")]
    bind: String,
    /// Origins allowed by CORS, comma-separated (`*` for any).
    #[arg(long, value_name = "ORIGINS")]
    cors: Option<String>,
    /// The user name every request must give (HTTP basic auth).
    #[arg(long)]
    user: Option<String>,
    /// A file holding the password (its first line); or set SETTEE_SERVE_PASSWORD.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    #[arg(long, env = "SETTEE_SERVE_PASSWORD", hide_env_values = true, hide = true, id = "password_env")]
    password_env: Option<String>,
    /// A directory whose stores (DIR/NAME/.settee) are served too, where `PUT /db` creates new ones.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Let `DELETE /db` remove a database of the data directory.
    #[arg(long)]
    allow_delete: bool,
    /// Seconds a client may take to send a request's headers or body, or sit idle between requests.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    client_timeout: f64,
    /// The largest request body accepted, in bytes (larger ones get 413).
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20)]
    max_body: usize,
    /// The access log on stderr: off, error, warn (failed requests), info (every request), debug.
    #[arg(long, env = "SETTEE_LOG", value_name = "LEVEL", default_value = "warn")]
    log: String,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<u8> {
    let bind: SocketAddr = args
        .bind
        .parse()
        .map_err(|_| Usage(format!("--bind {:?} is not an address like 127.0.0.1:5984", args.bind)))?;
    let mut config = Config::new(bind);
    config.log = args.log.parse::<LogLevel>().map_err(Usage)?;
    config.cors = args
        .cors
        .iter()
        .flat_map(|c| c.split(','))
        .map(|o| o.trim().to_string())
        .filter(|o| !o.is_empty())
        .collect();
    config.allow_delete = args.allow_delete;
    config.max_body = args.max_body;
    if !(args.client_timeout.is_finite() && args.client_timeout > 0.0 && args.client_timeout < 1e7) {
        bail!(Usage(format!("--client-timeout {} is not a positive number of seconds", args.client_timeout)));
    }
    config.client_timeout = std::time::Duration::from_secs_f64(args.client_timeout);
    config.data_dir = args.data_dir.as_deref().map(|d| absolute(&ctx.cwd, d));
    config.credentials = credentials(ctx, args)?;
    if args.stores.is_empty() && config.data_dir.is_none() {
        let root = ctx.store_dir()?;
        let tree = root.parent().unwrap_or(&root);
        config.dbs.push((name_for(tree), root));
    }
    for arg in &args.stores {
        let (name, path) = match arg.split_once('=') {
            Some((name, path)) => (Some(name.to_string()), path),
            None => (None, arg.as_str()),
        };
        let root = store_root(&absolute(&ctx.cwd, Path::new(path)))?;
        let name = match name {
            Some(n) => n,
            None => {
                let tree = root.parent().unwrap_or(&root);
                let n = tree.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default();
                if settee_serve::check_db_name(&n).is_err() {
                    bail!(Usage(format!(
                        "{n:?} is not a database name (a-z first, then a-z 0-9 _$()+-): serve it as NAME={path}"
                    )));
                }
                n
            }
        };
        if let Err(why) = settee_serve::check_db_name(&name) {
            bail!(Usage(format!("invalid database name {name:?}: {why}")));
        }
        config.dbs.push((name, root));
    }
    let names: Vec<String> = config.dbs.iter().map(|(n, _)| n.clone()).collect();
    settee_serve::run(config, |addr| {
        eprintln!("settee serve: listening on http://{addr}/");
        for name in &names {
            eprintln!("settee serve: serving http://{addr}/{name}");
        }
    })
    .context("settee serve")?;
    Ok(0)
}

/// A database name for the store of the current directory: its work tree's name, made to
/// fit CouchDB's rule (lowercase, other characters as `_`, a leading `db` if needed).
fn name_for(tree: &Path) -> String {
    let raw = tree.file_name().map(|f| f.to_string_lossy().to_lowercase()).unwrap_or_default();
    let mut name: String = raw
        .chars()
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() || "_$()+-".contains(c) { c } else { '_' })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        name.insert_str(0, "db");
    }
    name
}

/// The `.settee` directory of `path` (a work tree or the directory itself).
fn store_root(path: &Path) -> Result<PathBuf> {
    if path.join(settee::manifest::FILE_NAME).is_file() {
        return Ok(path.to_path_buf());
    }
    let inner = path.join(settee::store::DIR_NAME);
    if inner.join(settee::manifest::FILE_NAME).is_file() {
        return Ok(inner);
    }
    Err(settee::Error::NoStore { path: path.to_path_buf() }.into())
}

fn credentials(ctx: &Ctx, args: &Args) -> Result<Option<Credentials>> {
    let password = match (&args.password_file, &args.password_env) {
        (Some(file), _) => {
            let path = absolute(&ctx.cwd, file);
            let text =
                std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            Some(text.lines().next().unwrap_or("").to_string())
        }
        (None, Some(p)) => Some(p.clone()),
        (None, None) => None,
    };
    match (&args.user, password) {
        (Some(user), Some(password)) if !password.is_empty() => {
            Ok(Some(Credentials { user: user.clone(), password }))
        }
        (Some(_), _) => {
            bail!(Usage("--user needs a password: --password-file FILE or SETTEE_SERVE_PASSWORD".into()))
        }
        (None, Some(_)) if args.password_file.is_some() => {
            bail!(Usage("--password-file needs --user".into()))
        }
        (None, _) => Ok(None),
    }
}
