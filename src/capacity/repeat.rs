//! `--repeat N` / `repeat: N`: each iteration runs N times on the same server (ids suffixed
//! `-r1` … `-rN`), then a repeat-set summary gives every headline metric's mean, 95 %
//! t-confidence interval and coefficient of variation.

use std::collections::BTreeMap;

use crate::config::Iteration;
use crate::metrics::stats::Estimate;
use crate::output::compare::compare_rows;
use crate::output::verdicts::HEADLINE;
use crate::results::groups::{MetricEstimate, RepeatSet, RepeatSetFile, REPEAT_SET_KIND};
use crate::results::result::RunResult;

/// Each iteration `n` times in a row, renamed `-r1` … `-rn` and renumbered 1..=total.
pub fn expand(iterations: &[Iteration], n: usize) -> Vec<Iteration> {
    if n <= 1 {
        return iterations.to_vec();
    }
    let total = iterations.len() * n;
    let mut out = Vec::with_capacity(total);
    for it in iterations {
        for r in 1..=n {
            let mut e = it.experiment.clone();
            e.name = format!("{}-r{r}", e.name);
            e.resolved.name = Some(e.name.clone());
            out.push(Iteration {
                request_rate: None,
                index: out.len() + 1,
                total,
                values: it.values.clone(),
                experiment: e,
            });
        }
    }
    out
}

/// `TTFT p50 (ms)` → `TTFT p50`, with its unit.
fn split_label(metric: &str) -> (&str, &str) {
    match metric.rsplit_once(" (") {
        Some((name, unit)) => (name, unit.trim_end_matches(')')),
        None => (metric, ""),
    }
}

/// Headline metrics over the runs of one repeat set.
pub fn estimates(runs: &[&RunResult]) -> Vec<MetricEstimate> {
    let mut out = Vec::new();
    for metric in HEADLINE {
        let values: Vec<f64> = runs
            .iter()
            .filter_map(|r| {
                compare_rows(&r.summary, &r.summary)
                    .into_iter()
                    .find(|row| row.metric == metric)
                    .and_then(|row| row.a)
            })
            .collect();
        if let Some(estimate) = Estimate::of(&values) {
            out.push(MetricEstimate {
                metric: metric.to_string(),
                estimate,
            });
        }
    }
    out
}

/// The repeat-set file of a run: results grouped by their iteration's swept values, in order.
/// `results` are `(file name, result)` in run order.
pub fn summarize(
    id: &str,
    experiment_name: &str,
    repeat: usize,
    results: &[(String, RunResult)],
) -> RepeatSetFile {
    let mut sets: Vec<RepeatSet> = Vec::new();
    let mut members: Vec<Vec<&RunResult>> = Vec::new();
    for (file, r) in results {
        let values: BTreeMap<String, f64> = r
            .metadata
            .sweep
            .as_ref()
            .map(|s| {
                s.values
                    .iter()
                    .map(|(k, v)| (k.clone(), *v as f64))
                    .collect()
            })
            .unwrap_or_default();
        match sets.iter().position(|s| s.values == values) {
            Some(i) => {
                sets[i].runs.push(file.clone());
                members[i].push(r);
            }
            None => {
                sets.push(RepeatSet {
                    values,
                    runs: vec![file.clone()],
                    metrics: Vec::new(),
                });
                members.push(vec![r]);
            }
        }
    }
    for (set, runs) in sets.iter_mut().zip(&members) {
        set.metrics = estimates(runs);
    }
    RepeatSetFile {
        kind: REPEAT_SET_KIND.into(),
        id: id.into(),
        experiment_name: experiment_name.into(),
        repeat,
        sets,
    }
}

/// `TTFT p50 81.9 ms ± 0.4 (95 % CI, n=5), CV 0.4 %`.
pub fn describe(m: &MetricEstimate) -> String {
    use crate::output::style::num3;
    let (name, unit) = split_label(&m.metric);
    let e = &m.estimate;
    let unit = match unit {
        "" => String::new(),
        u => format!(" {u}"),
    };
    match e.ci95_half_width {
        Some(h) => {
            let cv =
                e.cv.map(|c| format!(", CV {:.1} %", c * 100.0))
                    .unwrap_or_default();
            format!(
                "{name} {}{unit} ± {} (95 % CI, n={}){cv}",
                num3(e.mean),
                num3(h),
                e.n
            )
        }
        None => format!("{name} {}{unit} (n={})", num3(e.mean), e.n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::Fixture;
    use crate::results::result::{Metadata, RunStatus, Stats, Summary};

    fn run(ttft_p50: f64) -> RunResult {
        let stats = |v: f64| Stats {
            p50: v,
            p95: v,
            p99: v,
            mean: v,
            min: v,
            max: v,
            ..Default::default()
        };
        RunResult {
            schema_version: Some(1),
            run_id: "x".into(),
            status: RunStatus::Completed,
            experiment: serde_json::Value::Null,
            metadata: Metadata::default(),
            summary: Summary {
                tokens_per_second: 100.0,
                ttft: Some(stats(ttft_p50)),
                ..Summary::default()
            },
            requests: Vec::new(),
            gpu_metrics: None,
            definitions: None,
        }
    }

    #[test]
    fn expands_with_suffixes_and_new_indices() {
        let exp = Fixture::new()
            .load_with(&[("workload.sweep.concurrency", "[1, 2]")])
            .unwrap();
        let its = crate::config::sweep::iterations(&exp);
        let out = expand(&its, 3);
        let names: Vec<&str> = out.iter().map(|i| i.experiment.name.as_str()).collect();
        assert_eq!(
            names,
            ["t-c1-r1", "t-c1-r2", "t-c1-r3", "t-c2-r1", "t-c2-r2", "t-c2-r3"]
        );
        assert_eq!((out[5].index, out[5].total), (6, 6));
        assert_eq!(out[4].values, vec![("concurrency", 2)]);
    }

    #[test]
    fn repeat_set_line_has_mean_ci_and_n() {
        let runs: Vec<(String, RunResult)> = [81.5, 82.0, 82.2, 81.8, 82.0]
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("x-r{}.json", i + 1), run(*v)))
            .collect();
        let file = summarize("x-repeat", "x", 5, &runs);
        assert_eq!(file.sets.len(), 1);
        let ttft = file.sets[0]
            .metrics
            .iter()
            .find(|m| m.metric == "TTFT p50 (ms)")
            .unwrap();
        // mean 81.9, s = 0.2646, t(0.975, 4) = 2.7764 → ±0.3285.
        assert_eq!(
            describe(ttft),
            "TTFT p50 81.9 ms ± 0.329 (95 % CI, n=5), CV 0.3 %"
        );
    }
}
