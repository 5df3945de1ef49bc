//! Engine profile of the simulator: `infrastructure.simulation` and `simulate` flags.

use serde::{Deserialize, Serialize};

/// All knobs have defaults, so `simulation: {}` (or none at all) is a valid profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimProfile {
    /// RNG seed: same seed, same token texts and fault decisions.
    pub seed: u64,
    /// Most sequences decoded at once; more wait in the queue.
    pub max_num_seqs: usize,
    /// KV-cache capacity in tokens.
    pub kv_cache_tokens: u64,
    /// Prefill cost per uncached prompt token, ms.
    pub prefill_ms_per_token: f64,
    /// Decode step time with one running sequence, ms.
    pub decode_step_ms: f64,
    /// Extra decode step time per additional running sequence, ms.
    pub decode_step_ms_per_seq: f64,
    /// Fixed cost before the first token (scheduling, tokenisation), ms.
    pub base_ttft_ms: f64,
    /// Fraction of requests answered with HTTP 500.
    pub error_rate: f64,
    /// Fraction of streams cut mid-way (connection closed without `[DONE]`).
    pub disconnect_rate: f64,
    /// Fraction of streams that stall for `stall_ms` once.
    pub stall_rate: f64,
    pub stall_ms: u64,
}

impl Default for SimProfile {
    fn default() -> Self {
        Self {
            seed: 42,
            max_num_seqs: 16,
            kv_cache_tokens: 65_536,
            prefill_ms_per_token: 0.05,
            decode_step_ms: 8.0,
            decode_step_ms_per_seq: 0.5,
            base_ttft_ms: 10.0,
            error_rate: 0.0,
            disconnect_rate: 0.0,
            stall_rate: 0.0,
            stall_ms: 0,
        }
    }
}
