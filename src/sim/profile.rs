//! Engine profile of the simulator: `infrastructure.simulation` and `simulate` flags.

use serde::{Deserialize, Serialize};

/// All knobs have defaults, so `simulation: {}` (or none at all) is a valid profile.
///
/// The defaults are fast rather than GPU-realistic: 20 requests of 64 tokens finish in about
/// two seconds even one after another, so trying a config costs nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimProfile {
    /// RNG seed: same seed and request order, same token texts, lengths and fault decisions.
    pub seed: u64,
    /// Most sequences decoded at once; more wait in the FIFO queue.
    pub max_num_seqs: usize,
    /// KV-cache capacity in tokens (rounded down to whole blocks).
    pub kv_cache_tokens: u64,
    /// Tokens per KV block; also the prefix-cache granularity.
    pub block_size: usize,
    /// Reuse cached KV blocks of identical prompt prefixes.
    pub enable_prefix_caching: bool,
    /// Context length reported by `/v1/models`; longer requests get HTTP 400.
    pub max_model_len: u64,
    /// Prefill cost per uncached prompt token, ms.
    pub prefill_ms_per_token: f64,
    /// Decode step time with one running sequence, ms.
    pub decode_step_ms: f64,
    /// Extra decode step time per additional running sequence, ms.
    pub decode_step_ms_per_seq: f64,
    /// Fixed cost before a request reaches the engine (tokenisation, scheduling), ms.
    pub base_ttft_ms: f64,
    /// Fraction of requests answered with HTTP 500.
    pub error_rate: f64,
    /// Fraction of streams cut mid-way (connection closed without `[DONE]`).
    pub disconnect_rate: f64,
    /// Fraction of streams that stall for `stall_ms` once.
    pub stall_rate: f64,
    pub stall_ms: u64,
    /// Fraction of streams that send `data: {"error":…}` then `[DONE]` mid-way.
    pub midstream_error_rate: f64,
    /// Require an API key, like a server started with `--api-key`: the `simulated` provider
    /// generates one and the run sends it (`simulate` takes it from `--api-key`).
    pub require_api_key: bool,
}

impl Default for SimProfile {
    fn default() -> Self {
        Self {
            seed: 42,
            max_num_seqs: 16,
            kv_cache_tokens: 65_536,
            block_size: 16,
            enable_prefix_caching: true,
            max_model_len: 32_768,
            prefill_ms_per_token: 0.02,
            decode_step_ms: 1.5,
            decode_step_ms_per_seq: 0.05,
            base_ttft_ms: 2.0,
            error_rate: 0.0,
            disconnect_rate: 0.0,
            stall_rate: 0.0,
            stall_ms: 0,
            midstream_error_rate: 0.0,
            require_api_key: false,
        }
    }
}

/// A knob outside its meaningful range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid simulation profile: `{knob}` {problem}")]
pub struct SimProfileError {
    pub knob: &'static str,
    pub problem: String,
}

/// Largest time knob, ms (one hour): far beyond any real engine, far below what overflows.
pub const MAX_MS: f64 = 3_600_000.0;
/// Largest count knobs: beyond any real engine, small enough that products stay in range.
const MAX_SEQS: usize = 1 << 20;
const MAX_TOKENS: u64 = 1 << 40;

impl SimProfile {
    /// Check ranges; the config validator and `SimServer::start` call this. The first problem.
    pub fn validate(&self) -> Result<(), SimProfileError> {
        match self.problems().into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Every knob outside its range (the config validator reports them all at once).
    pub fn problems(&self) -> Vec<SimProfileError> {
        let mut out = Vec::new();
        let mut fail =
            |knob: &'static str, problem: String| out.push(SimProfileError { knob, problem });
        if !(1..=MAX_SEQS).contains(&self.max_num_seqs) {
            fail(
                "max_num_seqs",
                format!(
                    "must be between 1 and {MAX_SEQS}, got {}",
                    self.max_num_seqs
                ),
            );
        }
        if !(1..=MAX_SEQS).contains(&self.block_size) {
            fail(
                "block_size",
                format!("must be between 1 and {MAX_SEQS}, got {}", self.block_size),
            );
        }
        if self.kv_cache_tokens < self.block_size as u64 {
            fail(
                "kv_cache_tokens",
                format!("must hold at least one block ({} tokens)", self.block_size),
            );
        } else if self.kv_cache_tokens > MAX_TOKENS {
            fail(
                "kv_cache_tokens",
                format!("must be at most {MAX_TOKENS}, got {}", self.kv_cache_tokens),
            );
        }
        if !(1..=MAX_TOKENS).contains(&self.max_model_len) {
            fail(
                "max_model_len",
                format!(
                    "must be between 1 and {MAX_TOKENS}, got {}",
                    self.max_model_len
                ),
            );
        }
        self.timing_and_rate_problems(&mut fail);
        out
    }

    /// Durations (0 to an hour) and failure rates (fractions).
    fn timing_and_rate_problems(&self, fail: &mut impl FnMut(&'static str, String)) {
        for (knob, value) in [
            ("prefill_ms_per_token", self.prefill_ms_per_token),
            ("decode_step_ms", self.decode_step_ms),
            ("decode_step_ms_per_seq", self.decode_step_ms_per_seq),
            ("base_ttft_ms", self.base_ttft_ms),
            ("stall_ms", self.stall_ms as f64),
        ] {
            if !(0.0..=MAX_MS).contains(&value) {
                fail(
                    knob,
                    format!("must be a number of ms from 0 to {MAX_MS} (one hour), got {value}"),
                );
            }
        }
        for (knob, value) in [
            ("error_rate", self.error_rate),
            ("disconnect_rate", self.disconnect_rate),
            ("stall_rate", self.stall_rate),
            ("midstream_error_rate", self.midstream_error_rate),
        ] {
            if !(0.0..=1.0).contains(&value) {
                fail(knob, format!("must be between 0 and 1, got {value}"));
            }
        }
    }

    /// Whole KV blocks the cache holds.
    pub fn kv_blocks(&self) -> usize {
        (self.kv_cache_tokens / self.block_size.max(1) as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_yaml_is_the_default_profile() {
        let p: SimProfile = serde_yaml::from_str("{}").unwrap();
        assert_eq!(p, SimProfile::default());
        assert!(p.validate().is_ok());
    }

    #[test]
    fn unknown_knob_is_rejected() {
        let err = serde_yaml::from_str::<SimProfile>("max_seqs: 4").unwrap_err();
        assert!(err.to_string().contains("max_seqs"), "{err}");
    }

    #[test]
    fn out_of_range_values_name_the_knob() {
        let p = SimProfile {
            error_rate: 1.5,
            ..SimProfile::default()
        };
        assert_eq!(p.validate().unwrap_err().knob, "error_rate");
        let p = SimProfile {
            max_num_seqs: 0,
            ..SimProfile::default()
        };
        assert_eq!(p.validate().unwrap_err().knob, "max_num_seqs");
        let p = SimProfile {
            kv_cache_tokens: 8,
            ..SimProfile::default()
        };
        assert_eq!(p.validate().unwrap_err().knob, "kv_cache_tokens");
        let p = SimProfile {
            decode_step_ms: f64::NAN,
            ..SimProfile::default()
        };
        assert_eq!(p.validate().unwrap_err().knob, "decode_step_ms");
    }

    #[test]
    fn absurd_values_are_rejected_not_panicked_on() {
        let p = SimProfile {
            decode_step_ms: 1e300,
            base_ttft_ms: 1e300,
            prefill_ms_per_token: f64::INFINITY,
            stall_ms: u64::MAX,
            max_num_seqs: usize::MAX,
            ..SimProfile::default()
        };
        let knobs: Vec<&str> = p.problems().iter().map(|e| e.knob).collect();
        assert_eq!(
            knobs,
            [
                "max_num_seqs",
                "prefill_ms_per_token",
                "decode_step_ms",
                "base_ttft_ms",
                "stall_ms"
            ]
        );
        assert!(p.validate().is_err());
    }

    #[test]
    fn kv_blocks_rounds_down() {
        let p = SimProfile {
            kv_cache_tokens: 100,
            block_size: 16,
            ..SimProfile::default()
        };
        assert_eq!(p.kv_blocks(), 6);
    }
}
