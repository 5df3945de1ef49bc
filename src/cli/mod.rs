//! Command-line layer: parse, dispatch, and turn library errors into messages and exit codes.
//! Each command lives in its own module and only wires library calls to output.

mod answers;
pub mod args;
mod bench;
pub mod dashboard;
mod doctor;
mod matrix;
pub mod results;
mod run;
mod run_report;
mod runpod;
mod settings;
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
    #[error(transparent)]
    AppConfig(#[from] crate::app_config::AppConfigError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Run(#[from] crate::run::RunError),
    #[error(transparent)]
    Report(#[from] results::ReportError),
    #[error(transparent)]
    Runpod(#[from] crate::providers::ProviderError),
    #[error(transparent)]
    Journal(#[from] crate::results::journal::JournalError),
    #[error("cannot write output: {0}")]
    Io(#[from] std::io::Error),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Run(crate::run::RunError::Interrupted) => exit::INTERRUPTED,
            _ => exit::FAILURE,
        }
    }
}

/// Options every command shares.
#[derive(Debug, Clone, Copy)]
pub struct Globals {
    pub verbose: u8,
    pub quiet: bool,
    /// Colour of what goes to stdout.
    pub style: crate::output::style::Style,
    /// Colour of what goes to stderr (progress, warnings, logs), decided by stderr alone.
    pub err_style: crate::output::style::Style,
}

/// Run the parsed command line; returns the exit code.
pub fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let err_style = crate::output::style::Style::detect_stderr(cli.color);
    init_tracing(cli.verbose, cli.quiet, err_style.color);
    let globals = Globals {
        verbose: cli.verbose,
        quiet: cli.quiet,
        style: crate::output::style::Style::detect(cli.color),
        err_style,
    };
    // One descriptor per connection: a high concurrency needs more than the usual soft 1024.
    crate::sys::raise_nofile_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let code = runtime.block_on(dispatch(cli.command, &globals))?;
    // Do not wait for stray blocking tasks (e.g. a hung DNS lookup) on the way out.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(ExitCode::from(code))
}

async fn dispatch(command: args::Command, globals: &Globals) -> Result<u8, CliError> {
    use args::{Command, ResultsCommand};
    let out = &mut std::io::stdout().lock();
    match command {
        Command::Run(a) => run::run(&a, globals).await,
        Command::List(a) | Command::Results(ResultsCommand::List(a)) => reader_gone_is_fine(
            results::list(&a, &default_results_dir()?, globals.style, out).map(|_| exit::SUCCESS),
        ),
        Command::Show(a) | Command::Results(ResultsCommand::Show(a)) => reader_gone_is_fine(
            results::show(&a, &default_results_dir()?, globals.style, out).map(|_| exit::SUCCESS),
        ),
        Command::Compare(a) | Command::Results(ResultsCommand::Compare(a)) => reader_gone_is_fine(
            results::compare(&a, &default_results_dir()?, globals.style, out).map(|regressed| {
                if regressed {
                    exit::FAILURE
                } else {
                    exit::SUCCESS
                }
            }),
        ),
        Command::Export(a) | Command::Results(ResultsCommand::Export(a)) => reader_gone_is_fine(
            results::export(&a, &default_results_dir()?, out).map(|_| exit::SUCCESS),
        ),
        Command::Init => settings::init(out),
        Command::Config(c) => settings::config(c, out),
        Command::Doctor => doctor::doctor(globals, out).await,
        Command::Simulate(a) => simulate::run(&a).await,
        Command::Dashboard(a) => dashboard::dashboard(&a, &default_results_dir()?).await,
        Command::Report(a) => dashboard::report(&a, &default_results_dir()?, out),
        Command::Bench(a) => bench::run(&a, out).await,
        Command::Server(c) => runpod::server(c, globals, out).await,
        Command::UpdatePricing => runpod::update_pricing(out).await,
    }
}

/// `list | head`: the reader closing the pipe early ends the command quietly, with 0.
fn reader_gone_is_fine(result: Result<u8, results::ReportError>) -> Result<u8, CliError> {
    match result {
        Err(e) if caused_by_closed_pipe(&e) => Ok(exit::SUCCESS),
        other => Ok(other?),
    }
}

/// Whether a broken pipe is anywhere in `err`'s cause chain.
pub fn caused_by_closed_pipe(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(e) = cause {
        let io = e.downcast_ref::<std::io::Error>();
        if io.is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) {
            return true;
        }
        cause = e.source();
    }
    false
}

/// Where result commands look by default: the app config's `defaults.output_dir`.
fn default_results_dir() -> Result<std::path::PathBuf, CliError> {
    let dir = crate::app_config::app_dir()?;
    let app = crate::app_config::AppConfig::load(&dir)?;
    Ok(std::path::PathBuf::from(app.defaults.output_dir))
}

/// Logs go to stderr; `-v` info, `-vv` debug; `RUST_LOG` overrides.
fn init_tracing(verbose: u8, quiet: bool, color: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("llm_inf_bench={level},warn"))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // The subscriber's own default looks at neither the stream nor `--color`.
        .with_ansi(color)
        .with_target(false)
        .try_init();
}

/// The error and its `source()` chain, one cause per line, with the control characters of
/// server or file text (model ids, error bodies) removed.
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
    crate::text::printable_lines(&out).into_owned()
}
