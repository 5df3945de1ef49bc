//! Is a difference between two runs (or two repeat sets) beyond noise?
//!
//! - Repeat sets on both sides (≥ 2 runs each): a metric differs when the 95 % t confidence
//!   intervals of the per-run values do not overlap.
//! - Otherwise: a two-sided Mann–Whitney U test at 95 % on per-request samples of all runs of
//!   each side — TTFT, E2E and TPOT per request; TBT from the pooled gaps subsampled evenly to
//!   one per successful request (gaps of one request are correlated); throughput rows from each
//!   request's output rate, completion_tokens / e2e.

use crate::metrics::stats::{mann_whitney, subsample, Estimate};
use crate::results::result::RunResult;

/// Significance level of every test.
pub const ALPHA: f64 = 0.05;

/// The per-request sample a row's test uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Ttft,
    E2e,
    Tbt,
    Tpot,
    /// Throughput rows: per-request output tokens per second.
    OutputRate,
}

impl Family {
    /// The family of a compare row, by its label (`TTFT p99 (ms)`, `Throughput (tok/s)`, …).
    pub fn of_row(metric: &str) -> Option<Family> {
        let f = |p: &str| metric.starts_with(p);
        if f("TTFT") {
            Some(Family::Ttft)
        } else if f("E2E") {
            Some(Family::E2e)
        } else if f("TBT") {
            Some(Family::Tbt)
        } else if f("TPOT") {
            Some(Family::Tpot)
        } else if f("Throughput") || f("Requests/s") {
            Some(Family::OutputRate)
        } else {
            None
        }
    }
}

/// Per-request values of `family` over the successful requests of `runs`.
pub fn samples(runs: &[&RunResult], family: Family) -> Vec<f64> {
    let ok = || {
        runs.iter()
            .flat_map(|r| r.requests.iter())
            .filter(|q| q.error.is_none())
    };
    match family {
        Family::Ttft => ok().filter_map(|q| q.ttft_ms).collect(),
        Family::E2e => ok().filter_map(|q| q.e2e_latency_ms).collect(),
        Family::Tpot => ok().filter_map(|q| q.tpot_ms).collect(),
        Family::Tbt => {
            let pooled: Vec<f64> = ok()
                .flat_map(|q| q.inter_token_latencies_ms.iter().copied())
                .collect();
            subsample(&pooled, ok().count().max(1))
        }
        Family::OutputRate => ok()
            .filter_map(|q| match (q.completion_tokens, q.e2e_latency_ms) {
                (Some(t), Some(ms)) if ms > 0.0 => Some(t as f64 / (ms / 1000.0)),
                _ => None,
            })
            .collect(),
    }
}

/// How a difference was judged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Mann–Whitney p-value below `ALPHA`, or disjoint confidence intervals.
    Significant {
        p_value: Option<f64>,
    },
    WithinNoise {
        p_value: Option<f64>,
    },
    /// No samples to test (a metric missing on a side, or a row without a test).
    Untested,
}

impl Verdict {
    pub fn is_significant(self) -> bool {
        matches!(self, Verdict::Significant { .. })
    }
}

/// Mann–Whitney verdict on one family's samples.
pub fn test_family(a: &[&RunResult], b: &[&RunResult], family: Family) -> Verdict {
    match mann_whitney(&samples(a, family), &samples(b, family)) {
        Some(t) if t.p_value < ALPHA => Verdict::Significant {
            p_value: Some(t.p_value),
        },
        Some(t) => Verdict::WithinNoise {
            p_value: Some(t.p_value),
        },
        None => Verdict::Untested,
    }
}

/// Confidence-interval verdict on per-run values of one row.
pub fn test_estimates(a: Option<&Estimate>, b: Option<&Estimate>) -> Verdict {
    match (a, b) {
        (Some(a), Some(b)) if a.ci95_half_width.is_some() && b.ci95_half_width.is_some() => {
            if a.differs_from(b) {
                Verdict::Significant { p_value: None }
            } else {
                Verdict::WithinNoise { p_value: None }
            }
        }
        _ => Verdict::Untested,
    }
}

/// Parse `5%` / `5` / `0.05%` into a percentage.
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let t = t.strip_suffix('%').unwrap_or(t).trim();
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("expected a percentage like 5% (got '{text}')")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_map_to_families() {
        assert_eq!(Family::of_row("TTFT p99 (ms)"), Some(Family::Ttft));
        assert_eq!(Family::of_row("Requests/s"), Some(Family::OutputRate));
        assert_eq!(Family::of_row("Errors"), None);
    }

    #[test]
    fn percentages_parse() {
        assert_eq!(parse_percent("5%"), Ok(5.0));
        assert_eq!(parse_percent(" 2.5 "), Ok(2.5));
        assert!(parse_percent("five").is_err());
        assert!(parse_percent("-1%").is_err());
    }
}
