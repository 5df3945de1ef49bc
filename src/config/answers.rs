//! The config blocks that turn numbers into answers: `slo:`, `search:`, `repeat:` and
//! `infrastructure.cost_per_hr`. Raw forms (as written), validation, validated forms.

use serde::{Deserialize, Serialize};

use super::error::Issue;
use super::raw::RawExperiment;
use super::types::{WorkloadKind, WorkloadSpec};
use crate::metrics::slo::{Objective, Slo, SloMetric};

/// One `slo:` entry: a bare number (per-request limit, ms) or `{p, max}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RawSloEntry {
    Limit(f64),
    Objective(RawObjective),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawObjective {
    #[serde(default)]
    pub p: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSearch {
    #[serde(default)]
    pub over: Option<String>,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    #[serde(default)]
    pub precision: Option<f64>,
}

pub const DEFAULT_SEARCH_MIN: f64 = 1.0;
pub const DEFAULT_SEARCH_MAX: f64 = 512.0;
pub const DEFAULT_SEARCH_PRECISION: f64 = 0.05;

/// What a capacity search varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchOver {
    Concurrency,
    RequestRate,
}

impl SearchOver {
    pub fn as_str(self) -> &'static str {
        match self {
            SearchOver::Concurrency => "concurrency",
            SearchOver::RequestRate => "request_rate",
        }
    }
}

/// A validated `search:` block. For concurrency, `min`/`max` are whole numbers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Search {
    pub over: SearchOver,
    pub min: f64,
    pub max: f64,
    /// Bisection stops when the bracket is narrower than this fraction of its lower end.
    pub precision: f64,
}

/// The validated answers settings of an experiment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AnswerSettings {
    pub slo: Option<Slo>,
    pub search: Option<Search>,
    /// Runs per iteration (1 = no repeat set).
    pub repeat: usize,
    /// Price of a local / external / simulated server, $/hr.
    pub cost_per_hr: Option<f64>,
}

/// Check the answers blocks of `raw` (the workload already validated), pushing issues.
pub fn check(
    raw: &RawExperiment,
    workload: &WorkloadSpec,
    issues: &mut Vec<Issue>,
) -> AnswerSettings {
    let slo = raw.slo.as_ref().map(|entries| slo(entries, issues));
    let repeat = match raw.repeat {
        None => 1,
        Some(n) if (1..=1000).contains(&n) => n as usize,
        Some(n) => {
            issues.push(Issue::new(
                "repeat",
                format!("must be between 1 and 1000 runs per iteration, got {n}"),
            ));
            1
        }
    };
    let cost_per_hr = raw.infrastructure.as_ref().and_then(|i| i.cost_per_hr);
    if let Some(c) = cost_per_hr.filter(|c| !(c.is_finite() && *c >= 0.0)) {
        issues.push(Issue::new(
            "infrastructure.cost_per_hr",
            format!("must be a price in $/hr >= 0, got {c}"),
        ));
    }
    let search = raw
        .search
        .as_ref()
        .and_then(|s| search(s, slo.as_ref(), workload, issues));
    if search.is_some() && repeat > 1 {
        issues.push(Issue::new(
            "repeat",
            "a capacity search runs each probe once; remove `repeat` (or `search`)",
        ));
    }
    AnswerSettings {
        slo,
        search,
        repeat,
        cost_per_hr,
    }
}

fn slo(entries: &std::collections::BTreeMap<String, RawSloEntry>, issues: &mut Vec<Issue>) -> Slo {
    let mut objectives = Vec::new();
    // In the fixed order ttft, tpot, e2e, itl (the map's own order is alphabetical).
    for (name, metric) in SloMetric::ALL {
        let Some(entry) = entries.get(name) else {
            continue;
        };
        let path = format!("slo.{name}");
        let (p, max) = match entry {
            RawSloEntry::Limit(max) => (None, Some(*max)),
            RawSloEntry::Objective(o) => {
                if o.p.is_none() {
                    issues.push(Issue::new(
                        format!("{path}.p"),
                        "required (the percentile, e.g. 99); for a per-request limit write a bare number",
                    ));
                }
                (o.p, o.max)
            }
        };
        if let Some(p) = p.filter(|p| !(*p > 0.0 && *p <= 100.0)) {
            issues.push(Issue::new(
                format!("{path}.p"),
                format!("must be a percentile in (0, 100], got {p}"),
            ));
        }
        let max_path = if p.is_some() || matches!(entry, RawSloEntry::Objective(_)) {
            format!("{path}.max")
        } else {
            path.clone()
        };
        match max {
            None => issues.push(Issue::new(max_path, "required (the limit in ms)")),
            Some(m) if !(m.is_finite() && m > 0.0) => {
                issues.push(Issue::new(max_path, format!("must be > 0 ms, got {m}")))
            }
            Some(m) => objectives.push(Objective { metric, p, max: m }),
        }
    }
    // Unknown metric names were reported (with a did-you-mean) by the key check.
    Slo { objectives }
}

fn search(
    raw: &RawSearch,
    slo: Option<&Slo>,
    workload: &WorkloadSpec,
    issues: &mut Vec<Issue>,
) -> Option<Search> {
    let before = issues.len();
    let over = search_over(raw, issues);
    let min = raw.min.unwrap_or(DEFAULT_SEARCH_MIN);
    let max = raw.max.unwrap_or(DEFAULT_SEARCH_MAX);
    let precision = raw.precision.unwrap_or(DEFAULT_SEARCH_PRECISION);
    search_bounds(over, min, max, precision, issues);
    search_needs(slo, workload, over, issues);
    (issues.len() == before).then(|| Search {
        over: over.unwrap_or(SearchOver::Concurrency),
        min,
        max,
        precision,
    })
}

/// `search.over`: what the search varies.
fn search_over(raw: &RawSearch, issues: &mut Vec<Issue>) -> Option<SearchOver> {
    match raw.over.as_deref() {
        Some("concurrency") => Some(SearchOver::Concurrency),
        Some("request_rate") => Some(SearchOver::RequestRate),
        Some(other) => {
            issues.push(Issue::new(
                "search.over",
                format!("'{other}' is not one of: concurrency, request_rate"),
            ));
            None
        }
        None => {
            issues.push(Issue::new(
                "search.over",
                "required (one of: concurrency, request_rate)",
            ));
            None
        }
    }
}

/// `min` > 0, `max` > `min`, `precision` a fraction; whole numbers for a concurrency.
fn search_bounds(
    over: Option<SearchOver>,
    min: f64,
    max: f64,
    precision: f64,
    issues: &mut Vec<Issue>,
) {
    if !(min.is_finite() && min > 0.0) {
        issues.push(Issue::new("search.min", format!("must be > 0, got {min}")));
    }
    if !max.is_finite() || max <= min {
        issues.push(Issue::new(
            "search.max",
            format!("must be greater than search.min ({min}), got {max}"),
        ));
    }
    if !(precision > 0.0 && precision < 1.0) {
        issues.push(Issue::new(
            "search.precision",
            format!("must be a fraction in (0, 1), e.g. 0.05, got {precision}"),
        ));
    }
    if over == Some(SearchOver::Concurrency) {
        for (field, v) in [("search.min", min), ("search.max", max)] {
            if v.fract() != 0.0 {
                issues.push(Issue::new(
                    field,
                    format!("a concurrency must be a whole number, got {v}"),
                ));
            }
        }
    }
}

/// What a search needs around it: an SLO with an objective, no sweep, a workload type that
/// takes the searched value.
fn search_needs(
    slo: Option<&Slo>,
    workload: &WorkloadSpec,
    over: Option<SearchOver>,
    issues: &mut Vec<Issue>,
) {
    match slo {
        None => issues.push(Issue::new(
            "slo",
            "required with `search`: the search looks for the largest value that meets it",
        )),
        Some(s) if s.objectives.is_empty() => issues.push(Issue::new(
            "slo",
            "a search needs at least one objective: ttft_ms, tpot_ms, e2e_ms or itl_ms",
        )),
        Some(_) => {}
    }
    if workload.sweep.is_some() {
        issues.push(Issue::new(
            "workload.sweep",
            "a capacity search chooses its own values; remove the sweep (or `search`)",
        ));
    }
    let kind = workload.kind.name();
    match over {
        Some(SearchOver::Concurrency)
            if !matches!(
                workload.kind,
                WorkloadKind::Single
                    | WorkloadKind::Concurrent { .. }
                    | WorkloadKind::MultiTurn { .. }
            ) =>
        {
            issues.push(Issue::new(
                "search.over",
                format!("a concurrency search needs workload.type 'concurrent' (or 'single', 'multi_turn'), not '{kind}'"),
            ));
        }
        Some(SearchOver::RequestRate) if kind != "rate" => {
            issues.push(Issue::new(
                "search.over",
                format!("a request_rate search needs workload.type 'rate' (requests sent at a target rate), not '{kind}'"),
            ));
        }
        _ => {}
    }
}

#[cfg(test)]
#[path = "answers_tests.rs"]
mod tests;
