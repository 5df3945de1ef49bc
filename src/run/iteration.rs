//! Measure one iteration on a live server: the workload, with the server-metrics scraper
//! beside it, its samples and records forwarded as events. Building and saving the result
//! file is the caller's (`results::build`, `Bench::save`).

use std::time::Instant;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::bench::IterationOptions;
use super::resume;
use super::server::LiveServer;
use super::RunError;
use crate::config::Iteration;
use crate::events::{Event, EventSink};
use crate::metrics::client_health::{self, ResourceUsage};
use crate::metrics::server_metrics::MetricsDialect;
use crate::metrics::tokens::TokenSummary;
pub use crate::results::build::Measurement as Measured;
use crate::runners::scrape::{self, ScraperHandle};
use crate::workloads::{self, WorkloadContext};

pub(super) async fn measure(
    server: &LiveServer,
    iteration: &Iteration,
    options: IterationOptions,
    events: &EventSink,
    cancel: &CancellationToken,
) -> Result<Option<Measured>, RunError> {
    let exp = &iteration.experiment;
    // A server that reports its own death (a simulator panic) stops the iteration like Ctrl-C.
    let stop = crate::providers::failure::stop_on_failure(server.handle.failure.as_ref(), cancel);
    let cancel = &stop;
    let (workload, tokens) = prepare_workload(server, iteration, events, cancel).await?;
    let scraper = exp
        .metrics
        .collect_gpu_metrics
        .then(|| start_scraper(server, iteration, events, cancel));

    let earlier = options.earlier;
    announce(events, earlier.len(), workload.total_requests());
    let started_at = Utc::now();
    let usage_before = ResourceUsage::now();
    let t0 = Instant::now();
    let outcome = workload
        .run(WorkloadContext {
            runner: server.runner.clone(),
            params: exp.workload.params.clone(),
            events: events.clone(),
            cancel: cancel.clone(),
            already_done: options.already_done,
            timing: exp.workload.timing.clone(),
            on_record: options.on_record.unwrap_or_else(|| Box::new(|_| {})),
        })
        .await;
    let duration = t0.elapsed();
    let finished_at = Utc::now();
    events.send(Event::BenchmarkFinished);
    let gpu_metrics = stop_scraper(scraper).await;
    // Requests the dead server cut are not measurements: the run ends with its error (what
    // finished before is in the journal, for --resume).
    if let Some(message) = server.handle.failure.as_ref().and_then(|f| f.message()) {
        return Err(RunError::ServerFailed(message));
    }

    let merged = resume::merge(outcome.records, earlier, started_at, duration);
    if merged.records.is_empty() && cancel.is_cancelled() {
        return Ok(None);
    }
    let client = client_health(&usage_before, &merged, events);
    Ok(Some(Measured {
        records: merged.records,
        stopped_early: outcome.stopped_early,
        gpu_metrics,
        started_at: merged.started_at,
        finished_at,
        duration: merged.duration,
        client,
        tokens,
    }))
}

/// `Resuming` (when earlier records are kept) and `BenchmarkStarted` with what is left to send.
fn announce(events: &EventSink, kept: usize, total: usize) {
    if kept > 0 {
        events.send(Event::Resuming { kept });
    }
    events.send(Event::BenchmarkStarted {
        total: total.saturating_sub(kept),
    });
}

async fn stop_scraper(
    scraper: Option<ScraperHandle>,
) -> Option<crate::results::result::GpuMetrics> {
    match scraper {
        Some(s) => Some(s.stop().await),
        None => None,
    }
}

/// The workload of the iteration. Token-exact workloads (synthetic, ShareGPT lengths, trace,
/// completions) prepare their own, with their token summary.
async fn prepare_workload(
    server: &LiveServer,
    iteration: &Iteration,
    events: &EventSink,
    cancel: &CancellationToken,
) -> Result<(Box<dyn workloads::Workload>, Option<TokenSummary>), RunError> {
    let exp = &iteration.experiment;
    Ok(
        match workloads::token_exact::prepare(exp, &server.runner, events, cancel).await? {
            Some(p) => (p.workload, p.summary),
            None => (
                workloads::create_workload(
                    &exp.workload.kind,
                    &exp.workload.prompts,
                    exp.workload.count,
                )?,
                None,
            ),
        },
    )
}

/// How hard the client worked; a warning when it was busy enough to be in the numbers.
fn client_health(
    before: &ResourceUsage,
    merged: &resume::Merged,
    events: &EventSink,
) -> crate::results::result::ClientHealth {
    let client = client_health::measure(before, merged.duration, &merged.records);
    if let Some(u) = client.cpu_utilization.filter(|u| *u > 0.9) {
        events.send(Event::ClientBusy { cpu_utilization: u });
    }
    client
}

/// The scraper, and a task forwarding each new sample as an event until the scraper stops.
fn start_scraper(
    server: &LiveServer,
    iteration: &Iteration,
    events: &EventSink,
    cancel: &CancellationToken,
) -> ScraperHandle {
    let exp = &iteration.experiment;
    let scraper = scrape::spawn_scraper_with_headers(
        &server.handle.base_url,
        MetricsDialect::from(exp.framework),
        scrape::ScrapeOptions::new(exp.metrics.sample_interval),
        server.runner.request_headers(),
        cancel.child_token(),
    );
    let mut status = scraper.status();
    let events = events.clone();
    tokio::spawn(async move {
        // Ends when the scraper task drops its sender.
        let mut last = None;
        while status.changed().await.is_ok() {
            let latest = status.borrow_and_update().latest.clone();
            // A failed scrape changes the counters, not the sample: send each sample once.
            if latest.is_some() && latest != last {
                if let Some(sample) = &latest {
                    events.send(Event::ServerMetrics(Box::new(sample.clone())));
                }
                last = latest;
            }
        }
    });
    scraper
}
