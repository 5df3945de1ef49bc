//! Command-line layer: parse, dispatch, and turn library errors into messages and exit codes.
//! Each command lives in its own module and only wires library calls to output.

pub mod args;
pub mod simulate;

use std::process::ExitCode;

pub use args::Cli;

/// Exit codes of SPEC §2.1.
pub mod exit {
    pub const SUCCESS: u8 = 0;
    pub const FAILURE: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const INTERRUPTED: u8 = 130;
}

/// Any error a command can end with. `main` prints it with its `source()` chain.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Message(String),
    #[error("interrupted")]
    Interrupted,
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Interrupted => exit::INTERRUPTED,
            _ => exit::FAILURE,
        }
    }
}

/// Run the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let _ = cli;
    Err(CliError::Message("not wired yet".into()))
}

/// The error and its `source()` chain, one cause per line.
pub fn format_error(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str("\n  caused by: ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}
