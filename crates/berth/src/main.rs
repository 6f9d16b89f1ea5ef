//! `berth`: the command-line binary. Argument parsing and output only; the work is done
//! by the library crates.

mod cli;
mod commands;
mod report;

use clap::Parser;
use std::process::ExitCode;

/// Exit codes, decided once (documented in `berth --help`).
pub(crate) mod exit {
    /// Everything went well.
    pub const OK: u8 = 0;
    /// The user's input has errors (stack file, catalog, arguments).
    pub const INVALID: u8 = 1;
    /// berth itself failed.
    pub const INTERNAL: u8 = 2;
}

/// What a command ends with.
pub(crate) enum Outcome {
    /// Success.
    Ok,
    /// Problems in the user's input; already reported.
    Invalid,
}

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::INVALID
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match commands::run(args) {
        Ok(Outcome::Ok) => ExitCode::from(exit::OK),
        Ok(Outcome::Invalid) => ExitCode::from(exit::INVALID),
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::from(exit::OK);
            }
            let code = if err.downcast_ref::<report::UserError>().is_some() {
                exit::INVALID
            } else {
                exit::INTERNAL
            };
            eprintln!("berth: error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(code)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
