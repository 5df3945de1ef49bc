//! `run <config>` when the config has a `matrix:`: load and check every cell, then either print
//! the plan (`--dry-run`) or run the cells in parallel with one progress line each, and end
//! with the ranked table and the matrix summary file. `--resume <matrix id>` runs only the
//! cells that did not finish.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::args::RunArgs;
use super::{exit, CliError, Globals};
use crate::app_config::{self, AppConfig};
use crate::config::matrix::{load_matrix, MatrixConfig};
use crate::config::{self, ProviderKind};
use crate::matrix::{self, summary, MatrixFile, MatrixPlan, PlanOptions, ProviderFactory};
use crate::output::matrix as out;
use crate::providers::runpod::{self, CostEstimate, Ledger, PriceTable, RunpodClient};
use crate::providers::{self, ProviderOptions};

/// Whether `run` should hand this config to the matrix (a hook for `cli/run.rs`).
pub fn is_matrix(args: &RunArgs) -> bool {
    config::matrix::has_matrix(&args.config)
}

pub async fn run(args: &RunArgs, globals: &Globals) -> Result<u8, CliError> {
    refuse_flags(args)?;
    let app_dir = app_config::app_dir()?;
    let app = AppConfig::load(&app_dir)?;
    let prices = PriceTable::load(&app_dir);
    let mut config = load_matrix(&args.config, &prices, Default::default())?;
    // Every cell talks to its server with the same key (flag, environment, app config).
    let api_key = app.server_api_key(args.api_key.as_deref());
    for cell in &mut config.cells {
        cell.experiment.request.api_key = api_key.clone();
    }
    // The same order as a single run: flag, experiment, app config.
    let (output_dir, _) = super::run::output_dir(args, &app)?;
    check_output(args, &config, &output_dir)?;
    let previous = match &args.resume {
        Some(id) => Some(load_previous(id, &output_dir)?),
        None => None,
    };
    let id = match &previous {
        Some(p) => p.id.clone(),
        None => matrix::new_id(&config.name, chrono::Local::now()),
    };
    let plan = matrix::build(
        &config,
        &id,
        &PlanOptions {
            output_dir: output_dir.clone(),
            health_timeout: health_timeout(args),
            keep_server: args.keep_server,
            resume_args: vec![
                args.config.display().to_string(),
                "--resume".into(),
                id.clone(),
            ],
            only: previous.as_ref().map(unfinished),
        },
    );
    if args.dry_run {
        let mut stdout = std::io::stdout().lock();
        dry_run(&config, &plan, &prices, globals, &mut stdout)?;
        return Ok(exit::SUCCESS);
    }
    if plan.cells.is_empty() {
        println!("Every cell of {id} has finished; nothing to resume.");
        return Ok(exit::SUCCESS);
    }
    let factory = provider_factory(&config, &plan, &prices, &app, &app_dir, args)?;
    execute(
        args,
        globals,
        &config,
        plan,
        factory,
        previous,
        &output_dir,
        &app_dir,
    )
    .await
}

fn refuse_flags(args: &RunArgs) -> Result<(), CliError> {
    let refused = [
        (args.server_url.is_some(), "--server-url"),
        (args.name.is_some(), "--name"),
        (
            args.repeat.is_some(),
            "--repeat (use `repeat:` in the config)",
        ),
    ];
    match refused.iter().find(|(set, _)| *set) {
        Some((_, flag)) => Err(CliError::Message(format!(
            "{flag} does not apply to a matrix: each cell provisions its own server and is named after the matrix"
        ))),
        None => Ok(()),
    }
}

/// The cells' output problems, all at once, before anything is provisioned.
fn check_output(args: &RunArgs, config: &MatrixConfig, dir: &Path) -> Result<(), CliError> {
    use config::output_check::{check_output, OutputTarget};
    let mut issues = Vec::new();
    for cell in &config.cells {
        let run_name = matrix::plan::cell_run_name(&config.name, &cell.name);
        let target = OutputTarget {
            dir,
            dir_field: if args.output_dir.is_some() {
                "--output-dir"
            } else {
                "metrics.output_dir"
            },
            run_name: Some(&run_name),
        };
        let its = config::sweep::iterations(&cell.experiment);
        for issue in check_output(&cell.experiment, &its, &target) {
            if !issues.contains(&issue) {
                issues.push(issue);
            }
        }
    }
    if issues.is_empty() {
        return Ok(());
    }
    Err(CliError::Config(config::ConfigError::Invalid {
        path: args.config.clone(),
        issues,
    }))
}

fn load_previous(id: &str, dir: &Path) -> Result<MatrixFile, CliError> {
    summary::find(id, dir).map(|(_, f)| f).ok_or_else(|| {
        CliError::Message(format!(
            "no matrix summary '{id}' in {} (the id is the summary file's name without .json)",
            dir.display()
        ))
    })
}

fn unfinished(previous: &MatrixFile) -> Vec<String> {
    previous
        .cells
        .iter()
        .filter(|c| c.status.unfinished())
        .map(|c| c.cell.clone())
        .collect()
}

/// `--health-timeout`, else the test hook, else each cell's own.
fn health_timeout(args: &RunArgs) -> Option<std::time::Duration> {
    args.health_timeout
        .map(std::time::Duration::from_secs)
        .or_else(|| {
            std::env::var("LLM_INF_BENCH_HEALTH_TIMEOUT_S")
                .ok()
                .and_then(|v| v.parse::<f64>().ok())
                .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok())
        })
}

fn dry_run(
    config: &MatrixConfig,
    plan: &MatrixPlan,
    prices: &PriceTable,
    globals: &Globals,
    stdout: &mut dyn Write,
) -> Result<(), CliError> {
    let cells: Vec<out::PlannedCell<'_>> = plan
        .cells
        .iter()
        .map(|c| out::PlannedCell {
            name: &c.name,
            experiment: &c.plan.experiment,
            iterations: c.plan.iterations.len(),
        })
        .collect();
    out::render_dry_run(
        &config.name,
        config.max_parallel,
        &cells,
        prices,
        globals.style,
        stdout,
    )?;
    writeln!(stdout, "Dry run: nothing was provisioned.")?;
    Ok(())
}

/// The whole matrix's cost range (RunPod cells), with one confirmation for all of it.
fn confirm_matrix(plan: &MatrixPlan, prices: &PriceTable, args: &RunArgs) -> Result<(), CliError> {
    let estimates: Vec<CostEstimate> = plan
        .cells
        .iter()
        .filter_map(|c| runpod::estimate(&c.plan.experiment, prices))
        .collect();
    if estimates.is_empty() {
        return Ok(());
    }
    let total = CostEstimate {
        per_hr: estimates.iter().map(|e| e.per_hr).sum(),
        low_usd: estimates.iter().map(|e| e.low_usd).sum(),
        high_usd: estimates.iter().map(|e| e.high_usd).sum(),
        assumptions: vec![format!("{} cells", estimates.len())],
    };
    eprintln!(
        "Estimated matrix cost: ${:.2}–${:.2} ({} pods, ${:.2}/hr if all ran at once)",
        total.low_usd,
        total.high_usd,
        estimates.len(),
        total.per_hr
    );
    if runpod::needs_confirmation(&total) && !args.confirm {
        super::runpod::confirm_cost(&total)?;
    }
    Ok(())
}

/// Each cell's provider; RunPod cells share one API client (one call limit, one 429 pause,
/// spaced creates).
fn provider_factory(
    config: &MatrixConfig,
    plan: &MatrixPlan,
    prices: &PriceTable,
    app: &AppConfig,
    app_dir: &Path,
    args: &RunArgs,
) -> Result<ProviderFactory, CliError> {
    let uses_runpod = config
        .cells
        .iter()
        .any(|c| c.experiment.infrastructure.provider == ProviderKind::Runpod);
    let runpod = if uses_runpod {
        let today = chrono::Local::now().date_naive();
        if prices.is_stale(today) {
            eprintln!(
                "warning: GPU prices are {} days old (from {}); run `llm-inf-bench update-pricing`",
                prices.age_days(today),
                prices.last_updated
            );
        }
        confirm_matrix(plan, prices, args)?;
        let settings = super::runpod::settings(app)?;
        let client = RunpodClient::new(&settings).map_err(providers::ProviderError::from)?;
        Some((settings, client))
    } else {
        None
    };
    let (prices, app_dir, keep) = (prices.clone(), app_dir.to_path_buf(), args.keep_server);
    Ok(Arc::new(move |plan| {
        let kind = plan.experiment.infrastructure.provider;
        let run_name = plan.run_name.clone().unwrap_or_default();
        let runpod = match (&runpod, kind) {
            (Some((settings, client)), ProviderKind::Runpod) => Some(
                runpod::RunpodProvider::new(
                    settings.clone(),
                    &app_dir,
                    prices.clone(),
                    super::runpod::poll_settings(),
                )?
                .with_client(client.clone())
                .with_run_name(run_name.clone()),
            ),
            _ => None,
        };
        let options = ProviderOptions {
            keep_server: keep,
            server_log: plan
                .output_dir
                .join(format!("{}-server.log", plan.base_run_id())),
        };
        providers::create_provider(kind, options, runpod)
    }))
}

#[allow(clippy::too_many_arguments)]
async fn execute(
    args: &RunArgs,
    globals: &Globals,
    config: &MatrixConfig,
    plan: MatrixPlan,
    factory: ProviderFactory,
    previous: Option<MatrixFile>,
    output_dir: &Path,
    app_dir: &Path,
) -> Result<u8, CliError> {
    let names: Vec<String> = plan.cells.iter().map(|c| c.name.clone()).collect();
    let run_names: Vec<String> = names
        .iter()
        .map(|n| matrix::plan::cell_run_name(&config.name, n))
        .collect();
    let (slo, search) = plan.cells.first().map_or((false, false), |c| {
        let a = &c.plan.experiment.answers;
        (a.slo.is_some(), a.search.is_some())
    });
    let streams = super::run::SignalStreams::install()?;
    eprintln!(
        "Matrix {}: {} cell(s), at most {} at once",
        plan.id,
        plan.cells.len(),
        plan.max_parallel
    );
    let handle = matrix::start(plan, factory);
    let term = out::MatrixTerminal::new(std::io::stderr().is_terminal(), globals.quiet);
    let signals = tokio::spawn(watch_signals(
        streams,
        handle.control.cancel_token(),
        handle.control.stop_waiting_token(),
        term.clone(),
    ));
    let renderer = tokio::spawn(out::render_progress(handle.events, names, term));
    let outcome = handle.control.join().await;
    signals.abort();
    let _ = renderer.await;

    let header = matrix::SummaryHeader {
        name: &config.name,
        config: &args.config.display().to_string(),
        max_parallel: config.max_parallel,
        axes: config.axes.iter().map(|a| a.name().to_string()).collect(),
        slo,
        search,
    };
    let file = matrix::summarize(&outcome, header, previous.as_ref());
    print_summary(args, globals, &file, output_dir)?;
    let left = if args.keep_server {
        pods_kept(app_dir, &run_names);
        0
    } else {
        pods_left(&outcome, app_dir, &run_names, globals)
    };
    Ok(exit_code(&outcome, &file, left, globals))
}

/// Write the summary file, print the ranked table and how to resume.
fn print_summary(
    args: &RunArgs,
    globals: &Globals,
    file: &MatrixFile,
    output_dir: &Path,
) -> Result<(), CliError> {
    let path = file.write(output_dir)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "\n{}",
        globals.style.bold(&format!("Matrix {}", file.id))
    )?;
    out::render_table(file, globals.style, &mut stdout)?;
    writeln!(stdout, "Matrix summary: {}", path.display())?;
    if file.cells.iter().any(|c| c.status.unfinished()) {
        writeln!(
            stdout,
            "Re-run the unfinished cells: llm-inf-bench run {} --resume {}",
            args.config.display(),
            file.id
        )?;
    }
    stdout.flush()?;
    Ok(())
}

/// The ledger's pods of this matrix's cells.
fn matrix_pods(app_dir: &Path, run_names: &[String]) -> Vec<String> {
    Ledger::new(app_dir)
        .load()
        .unwrap_or_default()
        .into_iter()
        .filter(|p| run_names.contains(&p.run_name))
        .map(|p| p.pod_id)
        .collect()
}

/// `--keep-server`: the pods left running on purpose, with their stop commands.
fn pods_kept(app_dir: &Path, run_names: &[String]) {
    let pods = matrix_pods(app_dir, run_names);
    if !pods.is_empty() {
        eprintln!(
            "Kept {} pod(s) running (--keep-server); stop each one:",
            pods.len()
        );
        for pod in &pods {
            eprintln!("  llm-inf-bench server stop {pod}");
        }
    }
}

/// Every pod still in the ledger for one of this matrix's cells, printed with its stop command.
fn pods_left(
    outcome: &matrix::MatrixOutcome,
    app_dir: &Path,
    run_names: &[String],
    globals: &Globals,
) -> usize {
    let failures: Vec<&str> = outcome
        .cells
        .iter()
        .filter(|c| c.report.teardown_error.is_some())
        .map(|c| c.name.as_str())
        .collect();
    let pods = matrix_pods(app_dir, run_names);
    if failures.is_empty() && pods.is_empty() {
        return 0;
    }
    let head = format!(
        "TEARDOWN FAILED for {} cell(s): {}\nThese pods may still be running and costing money; stop each one:",
        failures.len(),
        failures.join(", ")
    );
    eprintln!("{}", globals.err_style.red(&head));
    for pod in &pods {
        eprintln!("  llm-inf-bench server stop {pod}");
    }
    eprintln!("(`llm-inf-bench server status` lists them.)");
    failures.len().max(pods.len())
}

fn exit_code(
    outcome: &matrix::MatrixOutcome,
    file: &MatrixFile,
    pods_left: usize,
    globals: &Globals,
) -> u8 {
    if outcome.interrupted {
        let saved: usize = outcome.cells.iter().map(|c| c.report.saved.len()).sum();
        let servers = if pods_left == 0 {
            "; every server was torn down"
        } else {
            ""
        };
        eprintln!(
            "{}",
            globals.err_style.yellow(&format!(
                "Interrupted: {saved} result file(s) saved{servers}."
            ))
        );
        return exit::INTERRUPTED;
    }
    if pods_left > 0 || file.cells.iter().any(|c| c.status.unfinished()) {
        return exit::FAILURE;
    }
    exit::SUCCESS
}

/// First Ctrl-C / SIGTERM: stop every cell gracefully. Second: stop waiting (teardown runs).
async fn watch_signals(
    mut streams: super::run::SignalStreams,
    graceful: CancellationToken,
    hard: CancellationToken,
    term: out::MatrixTerminal,
) {
    streams.next_signal().await;
    term.notice("Stopping every cell: saving partial results, tearing down every server (press Ctrl-C again to skip waiting)...");
    graceful.cancel();
    streams.next_signal().await;
    term.notice("Stopping now; teardown of every server still runs.");
    hard.cancel();
}
