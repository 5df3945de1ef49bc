//! One measured request: raw timings as stamped by the runner, metrics derived afterwards.
//!
//! The runner stores arrival offsets (µs since the request was sent) of every text-carrying
//! chunk as `u32` — 4 bytes per token — and the end of the stream. TTFT, inter-token gaps,
//! TPOT and E2E are pure functions of those, unit-tested with synthetic values.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where `completion_tokens` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenCountSource {
    /// The server's `usage` chunk.
    Usage,
    /// Fallback: number of text-carrying chunks (servers may merge or skip tokens).
    ChunkCount,
}

/// Why a request failed. The kind lets reports count failures by cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Non-2xx status before the stream started.
    Http,
    /// Could not connect (refused, DNS, TLS) or connect timeout.
    Connect,
    /// No bytes for longer than the idle read timeout.
    Timeout,
    /// Connection reset / body error mid-stream.
    Transport,
    /// `{"error": …}` object inside the stream.
    StreamError,
    /// A chunk that is not valid JSON (or not SSE at all).
    Malformed,
    /// Stream ended without `data: [DONE]`.
    Incomplete,
    /// Cancelled by the user (Ctrl-C) or a circuit breaker.
    Cancelled,
    /// Multi-turn: an earlier turn of the conversation failed.
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestError {
    pub kind: ErrorKind,
    pub message: String,
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Raw timings of one streamed response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamTimings {
    /// Arrival of each text-carrying chunk, µs since the request was sent.
    pub token_offsets_us: Vec<u32>,
    /// Tokens each of those chunks carried, when the server said (SGLang merges several
    /// tokens into one chunk); empty when unknown. Gaps stay per chunk; dividing a gap by the
    /// next chunk's count gives per-token latencies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunk_tokens: Vec<u32>,
    /// End of the stream (or the moment the failure was seen), µs since sent.
    pub end_us: u64,
}

impl StreamTimings {
    pub fn ttft_ms(&self) -> Option<f64> {
        self.token_offsets_us.first().map(|&us| us as f64 / 1000.0)
    }

    /// Gaps between consecutive text-carrying chunks.
    pub fn inter_token_ms(&self) -> impl Iterator<Item = f64> + '_ {
        self.token_offsets_us
            .windows(2)
            .map(|w| w[1].saturating_sub(w[0]) as f64 / 1000.0)
    }

    pub fn e2e_ms(&self) -> f64 {
        self.end_us as f64 / 1000.0
    }
}

/// Everything recorded about one request of a workload (also a journal line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Position in the workload (0-based).
    pub request_index: usize,
    pub conversation_index: Option<usize>,
    pub turn_index: Option<usize>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// How late the request was sent compared with when the workload meant to send it
    /// (client-side lag, kept apart from latency).
    pub send_delay_us: u64,
    pub timings: StreamTimings,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub token_count_source: Option<TokenCountSource>,
    pub error: Option<RequestError>,
    /// Warmup flag and open-loop schedule (issue 13); omitted when empty.
    #[serde(default, skip_serializing_if = "Pacing::is_empty")]
    pub pacing: Pacing,
    /// Token-exact workloads: the prompt length the request was built to (server-counted
    /// `prompt_tokens` should equal it; chat adds the template's tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_input_tokens: Option<u64>,
    /// Token-exact workloads: the output length asked for (`max_tokens` with `ignore_eos`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_output_tokens: Option<u64>,
}

/// Warmup and open-loop bookkeeping of one request. For an open loop, `send_delay_us` is the
/// send lag: actual send − scheduled send (it includes any wait on the concurrency cap).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Pacing {
    /// Sent to warm the server up; left out of every summary figure.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub warmup: bool,
    /// When the schedule meant to send it, µs from the run start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_offset_us: Option<u64>,
    /// Time spent waiting for a free slot under `max_concurrency`, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_wait_us: Option<u64>,
}

impl Pacing {
    pub fn is_empty(&self) -> bool {
        *self == Pacing::default()
    }
}

impl RequestRecord {
    pub fn is_success(&self) -> bool {
        self.error.is_none()
    }

    /// Cut short by Ctrl-C or a circuit breaker: neither a success nor a failure.
    pub fn is_cancelled(&self) -> bool {
        matches!(&self.error, Some(e) if e.kind == ErrorKind::Cancelled)
    }

    /// Failed for a reason of its own (not cancelled).
    pub fn is_failure(&self) -> bool {
        self.error.is_some() && !self.is_cancelled()
    }

    pub fn ttft_ms(&self) -> Option<f64> {
        self.timings.ttft_ms()
    }

    pub fn e2e_ms(&self) -> f64 {
        self.timings.e2e_ms()
    }

    /// Time per output token after the first: (e2e − ttft) / (tokens − 1).
    pub fn tpot_ms(&self) -> Option<f64> {
        let ttft = self.ttft_ms()?;
        let tokens = self.completion_tokens?;
        if tokens < 2 {
            return None;
        }
        Some((self.e2e_ms() - ttft) / (tokens - 1) as f64)
    }

    /// Mean of the inter-token gaps.
    pub fn mean_tbt_ms(&self) -> Option<f64> {
        let n = self.timings.token_offsets_us.len();
        if n < 2 {
            return None;
        }
        Some(self.timings.inter_token_ms().sum::<f64>() / (n - 1) as f64)
    }

    /// Generation speed: completion_tokens / (e2e − ttft).
    pub fn tokens_per_second(&self) -> Option<f64> {
        let ttft = self.ttft_ms()?;
        let tokens = self.completion_tokens? as f64;
        let gen_ms = self.e2e_ms() - ttft;
        if gen_ms <= 0.0 {
            return None;
        }
        Some(tokens / (gen_ms / 1000.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(offsets: &[u32], end_us: u64, tokens: Option<u64>) -> RequestRecord {
        let now = Utc::now();
        RequestRecord {
            request_index: 0,
            conversation_index: None,
            turn_index: None,
            started_at: now,
            finished_at: now,
            send_delay_us: 0,
            pacing: Default::default(),
            timings: StreamTimings {
                token_offsets_us: offsets.to_vec(),
                end_us,
                chunk_tokens: Vec::new(),
            },
            prompt_tokens: Some(10),
            completion_tokens: tokens,
            token_count_source: Some(TokenCountSource::Usage),
            error: None,
            requested_input_tokens: None,
            requested_output_tokens: None,
        }
    }

    #[test]
    fn derives_ttft_gaps_e2e_tpot() {
        let r = record(&[80_000, 95_000, 110_500], 111_000, Some(3));
        assert_eq!(r.ttft_ms(), Some(80.0));
        let gaps: Vec<f64> = r.timings.inter_token_ms().collect();
        assert_eq!(gaps, vec![15.0, 15.5]);
        assert_eq!(r.e2e_ms(), 111.0);
        assert_eq!(r.tpot_ms(), Some((111.0 - 80.0) / 2.0));
        assert_eq!(r.mean_tbt_ms(), Some(15.25));
        let tps = r.tokens_per_second().unwrap_or_default();
        assert!((tps - 3.0 / 0.031).abs() < 1e-9);
    }

    #[test]
    fn no_tokens_means_no_ttft_and_no_tpot() {
        let r = record(&[], 5_000, None);
        assert_eq!(r.ttft_ms(), None);
        assert_eq!(r.tpot_ms(), None);
        assert_eq!(r.mean_tbt_ms(), None);
        assert_eq!(r.tokens_per_second(), None);
    }

    #[test]
    fn single_token_has_no_tpot() {
        let r = record(&[1_000], 2_000, Some(1));
        assert_eq!(r.tpot_ms(), None);
    }
}
