//! One table for a whole sweep: a row per swept value with the figures people read across
//! levels (requests/s, output tokens/s, TTFT / TPOT / E2E p50 and p99, errors). Printed after
//! a sweep run and by `show <sweep id or name>`.

use std::collections::BTreeSet;
use std::io::{self, Write};

use comfy_table::{Cell, CellAlignment};

use crate::output::style::{num3, Style};
use crate::results::result::{RunResult, Stats, SweepInfo};
use crate::text::printable;

/// Runs that are iterations of a sweep (`metadata.sweep` set), in sweep order. Fewer than two
/// is no sweep to tabulate.
pub fn sweep_members<'a>(runs: impl IntoIterator<Item = &'a RunResult>) -> Vec<&'a RunResult> {
    let mut members: Vec<&RunResult> = runs
        .into_iter()
        .filter(|r| r.metadata.sweep.is_some())
        .collect();
    members.sort_by_key(|r| r.metadata.sweep.as_ref().map_or(0, |s| s.index));
    members
}

/// After a sweep run: a blank line, then the table of sweep `id` (every iteration, also those
/// finished before a `--resume`).
pub fn render_after_run(
    id: &str,
    runs: &[RunResult],
    style: Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    let members = sweep_members(runs);
    if members.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    render_sweep_table(id, &members, style, out)
}

/// The swept keys of the runs, as column headers (`request_rate` last).
fn swept_keys(runs: &[&RunResult]) -> (Vec<String>, bool) {
    let sweeps: Vec<&SweepInfo> = runs
        .iter()
        .filter_map(|r| r.metadata.sweep.as_ref())
        .collect();
    let keys: BTreeSet<String> = sweeps
        .iter()
        .flat_map(|s| s.values.keys().cloned())
        .collect();
    let rate = sweeps.iter().any(|s| s.request_rate.is_some());
    (keys.into_iter().collect(), rate)
}

fn ms_pair(stats: Option<&Stats>) -> [String; 2] {
    match stats {
        Some(s) => [num3(s.p50), num3(s.p99)],
        None => ["-".into(), "-".into()],
    }
}

/// The cells of one run's row, after its swept values.
pub fn figures(run: &RunResult) -> Vec<String> {
    let s = &run.summary;
    let mut cells = vec![num3(s.requests_per_second), num3(s.tokens_per_second)];
    cells.extend(ms_pair(s.ttft.as_ref()));
    cells.extend(ms_pair(s.tpot.as_ref()));
    cells.extend(ms_pair(s.e2e_latency.as_ref()));
    cells.push(s.failed_requests.to_string());
    cells
}

const FIGURE_HEADERS: [&str; 9] = [
    "req/s",
    "out tok/s",
    "TTFT p50",
    "TTFT p99",
    "TPOT p50",
    "TPOT p99",
    "E2E p50",
    "E2E p99",
    "errors",
];

/// The sweep table; `title` names the sweep (its id). Latencies in ms.
pub fn render_sweep_table(
    title: &str,
    runs: &[&RunResult],
    style: Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    let (keys, rate) = swept_keys(runs);
    let mut header: Vec<Cell> = keys.iter().map(Cell::new).collect();
    if rate {
        header.push(Cell::new("request_rate"));
    }
    let first_figure = header.len();
    header.extend(FIGURE_HEADERS.iter().map(Cell::new));
    let mut table = style.table();
    table.set_header(header);
    for run in runs {
        let sweep = run.metadata.sweep.as_ref();
        let mut row: Vec<Cell> = keys
            .iter()
            .map(|k| {
                let v = sweep.and_then(|s| s.values.get(k));
                Cell::new(v.map_or("-".to_string(), |v| v.to_string()))
            })
            .collect();
        if rate {
            let r = sweep.and_then(|s| s.request_rate);
            row.push(Cell::new(r.map_or("-".to_string(), num3)));
        }
        let errors = run.summary.failed_requests > 0;
        for (i, text) in figures(run).into_iter().enumerate() {
            let is_errors = i + 1 == FIGURE_HEADERS.len();
            row.push(if is_errors && errors {
                style.cell(crate::output::style::Tone::Bad, text)
            } else {
                Cell::new(text)
            });
        }
        table.add_row(row);
    }
    for i in 0..first_figure + FIGURE_HEADERS.len() {
        if let Some(col) = table.column_mut(i) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    writeln!(
        out,
        "{}",
        style.bold(&format!("Sweep {}", printable(title)))
    )?;
    writeln!(out, "{table}")?;
    writeln!(
        out,
        "Latencies in ms (whole run, warmup excluded); out tok/s counts output tokens; errors are failed requests."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::result::{Metadata, RunStatus, Summary};
    use std::collections::BTreeMap;

    fn stats(p50: f64) -> Stats {
        Stats {
            p50,
            p95: p50 * 1.5,
            p99: p50 * 2.0,
            mean: p50,
            min: 0.0,
            max: p50 * 3.0,
            ..Default::default()
        }
    }

    fn run(index: usize, concurrency: usize, failed: usize) -> RunResult {
        RunResult {
            schema_version: Some(1),
            run_id: format!("s-c{concurrency}"),
            status: RunStatus::Completed,
            experiment: serde_json::Value::Null,
            metadata: Metadata {
                sweep: Some(SweepInfo {
                    index,
                    total: 3,
                    values: BTreeMap::from([("concurrency".to_string(), concurrency)]),
                    id: Some("s-20261202-060000".into()),
                    request_rate: None,
                }),
                ..Metadata::default()
            },
            summary: Summary {
                requests_per_second: concurrency as f64 * 10.0,
                tokens_per_second: concurrency as f64 * 100.0,
                failed_requests: failed,
                ttft: Some(stats(concurrency as f64)),
                tpot: Some(stats(2.0)),
                e2e_latency: Some(stats(40.0)),
                ..Summary::default()
            },
            requests: Vec::new(),
            gpu_metrics: None,
            definitions: None,
        }
    }

    fn rows(text: &str) -> Vec<Vec<String>> {
        text.lines()
            .filter(|l| l.starts_with('│'))
            .map(|l| {
                l.trim_matches('│')
                    .split('┆')
                    .map(|c| c.trim().to_string())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn one_row_per_swept_value_in_sweep_order() {
        let (a, b, c) = (run(2, 16, 3), run(0, 1, 0), run(1, 4, 0));
        let members = sweep_members([&a, &b, &c]);
        let mut out = Vec::new();
        render_sweep_table("s-20261202-060000", &members, Style::PLAIN, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("Sweep s-20261202-060000\n"), "{text}");
        let rows = rows(&text);
        assert_eq!(
            rows[0],
            [
                "concurrency",
                "req/s",
                "out tok/s",
                "TTFT p50",
                "TTFT p99",
                "TPOT p50",
                "TPOT p99",
                "E2E p50",
                "E2E p99",
                "errors"
            ]
        );
        assert_eq!(
            rows[1],
            ["1", "10", "100", "1", "2", "2", "4", "40", "80", "0"]
        );
        assert_eq!(rows[2][0], "4");
        assert_eq!(
            rows[3],
            ["16", "160", "1600", "16", "32", "2", "4", "40", "80", "3"]
        );
        assert_eq!(rows.len(), 4);
    }

    #[test]
    fn rate_sweeps_get_a_request_rate_column_and_runs_without_sweep_are_left_out() {
        let mut a = run(0, 1, 0);
        let mut b = run(1, 1, 0);
        for (r, rate) in [(&mut a, 12.5), (&mut b, 25.0)] {
            if let Some(s) = r.metadata.sweep.as_mut() {
                s.values.clear();
                s.request_rate = Some(rate);
            }
        }
        let mut lone = run(0, 1, 0);
        lone.metadata.sweep = None;
        let members = sweep_members([&a, &lone, &b]);
        assert_eq!(members.len(), 2);
        let mut out = Vec::new();
        render_sweep_table("s", &members, Style::PLAIN, &mut out).unwrap();
        let rows = rows(&String::from_utf8(out).unwrap());
        assert_eq!(rows[0][0], "request_rate");
        assert_eq!(rows[1][0], "12.5");
        assert_eq!(rows[2][0], "25");
    }
}
