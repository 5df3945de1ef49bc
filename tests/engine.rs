//! The run engine in-process with the simulated provider: the order of its events, the result
//! file, teardown on success, error, panic and cancellation, and two runs at once.

mod support;

use std::path::Path;

use llm_inf_bench::config::{sweep, Experiment};
use llm_inf_bench::events::{Event, Phase, TeardownOutcome};
use llm_inf_bench::providers::simulated::SimulatedProvider;
use llm_inf_bench::run::{self, RunError, RunOutcome, RunPlan, ServerPlan};
use support::experiments;
use support::sim::SimYaml;
use support::Sandbox;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

/// A fast simulated experiment of `count` requests, two at a time (`sweep`: a `sweep:` flow
/// map body, or empty).
fn experiment(sb: &Sandbox, name: &str, count: usize, sweep: &str) -> Experiment {
    let yaml = SimYaml::new(name)
        .simulation("seed: 7, decode_step_ms: 2.0, base_ttft_ms: 5.0")
        .workload("type: concurrent, concurrency: 2")
        .sweep(sweep)
        .count(count)
        .parameters("max_tokens: 8, ignore_eos: true")
        .metrics("collect_gpu_metrics: true, sample_interval_ms: 10, output_dir: results");
    experiments::load(sb, name, &yaml)
}

fn plan(experiment: Experiment, output_dir: &Path) -> RunPlan {
    RunPlan {
        iterations: sweep::iterations(&experiment),
        experiment,
        server_url: None,
        run_name: None,
        keep_server: false,
        output_dir: output_dir.to_path_buf(),
        health_timeout: run::HEALTH_TIMEOUT,
        resume: None,
        resume_args: Vec::new(),
    }
}

fn provider() -> Option<Box<dyn llm_inf_bench::providers::Provider>> {
    Some(Box::new(SimulatedProvider::new()))
}

async fn drain(mut rx: UnboundedReceiver<Event>) -> Vec<Event> {
    let mut events = Vec::new();
    while let Some(e) = rx.recv().await {
        events.push(e);
    }
    events
}

/// The events with their data dropped, for comparing order.
fn kinds(events: &[Event]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in events {
        let k = match e {
            Event::PhaseStarted(p) => format!("start {p:?}"),
            Event::PhaseFinished { phase, .. } => format!("end {phase:?}"),
            Event::RequestCompleted(_) => "request".into(),
            Event::ServerMetrics(_) | Event::Info(_) | Event::Waiting { .. } => continue,
            Event::Teardown(t) => format!("teardown {t:?}"),
            other => format!("{other:?}")
                .split([' ', '(', '{'])
                .next()
                .unwrap_or_default()
                .to_string(),
        };
        // Consecutive requests count once.
        if !(k == "request" && out.last().is_some_and(|l| l == "request")) {
            out.push(k);
        }
    }
    out
}

/// The simulated server is gone: its port refuses connections.
fn assert_torn_down(base_url: &str) {
    let addr = base_url.trim_start_matches("http://");
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the simulator at {addr} still accepts connections after teardown"
    );
}

fn base_url(events: &[Event]) -> String {
    events
        .iter()
        .find_map(|e| match e {
            Event::Info(m) => m.split_whitespace().find(|w| w.starts_with("http://")),
            _ => None,
        })
        .expect("the simulator's URL in an info event")
        .to_string()
}

#[tokio::test]
async fn a_run_emits_its_phases_in_order_and_writes_the_result_it_reports() {
    let sb = Sandbox::new();
    let exp = experiment(&sb, "order", 4, "");
    let handle = run::start(
        plan(exp, &sb.results()),
        provider(),
        CancellationToken::new(),
    );
    let (events, outcome) = tokio::join!(drain(handle.events), handle.control.join());
    let outcome = outcome.expect("run succeeds");

    assert_eq!(
        kinds(&events),
        [
            "start Provision",
            "end Provision",
            "start Load",
            "ServerHealthy",
            "end Load",
            "start Benchmark",
            "IterationStarted",
            "BenchmarkStarted",
            "request",
            "BenchmarkFinished",
            "IterationSummary",
            "ResultSaved",
            "end Benchmark",
            "start Collect",
            "end Collect",
            "teardown Done",
        ]
    );
    let records: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::RequestCompleted(r) => Some(r.request_index),
            _ => None,
        })
        .collect();
    assert_eq!(records.len(), 4, "one event per request, with its record");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::ServerMetrics(s) if s.active_requests.is_some())),
        "server-metrics samples arrive as events with their values"
    );

    // The result file on disk is the one the outcome and the event name.
    assert_eq!(outcome.saved.len(), 1);
    let saved = &outcome.saved[0];
    let on_disk = llm_inf_bench::results::storage::load_result(&saved.path).expect("result");
    assert_eq!(on_disk.run_id, saved.result.run_id);
    assert_eq!(on_disk.requests.len(), 4);
    assert!(events.iter().any(
        |e| matches!(e, Event::ResultSaved { path, run_id, .. } if *path == saved.path && *run_id == on_disk.run_id)
    ));
    assert_eq!(sb.result_files(), std::slice::from_ref(&saved.path));
    // The journal is removed once every result is written.
    let journals = std::fs::read_dir(sb.results())
        .expect("results dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".journal.jsonl"))
        })
        .count();
    assert_eq!(journals, 0);
    assert!(outcome.teardown_error.is_none() && !outcome.interrupted);
    assert_torn_down(&base_url(&events));
}

fn server_plan(exp: &Experiment) -> ServerPlan {
    ServerPlan {
        experiment: exp.clone(),
        server_url: None,
        keep_server: false,
        health_timeout: run::HEALTH_TIMEOUT,
        max_concurrency: 2,
    }
}

#[tokio::test]
async fn an_error_in_the_session_still_tears_the_server_down() {
    let sb = Sandbox::new();
    let exp = experiment(&sb, "error", 2, "");
    let handle = run::start_session(
        server_plan(&exp),
        provider(),
        CancellationToken::new(),
        |_bench| async { Err(RunError::Internal("the probe failed".into())) },
    );
    let (events, outcome) = tokio::join!(drain(handle.events), handle.control.join());
    let failed = outcome.expect_err("the body's error ends the run");
    assert!(matches!(failed.error, RunError::Internal(ref m) if m == "the probe failed"));
    assert!(failed.outcome.teardown_error.is_none());
    assert!(matches!(
        events.last(),
        Some(Event::Teardown(TeardownOutcome::Done))
    ));
    assert_torn_down(&base_url(&events));
}

#[tokio::test]
async fn a_panic_in_the_session_still_tears_the_server_down() {
    let sb = Sandbox::new();
    let exp = experiment(&sb, "panic", 2, "");
    let handle = run::start_session(
        server_plan(&exp),
        provider(),
        CancellationToken::new(),
        |_bench| async { panic!("a bug in the body") },
    );
    let (events, outcome) = tokio::join!(drain(handle.events), handle.control.join());
    let failed = outcome.expect_err("a panic ends the run");
    assert!(matches!(failed.error, RunError::Internal(ref m) if m.contains("panicked")));
    assert!(matches!(
        events.last(),
        Some(Event::Teardown(TeardownOutcome::Done))
    ));
    assert_torn_down(&base_url(&events));
}

#[tokio::test]
async fn cancelling_saves_what_was_measured_and_tears_down() {
    let sb = Sandbox::new();
    let exp = experiment(&sb, "cancel", 400, "");
    let cancel = CancellationToken::new();
    let mut handle = run::start(plan(exp, &sb.results()), provider(), cancel.clone());
    let mut events = Vec::new();
    while let Some(e) = handle.events.recv().await {
        // Cancel once some requests are measured: the run's own progress is the clock.
        let measured = matches!(e, Event::RequestCompleted(_));
        events.push(e);
        if measured && !cancel.is_cancelled() {
            cancel.cancel();
        }
    }
    let failed = handle.control.join().await.expect_err("interrupted");
    assert!(matches!(failed.error, RunError::Interrupted));
    let RunOutcome {
        saved, interrupted, ..
    } = failed.outcome;
    assert!(interrupted);
    assert_eq!(saved.len(), 1, "the partial result is saved");
    let requests = saved[0].result.requests.len();
    assert!((1..400).contains(&requests), "{requests} requests kept");
    assert_eq!(saved[0].result.status.as_str(), "partial");
    assert!(matches!(
        events.last(),
        Some(Event::Teardown(TeardownOutcome::Done))
    ));
    assert_torn_down(&base_url(&events));
}

#[tokio::test]
async fn two_runs_at_once_keep_their_events_and_results_apart() {
    let sb = Sandbox::new();
    let a = experiment(&sb, "alpha", 3, "");
    let b = experiment(&sb, "beta", 5, "concurrency: [1, 2]");
    let run_a = run::start(
        plan(a, &sb.path().join("a")),
        provider(),
        CancellationToken::new(),
    );
    let run_b = run::start(
        plan(b, &sb.path().join("b")),
        provider(),
        CancellationToken::new(),
    );
    let (events_a, events_b, out_a, out_b) = tokio::join!(
        drain(run_a.events),
        drain(run_b.events),
        run_a.control.join(),
        run_b.control.join()
    );
    let (out_a, out_b) = (out_a.expect("alpha"), out_b.expect("beta"));
    let count = |events: &[Event]| {
        events
            .iter()
            .filter(|e| matches!(e, Event::RequestCompleted(_)))
            .count()
    };
    assert_eq!(count(&events_a), 3);
    assert_eq!(count(&events_b), 10, "two sweep iterations of 5");
    assert_eq!(out_a.saved.len(), 1);
    assert_eq!(out_b.saved.len(), 2);
    assert!(out_a.saved[0].result.run_id.starts_with("alpha"));
    assert!(out_b
        .saved
        .iter()
        .all(|s| s.result.run_id.starts_with("beta")));
    assert_ne!(
        base_url(&events_a),
        base_url(&events_b),
        "each run has its own server"
    );
    assert_torn_down(&base_url(&events_a));
    assert_torn_down(&base_url(&events_b));
}

#[tokio::test]
async fn a_session_measures_several_probes_on_one_server() {
    let sb = Sandbox::new();
    let exp = experiment(&sb, "probes", 2, "concurrency: [1, 2, 4]");
    let iterations = sweep::iterations(&exp);
    let mut plan = server_plan(&exp);
    plan.max_concurrency = 4;
    let handle = run::start_session(
        plan,
        provider(),
        CancellationToken::new(),
        |bench| async move {
            let mut urls = Vec::new();
            for it in &iterations {
                let measured = bench
                    .measure(it, Default::default(), bench.cancel_token())
                    .await?
                    .expect("measured");
                assert_eq!(measured.records.len(), 2);
                urls.push(bench.server().handle.base_url.clone());
            }
            urls.dedup();
            assert_eq!(urls.len(), 1, "every probe ran on the same server");
            Ok(())
        },
    );
    let (events, outcome) = tokio::join!(drain(handle.events), handle.control.join());
    let outcome = outcome.expect("probes succeed");
    assert!(outcome.saved.is_empty(), "probes save nothing unless asked");
    let provisions = events
        .iter()
        .filter(|e| matches!(e, Event::PhaseStarted(Phase::Provision)))
        .count();
    assert_eq!(provisions, 1);
    assert_torn_down(&base_url(&events));
}
