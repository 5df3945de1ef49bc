//! A capacity search on one server: each probe is an ordinary iteration (named like a sweep
//! iteration, `-c24` / `-r12.5`) chosen from the previous probes' verdicts by
//! [`SearchState`]; afterwards the search summary file and its one-line answer.

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::config::answers::{Search, SearchOver};
use crate::config::{Experiment, Iteration, WorkloadKind};
use crate::events::{Event, Phase};
use crate::metrics::slo::Slo;
use crate::output::answers::{dollars, grouped};
use crate::output::style::num3;
use crate::providers::Provider;
use crate::results::build::{build_result, Measurement as Measured, ResultContext};
use crate::results::groups::{Probe, SearchFile, SEARCH_KIND};
use crate::results::result::RunResult;
use crate::results::storage;
use crate::run::{self as engine, Bench, IterationOptions, RunError, RunHandle, RunPlan, SavedRun};

use super::search::SearchState;

/// `-c24` / `-r12.5`.
pub fn suffix(over: SearchOver, value: f64) -> String {
    match over {
        SearchOver::Concurrency => format!("-c{value}"),
        SearchOver::RequestRate => format!("-r{value}"),
    }
}

/// The experiment of one probe: the swept parameter set to `value`.
pub fn probe_experiment(base: &Experiment, over: SearchOver, value: f64) -> Experiment {
    let mut e = base.clone();
    e.answers.search = None;
    e.name = format!("{}{}", base.name, suffix(over, value));
    e.resolved.name = Some(e.name.clone());
    e.resolved.search = None;
    let w = e.resolved.workload.get_or_insert_with(Default::default);
    if over == SearchOver::Concurrency {
        let c = value as usize;
        e.workload.kind = match &base.workload.kind {
            WorkloadKind::MultiTurn { conversation, .. } => WorkloadKind::MultiTurn {
                conversation: conversation.clone(),
                concurrency: c,
            },
            _ => WorkloadKind::Concurrent { concurrency: c },
        };
        w.kind = Some(e.workload.kind.name().to_string());
        w.concurrency = Some(c as i64);
    } else {
        // A rate probe: the open-loop workload (or multi-turn's conversation arrivals) at `value`.
        match &mut e.workload.kind {
            WorkloadKind::Rate { rate } => rate.request_rate = value,
            _ => {
                if let Some(spec) = e.workload.timing.conversation_rate.as_mut() {
                    spec.request_rate = value;
                }
            }
        }
        w.request_rate = Some(value);
    }
    e
}

/// Upper bound on the number of probes (shown as an iteration's total).
pub fn probe_budget(search: &Search) -> usize {
    let doublings = (search.max / search.min).log2().ceil().max(0.0) as usize + 1;
    let bisections = (1.0 / search.precision).log2().ceil().max(1.0) as usize + 1;
    // Each probe may be re-run once.
    2 * (doublings + bisections)
}

/// Feeds the orchestrator one probe at a time.
pub struct SearchSource {
    base: Experiment,
    search: Search,
    slo: Slo,
    state: Mutex<Inner>,
}

struct Inner {
    search: SearchState,
    /// Results recorded so far (parallel to the state's probes).
    results: Vec<(f64, SavedRun)>,
}

impl SearchSource {
    /// `None` unless the experiment has a search (and therefore an SLO).
    pub fn new(base: &Experiment) -> Option<Self> {
        let search = base.answers.search?;
        let slo = base.answers.slo.clone()?;
        Some(Self {
            base: base.clone(),
            search,
            slo,
            state: Mutex::new(Inner {
                search: SearchState::new(search),
                results: Vec::new(),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The search summary so far (every recorded probe, the answer, the one-line answer).
    pub fn summary(&self, id: &str, interrupted: bool) -> SearchFile {
        let inner = self.lock();
        let probes: Vec<Probe> = inner
            .search
            .probes()
            .iter()
            .zip(&inner.results)
            .map(|(v, (_, saved))| probe_row(v.value, v.met, v.rerun, saved))
            .collect();
        let answer = inner.search.answer();
        let best = answer.and_then(|a| {
            inner
                .search
                .probes()
                .iter()
                .zip(&inner.results)
                .rfind(|(p, _)| p.value == a && p.met)
                .map(|(_, (_, s))| &s.result)
        });
        let line = one_line(self.search.over, &self.slo, answer, best, interrupted);
        SearchFile {
            kind: SEARCH_KIND.into(),
            id: id.into(),
            experiment_name: self.base.name.clone(),
            search: self.search,
            slo: self.slo.clone(),
            probes,
            answer,
            interrupted,
            line,
        }
    }
}

fn probe_row(value: f64, met: bool, rerun: bool, saved: &SavedRun) -> Probe {
    let s = &saved.result.summary;
    Probe {
        value,
        met,
        result: saved
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        rerun,
        tokens_per_second: s.tokens_per_second,
        requests_per_second: s.requests_per_second,
        per_million_output_tokens: s.cost.as_ref().and_then(|c| c.per_million_output_tokens),
    }
}

/// A probe meets the SLO when every objective is met.
pub fn probe_met(result: &RunResult) -> bool {
    result.summary.slo.as_ref().is_some_and(|s| s.all_met)
}

/// `max concurrency 24 meets p99 TTFT ≤ 500 ms, p99 TPOT ≤ 50 ms → 1,830 tok/s, 7.1 req/s,
/// $0.41 per million output tokens`.
pub fn one_line(
    over: SearchOver,
    slo: &Slo,
    answer: Option<f64>,
    best: Option<&RunResult>,
    interrupted: bool,
) -> String {
    let what = match over {
        SearchOver::Concurrency => "concurrency",
        SearchOver::RequestRate => "request rate",
    };
    let prefix = if interrupted {
        "interrupted; best so far: "
    } else {
        ""
    };
    match (answer, best) {
        (Some(v), Some(r)) => {
            let s = &r.summary;
            let cost = s
                .cost
                .as_ref()
                .and_then(|c| c.per_million_output_tokens)
                .map(|c| format!(", {} per million output tokens", dollars(c)))
                .unwrap_or_default();
            let unit = if over == SearchOver::RequestRate {
                " req/s"
            } else {
                ""
            };
            format!(
                "{prefix}max {what} {}{unit} meets {} → {} tok/s, {} req/s{cost}",
                num3(v),
                slo.describe(),
                grouped(s.tokens_per_second),
                num3(s.requests_per_second)
            )
        }
        _ => format!("{prefix}no {what} probed meets {}", slo.describe()),
    }
}

impl SearchSource {
    /// Start the search as one server session: provision and load once, probe until the
    /// search ends or is cancelled (the probes done are kept), tear down.
    pub fn start(
        self: &Arc<Self>,
        plan: RunPlan,
        provider: Option<Box<dyn Provider>>,
    ) -> RunHandle {
        let mut server = plan.server_plan();
        server.max_concurrency = server.max_concurrency.max(self.max_concurrency());
        let me = Arc::clone(self);
        engine::start_session(
            server,
            provider,
            CancellationToken::new(),
            move |bench| async move { me.drive(&plan, &bench).await },
        )
    }

    fn max_concurrency(&self) -> usize {
        match self.search.over {
            SearchOver::Concurrency => self.search.max as usize,
            // Open loop: the cap (or the default pool) bounds what a probe has in flight.
            SearchOver::RequestRate => self.base.workload.kind.max_in_flight(),
        }
    }

    /// The next probe as an iteration, `None` when the search is done.
    fn next_iteration(&self) -> Option<(f64, Iteration)> {
        let inner = self.lock();
        let value = inner.search.next()?;
        let index = inner.search.probes().len() + 1;
        let iteration = Iteration {
            request_rate: (self.search.over == SearchOver::RequestRate).then_some(value),
            index,
            total: probe_budget(&self.search).max(index),
            values: match self.search.over {
                SearchOver::Concurrency => vec![("concurrency", value as usize)],
                SearchOver::RequestRate => Vec::new(),
            },
            experiment: probe_experiment(&self.base, self.search.over, value),
        };
        Some((value, iteration))
    }

    /// The result file of one probe, announced with its summary.
    fn probe_result(
        &self,
        plan: &RunPlan,
        bench: &Bench,
        sweep_id: &str,
        (iteration, value): (&Iteration, f64),
        measured: Measured,
    ) -> Result<RunResult, RunError> {
        let events = bench.events();
        let (index, total) = (iteration.index, iteration.total);
        let name = match &plan.run_name {
            Some(n) => format!("{n}{}", suffix(self.search.over, value)),
            None => iteration.experiment.name.clone(),
        };
        let context = ResultContext {
            run_id: storage::new_run_id(&name, chrono::Local::now()),
            iteration,
            server: &bench.server().handle,
            provider: &bench.server().provider_label,
            resumed_at: None,
            sweep_id: Some(sweep_id.to_string()),
        };
        let result = build_result(context, measured)?;
        events.send(Event::IterationSummary {
            index,
            total,
            run_id: result.run_id.clone(),
            status: result.status,
            summary: Box::new(result.summary.clone()),
        });
        Ok(result)
    }

    async fn drive(&self, plan: &RunPlan, bench: &Bench) -> Result<(), RunError> {
        let events = bench.events();
        let started = std::time::Instant::now();
        events.send(Event::PhaseStarted(Phase::Benchmark));
        let sweep_id = plan.base_run_id();
        while let Some((value, iteration)) = self.next_iteration() {
            if bench.cancel_token().is_cancelled() {
                break;
            }
            let (index, total) = (iteration.index, iteration.total);
            events.send(Event::IterationStarted {
                index,
                total,
                values: iteration
                    .values
                    .iter()
                    .map(|(k, v)| (k.to_string(), *v))
                    .collect(),
            });
            let Some(measured) = bench
                .measure(
                    &iteration,
                    IterationOptions::default(),
                    bench.cancel_token(),
                )
                .await?
            else {
                break;
            };
            let result =
                self.probe_result(plan, bench, &sweep_id, (&iteration, value), measured)?;
            let saved = bench.save(&plan.output_dir, result, (index, total))?;
            // A probe cut short by Ctrl-C is kept as a file but gives no verdict.
            if bench.cancel_token().is_cancelled() {
                break;
            }
            let mut inner = self.lock();
            inner.search.record(value, probe_met(&saved.result));
            inner.results.push((value, saved));
        }
        events.send(Event::PhaseFinished {
            phase: Phase::Benchmark,
            elapsed: started.elapsed(),
        });
        Ok(())
    }
}
