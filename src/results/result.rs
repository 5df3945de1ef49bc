//! The result file: serde DTOs whose field names are a public contract shared with the Python
//! tool (`tests/fixtures/python-results/`). New fields sit beside the old ones and are optional
//! on read, so files from either tool load in `list` / `show` / `compare`. Never rename.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Bumped when a field changes meaning. Python files have none (read as 0).
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Completed,
    Partial,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Completed => "completed",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<u32>,
    pub run_id: String,
    pub status: RunStatus,
    /// The fully resolved experiment config (kept as JSON so any tool's file loads).
    pub experiment: serde_json::Value,
    pub metadata: Metadata,
    pub summary: Summary,
    pub requests: Vec<RequestResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_metrics: Option<GpuMetrics>,
    /// Metric name → formula, so a reader knows exactly what each number means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definitions: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub experiment_name: String,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub server_url: Option<String>,
    pub pod_id: Option<String>,
    pub gpu_type: Option<String>,
    pub gpu_count: Option<u32>,
    pub cost_per_hr: Option<f64>,
    // ---- beyond the Python tool ----
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework: Option<String>,
    /// Sweep position and swept values, e.g. `{"index":2,"total":4,"values":{"concurrency":4}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepInfo>,
    /// Why the run stopped before the end (circuit breaker, Ctrl-C).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_early: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_at: Option<Vec<DateTime<Utc>>>,
    /// Log file of a local server process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_log: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientHealth>,
    /// The experiment matrix this run is a cell of (issue 17).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix: Option<MatrixTag>,
}

/// `metadata.matrix`: which matrix (its summary file's id) and which cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatrixTag {
    pub id: String,
    pub cell: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepInfo {
    pub index: usize,
    pub total: usize,
    pub values: BTreeMap<String, usize>,
    /// The sweep's id (its base run id): `compare <id> <id>` compares two sweeps curve to
    /// curve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The swept request rate (issue 13; not an integer, so not in `values`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_rate: Option<f64>,
}

/// How hard the benchmark client itself worked: lets a user see when the client was the limit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientHealth {
    pub cpu_time_s: Option<f64>,
    /// CPU time / (wall time × cores).
    pub cpu_utilization: Option<f64>,
    pub peak_rss_bytes: Option<u64>,
    /// Largest delay between a request's intended and actual send time.
    pub max_send_delay_ms: Option<f64>,
}

/// p50/p95/p99/mean/min/max of one metric, in ms (the Python tool's keys), and beside them
/// p90, p99.9 and the standard deviation (absent from the Python tool's files).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90: Option<f64>,
    /// p99.9 (`p99_9`: a dot would read as a path in many JSON tools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_9: Option<f64>,
    /// Population standard deviation (NumPy's `np.std`, ddof=0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub total_requests: usize,
    pub successful_requests: usize,
    pub failed_requests: usize,
    pub total_duration_s: f64,
    pub requests_per_second: f64,
    pub total_prompt_tokens: u64,
    pub total_completion_tokens: u64,
    pub tokens_per_second: f64,
    /// (prompt + completion tokens) / duration, beside output `tokens_per_second`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_tokens_per_second: Option<f64>,
    pub ttft: Option<Stats>,
    pub e2e_latency: Option<Stats>,
    pub tbt: Option<Stats>,
    #[serde(default)]
    pub gpu_summary: Option<GpuSummary>,
    // ---- beyond the Python tool ----
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpot: Option<Stats>,
    /// Failed requests counted by cause (`http`, `timeout`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors_by_kind: Option<BTreeMap<String, usize>>,
    /// Multi-turn: one row per turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_turn: Option<Vec<TurnSummary>>,
    /// With an `slo:` block: each objective measured, goodput.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<crate::metrics::slo::SloSummary>,
    /// With a price ($/hr): dollars per million tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<crate::metrics::cost::CostSummary>,
    /// Warmup, open loop and steady state (issue 13): keys beside the others, when they apply.
    #[serde(flatten, default)]
    pub load: crate::metrics::open_loop::LoadSummary,
    /// Token-exact workloads: requested vs server-counted lengths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<crate::metrics::tokens::TokenSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnSummary {
    pub turn_index: usize,
    pub count: usize,
    pub successful: usize,
    pub mean_prompt_tokens: Option<f64>,
    pub mean_completion_tokens: Option<f64>,
    pub ttft: Option<Stats>,
    pub e2e_latency: Option<Stats>,
    pub tbt: Option<Stats>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuSummary {
    pub kv_cache_usage_peak: Option<f64>,
    pub kv_cache_usage_mean: Option<f64>,
    pub active_requests_peak: Option<f64>,
    pub active_requests_mean: Option<f64>,
    pub prefix_cache_hit_rate: Option<f64>,
    pub generation_throughput: Option<f64>,
    pub total_samples: usize,
    pub scrape_errors: usize,
    // ---- beyond the Python tool ----
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_requests_peak: Option<f64>,
    /// Preemptions during the run (delta of the server's counter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preemptions: Option<f64>,
}

/// One scrape of the server's `/metrics`, reduced to the values we track.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerSample {
    /// Seconds since the scraper started.
    pub timestamp: f64,
    pub kv_cache_usage: Option<f64>,
    pub active_requests: Option<f64>,
    pub queued_requests: Option<f64>,
    pub prefix_cache_hit_rate: Option<f64>,
    pub generation_throughput: Option<f64>,
    pub prompt_tokens_total: Option<f64>,
    pub generation_tokens_total: Option<f64>,
    pub prefix_cache_hits_total: Option<f64>,
    pub prefix_cache_queries_total: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preemptions_total: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuMetrics {
    pub framework: String,
    pub sample_interval_ms: u64,
    pub total_scrapes: usize,
    pub scrape_errors: usize,
    pub time_series: Vec<ServerSample>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestResult {
    pub request_index: usize,
    pub ttft_ms: Option<f64>,
    pub e2e_latency_ms: Option<f64>,
    #[serde(default)]
    pub inter_token_latencies_ms: Vec<f64>,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub error: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub turn_index: Option<usize>,
    #[serde(default)]
    pub conversation_index: Option<usize>,
    // ---- beyond the Python tool ----
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpot_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_count_source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_delay_ms: Option<f64>,
    /// Tokens each text chunk carried, when the server said (see `definitions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_tokens: Option<Vec<u32>>,
    /// With an `slo:` block: the request succeeded and met every per-request limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo_met: Option<bool>,
    /// Open loop (issue 13): when the schedule meant to send it, from the run start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_offset_ms: Option<f64>,
    /// Open loop: actual send − scheduled send (includes any cap wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_lag_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_wait_ms: Option<f64>,
    /// Sent to warm the server up; in no summary figure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup: Option<bool>,
    /// Token-exact workloads: the lengths the request was built to (see `summary.tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_output_tokens: Option<u64>,
}
