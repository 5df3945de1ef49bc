use std::process::ExitCode;

use clap::Parser;
use llm_inf_bench::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli::run(cli) {
        Ok(code) => code,
        // `llm-inf-bench list | head`: a closed pipe is not an error worth reporting.
        Err(cli::CliError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {}", cli::format_error(&err));
            ExitCode::from(err.exit_code())
        }
    }
}
