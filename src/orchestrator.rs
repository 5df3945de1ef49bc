//! The four phases: provision → load (health check) → benchmark (per sweep iteration) →
//! collect & clean up. Teardown runs on every path: success, error, panic in a phase, Ctrl-C.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::config::{Experiment, Iteration, ProviderKind};
use crate::events::{Event, EventSink};
use crate::metrics::journal::{self, JournalState, JournalWriter, Line};
use crate::metrics::request::RequestRecord;
use crate::metrics::result::{Metadata, RunResult, RunStatus, SweepInfo, SCHEMA_VERSION};
use crate::metrics::{aggregate, client_health, scrape, server_metrics, storage};
use crate::providers::{Provider, ProviderError, ServerHandle};
use crate::runners::{self, Runner, RunnerError, RunnerTimeouts};
use crate::workloads::{self, PromptError, WorkloadContext, WorkloadError};

/// How long the inference server may take to become healthy (SPEC §5).
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(600);

/// The health-check timeout for `exp`: a local server's `startup_timeout_s` (it is waited
/// for by the provider as well, which watches the process), else `HEALTH_TIMEOUT`.
pub fn health_timeout_for(exp: &Experiment, server_url: Option<&str>) -> Duration {
    match (server_url, exp.infrastructure.provider) {
        (None, ProviderKind::Local) => exp.infrastructure.local.startup_timeout,
        _ => HEALTH_TIMEOUT,
    }
}

/// What to run and where.
pub struct RunPlan {
    /// The unexpanded experiment (first iteration's framework/model/provider apply to all).
    pub experiment: Experiment,
    pub iterations: Vec<Iteration>,
    /// Use an already running server: no provisioning, no teardown.
    pub server_url: Option<String>,
    /// Replaces the config's name in run ids.
    pub run_name: Option<String>,
    pub keep_server: bool,
    pub output_dir: PathBuf,
    /// How long to wait for the health check.
    pub health_timeout: Duration,
    /// Continue an interrupted run from its journal.
    pub resume: Option<JournalState>,
    /// `run` arguments that continue this run (config path, flags), kept in the journal for
    /// the resume command `list` shows. No secrets: URLs must be redacted.
    pub resume_args: Vec<String>,
}

/// Ctrl-C / SIGTERM: the first cancels `graceful` (stop sending, save, tear down); the second
/// cancels `hard` (stop waiting for anything but teardown).
#[derive(Clone, Default)]
pub struct Signals {
    pub graceful: CancellationToken,
    pub hard: CancellationToken,
}

/// One written result file.
#[derive(Debug, Clone)]
pub struct SavedRun {
    pub path: PathBuf,
    pub result: RunResult,
}

#[derive(Debug, Default)]
pub struct RunOutcome {
    pub saved: Vec<SavedRun>,
    pub interrupted: bool,
    /// Teardown failed: the server may still be running (and costing money).
    pub teardown_error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("provisioning failed: {0}")]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Runner(#[from] RunnerError),
    #[error("{0}")]
    Model(String),
    #[error(transparent)]
    Prompts(#[from] PromptError),
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    #[error(transparent)]
    Storage(#[from] storage::StorageError),
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
    #[error("interrupted")]
    Interrupted,
    #[error("internal error: {0}")]
    Internal(String),
}

/// A run's outcome when a phase failed: the error, plus what was saved and how teardown went.
#[derive(Debug)]
pub struct FailedRun {
    pub error: RunError,
    pub outcome: RunOutcome,
}

/// Run all phases. `provider` is `None` with `--server-url`.
pub async fn run(
    plan: RunPlan,
    provider: Option<Box<dyn Provider>>,
    events: EventSink,
    signals: Signals,
) -> Result<RunOutcome, FailedRun> {
    let plan = Arc::new(plan);
    let (saved_tx, mut saved_rx) = tokio::sync::mpsc::unbounded_channel::<SavedRun>();
    let provider = Arc::new(tokio::sync::Mutex::new(provider));

    // Phases 1–3 run in their own task so a panic there still reaches teardown below.
    let phases = tokio::spawn({
        let plan = Arc::clone(&plan);
        let provider = Arc::clone(&provider);
        let events = events.clone();
        let signals = signals.clone();
        async move { phases(&plan, &provider, &events, &signals, saved_tx).await }
    });
    let abort = phases.abort_handle();
    let phase_result = tokio::select! {
        joined = phases => match joined {
            Ok(result) => result,
            Err(e) => Err(RunError::Internal(format!("a run phase panicked: {e}"))),
        },
        _ = signals.hard.cancelled() => {
            abort.abort();
            Err(RunError::Interrupted)
        }
    };

    let mut outcome = RunOutcome::default();
    while let Ok(saved) = saved_rx.try_recv() {
        outcome.saved.push(saved);
    }
    outcome.interrupted = signals.graceful.is_cancelled();

    // Phase 4 (cleanup part): always.
    let mut guard = provider.lock().await;
    if let Some(provider) = guard.as_mut() {
        if plan.keep_server {
            events.warn(format!(
                "--keep-server: the {} server is still running; stop it with `llm-inf-bench server stop <pod-id>` (or end the process)",
                provider.name()
            ));
        } else if let Err(e) = provider.teardown(&events).await {
            outcome.teardown_error = Some(e.to_string());
        }
    }
    drop(guard);

    match phase_result {
        Ok(()) if outcome.interrupted => Err(FailedRun {
            error: RunError::Interrupted,
            outcome,
        }),
        Ok(()) => Ok(outcome),
        Err(error) => Err(FailedRun { error, outcome }),
    }
}

type SharedProvider = Arc<tokio::sync::Mutex<Option<Box<dyn Provider>>>>;

async fn phases(
    plan: &RunPlan,
    provider: &SharedProvider,
    events: &EventSink,
    signals: &Signals,
    saved: tokio::sync::mpsc::UnboundedSender<SavedRun>,
) -> Result<(), RunError> {
    let exp = &plan.experiment;
    let cancel = &signals.graceful;

    events.send(Event::Phase {
        index: 1,
        title: "Provisioning...".into(),
    });
    let server = match &plan.server_url {
        Some(url) => {
            events.info(format!("Using the server at {}", redact_url(url)));
            ServerHandle {
                base_url: url.trim_end_matches('/').to_string(),
                ..ServerHandle::default()
            }
        }
        None => {
            let mut guard = provider.lock().await;
            let Some(p) = guard.as_mut() else {
                return Err(RunError::Internal("no provider and no --server-url".into()));
            };
            // A provider noticing the Ctrl-C first reports `Cancelled`: still an interrupt.
            let provisioned = tokio::select! {
                r = p.provision(exp, events, cancel) => r,
                _ = cancel.cancelled() => return Err(RunError::Interrupted),
            };
            match provisioned {
                Ok(server) => server,
                Err(ProviderError::Cancelled) => return Err(RunError::Interrupted),
                Err(e) => return Err(e.into()),
            }
        }
    };

    events.send(Event::Phase {
        index: 2,
        title: "Loading model...".into(),
    });
    let max_concurrency = plan
        .iterations
        .iter()
        .map(|it| concurrency_of(&it.experiment))
        .max()
        .unwrap_or(1);
    // A local server started with `--served-model-name` answers only to that name.
    let model = server.served_model.as_deref().unwrap_or(&exp.model.name);
    let runner = runners::create_runner(
        exp.framework,
        &server.base_url,
        model,
        RunnerTimeouts::for_framework(exp.framework),
        max_concurrency,
    )?;
    let started_wait = Instant::now();
    {
        let events = events.clone();
        let on_wait = move |p: runners::HealthProgress| {
            events.send(Event::Waiting {
                elapsed: p.elapsed,
                status: p.last_status,
            })
        };
        runner
            .wait_healthy(plan.health_timeout, cancel, &on_wait)
            .await
            .map_err(|e| match e {
                RunnerError::Cancelled => RunError::Interrupted,
                other => RunError::Runner(other),
            })?;
    }
    runner.check_model().await?;
    events.info(format!(
        "Server healthy after {:.1} s",
        started_wait.elapsed().as_secs_f64()
    ));

    events.send(Event::Phase {
        index: 3,
        title: "Running benchmark...".into(),
    });
    let journal = open_journal(plan)?;
    let mut saved_paths = Vec::new();
    for iteration in &plan.iterations {
        if cancel.is_cancelled() {
            break;
        }
        if let Some(done) = plan
            .resume
            .as_ref()
            .and_then(|r| r.finished.get(&iteration.index))
        {
            events.info(format!(
                "Iteration {}/{} already finished: {done}",
                iteration.index, iteration.total
            ));
            continue;
        }
        if iteration.total > 1 {
            events.send(Event::SweepIteration {
                index: iteration.index,
                total: iteration.total,
                values: iteration
                    .values
                    .iter()
                    .map(|(k, v)| (k.to_string(), *v))
                    .collect(),
            });
        }
        let run =
            run_iteration(plan, iteration, &server, &runner, events, cancel, &journal).await?;
        if let Some(run) = run {
            journal_append(
                &journal.writer,
                &Line::IterationDone {
                    index: iteration.index,
                    result: run.path.display().to_string(),
                },
            );
            if iteration.total > 1 {
                events.info(format!("Saved {}", run.path.display()));
            }
            saved_paths.push((
                run.path.clone(),
                run.result.gpu_metrics.as_ref().map(|g| g.time_series.len()),
            ));
            let _ = saved.send(run);
        }
    }
    // Every iteration's result is written (interrupted ones as `partial`): the journal is done.
    if let Ok(mutex) = Arc::try_unwrap(journal.writer) {
        if let Ok(writer) = mutex.into_inner() {
            if let Err(e) = writer.remove() {
                events.warn(e.to_string());
            }
        }
    }
    events.send(Event::Phase {
        index: 4,
        title: "Collecting results...".into(),
    });
    for (path, samples) in saved_paths {
        events.send(Event::ResultSaved { path, samples });
    }
    Ok(())
}

fn concurrency_of(exp: &Experiment) -> usize {
    use crate::config::WorkloadKind::*;
    match &exp.workload.kind {
        Single => 1,
        Batch { batch_size } => *batch_size,
        Concurrent { concurrency } => *concurrency,
        MultiTurn { concurrency, .. } => *concurrency,
    }
}

/// Benchmark one iteration and write its result file. `None` when interrupted before any
/// request completed (nothing to save).
async fn run_iteration(
    plan: &RunPlan,
    iteration: &Iteration,
    server: &ServerHandle,
    runner: &Arc<dyn Runner>,
    events: &EventSink,
    cancel: &CancellationToken,
    journal: &RunJournal,
) -> Result<Option<SavedRun>, RunError> {
    let exp = &iteration.experiment;
    journal_append(
        &journal.writer,
        &Line::Iteration {
            index: iteration.index,
        },
    );
    let earlier = resumed_records(plan, iteration);
    let already_done = done_units(&exp.workload.kind, &earlier);
    let prompts = workloads::prompts::load_prompts(&exp.workload.source)?;
    let workload = workloads::create_workload(&exp.workload.kind, &prompts, exp.workload.count)?;

    let scrape_cancel = cancel.child_token();
    let scraper = exp.metrics.collect_gpu_metrics.then(|| {
        scrape::spawn_scraper(
            &server.base_url,
            server_metrics::MetricsDialect::from(exp.framework),
            exp.metrics.sample_interval,
            scrape_cancel.clone(),
        )
    });

    if !earlier.is_empty() {
        events.info(format!(
            "Resuming: {} request(s) measured before the interruption are kept",
            earlier.len()
        ));
    }
    events.send(Event::BenchmarkStarted {
        total: workload.total_requests().saturating_sub(earlier.len()),
    });
    let started_at = chrono::Utc::now();
    let usage_before = client_health::ResourceUsage::now();
    let t0 = Instant::now();
    let outcome = workload
        .run(WorkloadContext {
            runner: Arc::clone(runner),
            params: exp.workload.params.clone(),
            events: events.clone(),
            cancel: cancel.clone(),
            already_done,
            on_record: {
                let journal = Arc::clone(&journal.writer);
                let index = iteration.index;
                Box::new(move |record| {
                    journal_append(
                        &journal,
                        &Line::Record {
                            iteration: index,
                            record: record.clone(),
                        },
                    )
                })
            },
        })
        .await;
    let mut duration = t0.elapsed();
    let finished_at = chrono::Utc::now();
    events.send(Event::BenchmarkFinished);
    let gpu_metrics = match scraper {
        Some(s) => Some(s.stop().await),
        None => None,
    };

    let mut records = outcome.records;
    // A resumed iteration started when its first request did, before the interruption.
    let started_at = earlier
        .iter()
        .map(|r| r.started_at)
        .min()
        .map_or(started_at, |first| first.min(started_at));
    if !earlier.is_empty() {
        duration += span(&earlier);
        records.extend(earlier);
        records.sort_by_key(|r| r.request_index);
    }
    let outcome = crate::workloads::WorkloadOutcome {
        records,
        stopped_early: outcome.stopped_early,
    };
    if outcome.records.is_empty() && cancel.is_cancelled() {
        return Ok(None);
    }
    let mut summary = aggregate::summarize(&outcome.records, duration);
    summary.gpu_summary = gpu_metrics
        .as_ref()
        .map(|g| server_metrics::summarize(server_metrics::MetricsDialect::from(exp.framework), g));
    let status = run_status(&outcome.records, outcome.stopped_early.is_some());
    let name = run_name(plan, exp);
    let client = client_health::measure(&usage_before, duration, &outcome.records);
    if let Some(u) = client.cpu_utilization.filter(|u| *u > 0.9) {
        events.warn(format!(
            "The benchmark client used {:.0}% of the CPU: its own delay may be in the numbers",
            u * 100.0
        ));
    }
    let result = RunResult {
        schema_version: Some(SCHEMA_VERSION),
        run_id: storage::new_run_id(&name, chrono::Local::now()),
        status,
        experiment: serde_json::to_value(&exp.resolved)
            .map_err(|e| RunError::Internal(format!("cannot serialize the config: {e}")))?,
        metadata: Metadata {
            experiment_name: exp.name.clone(),
            started_at: Some(started_at),
            finished_at: Some(finished_at),
            server_url: Some(redact_url(&server.base_url)),
            pod_id: server.pod_id.clone(),
            gpu_type: server.gpu_type.clone(),
            gpu_count: server.gpu_count,
            cost_per_hr: server.cost_per_hr,
            tool: Some("llm-inf-bench".into()),
            tool_version: Some(env!("CARGO_PKG_VERSION").into()),
            provider: Some(
                if plan.server_url.is_some() {
                    "external"
                } else {
                    exp.infrastructure.provider.as_str()
                }
                .into(),
            ),
            framework: Some(exp.framework.as_str().into()),
            sweep: (iteration.total > 1).then(|| SweepInfo {
                index: iteration.index,
                total: iteration.total,
                values: iteration
                    .values
                    .iter()
                    .map(|(k, v)| (k.to_string(), *v))
                    .collect::<BTreeMap<_, _>>(),
            }),
            stopped_early: outcome.stopped_early.clone(),
            resumed_at: journal.resumed_at.clone(),
            server_log: server.server_log.as_ref().map(|p| p.display().to_string()),
            client: Some(client),
        },
        summary,
        requests: outcome.records.iter().map(aggregate::to_result).collect(),
        gpu_metrics,
        definitions: Some(aggregate::definitions()),
    };
    let path = storage::write_result(&plan.output_dir, &result)?;
    Ok(Some(SavedRun { path, result }))
}

type SharedJournal = Arc<std::sync::Mutex<JournalWriter>>;

/// The run's journal, and every time the run was resumed (this one last).
struct RunJournal {
    writer: SharedJournal,
    resumed_at: Option<Vec<chrono::DateTime<chrono::Utc>>>,
}

/// The base run id (before sweep suffixes), shared by the journal and `--resume`.
pub fn base_run_id(plan: &RunPlan) -> String {
    match &plan.resume {
        Some(state) => state.run_id.clone(),
        None => storage::new_run_id(
            plan.run_name.as_deref().unwrap_or(&plan.experiment.name),
            chrono::Local::now(),
        ),
    }
}

/// A new run creates its journal (header first); a resumed one appends to its own.
fn open_journal(plan: &RunPlan) -> Result<RunJournal, RunError> {
    let (writer, resumed_at) = match &plan.resume {
        Some(state) => {
            let path = journal::journal_path(&plan.output_dir, &state.run_id);
            let mut writer = JournalWriter::open(&path)?;
            let now = chrono::Utc::now();
            writer.append(&Line::Resumed { at: now })?;
            let mut resumed_at = state.resumed_at.clone();
            resumed_at.push(now);
            (writer, Some(resumed_at))
        }
        None => {
            let (run_id, mut writer) = JournalWriter::create(&plan.output_dir, &base_run_id(plan))?;
            let config = serde_json::to_value(&plan.experiment.resolved)
                .map_err(|e| RunError::Internal(format!("cannot serialize the config: {e}")))?;
            writer.append(&Line::Header {
                run_id,
                config_hash: journal::config_hash(&config),
                config,
                iterations: plan.iterations.len(),
                started_at: chrono::Utc::now(),
                resume_args: plan.resume_args.clone(),
            })?;
            (writer, None)
        }
    };
    tracing::debug!("journal: {}", writer.path().display());
    Ok(RunJournal {
        writer: Arc::new(std::sync::Mutex::new(writer)),
        resumed_at,
    })
}

/// Journal writes happen in the collector task, never in a request task. A failed write is
/// logged, not fatal: the measurement itself is still kept in memory.
fn journal_append(journal: &SharedJournal, line: &Line) {
    match journal.lock() {
        Ok(mut writer) => {
            if let Err(e) = writer.append(line) {
                tracing::warn!("{e}");
            }
        }
        Err(_) => tracing::warn!("journal unavailable after a panic"),
    }
}

/// Records of this iteration measured before the crash. For multi-turn only whole
/// conversations count (a half-done conversation is run again from its first turn).
fn resumed_records(plan: &RunPlan, iteration: &Iteration) -> Vec<RequestRecord> {
    let Some(records) = plan
        .resume
        .as_ref()
        .and_then(|r| r.records.get(&iteration.index))
    else {
        return Vec::new();
    };
    match &iteration.experiment.workload.kind {
        crate::config::WorkloadKind::MultiTurn { conversation, .. } => {
            let mut turns: BTreeMap<usize, usize> = BTreeMap::new();
            for r in records {
                if let Some(c) = r.conversation_index {
                    *turns.entry(c).or_default() += 1;
                }
            }
            records
                .iter()
                .filter(|r| {
                    r.conversation_index
                        .is_some_and(|c| turns.get(&c) == Some(&conversation.turns))
                })
                .cloned()
                .collect()
        }
        _ => records.clone(),
    }
}

/// Units (requests, or conversations for multi-turn) the workload must not send again.
fn done_units(
    kind: &crate::config::WorkloadKind,
    earlier: &[RequestRecord],
) -> std::collections::HashSet<usize> {
    match kind {
        crate::config::WorkloadKind::MultiTurn { .. } => earlier
            .iter()
            .filter_map(|r| r.conversation_index)
            .collect(),
        _ => earlier.iter().map(|r| r.request_index).collect(),
    }
}

/// Wall time covered by earlier records (first start → last finish).
fn span(records: &[RequestRecord]) -> Duration {
    let first = records.iter().map(|r| r.started_at).min();
    let last = records.iter().map(|r| r.finished_at).max();
    match (first, last) {
        (Some(a), Some(b)) => (b - a).to_std().unwrap_or_default(),
        _ => Duration::ZERO,
    }
}

/// `completed` when every request succeeded and the run was not cut short; `failed` when none
/// succeeded; `partial` otherwise.
pub fn run_status(records: &[RequestRecord], stopped_early: bool) -> RunStatus {
    let ok = records.iter().filter(|r| r.is_success()).count();
    if ok == 0 && !records.is_empty() {
        RunStatus::Failed
    } else if ok == records.len() && !stopped_early {
        RunStatus::Completed
    } else {
        RunStatus::Partial
    }
}

/// The name in the run id: `--name` replaces the config's name, keeping a sweep suffix.
fn run_name(plan: &RunPlan, exp: &Experiment) -> String {
    match &plan.run_name {
        Some(name) => {
            let suffix = exp
                .name
                .strip_prefix(plan.experiment.name.as_str())
                .unwrap_or("");
            format!("{name}{suffix}")
        }
        None => exp.name.clone(),
    }
}

/// `http://user:pass@host` → `http://***@host`: credentials never reach output or files.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let host_end = rest.find('/').unwrap_or(rest.len());
    match rest[..host_end].rfind('@') {
        Some(at) => format!("{}***@{}", &url[..scheme_end + 3], &rest[at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials_in_urls() {
        assert_eq!(
            redact_url("https://bob:s3cret@host:8000/v1"),
            "https://***@host:8000/v1"
        );
        assert_eq!(redact_url("http://127.0.0.1:8000"), "http://127.0.0.1:8000");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
