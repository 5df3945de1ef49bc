//! Drive the real client (runner + concurrent workload + collector, as `run` does) and the lean
//! reference client against the bench server, and reduce both to the same numbers.

use std::collections::HashSet;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::lean;
use super::server::Pace;
use crate::config::{Framework, GenerationParams};
use crate::events::EventSink;
use crate::metrics::aggregate;
use crate::metrics::client_health::{self, ResourceUsage};
use crate::metrics::request::RequestRecord;
use crate::results::result::Stats;
use crate::runners::{create_runner, ChatMessage, Runner, RunnerTimeouts};
use crate::workloads::concurrent::ConcurrentWorkload;
use crate::workloads::{Workload, WorkloadContext};

/// What one client measured over one test.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClientStats {
    pub requests: usize,
    pub failed: usize,
    pub duration_s: f64,
    pub ttft_ms: Option<Stats>,
    pub tbt_ms: Option<Stats>,
    pub e2e_ms: Option<Stats>,
    pub tokens_per_s: f64,
    /// Client process CPU time over the test and its share of all cores.
    pub cpu_s: f64,
    pub cpu_utilization: f64,
    pub max_send_delay_ms: Option<f64>,
    /// Bytes of token-timing storage per stored token (capacity, not length).
    pub bytes_per_token_timing: Option<f64>,
}

/// The workload's requests: one short chat each.
fn requests(total: usize) -> Vec<Vec<ChatMessage>> {
    vec![vec![ChatMessage::new("user", "hello")]; total]
}

pub fn runner(base: &str, pace: Pace, concurrency: usize) -> Result<Arc<dyn Runner>, String> {
    let timeouts = RunnerTimeouts::for_framework(Framework::Vllm);
    create_runner(
        Framework::Vllm,
        base,
        &pace.model_name(),
        timeouts,
        concurrency,
    )
    .map_err(|e| e.to_string())
}

/// Run `total` requests through the real workload engine, `concurrency` at a time. Records are
/// journalled to a temp file as `run` does, and events go to a draining task (the renderer).
pub async fn real_client(
    runner: &Arc<dyn Runner>,
    tokens: u32,
    concurrency: usize,
    total: usize,
) -> (ClientStats, Vec<RequestRecord>) {
    let workload = ConcurrentWorkload::new(requests(total), concurrency);
    let (events, mut rx) = EventSink::channel();
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let mut journal = tempfile::tempfile().ok();
    let on_record = Box::new(move |record: &RequestRecord| {
        if let Some(f) = journal.as_mut() {
            let mut line = serde_json::to_vec(record).unwrap_or_default();
            line.push(b'\n');
            let _ = f.write_all(&line);
        }
    });
    let before = ResourceUsage::now();
    let t0 = Instant::now();
    let outcome = workload
        .run(WorkloadContext {
            runner: Arc::clone(runner),
            params: GenerationParams {
                max_tokens: tokens,
                temperature: 0.0,
                ignore_eos: true,
            },
            events,
            cancel: CancellationToken::new(),
            already_done: HashSet::new(),
            on_record,
        })
        .await;
    let wall = t0.elapsed();
    let health = client_health::measure(&before, wall, &outcome.records);
    let _ = drain.await;
    let summary = aggregate::summarize(&outcome.records, wall);
    let (cap, len) = outcome.records.iter().fold((0usize, 0usize), |(c, l), r| {
        (
            c + r.timings.token_offsets_us.capacity(),
            l + r.timings.token_offsets_us.len(),
        )
    });
    let stats = ClientStats {
        requests: summary.total_requests,
        failed: summary.failed_requests,
        duration_s: wall.as_secs_f64(),
        ttft_ms: summary.ttft,
        tbt_ms: summary.tbt,
        e2e_ms: summary.e2e_latency,
        tokens_per_s: summary.tokens_per_second,
        cpu_s: health.cpu_time_s.unwrap_or_default(),
        cpu_utilization: health.cpu_utilization.unwrap_or_default(),
        max_send_delay_ms: health.max_send_delay_ms,
        bytes_per_token_timing: (len > 0)
            .then(|| (cap * std::mem::size_of::<u32>()) as f64 / len as f64),
    };
    (stats, outcome.records)
}

/// The same test with the lean client, on `pool`'s kept-alive connections.
pub async fn lean_client(
    addr: SocketAddr,
    pool: &mut Vec<tokio::net::TcpStream>,
    pace: Pace,
    tokens: u32,
    concurrency: usize,
    total: usize,
) -> ClientStats {
    let before = ResourceUsage::now();
    let run = lean::run(addr, pool, &pace.model_name(), tokens, concurrency, total).await;
    let cpu = ResourceUsage::now().cpu.saturating_sub(before.cpu);
    let (mut ttft, mut tbt, mut e2e) = (Vec::new(), Vec::new(), Vec::new());
    let mut got_tokens = 0usize;
    for (offsets, end) in &run.requests {
        got_tokens += offsets.len();
        if let Some(&first) = offsets.first() {
            ttft.push(first as f64 / 1000.0);
        }
        tbt.extend(
            offsets
                .windows(2)
                .map(|w| w[1].saturating_sub(w[0]) as f64 / 1000.0),
        );
        e2e.push(*end as f64 / 1000.0);
    }
    let secs = run.duration.as_secs_f64();
    ClientStats {
        requests: run.requests.len() + run.failed,
        failed: run.failed,
        duration_s: secs,
        ttft_ms: Stats::from_values(&mut ttft),
        tbt_ms: Stats::from_values(&mut tbt),
        e2e_ms: Stats::from_values(&mut e2e),
        tokens_per_s: if secs > 0.0 {
            got_tokens as f64 / secs
        } else {
            0.0
        },
        cpu_s: cpu.as_secs_f64(),
        cpu_utilization: if secs > 0.0 {
            cpu.as_secs_f64() / (secs * cores() as f64)
        } else {
            0.0
        },
        max_send_delay_ms: None,
        bytes_per_token_timing: None,
    }
}

pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Resident memory of this process now (not the peak), from `/proc/self/statm`.
pub fn current_rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

/// Peak RSS while `n` streams are held open (first token at once, the second after `hold`),
/// minus the RSS before: bytes per in-flight stream (and bytes per stored token timing).
pub async fn memory_per_stream(
    base: &str,
    n: usize,
    hold: Duration,
) -> Result<(f64, Option<f64>), String> {
    let pace = Pace::Scheduled {
        ttft: Duration::ZERO,
        itl: hold,
    };
    let runner = runner(base, pace, n)?;
    let baseline = current_rss_bytes().unwrap_or(0);
    let task = {
        let runner = Arc::clone(&runner);
        tokio::spawn(async move { real_client(&runner, 2, n, n).await })
    };
    let mut peak = baseline;
    while !task.is_finished() {
        peak = peak.max(current_rss_bytes().unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (stats, _) = task.await.map_err(|e| e.to_string())?;
    if stats.failed > 0 {
        return Err(format!(
            "{} of {} held streams failed",
            stats.failed, stats.requests
        ));
    }
    Ok((
        peak.saturating_sub(baseline) as f64 / n as f64,
        stats.bytes_per_token_timing,
    ))
}
