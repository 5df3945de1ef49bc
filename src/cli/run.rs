//! `run <config>`: load and validate, then either print the plan (`--dry-run`) or run the
//! four phases with progress on stderr and the summary on stdout.
//!
//! load → plan → execute → report (`run_report.rs`: summaries, teardown, exit code).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use super::answers::RunAnswers;
use super::args::RunArgs;
use super::run_report::{self, Ran};
use super::{CliError, Globals};
use crate::app_config::{self, AppConfig};
use crate::config::{self, ProviderKind};
use crate::output::{self, progress};
use crate::providers::{self, runpod::pricing::PriceTable, Provider};
use crate::results::journal::JournalState;
use crate::results::run_lock::RunLock;
use crate::run::{self as engine, RunHandle, RunPlan};

/// `run`: load → plan → execute → report.
pub async fn run(args: &RunArgs, globals: &Globals) -> Result<u8, CliError> {
    if super::matrix::is_matrix(args) {
        return super::matrix::run(args, globals).await;
    }
    let loaded = load(args)?;
    if args.dry_run {
        return dry_run(args, &loaded, globals);
    }
    if !globals.quiet {
        let mut stderr = std::io::stderr().lock();
        output::plan_warnings::render_plan_warnings(
            &loaded.warnings,
            globals.err_style,
            &mut stderr,
        )?;
    }
    let planned = plan(args, loaded)?;
    let ran = execute(planned.handle, planned.signals, globals).await;
    // Held until here: no other process resumes this run before it is reported.
    let _lock = planned.lock;
    let shown = super::args::Percentiles::shown(args.percentiles.as_ref());
    run_report::report(ran, &planned.answers, &planned.output_dir, shown, globals)
}

/// The app settings a run reads.
struct Settings {
    app_dir: PathBuf,
    app: AppConfig,
    prices: PriceTable,
    today: chrono::NaiveDate,
}

/// What `run` knows before anything is started: settings, the validated experiment, its
/// iterations, and where results go.
struct Loaded {
    settings: Settings,
    experiment: config::Experiment,
    iterations: Vec<config::Iteration>,
    answers: RunAnswers,
    output_dir: PathBuf,
    /// What the plan should warn about (printed with the plan, or before a real run).
    warnings: Vec<config::warnings::PlanWarning>,
}

/// A started run and what reporting it needs.
struct Planned {
    handle: RunHandle,
    signals: SignalStreams,
    answers: RunAnswers,
    output_dir: PathBuf,
    /// `--resume`: the run's lock, taken before anything was provisioned.
    lock: Option<RunLock>,
}

/// Settings, config and output checks: everything that can fail before anything starts.
fn load(args: &RunArgs) -> Result<Loaded, CliError> {
    let app_dir = app_config::app_dir()?;
    let app = AppConfig::load(&app_dir)?;
    let prices = PriceTable::load(&app_dir);
    let options = config::ValidateOptions {
        external_server: args.server_url.is_some(),
    };
    let mut experiment = config::load_with_options(&args.config, &prices, options)?;
    experiment.request.api_key = app.server_api_key(args.api_key.as_deref());
    if let Some(model) = &args.model {
        config::overrides::set_model(&mut experiment, model);
    }
    let (iterations, answers) = super::answers::prepare(
        &experiment,
        config::sweep::iterations(&experiment),
        args.repeat.map(|n| n as usize),
        args.name.as_deref(),
        args.resume.is_some(),
    )?;
    let (output_dir, dir_field) = output_dir(args, &app)?;
    check_output(args, &experiment, &iterations, (&output_dir, dir_field))?;
    let today = chrono::Local::now().date_naive();
    let warnings =
        config::warnings::plan_warnings(&experiment, &iterations, crate::sys::nofile_limit());
    Ok(Loaded {
        settings: Settings {
            app_dir,
            app,
            prices,
            today,
        },
        experiment,
        iterations,
        answers,
        output_dir,
        warnings,
    })
}

/// `--dry-run`: the plan, the server and the cost; nothing is provisioned.
fn dry_run(args: &RunArgs, loaded: &Loaded, globals: &Globals) -> Result<u8, CliError> {
    let mut stdout = std::io::stdout().lock();
    let (exp, prices) = (&loaded.experiment, &loaded.settings.prices);
    output::plan::render_plan(
        exp,
        &loaded.iterations,
        prices,
        loaded.settings.today,
        &mut stdout,
    )?;
    output::plan_warnings::render_plan_warnings(&loaded.warnings, globals.style, &mut stdout)?;
    output::server_plan::render_server(exp, args.server_url.as_deref(), &mut stdout)?;
    let (exp, prices) = (&loaded.experiment, &loaded.settings.prices);
    if let Some(est) = providers::runpod::cost::estimate(exp, prices) {
        writeln!(stdout, "{}", super::runpod::describe_estimate(&est))?;
    }
    writeln!(stdout, "Dry run: nothing was provisioned.")?;
    Ok(super::exit::SUCCESS)
}

fn print_plan(args: &RunArgs, loaded: &Loaded, out: &mut dyn Write) -> std::io::Result<()> {
    let (exp, prices) = (&loaded.experiment, &loaded.settings.prices);
    let today = loaded.settings.today;
    output::plan::render_plan(exp, &loaded.iterations, prices, today, out)?;
    output::server_plan::render_server(exp, args.server_url.as_deref(), out)
}

/// The run plan and its provider (a RunPod run shows the plan, then asks about the cost),
/// then the engine started with the Ctrl-C handlers already installed.
fn plan(args: &RunArgs, loaded: Loaded) -> Result<Planned, CliError> {
    let (lock, resume) = resume_state(args, &loaded)?;
    if args.server_url.is_none()
        && loaded.experiment.infrastructure.provider == ProviderKind::Runpod
    {
        // What is about to be paid for, before the cost question (on stderr: not a result).
        print_plan(args, &loaded, &mut std::io::stderr().lock())?;
    }
    let health_timeout = match args.health_timeout {
        Some(s) => std::time::Duration::from_secs(s),
        None => health_timeout(&loaded.experiment, args.server_url.as_deref()),
    };
    let Loaded {
        settings,
        experiment,
        iterations,
        answers,
        output_dir,
        ..
    } = loaded;
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
        None => Some(provider_for(&plan, &settings, args)?),
    };
    // Before anything is provisioned: no signal may kill the process with the default
    // handler (and leak a server).
    let signals = SignalStreams::install()?;
    let handle = match &answers.search {
        Some(search) => search.start(plan, provider),
        None => engine::start(plan, provider, CancellationToken::new()),
    };
    Ok(Planned {
        handle,
        signals,
        answers,
        output_dir,
        lock,
    })
}

/// `--resume`: the run's lock (refused while another process has it), then its journal.
fn resume_state(
    args: &RunArgs,
    loaded: &Loaded,
) -> Result<(Option<RunLock>, Option<JournalState>), CliError> {
    let Some(run_id) = &args.resume else {
        return Ok((None, None));
    };
    let dir = &loaded.output_dir;
    let journal = crate::results::journal::journal_path(dir, run_id);
    // An unknown run is "no journal", not a lock file left behind for it.
    if !journal.exists() {
        load_journal(run_id, dir, &loaded.experiment)?;
    }
    let lock = crate::results::run_journal::lock_for_resume(run_id, dir)
        .map_err(|e| CliError::Message(e.to_string()))?;
    let state = load_journal(run_id, dir, &loaded.experiment)?;
    Ok((Some(lock), Some(state)))
}

/// Run to the end, rendering progress on stderr; Ctrl-C stops gracefully, twice stops waiting.
async fn execute(handle: RunHandle, signals: SignalStreams, globals: &Globals) -> Ran {
    let signal_task = tokio::spawn(watch_signals(
        signals,
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
    match result {
        Ok(outcome) => Ran {
            outcome,
            error: None,
        },
        Err(failed) => Ran {
            outcome: failed.outcome,
            error: Some(failed.error),
        },
    }
}

/// Where results go: `--output-dir`, else the experiment's `metrics.output_dir`, else the
/// app config's `defaults.output_dir`. Returns the folder and the setting it came from.
pub(super) fn output_dir(
    args: &RunArgs,
    app: &AppConfig,
) -> Result<(PathBuf, &'static str), CliError> {
    if let Some(dir) = &args.output_dir {
        return Ok((dir.clone(), "--output-dir"));
    }
    let (raw, _) = config::load_raw(&args.config)?;
    match raw.metrics.and_then(|m| m.output_dir) {
        Some(dir) => Ok((PathBuf::from(dir), "metrics.output_dir")),
        None => Ok((
            PathBuf::from(&app.defaults.output_dir),
            "defaults.output_dir (app config)",
        )),
    }
}

/// The provider of `plan`'s experiment. RunPod asks about the cost first.
fn provider_for(
    plan: &RunPlan,
    settings: &Settings,
    args: &RunArgs,
) -> Result<Box<dyn Provider>, CliError> {
    let kind = plan.experiment.infrastructure.provider;
    let runpod = match kind {
        ProviderKind::Runpod => Some(super::runpod::provider_for_run(
            &plan.experiment,
            &settings.prices,
            &settings.app,
            &settings.app_dir,
            args,
            settings.today,
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
    (dir, dir_field): (&Path, &'static str),
) -> Result<(), CliError> {
    use config::output_check::{check_output, OutputTarget};
    let target = OutputTarget {
        dir,
        dir_field,
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
    if let Some(model) = &args.model {
        out.extend(["--model".to_string(), model.clone()]);
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
