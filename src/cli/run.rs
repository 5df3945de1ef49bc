//! `run <config>`: load and validate, then either print the plan (`--dry-run`) or run the
//! four phases with progress on stderr and the summary on stdout.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use super::args::RunArgs;
use super::{CliError, Globals};
use crate::app_config::{self, AppConfig};
use crate::config::{self, ProviderKind};
use crate::output::{self, progress};
use crate::providers::{self, runpod::pricing::PriceTable, Provider};
use crate::run::{self as engine, RunPlan};

pub async fn run(args: &RunArgs, globals: &Globals) -> Result<u8, CliError> {
    if super::matrix::is_matrix(args) {
        return super::matrix::run(args, globals).await;
    }
    let app_dir = app_config::app_dir()?;
    let app = AppConfig::load(&app_dir)?;
    let prices = PriceTable::load(&app_dir);
    let experiment = config::load_with_options(
        &args.config,
        &prices,
        config::ValidateOptions {
            external_server: args.server_url.is_some(),
        },
    )?;
    let (iterations, answers) = super::answers::prepare(
        &experiment,
        config::sweep::iterations(&experiment),
        args.repeat.map(|n| n as usize),
        args.name.as_deref(),
        args.resume.is_some(),
    )?;
    let today = chrono::Local::now().date_naive();
    let output_dir: PathBuf = args
        .output_dir
        .clone()
        .unwrap_or_else(|| experiment.metrics.output_dir.clone());
    check_output(args, &experiment, &iterations, &output_dir)?;

    let mut stdout = std::io::stdout().lock();
    if args.dry_run {
        output::plan::render_plan(&experiment, &iterations, &prices, today, &mut stdout)?;
        output::server_plan::render_server(&experiment, args.server_url.as_deref(), &mut stdout)?;
        if let Some(est) = providers::runpod::cost::estimate(&experiment, &prices) {
            writeln!(stdout, "{}", super::runpod::describe_estimate(&est))?;
        }
        writeln!(stdout, "Dry run: nothing was provisioned.")?;
        return Ok(super::exit::SUCCESS);
    }
    drop(stdout);

    let resume = match &args.resume {
        Some(run_id) => Some(load_journal(run_id, &output_dir, &experiment)?),
        None => None,
    };
    let health_timeout = match args.health_timeout {
        Some(s) => std::time::Duration::from_secs(s),
        None => health_timeout(&experiment, args.server_url.as_deref()),
    };
    let plan = RunPlan {
        experiment,
        iterations,
        server_url: args.server_url.clone(),
        run_name: args.name.clone(),
        keep_server: args.keep_server,
        output_dir: output_dir.clone(),
        health_timeout,
        resume,
        resume_args: resume_args(args),
    };
    let provider = match &args.server_url {
        Some(_) => None,
        None => Some(provider_for(&plan, &prices, &app, &app_dir, args, today)?),
    };

    let streams = SignalStreams::install()?;
    let handle = match &answers.search {
        Some(search) => search.start(plan, provider),
        None => engine::start(plan, provider, CancellationToken::new()),
    };
    let signal_task = tokio::spawn(watch_signals(
        streams,
        handle.control.cancel_token(),
        handle.control.stop_waiting_token(),
    ));
    let renderer = progress::spawn_renderer(
        handle.events,
        progress::ProgressOptions {
            tty: std::io::stderr().is_terminal() && !globals.quiet,
            quiet: globals.quiet,
            color: globals.err_style.color,
        },
    );
    let result = handle.control.join().await;
    signal_task.abort();
    // The run has ended and dropped its sink: the renderer drains and ends.
    let _ = renderer.await;

    let (outcome, error) = match result {
        Ok(outcome) => (outcome, None),
        Err(failed) => (failed.outcome, Some(failed.error)),
    };
    let mut stdout = std::io::stdout().lock();
    // A search prints its probe table instead of one panel per probe.
    let panels = if answers.search.is_some() {
        &[][..]
    } else {
        &outcome.saved[..]
    };
    for saved in panels {
        let r = &saved.result;
        writeln!(
            stdout,
            "\n{}  ({})",
            globals.style.bold(&r.run_id),
            r.status.as_str()
        )?;
        output::summary::render_summary(&r.summary, None, globals.style, &mut stdout)?;
        output::errors::render_errors(&r.requests, globals.style, &mut stdout)?;
    }
    answers.report(&outcome, &output_dir, globals.style, &mut stdout)?;
    stdout.flush()?;
    drop(stdout);
    if let Some(teardown) = &outcome.teardown_error {
        let msg = format!(
            "TEARDOWN FAILED: {teardown}\nThe server may still be running and costing money. Stop it with `llm-inf-bench server stop <pod-id>` (see `llm-inf-bench server status`)."
        );
        eprintln!("{}", globals.err_style.red(&msg));
    }
    match error {
        None if outcome.teardown_error.is_some() => Ok(super::exit::FAILURE),
        None => Ok(super::exit::SUCCESS),
        Some(engine::RunError::Interrupted) => {
            eprintln!(
                "Interrupted: {} result file(s) saved with every completed request.",
                outcome.saved.len()
            );
            Ok(super::exit::INTERRUPTED)
        }
        Some(e) => Err(CliError::Run(e)),
    }
}

/// The provider of `plan`'s experiment. RunPod asks about the cost first.
fn provider_for(
    plan: &RunPlan,
    prices: &PriceTable,
    app: &AppConfig,
    app_dir: &std::path::Path,
    args: &RunArgs,
    today: chrono::NaiveDate,
) -> Result<Box<dyn Provider>, CliError> {
    let kind = plan.experiment.infrastructure.provider;
    let runpod = match kind {
        ProviderKind::Runpod => Some(super::runpod::provider_for_run(
            &plan.experiment,
            prices,
            app,
            app_dir,
            args,
            today,
        )?),
        _ => None,
    };
    let options = providers::ProviderOptions {
        keep_server: args.keep_server,
        // A local server's output goes beside the results, named like the run.
        server_log: plan
            .output_dir
            .join(format!("{}-server.log", plan.base_run_id())),
    };
    Ok(providers::create_provider(kind, options, runpod)?)
}

/// Output folder and run-name problems, before anything is provisioned (also in `--dry-run`).
fn check_output(
    args: &RunArgs,
    experiment: &config::Experiment,
    iterations: &[config::Iteration],
    output_dir: &std::path::Path,
) -> Result<(), CliError> {
    use config::output_check::{check_output, OutputTarget};
    let target = OutputTarget {
        dir: output_dir,
        dir_field: if args.output_dir.is_some() {
            "--output-dir"
        } else {
            "metrics.output_dir"
        },
        run_name: args.name.as_deref(),
    };
    let issues = check_output(experiment, iterations, &target);
    if issues.is_empty() {
        return Ok(());
    }
    Err(CliError::Config(config::ConfigError::Invalid {
        path: args.config.clone(),
        issues,
    }))
}

/// The `run` arguments that continue this run, shown by `list` for an interrupted one.
/// The server URL is redacted: credentials never reach the journal.
fn resume_args(args: &RunArgs) -> Vec<String> {
    let mut out = vec![args.config.display().to_string()];
    if let Some(dir) = &args.output_dir {
        out.extend(["--output-dir".to_string(), dir.display().to_string()]);
    }
    if let Some(name) = &args.name {
        out.extend(["--name".to_string(), name.clone()]);
    }
    if let Some(url) = &args.server_url {
        out.extend(["--server-url".to_string(), crate::redact::url(url)]);
    }
    if let Some(s) = args.health_timeout {
        out.extend(["--health-timeout".to_string(), s.to_string()]);
    }
    if args.confirm {
        out.push("--confirm".into());
    }
    out
}

/// Test hook: a shorter health-check timeout (seconds, fractions allowed). Not for normal use.
const HEALTH_TIMEOUT_ENV: &str = "LLM_INF_BENCH_HEALTH_TIMEOUT_S";

/// The hook when set, else the experiment's (a local server's `startup_timeout_s`).
fn health_timeout(
    experiment: &config::Experiment,
    server_url: Option<&str>,
) -> std::time::Duration {
    std::env::var(HEALTH_TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok())
        .unwrap_or_else(|| engine::health_timeout_for(experiment, server_url))
}

/// The journal of `run_id`, checked against the config being run now.
fn load_journal(
    run_id: &str,
    output_dir: &std::path::Path,
    experiment: &config::Experiment,
) -> Result<crate::results::journal::JournalState, CliError> {
    let now = serde_json::to_value(&experiment.resolved).unwrap_or_default();
    Ok(crate::results::run_journal::load_for_resume(
        run_id, output_dir, &now,
    )?)
}

/// SIGINT and SIGTERM listeners, installed before anything is provisioned so no signal can
/// kill the process with the default handler (and leak a server).
pub struct SignalStreams {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl SignalStreams {
    pub fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Self {
                int: signal(SignalKind::interrupt())?,
                term: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// The next SIGINT or SIGTERM (for `dashboard`).
    pub async fn next_signal(&mut self) {
        self.next().await
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.int.recv() => {},
            _ = self.term.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// First Ctrl-C / SIGTERM: graceful stop. Second: stop waiting (teardown still runs).
async fn watch_signals(
    mut streams: SignalStreams,
    graceful: CancellationToken,
    hard: CancellationToken,
) {
    streams.next().await;
    eprintln!("\nStopping: cancelling requests, saving partial results, tearing down (press Ctrl-C again to skip waiting)...");
    graceful.cancel();
    streams.next().await;
    eprintln!("\nStopping now; teardown still runs.");
    hard.cancel();
}

/// A token cancelled on the first Ctrl-C / SIGTERM (for `simulate`).
pub fn shutdown_token() -> std::io::Result<CancellationToken> {
    let mut streams = SignalStreams::install()?;
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        streams.next().await;
        t.cancel();
    });
    Ok(token)
}
