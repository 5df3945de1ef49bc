//! The token-exactness report of a token-exact workload: how many requests got exactly the
//! lengths they asked for (server-counted), the chat template's measured overhead, prompts
//! skipped as too long, and a trace's ideal block reuse beside the server's cache hit rate.

use serde::{Deserialize, Serialize};

use super::request::RequestRecord;

/// `summary.tokens` in the result file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenSummary {
    /// `chat` or `completions`.
    pub api: String,
    /// Successful requests that asked for exact lengths.
    pub checked_requests: usize,
    /// Server prompt tokens (minus the chat template overhead) == requested input.
    pub input_exact: usize,
    /// Server completion tokens == requested output.
    pub output_exact: usize,
    /// The first mismatching requests (at most 20).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mismatches: Vec<TokenMismatch>,
    /// Chat: prompt tokens the server counted for an empty user message (measured, not
    /// guessed); subtracted before comparing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_template_overhead_tokens: Option<u64>,
    /// ShareGPT: prompts skipped for being longer than `max_input_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped_too_long: Option<usize>,
    /// Trace: share of prompt tokens in blocks seen before (what a perfect prefix cache reuses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ideal_block_reuse_ratio: Option<f64>,
    /// The server's prefix-cache hit rate over the run (from its metrics), for comparison.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_prefix_cache_hit_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenMismatch {
    pub request_index: usize,
    pub requested_input_tokens: Option<u64>,
    pub prompt_tokens: Option<u64>,
    pub requested_output_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
}

const MAX_LISTED: usize = 20;

impl TokenSummary {
    /// Compare each successful record's server counts with what it asked for.
    pub fn check(mut self, records: &[RequestRecord]) -> Self {
        let overhead = self.chat_template_overhead_tokens.unwrap_or(0);
        for r in records.iter().filter(|r| r.is_success()) {
            if r.requested_input_tokens.is_none() && r.requested_output_tokens.is_none() {
                continue;
            }
            self.checked_requests += 1;
            let input_ok = match r.requested_input_tokens {
                Some(want) => r.prompt_tokens.map(|p| p.saturating_sub(overhead)) == Some(want),
                None => true,
            };
            let output_ok = match r.requested_output_tokens {
                Some(want) => r.completion_tokens == Some(want),
                None => true,
            };
            self.input_exact += usize::from(input_ok);
            self.output_exact += usize::from(output_ok);
            if !(input_ok && output_ok) && self.mismatches.len() < MAX_LISTED {
                self.mismatches.push(TokenMismatch {
                    request_index: r.request_index,
                    requested_input_tokens: r.requested_input_tokens,
                    prompt_tokens: r.prompt_tokens,
                    requested_output_tokens: r.requested_output_tokens,
                    completion_tokens: r.completion_tokens,
                });
            }
        }
        self
    }

    /// One line for the terminal summary.
    pub fn describe(&self) -> String {
        let mut line = format!(
            "Token-exact ({}): input exact {}/{}, output exact {}/{}",
            self.api,
            self.input_exact,
            self.checked_requests,
            self.output_exact,
            self.checked_requests
        );
        if let Some(o) = self.chat_template_overhead_tokens {
            line.push_str(&format!("; chat template overhead {o} tokens (measured)"));
        }
        if let Some(n) = self.skipped_too_long.filter(|n| *n > 0) {
            line.push_str(&format!(
                "; {n} prompt(s) skipped as longer than max_input_tokens"
            ));
        }
        if let Some(ideal) = self.ideal_block_reuse_ratio {
            line.push_str(&format!("; trace ideal block reuse {:.1}%", ideal * 100.0));
            match self.measured_prefix_cache_hit_rate {
                Some(m) => {
                    line.push_str(&format!(", server prefix-cache hit rate {:.1}%", m * 100.0))
                }
                None => line.push_str(", server hit rate not measured (collect_gpu_metrics: true)"),
            }
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::request::StreamTimings;

    fn rec(i: usize, req: (u64, u64), got: (u64, u64)) -> RequestRecord {
        let now = chrono::Utc::now();
        RequestRecord {
            pacing: Default::default(),
            request_index: i,
            conversation_index: None,
            turn_index: None,
            started_at: now,
            finished_at: now,
            send_delay_us: 0,
            timings: StreamTimings::default(),
            prompt_tokens: Some(got.0),
            completion_tokens: Some(got.1),
            token_count_source: None,
            error: None,
            requested_input_tokens: Some(req.0),
            requested_output_tokens: Some(req.1),
        }
    }

    #[test]
    fn mismatches_are_counted_and_listed_after_the_template_overhead() {
        let records = vec![
            rec(0, (10, 4), (17, 4)),
            rec(1, (10, 4), (18, 4)),
            rec(2, (10, 4), (17, 3)),
        ];
        let s = TokenSummary {
            api: "chat".into(),
            chat_template_overhead_tokens: Some(7),
            ..TokenSummary::default()
        }
        .check(&records);
        assert_eq!(
            (s.checked_requests, s.input_exact, s.output_exact),
            (3, 2, 2)
        );
        let listed: Vec<usize> = s.mismatches.iter().map(|m| m.request_index).collect();
        assert_eq!(listed, vec![1, 2]);
        assert!(
            s.describe().contains("input exact 2/3, output exact 2/3"),
            "{}",
            s.describe()
        );
    }
}
