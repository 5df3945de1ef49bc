//! What the engine counts, shared with the `/metrics` handler. Framework-neutral: the
//! exposition module names and labels it the way vLLM or SGLang would.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::profile::SimProfile;
use crate::config::Framework;

/// A cumulative Prometheus histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Upper bounds, ascending, without `+Inf`.
    pub bounds: Vec<f64>,
    /// Per-bound counts (not cumulative; the exposition accumulates).
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    pub fn new(bounds: &[f64]) -> Self {
        Self {
            bounds: bounds.to_vec(),
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            self.counts[i] += 1;
        }
        self.sum += value;
        self.count += 1;
    }

    /// `(le, cumulative count)` pairs, ending with `+Inf`.
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut acc = 0;
        let mut out: Vec<(f64, u64)> = self
            .bounds
            .iter()
            .zip(&self.counts)
            .map(|(b, c)| {
                acc += c;
                (*b, acc)
            })
            .collect();
        out.push((f64::INFINITY, self.count));
        out
    }
}

/// 1-2-5 buckets up to `max` (vLLM's request-size buckets).
fn one_two_five(max: u64) -> Vec<f64> {
    let mut out = Vec::new();
    let mut scale = 1u64;
    'outer: loop {
        for m in [1, 2, 5] {
            let v = m * scale;
            if v > max {
                break 'outer;
            }
            out.push(v as f64);
        }
        scale = scale.saturating_mul(10);
    }
    out
}

const VLLM_TTFT: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
];
const VLLM_ITL: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
    40.0, 80.0,
];
const VLLM_LATENCY: &[f64] = &[
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
    480.0, 960.0, 1920.0, 7680.0,
];
const VLLM_ITERATION: &[f64] = &[
    1.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0, 16384.0,
];
const SGLANG_TTFT: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    15.0, 20.0, 25.0, 30.0,
];
const SGLANG_ITL: &[f64] = &[
    0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75,
    1.0, 2.5,
];
const SGLANG_LATENCY: &[f64] = &[
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
];

/// Per-request latency histograms.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyHistograms {
    pub ttft: Histogram,
    pub inter_token: Histogram,
    pub e2e: Histogram,
    pub queue: Histogram,
    pub prefill: Histogram,
    pub decode: Histogram,
    pub inference: Histogram,
    pub time_per_output_token: Histogram,
    pub prompt_tokens: Histogram,
    pub generation_tokens: Histogram,
    pub max_tokens_param: Histogram,
    pub iteration_tokens: Histogram,
    pub num_preemptions: Histogram,
}

impl LatencyHistograms {
    fn new(framework: Framework, max_model_len: u64) -> Self {
        let (ttft, itl, latency) = match framework {
            Framework::Vllm => (VLLM_TTFT, VLLM_ITL, VLLM_LATENCY),
            Framework::Sglang => (SGLANG_TTFT, SGLANG_ITL, SGLANG_LATENCY),
        };
        let sizes = one_two_five(max_model_len);
        Self {
            ttft: Histogram::new(ttft),
            inter_token: Histogram::new(itl),
            e2e: Histogram::new(latency),
            queue: Histogram::new(latency),
            prefill: Histogram::new(latency),
            decode: Histogram::new(latency),
            inference: Histogram::new(latency),
            time_per_output_token: Histogram::new(itl),
            prompt_tokens: Histogram::new(&sizes),
            generation_tokens: Histogram::new(&sizes),
            max_tokens_param: Histogram::new(&sizes),
            iteration_tokens: Histogram::new(VLLM_ITERATION),
            num_preemptions: Histogram::new(&one_two_five(100)),
        }
    }
}

/// Everything `/metrics` reports. Updated by the engine once per step.
#[derive(Debug, Clone)]
pub struct Stats {
    pub running: usize,
    pub waiting: usize,
    pub kv_used_blocks: usize,
    pub kv_num_blocks: usize,
    pub block_size: usize,
    pub prefix_caching: bool,
    pub prefix_queries: u64,
    pub prefix_hits: u64,
    pub prompt_tokens: u64,
    pub generation_tokens: u64,
    pub preemptions: u64,
    pub finished_stop: u64,
    pub finished_length: u64,
    pub aborted: u64,
    /// Hit rate of the most recent prefill batch (SGLang's `cache_hit_rate`).
    pub last_prefill_hit_rate: f64,
    pub hist: LatencyHistograms,
    /// `(step end, tokens generated in that step)` within the throughput window.
    throughput_window: VecDeque<(Instant, u64)>,
    /// Unix time the server started (`_created` series).
    pub created_unix: f64,
}

/// How far back `gen_throughput` looks.
const THROUGHPUT_WINDOW: Duration = Duration::from_secs(2);

impl Stats {
    pub fn new(framework: Framework, profile: &SimProfile) -> Self {
        let created_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        Self {
            running: 0,
            waiting: 0,
            kv_used_blocks: 0,
            kv_num_blocks: profile.kv_blocks(),
            block_size: profile.block_size,
            prefix_caching: profile.enable_prefix_caching,
            prefix_queries: 0,
            prefix_hits: 0,
            prompt_tokens: 0,
            generation_tokens: 0,
            preemptions: 0,
            finished_stop: 0,
            finished_length: 0,
            aborted: 0,
            last_prefill_hit_rate: 0.0,
            hist: LatencyHistograms::new(framework, profile.max_model_len),
            throughput_window: VecDeque::new(),
            created_unix,
        }
    }

    /// Fraction of KV blocks held by running sequences, 0–1.
    pub fn kv_usage(&self) -> f64 {
        if self.kv_num_blocks == 0 {
            0.0
        } else {
            self.kv_used_blocks as f64 / self.kv_num_blocks as f64
        }
    }

    pub fn record_step_tokens(&mut self, at: Instant, tokens: u64) {
        self.throughput_window.push_back((at, tokens));
        while self
            .throughput_window
            .front()
            .is_some_and(|(t, _)| at.duration_since(*t) > THROUGHPUT_WINDOW)
        {
            self.throughput_window.pop_front();
        }
    }

    /// Decode tokens/s over the recent window; 0 when idle for longer than the window.
    pub fn gen_throughput(&self, now: Instant) -> f64 {
        let recent: Vec<_> = self
            .throughput_window
            .iter()
            .filter(|(t, _)| now.duration_since(*t) <= THROUGHPUT_WINDOW)
            .collect();
        let (Some(first), Some(last)) = (recent.first(), recent.last()) else {
            return 0.0;
        };
        let span = last.0.duration_since(first.0).as_secs_f64();
        if span <= 0.0 {
            return 0.0;
        }
        // The first entry marks the window start; its own tokens were made before it.
        let tokens: u64 = recent.iter().skip(1).map(|(_, n)| n).sum();
        tokens as f64 / span
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_with_inf() {
        let mut h = Histogram::new(&[0.1, 1.0]);
        for v in [0.05, 0.5, 0.7, 3.0] {
            h.observe(v);
        }
        assert_eq!(h.cumulative(), vec![(0.1, 1), (1.0, 3), (f64::INFINITY, 4)]);
        assert_eq!(h.count, 4);
        assert!((h.sum - 4.25).abs() < 1e-9);
    }

    #[test]
    fn one_two_five_buckets() {
        assert_eq!(
            one_two_five(1000),
            vec![1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0]
        );
    }

    #[test]
    fn throughput_over_window() {
        let mut s = Stats::new(Framework::Vllm, &SimProfile::default());
        let t0 = Instant::now();
        s.record_step_tokens(t0, 4);
        s.record_step_tokens(t0 + Duration::from_millis(500), 4);
        s.record_step_tokens(t0 + Duration::from_millis(1000), 4);
        let rate = s.gen_throughput(t0 + Duration::from_millis(1000));
        assert!((rate - 8.0).abs() < 1e-9, "{rate}");
        assert_eq!(s.gen_throughput(t0 + Duration::from_secs(10)), 0.0);
    }
}
