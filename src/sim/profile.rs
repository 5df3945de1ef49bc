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

impl SimProfile {
    /// Check ranges; the config validator and `SimServer::start` call this.
    pub fn validate(&self) -> Result<(), SimProfileError> {
        let fail = |knob: &'static str, problem: String| Err(SimProfileError { knob, problem });
        if self.max_num_seqs == 0 {
            return fail("max_num_seqs", "must be at least 1".into());
        }
        if self.block_size == 0 {
            return fail("block_size", "must be at least 1".into());
        }
        if self.kv_cache_tokens < self.block_size as u64 {
            return fail(
                "kv_cache_tokens",
                format!("must hold at least one block ({} tokens)", self.block_size),
            );
        }
        if self.max_model_len == 0 {
            return fail("max_model_len", "must be at least 1".into());
        }
        for (knob, value) in [
            ("prefill_ms_per_token", self.prefill_ms_per_token),
            ("decode_step_ms", self.decode_step_ms),
            ("decode_step_ms_per_seq", self.decode_step_ms_per_seq),
            ("base_ttft_ms", self.base_ttft_ms),
        ] {
            if !value.is_finite() || value < 0.0 {
                return fail(
                    knob,
                    format!("must be a non-negative number of ms, got {value}"),
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
                return fail(knob, format!("must be between 0 and 1, got {value}"));
            }
        }
        Ok(())
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
    fn kv_blocks_rounds_down() {
        let p = SimProfile {
            kv_cache_tokens: 100,
            block_size: 16,
            ..SimProfile::default()
        };
        assert_eq!(p.kv_blocks(), 6);
    }
}
