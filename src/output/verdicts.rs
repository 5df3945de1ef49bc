//! Significance-aware `compare`: each row's difference marked significant or within noise
//! (see `metrics::significance`), the regression gate of `--fail-on-regression`, and curve
//! comparison of two sweeps / searches point by point.

use std::io::{self, Write};

use comfy_table::{Cell, CellAlignment};

use crate::metrics::significance::{self, Family, Verdict};
use crate::metrics::stats::Estimate;
use crate::output::compare::{compare_rows, delta_text, value, Better, CompareRow};
use crate::output::style::{num3, Style, Tone};
use crate::results::groups::Group;
use crate::results::result::{RunResult, Summary};

/// Rows the regression gate looks at: the headline latency and throughput metrics.
pub const HEADLINE: [&str; 10] = [
    "Throughput (tok/s)",
    "Requests/s",
    "TTFT p50 (ms)",
    "TTFT p99 (ms)",
    "TPOT p50 (ms)",
    "TPOT p99 (ms)",
    "E2E p50 (ms)",
    "E2E p99 (ms)",
    "TBT p50 (ms)",
    "TBT p99 (ms)",
];

/// One compare row with its verdict; for repeat sets `a`/`b` of the row are the means.
#[derive(Debug, Clone)]
pub struct JudgedRow {
    pub row: CompareRow,
    pub verdict: Verdict,
    pub a_estimate: Option<Estimate>,
    pub b_estimate: Option<Estimate>,
}

/// The value of row `metric` in one summary.
fn row_value(s: &Summary, metric: &str) -> Option<f64> {
    compare_rows(s, s)
        .into_iter()
        .find(|r| r.metric == metric)
        .and_then(|r| r.a)
}

fn estimate(runs: &[&RunResult], metric: &str) -> Option<Estimate> {
    let values: Vec<f64> = runs
        .iter()
        .filter_map(|r| row_value(&r.summary, metric))
        .collect();
    Estimate::of(&values)
}

/// Judge every row of A (≥ 1 run) against B (≥ 1 run).
pub fn judge(a: &[&RunResult], b: &[&RunResult]) -> Vec<JudgedRow> {
    let (Some(first_a), Some(first_b)) = (a.first(), b.first()) else {
        return Vec::new();
    };
    let repeats = a.len() >= 2 && b.len() >= 2;
    let mut tested: Vec<(Family, Verdict)> = Vec::new();
    compare_rows(&first_a.summary, &first_b.summary)
        .into_iter()
        .map(|mut row| {
            let (ea, eb) = (estimate(a, row.metric), estimate(b, row.metric));
            row.a = ea.map(|e| e.mean).or(row.a);
            row.b = eb.map(|e| e.mean).or(row.b);
            let verdict = if repeats {
                significance::test_estimates(ea.as_ref(), eb.as_ref())
            } else {
                match Family::of_row(row.metric) {
                    Some(f) => match tested.iter().find(|(t, _)| *t == f) {
                        Some((_, v)) => *v,
                        None => {
                            let v = significance::test_family(a, b, f);
                            tested.push((f, v));
                            v
                        }
                    },
                    None => Verdict::Untested,
                }
            };
            JudgedRow {
                row,
                verdict,
                a_estimate: ea.filter(|e| e.n >= 2),
                b_estimate: eb.filter(|e| e.n >= 2),
            }
        })
        .collect()
}

/// A headline metric of B significantly worse than A's by more than the threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Regression {
    /// The curve point (`concurrency=24`), when comparing curves.
    pub point: Option<String>,
    pub metric: &'static str,
    pub percent_worse: f64,
    pub verdict: Verdict,
}

impl std::fmt::Display for Regression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(p) = &self.point {
            write!(f, "[{p}] ")?;
        }
        write!(f, "{} is {:.1}% worse", self.metric, self.percent_worse)?;
        match self.verdict {
            Verdict::Significant { p_value: Some(p) } => write!(f, " (Mann–Whitney p={p:.2e})"),
            _ => write!(f, " (95 % confidence intervals do not overlap)"),
        }
    }
}

pub fn regressions(rows: &[JudgedRow], threshold_pct: f64, point: Option<&str>) -> Vec<Regression> {
    rows.iter()
        .filter(|j| HEADLINE.contains(&j.row.metric) && j.verdict.is_significant())
        .filter_map(|j| {
            let (_, pct) = j.row.delta()?;
            let pct = pct?;
            let worse = match j.row.better {
                Better::Lower => pct,
                Better::Higher => -pct,
                Better::Neither => return None,
            };
            (worse > threshold_pct).then(|| Regression {
                point: point.map(String::from),
                metric: j.row.metric,
                percent_worse: worse,
                verdict: j.verdict,
            })
        })
        .collect()
}

fn verdict_text(v: Verdict) -> String {
    match v {
        Verdict::Significant { p_value: Some(p) } => format!("significant (p={})", p_fmt(p)),
        Verdict::Significant { p_value: None } => "significant (CIs apart)".into(),
        Verdict::WithinNoise { p_value: Some(p) } => format!("within noise (p={})", p_fmt(p)),
        Verdict::WithinNoise { p_value: None } => "within noise (CIs overlap)".into(),
        Verdict::Untested => "-".into(),
    }
}

fn p_fmt(p: f64) -> String {
    if p < 0.001 {
        format!("{p:.1e}")
    } else {
        format!("{p:.3}")
    }
}

fn with_ci(v: Option<f64>, e: Option<&Estimate>, fraction: bool) -> String {
    match (v, e.and_then(|e| e.ci95_half_width)) {
        (Some(v), Some(h)) if !fraction => format!("{} ± {}", num3(v), num3(h)),
        _ => value(v, fraction),
    }
}

/// The table of judged rows; column headers name the two sides.
pub fn render_table(
    a_label: &str,
    b_label: &str,
    rows: &[JudgedRow],
    style: Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut table = style.table();
    table.set_header(vec![
        Cell::new("Metric"),
        Cell::new(format!("A: {}", crate::text::printable(a_label))),
        Cell::new(format!("B: {}", crate::text::printable(b_label))),
        Cell::new("Delta (B - A)"),
        Cell::new("Difference"),
    ]);
    for j in rows {
        let r = &j.row;
        // Colour only what is beyond noise.
        let tone = if j.verdict.is_significant() || matches!(j.verdict, Verdict::Untested) {
            r.tone()
        } else {
            Tone::Plain
        };
        table.add_row(vec![
            Cell::new(r.metric),
            Cell::new(with_ci(r.a, j.a_estimate.as_ref(), r.is_fraction)),
            style.cell(tone, with_ci(r.b, j.b_estimate.as_ref(), r.is_fraction)),
            style.cell(tone, delta_text(r)),
            style.cell(tone, verdict_text(j.verdict)),
        ]);
    }
    for i in 1..4 {
        if let Some(col) = table.column_mut(i) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    writeln!(out, "{table}")
}

fn id_of(g: &Group) -> String {
    match g {
        Group::Run(r) => r.run_id.clone(),
        Group::Repeats { id, runs } => format!("{id} (n={})", runs.len()),
        Group::Curve { id, .. } => id.clone(),
    }
}

/// Points of a group: one unnamed point for a run or repeat set.
fn points(g: &Group) -> Vec<(Option<&str>, Vec<&RunResult>)> {
    match g {
        Group::Run(r) => vec![(None, vec![r])],
        Group::Repeats { runs, .. } => vec![(None, runs.iter().collect())],
        Group::Curve { points, .. } => points
            .iter()
            .map(|(k, runs)| (Some(k.as_str()), runs.iter().collect()))
            .collect(),
    }
}

/// Compare two groups: one table per point (curves matched by swept value), the verdicts,
/// and the regressions beyond `threshold_pct` (when given).
pub fn render_groups(
    a: &Group,
    b: &Group,
    threshold_pct: Option<f64>,
    style: Style,
    out: &mut dyn Write,
) -> io::Result<Vec<Regression>> {
    let (pa, pb) = (points(a), points(b));
    let curves = matches!(a, Group::Curve { .. }) || matches!(b, Group::Curve { .. });
    let mut found = Vec::new();
    let mut matched = 0;
    for (key, runs_a) in &pa {
        let runs_b = if curves {
            match pb.iter().find(|(k, _)| k == key) {
                Some((_, r)) => r,
                None => continue,
            }
        } else {
            &pb[0].1
        };
        matched += 1;
        if let Some(k) = key {
            writeln!(out, "{}", style.bold(k))?;
        }
        let rows = judge(runs_a, runs_b);
        render_table(&id_of(a), &id_of(b), &rows, style, out)?;
        if let Some(t) = threshold_pct {
            found.extend(regressions(&rows, t, *key));
        }
    }
    if curves && matched == 0 {
        writeln!(
            out,
            "No swept value is in both {} and {}: nothing to compare.",
            id_of(a),
            id_of(b)
        )?;
    }
    let how = if pa.iter().all(|p| p.1.len() >= 2) && pb.iter().all(|p| p.1.len() >= 2) {
        "95 % confidence intervals of the repeats"
    } else {
        "two-sided Mann–Whitney U on per-request samples, α = 0.05"
    };
    writeln!(out, "Difference: {how}.")?;
    Ok(found)
}
