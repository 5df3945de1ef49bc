//! Cost per million tokens: the server's price per hour over the tokens it produced per hour
//! in the measured window. `summary.cost` of a result with a price.

use serde::{Deserialize, Serialize};

use crate::results::result::Summary;

/// `summary.cost`, in dollars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostSummary {
    pub cost_per_hr: f64,
    /// `None` when no output token was produced (the cost per token is unbounded).
    pub per_million_output_tokens: Option<f64>,
    pub per_million_total_tokens: Option<f64>,
    /// Only with an SLO: output tokens of requests that met it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_million_good_output_tokens: Option<f64>,
}

/// $/hr ÷ (tokens/s × 3600) × 10⁶; `None` for no tokens.
pub fn per_million(cost_per_hr: f64, tokens_per_second: f64) -> Option<f64> {
    (tokens_per_second > 0.0 && tokens_per_second.is_finite())
        .then(|| cost_per_hr / (tokens_per_second * 3600.0) * 1e6)
}

/// The cost block for a run at `cost_per_hr` (`summary.slo` already filled in, if any).
pub fn summarize(summary: &Summary, cost_per_hr: f64) -> CostSummary {
    let seconds = summary.total_duration_s;
    let total_tps = if seconds > 0.0 {
        (summary.total_prompt_tokens + summary.total_completion_tokens) as f64 / seconds
    } else {
        0.0
    };
    CostSummary {
        cost_per_hr,
        per_million_output_tokens: per_million(cost_per_hr, summary.tokens_per_second),
        per_million_total_tokens: per_million(cost_per_hr, total_tps),
        per_million_good_output_tokens: summary
            .slo
            .as_ref()
            .and_then(|s| per_million(cost_per_hr, s.goodput_tps)),
    }
}

/// Formulas for the result file's `definitions`.
pub fn definitions() -> [(&'static str, &'static str); 3] {
    [
        (
            "cost.per_million_output_tokens",
            "cost_per_hr / (tokens_per_second * 3600) * 1e6, over total_duration_s",
        ),
        (
            "cost.per_million_total_tokens",
            "cost_per_hr / ((total_prompt_tokens + total_completion_tokens) / total_duration_s * 3600) * 1e6",
        ),
        (
            "cost.per_million_good_output_tokens",
            "cost_per_hr / (slo.goodput_tps * 3600) * 1e6",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_per_million_tokens() {
        // $3.6/hr at 1000 tok/s = 3.6M tok/hr → $1 per million.
        assert_eq!(per_million(3.6, 1000.0), Some(1.0));
        assert_eq!(per_million(3.6, 0.0), None);
        let s = Summary {
            total_duration_s: 10.0,
            tokens_per_second: 1000.0,
            total_completion_tokens: 10_000,
            total_prompt_tokens: 10_000,
            ..Summary::default()
        };
        let c = summarize(&s, 3.6);
        assert_eq!(c.per_million_output_tokens, Some(1.0));
        assert_eq!(c.per_million_total_tokens, Some(0.5));
        assert_eq!(c.per_million_good_output_tokens, None);
    }
}
