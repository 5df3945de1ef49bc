//! Service-level objectives and goodput.
//!
//! An `slo:` block names latency metrics with either a percentile objective over the run
//! (`ttft_ms: {p: 99, max: 500}`) or a bare per-request limit (`e2e_ms: 8000`). A request
//! is *good* when it succeeded and met every limit, percentile objectives counted as
//! per-request limits at their `max`; goodput is good requests (and their output tokens) per
//! second of the measured window.

use serde::{Deserialize, Serialize};

use crate::metrics::aggregate::percentile;
use crate::results::result::{RequestResult, Summary};

/// A metric an SLO may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SloMetric {
    #[serde(rename = "ttft_ms")]
    Ttft,
    #[serde(rename = "tpot_ms")]
    Tpot,
    #[serde(rename = "e2e_ms")]
    E2e,
    #[serde(rename = "itl_ms")]
    Itl,
}

impl SloMetric {
    pub const ALL: [(&'static str, SloMetric); 4] = [
        ("ttft_ms", SloMetric::Ttft),
        ("tpot_ms", SloMetric::Tpot),
        ("e2e_ms", SloMetric::E2e),
        ("itl_ms", SloMetric::Itl),
    ];

    pub fn key(self) -> &'static str {
        match self {
            SloMetric::Ttft => "ttft_ms",
            SloMetric::Tpot => "tpot_ms",
            SloMetric::E2e => "e2e_ms",
            SloMetric::Itl => "itl_ms",
        }
    }

    /// Short label for one-line reports (`TTFT`, `TPOT`, …).
    pub fn label(self) -> &'static str {
        match self {
            SloMetric::Ttft => "TTFT",
            SloMetric::Tpot => "TPOT",
            SloMetric::E2e => "E2E",
            SloMetric::Itl => "ITL",
        }
    }
}

/// One objective: `percentile: Some(p)` over the run, `None` a limit every request must meet.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Objective {
    pub metric: SloMetric,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<f64>,
    pub max: f64,
}

impl Objective {
    /// `p99 TTFT ≤ 500 ms`, or `TTFT ≤ 500 ms per request`.
    pub fn describe(&self) -> String {
        match self.p {
            Some(p) => format!(
                "p{} {} ≤ {} ms",
                trim_float(p),
                self.metric.label(),
                trim_float(self.max)
            ),
            None => format!(
                "{} ≤ {} ms per request",
                self.metric.label(),
                trim_float(self.max)
            ),
        }
    }
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The validated `slo:` block (objectives in the order ttft, tpot, e2e, itl).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Slo {
    pub objectives: Vec<Objective>,
}

impl Slo {
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self.objectives.iter().map(Objective::describe).collect();
        parts.join(", ")
    }
}

/// One objective as measured over a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectiveResult {
    pub metric: SloMetric,
    /// The percentile; absent for a per-request limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<f64>,
    pub max: f64,
    /// The run's percentile, or for a per-request limit the worst successful request.
    pub value: Option<f64>,
    pub met: bool,
}

/// `summary.slo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloSummary {
    pub objectives: Vec<ObjectiveResult>,
    /// Successful requests that met every per-request limit.
    pub good_requests: usize,
    pub goodput_rps: f64,
    pub goodput_tps: f64,
    /// Every objective met (and at least one request succeeded).
    pub all_met: bool,
}

/// The request's value of `metric`: for ITL its `p`-th percentile gap (its worst gap for a
/// bare limit). `None` when the request has no such value (e.g. TPOT of a one-token answer).
fn request_value(r: &RequestResult, metric: SloMetric, p: Option<f64>) -> Option<f64> {
    match metric {
        SloMetric::Ttft => r.ttft_ms,
        SloMetric::Tpot => r.tpot_ms,
        SloMetric::E2e => r.e2e_latency_ms,
        SloMetric::Itl => {
            let mut gaps = r.inter_token_latencies_ms.clone();
            if gaps.is_empty() {
                return None;
            }
            gaps.sort_by(f64::total_cmp);
            Some(percentile(&gaps, p.unwrap_or(100.0)))
        }
    }
}

/// Whether one request met every limit of `slo`. A failed request never does; a missing
/// value (no TPOT for one token) does not count against it.
pub fn request_met(slo: &Slo, r: &RequestResult) -> bool {
    r.error.is_none()
        && slo
            .objectives
            .iter()
            .all(|o| request_value(r, o.metric, o.p).is_none_or(|v| v <= o.max))
}

/// Evaluate `slo` over a run's rows (sets each row's `slo_met`) and return `summary.slo`.
/// Rates use `summary.total_duration_s`, like `requests_per_second`.
pub fn evaluate(slo: &Slo, summary: &Summary, rows: &mut [RequestResult]) -> SloSummary {
    let mut good_requests = 0;
    let mut good_tokens = 0u64;
    for r in rows.iter_mut() {
        let met = request_met(slo, r);
        r.slo_met = Some(met);
        if met {
            good_requests += 1;
            good_tokens += r.completion_tokens.unwrap_or(0);
        }
    }
    let ok: Vec<&RequestResult> = rows.iter().filter(|r| r.error.is_none()).collect();
    let objectives: Vec<ObjectiveResult> = slo
        .objectives
        .iter()
        .map(|o| {
            let value = match o.p {
                Some(p) => run_percentile(&ok, o.metric, p),
                None => ok
                    .iter()
                    .filter_map(|r| request_value(r, o.metric, None))
                    .max_by(f64::total_cmp),
            };
            ObjectiveResult {
                metric: o.metric,
                p: o.p,
                max: o.max,
                value,
                met: value.is_none_or(|v| v <= o.max),
            }
        })
        .collect();
    let seconds = summary.total_duration_s;
    let rate = |n: f64| if seconds > 0.0 { n / seconds } else { 0.0 };
    SloSummary {
        all_met: !ok.is_empty() && objectives.iter().all(|o| o.met),
        objectives,
        good_requests,
        goodput_rps: rate(good_requests as f64),
        goodput_tps: rate(good_tokens as f64),
    }
}

/// The run's `p`-th percentile of `metric` over successful requests (ITL: pooled gaps).
fn run_percentile(ok: &[&RequestResult], metric: SloMetric, p: f64) -> Option<f64> {
    let mut values: Vec<f64> = match metric {
        SloMetric::Itl => ok
            .iter()
            .flat_map(|r| r.inter_token_latencies_ms.iter().copied())
            .collect(),
        m => ok
            .iter()
            .filter_map(|r| request_value(r, m, None))
            .collect(),
    };
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(percentile(&values, p))
}

/// Formulas for the result file's `definitions`.
pub fn definitions() -> [(&'static str, &'static str); 5] {
    [
        (
            "slo_met",
            "request succeeded and met every slo limit: a bare number limits each request; a {p, max} objective also limits each request at max (itl_ms: the request's own p-th percentile gap; bare itl_ms: its largest gap)",
        ),
        (
            "slo.objectives",
            "value = the run's p-th percentile over successful requests (itl: pooled gaps); for a bare limit the worst successful request; met = value <= max",
        ),
        ("slo.goodput_rps", "requests with slo_met / total_duration_s"),
        (
            "slo.goodput_tps",
            "completion_tokens of requests with slo_met / total_duration_s",
        ),
        (
            "slo.all_met",
            "every objective met and at least one successful request",
        ),
    ]
}

#[cfg(test)]
#[path = "slo_tests.rs"]
mod tests;
