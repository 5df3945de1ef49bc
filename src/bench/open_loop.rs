//! Open-loop section: the real rate workload (pacer + runner + collector, as `run` uses them)
//! at a fixed request rate against the bench server. How late is each send against its
//! schedule, is the target rate reached, and does TTFT under open-loop load still match the
//! server's truth?

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::measure;
use super::server::{Lateness, Pace};
use super::ServerProcess;
use crate::config::{Arrival, GenerationParams, PacerClock, RateSpec, Timing};
use crate::events::EventSink;
use crate::metrics::client_health::{self, ResourceUsage};
use crate::metrics::open_loop;
use crate::results::result::Stats;
use crate::runners::{ChatMessage, Runner};
use crate::workloads::rate::RateWorkload;
use crate::workloads::{Workload, WorkloadContext};

/// (rate req/s, seconds, quick seconds)
pub const OPEN_LOOP: [(f64, f64, f64); 2] = [(1000.0, 20.0, 4.0), (5000.0, 10.0, 2.0)];
/// The server's schedule: first token after 5 ms, then one every 5 ms, 4 tokens.
pub const TTFT_MS: u64 = 5;
const ITL_MS: u64 = 5;
pub(super) const TOKENS: u32 = 4;

/// The server's schedule for every open-loop row (ours and `vllm bench serve`'s).
pub(super) fn pace() -> Pace {
    Pace::Scheduled {
        ttft: Duration::from_millis(TTFT_MS),
        itl: Duration::from_millis(ITL_MS),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct OpenLoopRow {
    pub clock: PacerClock,
    pub target_rate: f64,
    pub arrival: &'static str,
    pub seconds: f64,
    pub ttft_ms: f64,
    pub itl_ms: f64,
    pub tokens: u32,
    pub loadavg: Option<f64>,
    pub requests: usize,
    pub failed: usize,
    pub scheduled_rate: f64,
    pub achieved_rate: f64,
    pub send_lag_ms: Option<Stats>,
    pub ttft: Option<Stats>,
    pub cpu_utilization: f64,
    /// The server's lateness over the measured run (its part of the TTFT).
    pub server: Lateness,
}

impl OpenLoopRow {
    /// Measured TTFT p50 − (scheduled TTFT + the server's mean lateness), ms.
    pub fn ttft_p50_error_ms(&self) -> f64 {
        self.ttft.map_or(f64::NAN, |s| s.p50) - self.ttft_ms - self.server.mean_us / 1000.0
    }
}

async fn rate_run(
    runner: &Arc<dyn Runner>,
    rate: f64,
    seconds: f64,
    clock: PacerClock,
) -> (Vec<crate::metrics::request::RequestRecord>, Duration) {
    let count = (rate * seconds).ceil() as usize;
    let spec = RateSpec {
        request_rate: rate,
        arrival: Arrival::Poisson,
        max_concurrency: None,
        seed: 42,
    };
    let workload = RateWorkload::new(vec![vec![ChatMessage::new("user", "hello")]; count], spec);
    let (events, mut rx) = EventSink::channel();
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let t0 = Instant::now();
    let outcome = workload
        .run(WorkloadContext {
            runner: Arc::clone(runner),
            params: GenerationParams {
                max_tokens: TOKENS,
                temperature: 0.0,
                ignore_eos: true,
            },
            events,
            cancel: CancellationToken::new(),
            already_done: HashSet::new(),
            on_record: Box::new(|_| {}),
            timing: Timing {
                duration: Some(Duration::from_secs_f64(seconds)),
                pacer_clock: clock,
                ..Timing::default()
            },
        })
        .await;
    let wall = t0.elapsed();
    let _ = drain.await;
    (outcome.records, wall)
}

/// One open-loop test at `rate` req/s (Poisson) for `seconds`, after a short warm-up at the
/// same rate that opens the pooled connections.
pub(super) async fn row(
    srv: &ServerProcess,
    rate: f64,
    seconds: f64,
    clock: PacerClock,
) -> Result<OpenLoopRow, String> {
    let runner = measure::runner(&srv.base, pace(), 4096)?;
    rate_run(&runner, rate, seconds.min(2.0), clock).await;
    srv.lateness().await;
    let loadavg = super::loadavg();
    let before = ResourceUsage::now();
    let (records, wall) = rate_run(&runner, rate, seconds, clock).await;
    let server = srv.lateness().await;
    let health = client_health::measure(&before, wall, &records);
    let all: Vec<&_> = records.iter().collect();
    let paced = open_loop::pacing(&all, rate, None);
    let mut ttft: Vec<f64> = records.iter().filter_map(|r| r.ttft_ms()).collect();
    Ok(OpenLoopRow {
        clock,
        target_rate: rate,
        arrival: "poisson",
        seconds,
        ttft_ms: TTFT_MS as f64,
        itl_ms: ITL_MS as f64,
        tokens: TOKENS,
        loadavg,
        requests: records.len(),
        failed: records.iter().filter(|r| !r.is_success()).count(),
        scheduled_rate: paced.as_ref().map_or(0.0, |p| p.scheduled_request_rate),
        achieved_rate: paced.as_ref().map_or(0.0, |p| p.achieved_request_rate),
        send_lag_ms: paced.and_then(|p| p.send_lag_ms),
        ttft: Stats::from_values(&mut ttft),
        cpu_utilization: health.cpu_utilization.unwrap_or_default(),
        server,
    })
}
