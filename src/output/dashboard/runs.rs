//! The ONE place the dashboard calls the run machinery: load a config into a plan, run it
//! in-process, and turn its events into the page's WebSocket messages. Switching to another
//! run engine only touches this file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};

use crate::config::{self, Experiment, ProviderKind};
use crate::events::{Event, EventSink};
use crate::orchestrator::{self, RunPlan, Signals};
use crate::providers::runpod::{self, pricing::PriceTable, CostEstimate};
use crate::providers::Provider;

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

/// Load and validate the config, check the cost confirmation, build the provider.
pub fn prepare(
    req: &StartRequest,
    results_dir: &Path,
    factory: &ProviderFactory,
) -> Result<Prepared, PrepareError> {
    let prices = load_prices();
    let experiment =
        load(&req.config_path, req.server_url.is_some(), &prices).map_err(PrepareError::Invalid)?;
    if req.server_url.is_none() {
        if let Some(est) = runpod::estimate(&experiment, &prices) {
            if runpod::needs_confirmation(&est) && !req.confirm {
                return Err(PrepareError::NeedsConfirmation(est));
            }
        }
    }
    let provider = factory(&experiment, req).map_err(PrepareError::Invalid)?;
    let iterations = config::sweep::iterations(&experiment);
    let health_timeout = orchestrator::health_timeout_for(&experiment, req.server_url.as_deref());
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

/// Run in-process; every event becomes a message for `emit`. `signals` is the Stop button
/// (graceful, like Ctrl-C; a second Stop cancels `hard`).
pub async fn execute(
    prepared: Prepared,
    run_id: &str,
    signals: Signals,
    emit: impl Fn(Value) + Send + Sync + 'static,
) -> RunEnd {
    let (sink, mut rx) = EventSink::channel();
    let emit = Arc::new(emit);
    let translator = tokio::spawn({
        let emit = Arc::clone(&emit);
        let run_id = run_id.to_string();
        async move {
            let mut tr = Translator::new(run_id);
            while let Some(event) = rx.recv().await {
                for msg in tr.translate(event) {
                    emit(msg);
                }
            }
            tr.saved
        }
    });
    let Prepared { plan, provider, .. } = prepared;
    let result = orchestrator::run(plan, provider, sink, signals).await;
    let saved = translator.await.unwrap_or_default();
    let (outcome, error) = match result {
        Ok(o) => (o, None),
        Err(f) => (f.outcome, Some(f.error)),
    };
    for s in &outcome.saved {
        emit(json!({"type": "summary", "run_id": run_id,
            "result_id": s.result.run_id, "data": s.result.summary}));
    }
    if let Some(t) = &outcome.teardown_error {
        emit(log_msg("error", &format!("TEARDOWN FAILED: {t} — the server may still be running and costing money; see `llm-inf-bench server status`")));
    }
    let status = match &error {
        None => "completed",
        Some(orchestrator::RunError::Interrupted) => "stopped",
        Some(e) => {
            emit(
                json!({"type": "error", "run_id": run_id, "message": crate::cli::format_error(e)}),
            );
            "failed"
        }
    };
    let saved: Vec<(String, PathBuf)> = if saved.is_empty() {
        outcome
            .saved
            .iter()
            .map(|s| (s.result.run_id.clone(), s.path.clone()))
            .collect()
    } else {
        saved
    };
    emit(
        json!({"type": "phase", "run_id": run_id, "phase": "done", "data": {
            "status": status,
            "result_path": saved.last().map(|s| s.1.display().to_string()),
            "result_ids": saved.iter().map(|s| s.0.clone()).collect::<Vec<_>>(),
        }}),
    );
    RunEnd { status, saved }
}

pub fn log_msg(level: &str, message: &str) -> Value {
    json!({"type": "log", "level": level, "message": message,
        "timestamp": chrono::Utc::now().to_rfc3339()})
}

/// Events → the original's message shapes (plus our fields: `t_s`, `iteration`, `sent_ms`).
struct Translator {
    run_id: String,
    phase: u8,
    iteration: usize,
    completed: usize,
    /// When the current iteration's benchmark started (request times are relative to it).
    bench_start: Option<Instant>,
    saved: Vec<(String, PathBuf)>,
}

impl Translator {
    fn new(run_id: String) -> Self {
        Translator {
            run_id,
            phase: 0,
            iteration: 1,
            completed: 0,
            bench_start: None,
            saved: Vec::new(),
        }
    }

    fn phase(&self, phase: &str, data: Value) -> Value {
        json!({"type": "phase", "run_id": self.run_id, "phase": phase, "data": data})
    }

    fn translate(&mut self, event: Event) -> Vec<Value> {
        match event {
            Event::Phase { index, title } => {
                let mut out = Vec::new();
                let names = ["provisioning", "model_loading", "execution", "cleanup"];
                if self.phase == 1 && index > 1 {
                    out.push(self.phase("provisioning_done", json!({})));
                }
                if self.phase == 2 && index > 2 {
                    out.push(self.phase("model_loading_done", json!({})));
                }
                self.phase = index;
                let name = names
                    .get(usize::from(index.saturating_sub(1)))
                    .copied()
                    .unwrap_or("cleanup");
                out.push(self.phase(name, json!({"index": index, "title": title})));
                out
            }
            Event::Info(m) => vec![log_msg("info", &m)],
            Event::Warn(m) => vec![log_msg("warning", &m)],
            Event::Waiting { elapsed, status } => vec![log_msg(
                "info",
                &format!(
                    "waiting for the server ({:.0}s): {status}",
                    elapsed.as_secs_f64()
                ),
            )],
            Event::SweepIteration {
                index,
                total,
                values,
            } => {
                self.iteration = index;
                let params: serde_json::Map<String, Value> =
                    values.into_iter().map(|(k, v)| (k, json!(v))).collect();
                vec![self.phase(
                    "sweep_iteration",
                    json!({"iteration": index, "total": total, "params": params}),
                )]
            }
            Event::BenchmarkStarted { total } => {
                self.bench_start = Some(Instant::now());
                self.completed = 0;
                vec![self.phase(
                    "execution",
                    json!({"total_requests": total, "iteration": self.iteration}),
                )]
            }
            Event::RequestDone {
                ok,
                ttft_ms,
                e2e_ms,
                completion_tokens,
            } => {
                let t_s = self
                    .bench_start
                    .map(|s| s.elapsed().as_secs_f64())
                    .unwrap_or(0.0);
                let index = self.completed;
                self.completed += 1;
                vec![
                    json!({"type": "request_complete", "run_id": self.run_id, "data": {
                        "request_index": index,
                        "ttft_ms": ttft_ms,
                        "e2e_latency_ms": e2e_ms,
                        "tbt_ms": null,
                        "prompt_tokens": null,
                        "completion_tokens": completion_tokens,
                        "error": if ok { Value::Null } else { json!("failed") },
                        "t_s": t_s,
                        "iteration": self.iteration,
                        "sent_ms": chrono::Utc::now().timestamp_millis(),
                    }}),
                ]
            }
            Event::ServerSample(s) => vec![
                json!({"type": "gpu_sample", "run_id": self.run_id, "data": {
                    "timestamp": s.timestamp,
                    "kv_cache_usage": s.kv_cache_usage,
                    "active_requests": s.active_requests,
                    "queued_requests": s.queued_requests,
                    "generation_throughput": s.generation_throughput,
                    "prefix_cache_hit_rate": s.prefix_cache_hit_rate,
                    "iteration": self.iteration,
                }}),
            ],
            Event::BenchmarkFinished => vec![log_msg("info", "benchmark finished")],
            Event::ResultSaved { path, samples } => {
                let id = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                self.saved.push((id.clone(), path.clone()));
                let extra = samples
                    .map(|n| format!(" ({n} server samples)"))
                    .unwrap_or_default();
                vec![log_msg(
                    "info",
                    &format!("result saved: {}{extra}", path.display()),
                )]
            }
        }
    }
}
