//! `settee`: the command-line front end of the settee store.
//!
//! Thin by design: parse arguments (clap), run the command, map the error to the exit code
//! of the contract (0 ok, 1 error, 2 usage, 3 conflict, 4 not found, 5 precondition failed:
//! CouchDB's 412, an attachment stub the replaced revision lacks).

mod commands;
mod ctx;
mod exit;
mod http;
mod location;
mod output;
mod progress;
mod stop;

use std::process::ExitCode;

use clap::Parser;

/// A store holds millions of small, long-lived allocations (ids, refs, revisions) while it
/// churns through short-lived ones (bodies, batches); glibc's allocator fragments under that
/// and spends a sixth of an import in `malloc`. mimalloc's size-class pages do not.
///
/// It is built without transparent huge pages (`no_thp`): asked for them, it marks its
/// arenas `MADV_HUGEPAGE`, and then every page it frees and reuses costs the kernel a 2 MiB
/// fault, zeroing and sometimes compaction. That was half an import's system time, and
/// most of its run-to-run variance.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match commands::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return ExitCode::from(exit::OK);
        }
        Err(e) => {
            // clap's whole message: what is wrong, a suggestion where it has one, the usage
            // line and where to read more. A closed stderr is no reason to change the code.
            let _ = e.print();
            return ExitCode::from(exit::USAGE);
        }
    };
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if exit::is_broken_pipe(&err) {
                return ExitCode::from(exit::OK);
            }
            eprintln!("error: {}", exit::one_line(&err));
            if let Some(hint) = exit::hint(&err) {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(exit::code_for(&err))
        }
    }
}
