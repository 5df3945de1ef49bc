//! What a simulator profile can serve, computed from its knobs rather than measured, so a
//! capacity search on the simulator has a known right answer.
//!
//! With `c` closed-loop streams and `c ≤ max_num_seqs`, every engine step decodes `c`
//! sequences and lasts `decode_step_ms + decode_step_ms_per_seq × (c − 1)` (plus prefill for
//! the steps that admit a request): that is each request's time per output token. Above
//! `max_num_seqs` the batch stops growing and requests queue instead (TTFT grows).

use super::SimProfile;

impl SimProfile {
    /// Modelled TPOT with `concurrency` streams, ignoring prefill (ms).
    pub fn tpot_ms_at(&self, concurrency: usize) -> f64 {
        let running = concurrency.clamp(1, self.max_num_seqs.max(1));
        self.decode_step_ms + self.decode_step_ms_per_seq * (running - 1) as f64
    }

    /// The largest concurrency (up to `max_num_seqs`) whose modelled TPOT is within
    /// `limit_ms`; 0 when even one stream exceeds it.
    pub fn max_concurrency_for_tpot(&self, limit_ms: f64) -> usize {
        (1..=self.max_num_seqs)
            .take_while(|&c| self.tpot_ms_at(c) <= limit_ms)
            .last()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_follows_the_step_model() {
        let p = SimProfile {
            decode_step_ms: 1.0,
            decode_step_ms_per_seq: 10.0,
            max_num_seqs: 64,
            ..SimProfile::default()
        };
        assert_eq!(p.tpot_ms_at(4), 31.0);
        assert_eq!(p.tpot_ms_at(5), 41.0);
        assert_eq!(p.max_concurrency_for_tpot(36.0), 4);
        assert_eq!(p.max_concurrency_for_tpot(0.5), 0);
        // The batch stops growing at max_num_seqs.
        let small = SimProfile {
            max_num_seqs: 2,
            ..p
        };
        assert_eq!(small.tpot_ms_at(10), 11.0);
        assert_eq!(small.max_concurrency_for_tpot(1000.0), 2);
    }
}
