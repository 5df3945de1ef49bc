//! The ONE place the dashboard calls the run machinery: load a config into a plan, run it
//! in-process, and turn its events into the page's WebSocket messages. Switching to another
//! run engine only touches this file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};

use tokio_util::sync::CancellationToken;

use crate::config::{self, Experiment, ProviderKind};
use crate::events::{Event, Phase, TeardownOutcome};
use crate::metrics::request::RequestRecord;
use crate::providers::runpod::{self, pricing::PriceTable, CostEstimate};
use crate::providers::Provider;
use crate::results::result::ServerSample;
use crate::run::{self as engine, RunPlan};

/// What the page asked to run (`start_experiment`), the config path already confined to the
/// experiments folder.
#[derive(Debug, Clone)]
pub struct StartRequest {
    pub config_path: PathBuf,
    /// As the page sent it (shown back in status messages).
    pub config_label: String,
    pub server_url: Option<String>,
    pub run_name: Option<String>,
    pub confirm: bool,
}

/// Builds the provider for a run (the CLI owns RunPod settings and keys). `None` with a
/// server URL.
pub type ProviderFactory = Arc<
    dyn Fn(&Experiment, &StartRequest) -> Result<Option<Box<dyn Provider>>, String> + Send + Sync,
>;

/// Why a start was refused before anything ran.
#[derive(Debug)]
pub enum PrepareError {
    /// The page must ask the user first (a paid run above the threshold).
    NeedsConfirmation(CostEstimate),
    Invalid(String),
}

/// A run ready to go.
pub struct Prepared {
    pub experiment_name: String,
    plan: RunPlan,
    provider: Option<Box<dyn Provider>>,
}

/// Load and validate the config and check the cost confirmation (nothing is created).
pub fn check(req: &StartRequest) -> Result<Experiment, PrepareError> {
    let prices = load_prices();
    let mut experiment =
        load(&req.config_path, req.server_url.is_some(), &prices).map_err(PrepareError::Invalid)?;
    // The inference server's key, as `run` finds it (environment, then the app config).
    if let Ok(dir) = crate::app_config::app_dir() {
        if let Ok(app) = crate::app_config::AppConfig::load(&dir) {
            experiment.request.api_key = app.server_api_key(None);
        }
    }
    if req.server_url.is_none() {
        if let Some(est) = runpod::estimate(&experiment, &prices) {
            if runpod::needs_confirmation(&est) && !req.confirm {
                return Err(PrepareError::NeedsConfirmation(est));
            }
        }
    }
    Ok(experiment)
}

/// [`check`], then build the provider and the plan.
pub fn prepare(
    req: &StartRequest,
    results_dir: &Path,
    factory: &ProviderFactory,
) -> Result<Prepared, PrepareError> {
    let experiment = check(req)?;
    let provider = factory(&experiment, req).map_err(PrepareError::Invalid)?;
    let iterations = config::sweep::iterations(&experiment);
    let health_timeout = engine::health_timeout_for(&experiment, req.server_url.as_deref());
    let plan = RunPlan {
        experiment,
        iterations,
        server_url: req.server_url.clone(),
        run_name: req.run_name.clone(),
        keep_server: false,
        output_dir: results_dir.to_path_buf(),
        health_timeout,
        resume: None,
        resume_args: vec![req.config_label.clone()],
    };
    Ok(Prepared {
        experiment_name: plan.experiment.name.clone(),
        plan,
        provider,
    })
}

fn load_prices() -> PriceTable {
    match crate::app_config::app_dir() {
        Ok(dir) => PriceTable::load(&dir),
        Err(_) => PriceTable::builtin(),
    }
}

fn load(path: &Path, external: bool, prices: &PriceTable) -> Result<Experiment, String> {
    config::load_with_options(
        path,
        prices,
        config::ValidateOptions {
            external_server: external,
        },
    )
    .map_err(|e| crate::cli::format_error(&e))
}

/// The preview the start form shows: key fields, the plan as `run --dry-run` prints it, and
/// the cost estimate of a paid run.
pub fn preview(path: &Path) -> Result<Value, String> {
    let prices = load_prices();
    let exp = load(path, false, &prices)?;
    let iterations = config::sweep::iterations(&exp);
    let mut plan = Vec::new();
    let today = chrono::Local::now().date_naive();
    let _ = crate::output::plan::render_plan(&exp, &iterations, &prices, today, &mut plan);
    let est = runpod::estimate(&exp, &prices);
    let w = &exp.workload;
    let sweep: Vec<Value> = iterations
        .iter()
        .filter(|i| !i.values.is_empty())
        .map(|i| {
            json!(i
                .values
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect::<std::collections::BTreeMap<_, _>>())
        })
        .collect();
    Ok(json!({
        "name": exp.name,
        "description": exp.description,
        "framework": exp.framework.as_str(),
        "model_name": exp.model.name,
        "quantization": exp.model.quantization,
        "provider": exp.infrastructure.provider.as_str(),
        "gpu_type": exp.infrastructure.gpu_type,
        "gpu_count": exp.infrastructure.gpu_count,
        "workload_type": w.kind.name(),
        "request_count": w.count,
        "max_tokens": w.params.max_tokens,
        "batch_size": match w.kind { crate::config::WorkloadKind::Batch { batch_size } => Some(batch_size), _ => None },
        "concurrency": match &w.kind { crate::config::WorkloadKind::Concurrent { concurrency } | crate::config::WorkloadKind::MultiTurn { concurrency, .. } => Some(*concurrency), _ => None },
        "sweep": if sweep.is_empty() { Value::Null } else { json!(sweep) },
        "iterations": iterations.len(),
        "paid": exp.infrastructure.provider == ProviderKind::Runpod,
        "plan": String::from_utf8_lossy(&plan),
        "cost": est.as_ref().map(cost_json),
    }))
}

pub fn cost_json(est: &CostEstimate) -> Value {
    json!({
        "per_hr": est.per_hr,
        "low_usd": est.low_usd,
        "high_usd": est.high_usd,
        "assumptions": est.assumptions,
        "needs_confirmation": runpod::needs_confirmation(est),
    })
}

/// How a run ended, for the status list.
pub struct RunEnd {
    pub status: &'static str,
    /// Result files written (run id, path).
    pub saved: Vec<(String, PathBuf)>,
}

/// The Stop button: the first press stops like Ctrl-C (stop sending, save, tear down), a
/// second one stops waiting for anything but teardown.
#[derive(Clone, Default)]
pub struct StopButton {
    graceful: CancellationToken,
    hard: CancellationToken,
}

impl StopButton {
    pub fn press(&self) {
        if self.graceful.is_cancelled() {
            self.hard.cancel();
        } else {
            self.graceful.cancel();
        }
    }

    pub fn pressed(&self) -> bool {
        self.graceful.is_cancelled()
    }
}

/// Run in-process on the run engine; every event becomes a message for `emit`.
pub async fn execute(
    prepared: Prepared,
    run_id: &str,
    stop: StopButton,
    emit: impl Fn(Value) + Send + Sync + 'static,
) -> RunEnd {
    let Prepared { plan, provider, .. } = prepared;
    let mut handle = engine::start(plan, provider, stop.graceful.clone());
    let hard = handle.control.stop_waiting_token();
    let forward_hard = tokio::spawn({
        let pressed_twice = stop.hard.clone();
        async move {
            pressed_twice.cancelled().await;
            hard.cancel();
        }
    });
    let mut tr = Translator::new(run_id.to_string());
    while let Some(event) = handle.events.recv().await {
        for msg in tr.translate(event) {
            emit(msg);
        }
    }
    let result = handle.control.join().await;
    forward_hard.abort();
    let (outcome, error) = match result {
        Ok(o) => (o, None),
        Err(f) => (f.outcome, Some(f.error)),
    };
    let status = match &error {
        None => "completed",
        Some(engine::RunError::Interrupted) => "stopped",
        Some(e) => {
            emit(
                json!({"type": "error", "run_id": run_id, "message": crate::cli::format_error(e)}),
            );
            "failed"
        }
    };
    let status = if error.is_none() && outcome.interrupted {
        "stopped"
    } else {
        status
    };
    let saved: Vec<(String, PathBuf)> = outcome
        .saved
        .iter()
        .map(|s| (s.result.run_id.clone(), s.path.clone()))
        .collect();
    emit(
        json!({"type": "phase", "run_id": run_id, "phase": "done", "data": {
            "status": status,
            "result_path": saved.last().map(|s| s.1.display().to_string()),
            "result_ids": saved.iter().map(|s| s.0.clone()).collect::<Vec<_>>(),
            "teardown_error": outcome.teardown_error,
        }}),
    );
    RunEnd { status, saved }
}

pub fn log_msg(level: &str, message: &str) -> Value {
    json!({"type": "log", "level": level, "message": message,
        "timestamp": chrono::Utc::now().to_rfc3339()})
}

/// Server samples reach the page at most this often (the scraper may run at 100 ms).
const SAMPLE_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Engine events → the original's message shapes, plus our fields (`start_s`, `t_s`,
/// `iteration`, `finished_ms`, `sent_ms`, …).
struct Translator {
    run_id: String,
    iteration: usize,
    /// Wall-clock start of the current iteration's benchmark: request times are relative to it.
    bench_start: Option<chrono::DateTime<chrono::Utc>>,
    last_sample: Option<Instant>,
    /// The last sample sent: the window of the next prefix-cache hit rate starts there.
    last_sent: Option<crate::results::result::ServerSample>,
}

impl Translator {
    fn new(run_id: String) -> Self {
        Translator {
            run_id,
            iteration: 1,
            bench_start: None,
            last_sample: None,
            last_sent: None,
        }
    }

    fn phase(&self, phase: &str, data: Value) -> Value {
        json!({"type": "phase", "run_id": self.run_id, "phase": phase, "data": data})
    }

    fn secs(&self, t: chrono::DateTime<chrono::Utc>) -> f64 {
        let start = self.bench_start.unwrap_or(t);
        (t - start).num_microseconds().unwrap_or(0) as f64 / 1e6
    }

    fn translate(&mut self, event: Event) -> Vec<Value> {
        match event {
            Event::PhaseStarted(phase) => {
                vec![self.phase(started_name(phase), json!({"index": phase.number()}))]
            }
            Event::PhaseFinished { phase, elapsed } => vec![self.phase(
                finished_name(phase),
                json!({"elapsed_s": elapsed.as_secs_f64()}),
            )],
            Event::ExternalServer { url } => vec![
                log_msg("info", &format!("Using the server at {url}")),
                self.phase("provisioning_done", json!({"server_url": url})),
            ],
            Event::IterationStarted {
                index,
                total,
                values,
            } => {
                self.iteration = index;
                if total < 2 {
                    return Vec::new();
                }
                let params: serde_json::Map<String, Value> =
                    values.into_iter().map(|(k, v)| (k, json!(v))).collect();
                vec![self.phase(
                    "sweep_iteration",
                    json!({"iteration": index, "total": total, "params": params}),
                )]
            }
            Event::BenchmarkStarted { total } => {
                self.bench_start = Some(chrono::Utc::now());
                // A new iteration's scraper starts its counters' window afresh.
                self.last_sent = None;
                vec![self.phase(
                    "execution",
                    json!({"total_requests": total, "iteration": self.iteration}),
                )]
            }
            Event::RequestCompleted(r) => vec![self.request_complete(&r)],
            Event::ServerMetrics(s) => self.gpu_sample(s).into_iter().collect(),
            Event::IterationSummary {
                run_id,
                status,
                summary,
                ..
            } => vec![json!({
                "type": "summary", "run_id": self.run_id, "result_id": run_id,
                "status": status.as_str(), "data": summary,
            })],
            other => log_line(other)
                .map(|(level, text)| log_msg(level, &text))
                .into_iter()
                .collect(),
        }
    }

    fn request_complete(&self, r: &RequestRecord) -> Value {
        let start_s = self.secs(r.started_at);
        let t_s = self.secs(r.finished_at);
        json!({"type": "request_complete", "run_id": self.run_id, "data": {
            "request_index": r.request_index,
            "ttft_ms": r.ttft_ms(),
            "e2e_latency_ms": r.e2e_ms(),
            "tbt_ms": r.mean_tbt_ms(),
            "prompt_tokens": r.prompt_tokens,
            "completion_tokens": r.completion_tokens,
            "error": r.error.as_ref().map(|e| e.message.clone()),
            "start_s": start_s,
            "t_s": t_s,
            "iteration": self.iteration,
            "finished_ms": r.finished_at.timestamp_millis(),
            "sent_ms": chrono::Utc::now().timestamp_millis(),
        }})
    }

    /// A server sample, at most one per `SAMPLE_EVERY`.
    fn gpu_sample(&mut self, s: Box<ServerSample>) -> Option<Value> {
        if self.last_sample.is_some_and(|t| t.elapsed() < SAMPLE_EVERY) {
            return None;
        }
        self.last_sample = Some(Instant::now());
        let hit_rate = crate::output::page::data::hit_rate(self.last_sent.as_ref(), &s);
        let msg = json!({"type": "gpu_sample", "run_id": self.run_id, "data": {
            "timestamp": s.timestamp,
            "kv_cache_usage": s.kv_cache_usage,
            "active_requests": s.active_requests,
            "queued_requests": s.queued_requests,
            "generation_throughput": s.generation_throughput,
            "prefix_cache_hit_rate": hit_rate,
            "iteration": self.iteration,
        }});
        self.last_sent = Some(*s);
        Some(msg)
    }
}

fn started_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Provision => "provisioning",
        Phase::Load => "model_loading",
        Phase::Benchmark => "benchmark",
        Phase::Collect => "cleanup",
    }
}

fn finished_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Provision => "provisioning_done",
        Phase::Load => "model_loading_done",
        Phase::Benchmark => "benchmark_done",
        Phase::Collect => "collect_done",
    }
}

/// The events shown only as a log line: its level and text (None for the structured ones).
fn log_line(event: Event) -> Option<(&'static str, String)> {
    Some(match event {
        Event::Info(m) => ("info", m),
        Event::Warn(m) => ("warning", m),
        Event::Waiting { elapsed, status } => (
            "info",
            format!("waiting for the server ({:.0}s): {status}", elapsed.as_secs_f64()),
        ),
        Event::ServerHealthy { after } => (
            "info",
            format!("server healthy after {:.1} s", after.as_secs_f64()),
        ),
        Event::IterationAlreadyDone { index, total, result } => (
            "info",
            format!("iteration {index}/{total} was already done: {result}"),
        ),
        Event::Resuming { kept } => (
            "info",
            format!("resuming: {kept} request(s) measured before are kept"),
        ),
        Event::BenchmarkFinished => ("info", "benchmark finished".to_string()),
        Event::ClientBusy { cpu_utilization } => (
            "warning",
            format!(
                "the benchmark client used {:.0}% of a CPU: its own delay may be in the numbers",
                cpu_utilization * 100.0
            ),
        ),
        Event::ResultSaved { path, samples, .. } => {
            let extra = samples.map(|n| format!(" ({n} server samples)")).unwrap_or_default();
            ("info", format!("result saved: {}{extra}", path.display()))
        }
        Event::Teardown(TeardownOutcome::Done) => ("info", "server torn down".to_string()),
        Event::Teardown(TeardownOutcome::Kept {
            provider,
            how_to_stop,
        }) => (
            "warning",
            format!("the {provider} server is still running (kept on purpose); {how_to_stop}"),
        ),
        Event::Teardown(TeardownOutcome::Failed { provider, error }) => (
            "error",
            format!("TEARDOWN FAILED ({provider}): {error} — the server may still be running and costing money; see `llm-inf-bench server status`"),
        ),
        Event::PhaseStarted(_)
        | Event::PhaseFinished { .. }
        | Event::ExternalServer { .. }
        | Event::IterationStarted { .. }
        | Event::BenchmarkStarted { .. }
        | Event::RequestCompleted(_)
        | Event::ServerMetrics(_)
        | Event::IterationSummary { .. } => return None,
    })
}
