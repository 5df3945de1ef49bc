//! `compare a b`: one row per metric with A, B and the delta of B against A, coloured green
//! where B is better and red where it is worse.

use std::io::{self, Write};

use comfy_table::{Cell, CellAlignment};

use crate::metrics::significance::Verdict;
use crate::output::style::{num3, Style, Tone};
use crate::output::verdicts::{judge, regressions, render_groups, JudgedRow, Regression};
use crate::results::groups::Group;
use crate::results::result::{RunResult, Stats, Summary};
use crate::text::printable;

/// Which way is better for a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
    /// Informational (e.g. KV-cache usage): no colour.
    Neither,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CompareRow {
    pub metric: &'static str,
    pub a: Option<f64>,
    pub b: Option<f64>,
    pub better: Better,
    /// Shown as a percentage (values are fractions 0..1).
    pub is_fraction: bool,
}

impl CompareRow {
    /// `(delta, percent of A)`; percent is `None` when A is 0.
    pub fn delta(&self) -> Option<(f64, Option<f64>)> {
        let (a, b) = (self.a?, self.b?);
        let d = b - a;
        Some((d, (a != 0.0).then(|| d / a.abs() * 100.0)))
    }

    pub fn tone(&self) -> Tone {
        match (self.delta(), self.better) {
            (Some((d, _)), Better::Lower) if d < 0.0 => Tone::Good,
            (Some((d, _)), Better::Lower) if d > 0.0 => Tone::Bad,
            (Some((d, _)), Better::Higher) if d > 0.0 => Tone::Good,
            (Some((d, _)), Better::Higher) if d < 0.0 => Tone::Bad,
            _ => Tone::Plain,
        }
    }
}

fn row(metric: &'static str, a: Option<f64>, b: Option<f64>, better: Better) -> CompareRow {
    CompareRow {
        metric,
        a,
        b,
        better,
        is_fraction: false,
    }
}

/// A row of one figure read from both sides' `T` (either may lack it).
fn pick_row<T>(
    metric: &'static str,
    (a, b): (Option<&T>, Option<&T>),
    figure: impl Fn(&T) -> Option<f64>,
    better: Better,
) -> CompareRow {
    row(metric, a.and_then(&figure), b.and_then(&figure), better)
}

fn fraction(r: CompareRow) -> CompareRow {
    CompareRow {
        is_fraction: true,
        ..r
    }
}

/// The rows of the comparison table, in display order.
pub fn compare_rows(a: &Summary, b: &Summary) -> Vec<CompareRow> {
    use Better::*;
    let mut rows = vec![
        row(
            "Throughput (tok/s)",
            Some(a.tokens_per_second),
            Some(b.tokens_per_second),
            Higher,
        ),
        row(
            "Requests/s",
            Some(a.requests_per_second),
            Some(b.requests_per_second),
            Higher,
        ),
    ];
    rows.extend(latency_rows(a, b));
    rows.push(row(
        "Errors",
        Some(a.failed_requests as f64),
        Some(b.failed_requests as f64),
        Lower,
    ));
    rows.extend(answer_rows(a, b));
    rows.extend(server_rows(a, b));
    rows
}

/// p50 / p95 / p99 of TTFT, E2E, TBT and TPOT.
fn latency_rows(a: &Summary, b: &Summary) -> Vec<CompareRow> {
    type Pick = fn(&Summary) -> Option<&Stats>;
    let latencies: [([&'static str; 3], Pick); 4] = [
        (["TTFT p50 (ms)", "TTFT p95 (ms)", "TTFT p99 (ms)"], |s| {
            s.ttft.as_ref()
        }),
        (["E2E p50 (ms)", "E2E p95 (ms)", "E2E p99 (ms)"], |s| {
            s.e2e_latency.as_ref()
        }),
        (["TBT p50 (ms)", "TBT p95 (ms)", "TBT p99 (ms)"], |s| {
            s.tbt.as_ref()
        }),
        (["TPOT p50 (ms)", "TPOT p95 (ms)", "TPOT p99 (ms)"], |s| {
            s.tpot.as_ref()
        }),
    ];
    let mut rows = Vec::new();
    for ([p50, p95, p99], pick) in latencies {
        let sides = (pick(a), pick(b));
        // TPOT is new: skip it entirely when neither file has it (Python files).
        if sides == (None, None) && p50.starts_with("TPOT") {
            continue;
        }
        rows.push(pick_row(p50, sides, |s| Some(s.p50), Better::Lower));
        rows.push(pick_row(p95, sides, |s| Some(s.p95), Better::Lower));
        rows.push(pick_row(p99, sides, |s| Some(s.p99), Better::Lower));
    }
    rows
}

/// The server's own figures, when either run scraped them.
fn server_rows(a: &Summary, b: &Summary) -> Vec<CompareRow> {
    use Better::*;
    let g = (a.gpu_summary.as_ref(), b.gpu_summary.as_ref());
    if g == (None, None) {
        return Vec::new();
    }
    vec![
        fraction(pick_row(
            "KV cache peak",
            g,
            |g| g.kv_cache_usage_peak,
            Neither,
        )),
        fraction(pick_row(
            "Prefix cache hit rate",
            g,
            |g| g.prefix_cache_hit_rate,
            Higher,
        )),
        pick_row(
            "Server gen throughput (tok/s)",
            g,
            |g| g.generation_throughput,
            Higher,
        ),
    ]
}

/// Goodput and cost rows, when either run has an SLO / a price.
fn answer_rows(a: &Summary, b: &Summary) -> Vec<CompareRow> {
    use Better::*;
    let mut rows = Vec::new();
    let slo = (a.slo.as_ref(), b.slo.as_ref());
    if slo != (None, None) {
        rows.push(pick_row(
            "Goodput (tok/s)",
            slo,
            |s| Some(s.goodput_tps),
            Higher,
        ));
        rows.push(pick_row(
            "Goodput (req/s)",
            slo,
            |s| Some(s.goodput_rps),
            Higher,
        ));
    }
    let cost = (a.cost.as_ref(), b.cost.as_ref());
    if cost != (None, None) {
        rows.push(pick_row(
            "$ per M output tokens",
            cost,
            |c| c.per_million_output_tokens,
            Lower,
        ));
        rows.push(pick_row(
            "$ per M total tokens",
            cost,
            |c| c.per_million_total_tokens,
            Lower,
        ));
    }
    rows
}

pub(crate) fn value(v: Option<f64>, fraction: bool) -> String {
    match v {
        Some(v) if fraction => format!("{:.1}%", v * 100.0),
        Some(v) => num3(v),
        None => "-".to_string(),
    }
}

pub(crate) fn delta_text(r: &CompareRow) -> String {
    let Some((d, pct)) = r.delta() else {
        return "-".to_string();
    };
    let abs = if r.is_fraction {
        format!("{:+.1}pp", d * 100.0)
    } else {
        let sign = if d > 0.0 { "+" } else { "" };
        format!("{sign}{}", num3(d))
    };
    match pct {
        Some(p) => format!("{abs} ({p:+.1}%)"),
        None => abs,
    }
}

/// The comparison table; column headers are the two run ids.
pub fn render_compare(
    a: &RunResult,
    b: &RunResult,
    style: Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut table = style.table();
    table.set_header(vec![
        Cell::new("Metric"),
        Cell::new(format!("A: {}", printable(&a.run_id))),
        Cell::new(format!("B: {}", printable(&b.run_id))),
        Cell::new("Delta (B - A)"),
    ]);
    // Both runs have a steady-state window: compare those figures (and say so).
    let steady = crate::output::open_loop::steady_view(&a.summary)
        .zip(crate::output::open_loop::steady_view(&b.summary));
    let (sa, sb) = match &steady {
        Some((sa, sb)) => (sa, sb),
        None => (&a.summary, &b.summary),
    };
    for r in compare_rows(sa, sb) {
        let tone = r.tone();
        table.add_row(vec![
            Cell::new(r.metric),
            Cell::new(value(r.a, r.is_fraction)),
            style.cell(tone, value(r.b, r.is_fraction)),
            style.cell(tone, delta_text(&r)),
        ]);
    }
    for i in 1..4 {
        if let Some(col) = table.column_mut(i) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    writeln!(out, "{table}")?;
    if steady.is_some() {
        writeln!(
            out,
            "Figures are each run's steady-state window (summary.steady_state), not the whole run."
        )?;
    }
    Ok(())
}

/// The id shown for a compare argument.
fn group_id(g: &Group) -> String {
    match g {
        Group::Run(r) => r.run_id.clone(),
        Group::Repeats { id, runs } => format!("{id} (n={})", runs.len()),
        Group::Curve { id, .. } => id.clone(),
    }
}

fn single_point(g: &Group) -> Option<Vec<&RunResult>> {
    match g {
        Group::Run(r) => Some(vec![r]),
        Group::Repeats { runs, .. } => Some(runs.iter().collect()),
        Group::Curve { .. } => None,
    }
}

/// Column letters: A for the baseline, then B, C, … (AA after Z is not needed in practice).
fn letter(i: usize) -> String {
    let c = (b'A' + (i % 26) as u8) as char;
    if i < 26 {
        c.to_string()
    } else {
        format!("{c}{}", i / 26)
    }
}

/// `compare A B C …`: two arguments keep the pairwise table (with curves matched by swept
/// value); more put each run in a column with its delta against A, marked `*` when the
/// difference is significant and `~` when it is within noise. Sweeps among more than two are
/// compared with A pairwise, one after the other.
pub fn render_many(
    groups: &[Group],
    threshold_pct: Option<f64>,
    style: Style,
    out: &mut dyn Write,
) -> io::Result<Vec<Regression>> {
    let [first, rest @ ..] = groups else {
        return Ok(Vec::new());
    };
    if rest.len() == 1 {
        return render_groups(first, &rest[0], threshold_pct, style, out);
    }
    let points: Option<Vec<Vec<&RunResult>>> = groups.iter().map(single_point).collect();
    let Some(points) = points else {
        return render_pairwise_with_a(first, rest, threshold_pct, style, out);
    };
    let judged: Vec<Vec<JudgedRow>> = points[1..].iter().map(|b| judge(&points[0], b)).collect();
    let table = columns_table(first, rest, &judged, style);
    writeln!(out, "{table}")?;
    writeln!(out, "Deltas against A; * significant, ~ within noise (two-sided Mann–Whitney U on per-request samples, α = 0.05; repeat sets: 95 % confidence intervals).")?;
    let mut found = Vec::new();
    if let Some(t) = threshold_pct {
        for (g, rows) in rest.iter().zip(&judged) {
            found.extend(regressions(rows, t, Some(&group_id(g))));
        }
    }
    Ok(found)
}

/// Sweeps among more than two: each compared with A pairwise, one after the other.
fn render_pairwise_with_a(
    first: &Group,
    rest: &[Group],
    threshold_pct: Option<f64>,
    style: Style,
    out: &mut dyn Write,
) -> io::Result<Vec<Regression>> {
    let mut found = Vec::new();
    for other in rest {
        writeln!(
            out,
            "{}",
            style.bold(&format!(
                "A: {} vs {}",
                printable(&group_id(first)),
                printable(&group_id(other))
            ))
        )?;
        found.extend(render_groups(first, other, threshold_pct, style, out)?);
    }
    Ok(found)
}

/// One column per run (A first) and a delta column against A after each other run.
fn columns_table(
    first: &Group,
    rest: &[Group],
    judged: &[Vec<JudgedRow>],
    style: Style,
) -> comfy_table::Table {
    let mut header = vec![
        Cell::new("Metric"),
        Cell::new(format!("A: {}", printable(&group_id(first)))),
    ];
    for (i, g) in rest.iter().enumerate() {
        header.push(Cell::new(format!(
            "{}: {}",
            letter(i + 1),
            printable(&group_id(g))
        )));
        header.push(Cell::new(format!("Δ {} - A", letter(i + 1))));
    }
    let mut table = style.table();
    table.set_header(header);
    for (r, base) in judged[0].iter().enumerate() {
        let mut row = vec![
            Cell::new(base.row.metric),
            Cell::new(value(base.row.a, base.row.is_fraction)),
        ];
        for rows in judged {
            row.extend(judged_cells(&rows[r], style));
        }
        table.add_row(row);
    }
    for i in 1..2 + 2 * rest.len() {
        if let Some(col) = table.column_mut(i) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

/// B's value and its delta, coloured only where the difference is beyond noise (or untested),
/// the delta marked `*` (significant) or `~` (within noise).
fn judged_cells(j: &JudgedRow, style: Style) -> [Cell; 2] {
    let tone = if j.verdict.is_significant() || matches!(j.verdict, Verdict::Untested) {
        j.row.tone()
    } else {
        Tone::Plain
    };
    let mark = match j.verdict {
        Verdict::Significant { .. } => " *",
        Verdict::WithinNoise { .. } => " ~",
        Verdict::Untested => "",
    };
    [
        style.cell(tone, value(j.row.b, j.row.is_fraction)),
        style.cell(tone, format!("{}{mark}", delta_text(&j.row))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::result::{GpuSummary, Metadata, RunStatus};

    fn stats(p50: f64) -> Stats {
        Stats {
            p50,
            p95: p50 + 10.0,
            p99: p50 + 20.0,
            mean: p50,
            min: 0.0,
            max: p50 + 30.0,
            ..Default::default()
        }
    }

    fn run(id: &str, tps: f64, ttft: f64, failed: usize, gpu: Option<GpuSummary>) -> RunResult {
        RunResult {
            schema_version: None,
            run_id: id.into(),
            status: RunStatus::Completed,
            experiment: serde_json::Value::Null,
            metadata: Metadata::default(),
            summary: Summary {
                tokens_per_second: tps,
                requests_per_second: tps / 10.0,
                failed_requests: failed,
                ttft: Some(stats(ttft)),
                e2e_latency: Some(stats(ttft * 4.0)),
                tbt: None,
                gpu_summary: gpu,
                ..Summary::default()
            },
            requests: Vec::new(),
            gpu_metrics: None,
            definitions: None,
        }
    }

    fn render(a: &RunResult, b: &RunResult, style: Style) -> String {
        let mut out = Vec::new();
        render_compare(a, b, style, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn cells(text: &str, metric: &str) -> Vec<String> {
        let row = text
            .lines()
            .find(|l| l.contains(metric))
            .unwrap_or_else(|| panic!("no row {metric} in\n{text}"));
        row.trim_matches('│')
            .split('┆')
            .map(|c| c.trim().to_string())
            .collect()
    }

    #[test]
    fn direction_decides_the_tone() {
        let lower = row("x", Some(10.0), Some(8.0), Better::Lower);
        assert_eq!(lower.tone(), Tone::Good);
        assert_eq!(lower.delta(), Some((-2.0, Some(-20.0))));
        assert_eq!(
            row("x", Some(10.0), Some(12.0), Better::Lower).tone(),
            Tone::Bad
        );
        assert_eq!(
            row("x", Some(10.0), Some(12.0), Better::Higher).tone(),
            Tone::Good
        );
        assert_eq!(
            row("x", Some(10.0), Some(8.0), Better::Higher).tone(),
            Tone::Bad
        );
        assert_eq!(
            row("x", Some(10.0), Some(10.0), Better::Higher).tone(),
            Tone::Plain
        );
        assert_eq!(
            row("x", Some(1.0), Some(9.0), Better::Neither).tone(),
            Tone::Plain
        );
        assert_eq!(row("x", None, Some(9.0), Better::Lower).tone(), Tone::Plain);
        assert_eq!(
            row("x", Some(0.0), Some(2.0), Better::Lower).delta(),
            Some((2.0, None))
        );
    }

    #[test]
    fn plain_table_rows() {
        let gpu = GpuSummary {
            kv_cache_usage_peak: Some(0.5),
            prefix_cache_hit_rate: Some(0.25),
            ..GpuSummary::default()
        };
        let a = run("run-a", 100.0, 50.0, 0, Some(gpu));
        let b = run("run-b", 150.0, 40.0, 2, None);
        let text = render(&a, &b, Style::PLAIN);
        assert_eq!(
            cells(&text, "Metric"),
            ["Metric", "A: run-a", "B: run-b", "Delta (B - A)"]
        );
        assert_eq!(
            cells(&text, "Throughput"),
            ["Throughput (tok/s)", "100", "150", "+50 (+50.0%)"]
        );
        assert_eq!(
            cells(&text, "TTFT p50"),
            ["TTFT p50 (ms)", "50", "40", "-10 (-20.0%)"]
        );
        assert_eq!(
            cells(&text, "E2E p99"),
            ["E2E p99 (ms)", "220", "180", "-40 (-18.2%)"]
        );
        assert_eq!(cells(&text, "TBT p50"), ["TBT p50 (ms)", "-", "-", "-"]);
        assert_eq!(cells(&text, "Errors"), ["Errors", "0", "2", "+2"]);
        assert_eq!(
            cells(&text, "KV cache peak"),
            ["KV cache peak", "50.0%", "-", "-"]
        );
        assert_eq!(
            cells(&text, "Prefix cache"),
            ["Prefix cache hit rate", "25.0%", "-", "-"]
        );
        assert!(
            !text.contains("TPOT"),
            "no TPOT row when neither run has it"
        );
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn coloured_table_marks_better_green_and_worse_red() {
        let a = run("a", 100.0, 50.0, 0, None);
        let b = run("b", 150.0, 60.0, 0, None);
        let text = render(&a, &b, Style::COLOR);
        let throughput = text.lines().find(|l| l.contains("Throughput")).unwrap();
        // comfy-table paints cells itself: 38;5;10 is green, 38;5;9 red.
        assert_eq!(
            throughput.matches("\x1b[38;5;10m").count(),
            2,
            "{throughput:?}"
        );
        let ttft = text.lines().find(|l| l.contains("TTFT p50")).unwrap();
        assert_eq!(ttft.matches("\x1b[38;5;9m").count(), 2, "{ttft:?}");
        let errors = text.lines().find(|l| l.contains("Errors")).unwrap();
        assert!(!errors.contains('\x1b'), "{errors:?}");
    }

    #[test]
    fn fraction_delta_in_percentage_points() {
        let gpu = |hit| GpuSummary {
            prefix_cache_hit_rate: Some(hit),
            ..GpuSummary::default()
        };
        let a = run("a", 1.0, 1.0, 0, Some(gpu(0.2)));
        let b = run("b", 1.0, 1.0, 0, Some(gpu(0.3)));
        let text = render(&a, &b, Style::PLAIN);
        assert_eq!(
            cells(&text, "Prefix cache"),
            [
                "Prefix cache hit rate",
                "20.0%",
                "30.0%",
                "+10.0pp (+50.0%)"
            ]
        );
        assert_eq!(
            cells(&text, "Server gen"),
            ["Server gen throughput (tok/s)", "-", "-", "-"]
        );
    }

    #[test]
    fn three_runs_get_a_column_each_with_deltas_against_the_first() {
        let groups = [
            Group::Run(Box::new(run("a", 100.0, 50.0, 0, None))),
            Group::Run(Box::new(run("b", 150.0, 40.0, 0, None))),
            Group::Run(Box::new(run("c", 50.0, 100.0, 1, None))),
        ];
        let mut out = Vec::new();
        let found = render_many(&groups, Some(5.0), Style::PLAIN, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            cells(&text, "Metric"),
            ["Metric", "A: a", "B: b", "Δ B - A", "C: c", "Δ C - A"]
        );
        assert_eq!(
            cells(&text, "Throughput"),
            [
                "Throughput (tok/s)",
                "100",
                "150",
                "+50 (+50.0%)",
                "50",
                "-50 (-50.0%)"
            ]
        );
        assert_eq!(cells(&text, "Errors"), ["Errors", "0", "0", "0", "1", "+1"]);
        assert!(
            text.contains("Deltas against A; * significant, ~ within noise"),
            "{text}"
        );
        // No per-request samples: nothing is significant, so no regression is claimed.
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn two_runs_keep_the_pairwise_table() {
        let groups = [
            Group::Run(Box::new(run("a", 100.0, 50.0, 0, None))),
            Group::Run(Box::new(run("b", 150.0, 40.0, 0, None))),
        ];
        let mut out = Vec::new();
        render_many(&groups, None, Style::PLAIN, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            cells(&text, "Metric"),
            ["Metric", "A: a", "B: b", "Delta (B - A)", "Difference"]
        );
    }
}
