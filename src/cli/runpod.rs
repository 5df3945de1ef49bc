//! RunPod glue for the CLI: settings from env + app config, the cost confirmation before a
//! run, `server status|stop`, `update-pricing`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use super::args::{RunArgs, ServerCommand};
use super::{exit, CliError, Globals};
use crate::app_config::{self, AppConfig};
use crate::config::Experiment;
use crate::providers::runpod::{
    self, CostEstimate, Ledger, PollSettings, PriceTable, RetryPolicy, RunpodProvider,
    RunpodSettings, Termination,
};

/// Test hooks: faster pod polling and retries against a local fake API. Not for normal use.
const POLL_MS_ENV: &str = "LLM_INF_BENCH_RUNPOD_POLL_MS";
const FAST_RETRY_ENV: &str = "LLM_INF_BENCH_RUNPOD_FAST_RETRY";
/// Test hook: how long a pod may take to reach RUNNING (milliseconds).
const RUNNING_TIMEOUT_MS_ENV: &str = "LLM_INF_BENCH_RUNPOD_RUNNING_TIMEOUT_MS";

/// Settings from `RUNPOD_API_KEY` / `RUNPOD_API_URL` / `RUNPOD_PROXY_URL` and the app config.
pub fn settings(app: &AppConfig) -> Result<RunpodSettings, CliError> {
    let key = app.api_key().ok_or_else(|| {
        CliError::Message(
            "no RunPod API key: set RUNPOD_API_KEY or run `llm-inf-bench config set runpod.api_key <key>`".into(),
        )
    })?;
    let mut settings = RunpodSettings::new(key);
    settings.api_url = app.api_url();
    settings.proxy_url_template = app.proxy_url();
    if std::env::var_os(FAST_RETRY_ENV).is_some() {
        settings.retry = RetryPolicy::fast();
    }
    Ok(settings)
}

pub(super) fn poll_settings() -> PollSettings {
    let mut poll = PollSettings::default();
    if let Some(ms) = std::env::var(POLL_MS_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        poll.interval = Duration::from_millis(ms.max(1));
    }
    if let Some(ms) = std::env::var(RUNNING_TIMEOUT_MS_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        poll.timeout = Duration::from_millis(ms);
    }
    poll
}

/// One line describing the estimated cost of a run.
pub fn describe_estimate(est: &CostEstimate) -> String {
    let mut text = format!(
        "Estimated cost: ${:.2}–${:.2} at ${:.2}/hr",
        est.low_usd, est.high_usd, est.per_hr
    );
    if !est.assumptions.is_empty() {
        text.push_str(&format!(" ({})", est.assumptions.join("; ")));
    }
    text
}

/// The RunPod provider for a run, after showing the estimate and, when it is ≥ $0.50,
/// asking `Proceed? [y/N]` (or refusing without a terminal unless `--confirm`).
pub fn provider_for_run(
    experiment: &Experiment,
    prices: &PriceTable,
    app: &AppConfig,
    app_dir: &Path,
    args: &RunArgs,
    today: chrono::NaiveDate,
) -> Result<RunpodProvider, CliError> {
    let settings = settings(app)?;
    if prices.is_stale(today) {
        eprintln!(
            "warning: GPU prices are {} days old (from {}); run `llm-inf-bench update-pricing`",
            prices.age_days(today),
            prices.last_updated
        );
    }
    if let Some(est) = runpod::estimate(experiment, prices) {
        eprintln!("{}", describe_estimate(&est));
        if runpod::needs_confirmation(&est) && !args.confirm {
            confirm_cost(&est)?;
        }
    }
    let run_name = args.name.clone().unwrap_or_else(|| experiment.name.clone());
    let provider = RunpodProvider::new(settings, app_dir, prices.clone(), poll_settings())?
        .with_run_name(run_name);
    Ok(provider)
}

pub(super) fn confirm_cost(est: &CostEstimate) -> Result<(), CliError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::Message(format!(
            "this run may cost up to ${:.2}; no terminal to ask for confirmation: rerun with --confirm (-y) to proceed",
            est.high_usd
        )));
    }
    eprint!("Proceed? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(CliError::Message(
            "cancelled: nothing was provisioned".into(),
        ))
    }
}

pub async fn server(
    command: ServerCommand,
    globals: &Globals,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    let dir = app_config::app_dir()?;
    let app = AppConfig::load(&dir)?;
    let settings = settings(&app)?;
    let ledger = Ledger::new(&dir);
    match command {
        ServerCommand::Status => {
            let rows = runpod::server_status(&settings, &ledger)
                .await
                .map_err(|e| CliError::Message(e.to_string()))?;
            if rows.is_empty() {
                writeln!(out, "No pods started by llm-inf-bench are running.")?;
                return Ok(exit::SUCCESS);
            }
            let mut table = globals.style.table();
            table.set_header(["pod id", "name", "status", "GPU", "$/hr", "created"]);
            for r in &rows {
                table.add_row([
                    r.pod_id.clone(),
                    r.name.clone(),
                    r.status.clone(),
                    r.gpu_type.clone().unwrap_or_default(),
                    r.cost_per_hr.map(|c| format!("{c:.2}")).unwrap_or_default(),
                    r.created_at.clone().unwrap_or_default(),
                ]);
            }
            writeln!(out, "{table}")?;
            if rows.iter().any(|r| !r.gone) {
                writeln!(out, "Stop one with `llm-inf-bench server stop <pod-id>`.")?;
            }
        }
        ServerCommand::Stop { pod_id } => {
            let outcome = runpod::server_stop(&settings, &ledger, &pod_id)
                .await
                .map_err(|e| {
                    CliError::Message(format!(
                        "could not terminate pod {pod_id}: {e}; retry `llm-inf-bench server stop {pod_id}` or terminate it in the RunPod console"
                    ))
                })?;
            match outcome {
                Termination::Terminated => writeln!(out, "Pod {pod_id} terminated.")?,
                Termination::AlreadyGone => writeln!(
                    out,
                    "Pod {pod_id} was already gone; removed from the ledger."
                )?,
            }
        }
    }
    Ok(exit::SUCCESS)
}

pub async fn update_pricing(out: &mut dyn Write) -> Result<u8, CliError> {
    let dir = app_config::app_dir()?;
    let app = AppConfig::load(&dir)?;
    let settings = settings(&app)?;
    let today = chrono::Local::now().date_naive();
    let updated = runpod::update_pricing(&settings, &dir, today)
        .await
        .map_err(|e| {
            CliError::Message(format!(
                "update-pricing failed: {e}; the built-in table stays in use"
            ))
        })?;
    for refused in &updated.refused {
        eprintln!("warning: {refused}");
    }
    writeln!(
        out,
        "Saved {} GPU prices to {} (dated {}): {} from the catalog, {} kept from the previous \
         table with their own dates.",
        updated.table.gpus.len(),
        updated.path.display(),
        updated.table.last_updated,
        updated.from_catalog,
        updated.kept
    )?;
    Ok(exit::SUCCESS)
}
