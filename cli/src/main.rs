//! `settee`: the command-line front end of the settee store.
//!
//! Thin by design: parse arguments (clap), run the command, map the error to the exit code
//! of the contract (0 ok, 1 error, 2 usage, 3 conflict, 4 not found).

mod commands;
mod ctx;
mod exit;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match commands::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { exit::OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if exit::is_broken_pipe(&err) {
                return ExitCode::from(exit::OK);
            }
            eprintln!("error: {err:#}");
            if let Some(hint) = exit::hint(&err) {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(exit::code_for(&err))
        }
    }
}
