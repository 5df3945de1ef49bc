//! Matrix output: the dry-run plan (every cell, its server, its command line, the total cost),
//! the ranked table, and the per-cell progress lines (indicatif's MultiProgress on a
//! terminal, plain lines otherwise).

use std::collections::HashMap;
use std::io::Write;
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc::UnboundedReceiver;

use comfy_table::Cell;

use super::style::{num3, Style, Tone};
use crate::config::{Experiment, ProviderKind};
use crate::events::{Event, Phase, TeardownOutcome};
use crate::matrix::{CellStatus, Column, MatrixEvent, MatrixFile};
use crate::providers::runpod::{self, PriceTable};
use crate::text::printable;

/// One cell of the dry-run plan.
pub struct PlannedCell<'a> {
    pub name: &'a str,
    pub experiment: &'a Experiment,
    pub iterations: usize,
}

/// Every cell with its server and command line, and the whole matrix's cost range.
pub fn render_dry_run(
    name: &str,
    max_parallel: usize,
    cells: &[PlannedCell<'_>],
    prices: &PriceTable,
    style: Style,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{}",
        style.bold(&format!(
            "Matrix {name}: {} cell(s), at most {max_parallel} at once",
            cells.len()
        ))
    )?;
    let (mut low, mut high, mut priced) = (0.0, 0.0, false);
    for cell in cells {
        let exp = cell.experiment;
        writeln!(
            out,
            "\n  {}  {} × {} iteration(s)",
            style.bold(cell.name),
            server_of(exp),
            cell.iterations
        )?;
        // The single-run dry run's server lines (image, command line, secrets hidden).
        let mut server = Vec::new();
        super::server_plan::render_server(exp, None, &mut server)?;
        for line in String::from_utf8_lossy(&server).lines() {
            writeln!(out, "    {line}")?;
        }
        if let Some(est) = runpod::estimate(exp, prices) {
            writeln!(
                out,
                "    cost:   ${:.2}–${:.2} at ${:.2}/hr",
                est.low_usd, est.high_usd, est.per_hr
            )?;
            (low, high, priced) = (low + est.low_usd, high + est.high_usd, true);
        }
    }
    if priced {
        writeln!(
            out,
            "\nEstimated total cost: ${low:.2}–${high:.2} (one confirmation covers the whole matrix)"
        )?;
    }
    Ok(())
}

/// `RunPod A100-80GB ×1 (community), vllm, model` / `simulator, vllm, model` / `local …`.
fn server_of(exp: &Experiment) -> String {
    let i = &exp.infrastructure;
    let place = match i.provider {
        ProviderKind::Runpod => format!(
            "RunPod pod {} ×{} ({})",
            i.gpu_type.as_deref().unwrap_or("?"),
            i.gpu_count,
            i.cloud_type.as_str()
        ),
        ProviderKind::Simulated => format!(
            "simulated server (decode step {} ms + {} ms/seq, {} seqs)",
            i.simulation.decode_step_ms,
            i.simulation.decode_step_ms_per_seq,
            i.simulation.max_num_seqs
        ),
        ProviderKind::Local => {
            let gpus = i
                .local
                .env
                .iter()
                .find(|(k, _)| k == "CUDA_VISIBLE_DEVICES")
                .map(|(_, v)| format!(" (CUDA_VISIBLE_DEVICES={v})"))
                .unwrap_or_default();
            format!("local server{gpus}")
        }
    };
    format!(
        "{place}, {}, {}",
        exp.framework.as_str(),
        printable(&exp.model.name)
    )
}

/// The ranked table; the best value of each column is marked with `*`.
pub fn render_table(file: &MatrixFile, style: Style, out: &mut dyn Write) -> std::io::Result<()> {
    let columns = file.columns();
    let mut table = style.table();
    let mut header = vec!["#".to_string(), "cell".into(), "status".into()];
    header.extend(columns.iter().map(|c| title(*c, file.slo).to_string()));
    header.push("note".into());
    table.set_header(header);
    for (rank, row) in file.cells.iter().enumerate() {
        let mut cells = vec![
            Cell::new(rank + 1),
            Cell::new(printable(&row.cell)),
            status_cell(row.status, style),
        ];
        for c in &columns {
            let text = c
                .value(row)
                .map(|v| figure(*c, v))
                .unwrap_or_else(|| "—".into());
            cells.push(if file.best.get(c.key()) == Some(&row.cell) {
                style.cell(Tone::Good, format!("{text} *"))
            } else {
                Cell::new(text)
            });
        }
        cells.push(Cell::new(
            row.error.as_deref().map(short).unwrap_or_default(),
        ));
        table.add_row(cells);
    }
    writeln!(out, "{table}")?;
    writeln!(out, "* best in its column")
}

/// `show <matrix id>`: the table, then each cell's result files.
pub fn render_show(
    file: &MatrixFile,
    path: &std::path::Path,
    style: Style,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let state = if file.interrupted {
        " (interrupted)"
    } else {
        ""
    };
    writeln!(
        out,
        "{}{state}",
        style.bold(&format!(
            "Matrix {}: {}",
            file.id,
            printable(&file.experiment_name)
        ))
    )?;
    writeln!(
        out,
        "axes: {}; at most {} at once; {}",
        file.axes.join(" × "),
        file.max_parallel_pods,
        path.display()
    )?;
    render_table(file, style, out)?;
    for cell in &file.cells {
        for r in &cell.results {
            writeln!(out, "  {}: {}", printable(&cell.cell), printable(r))?;
        }
    }
    Ok(())
}

fn title(c: Column, slo: bool) -> &'static str {
    match c {
        Column::Throughput => "output tok/s",
        Column::Goodput => "goodput tok/s",
        Column::SearchAnswer => "capacity (search)",
        Column::UsdPerMillion if slo => "$/M good out tok",
        Column::UsdPerMillion => "$/M out tok",
    }
}

fn figure(c: Column, v: f64) -> String {
    match c {
        Column::UsdPerMillion => format!("${v:.2}"),
        _ => num3(v),
    }
}

fn status_cell(s: CellStatus, style: Style) -> Cell {
    match s {
        CellStatus::Completed => Cell::new(s.as_str()),
        CellStatus::Failed => style.cell(Tone::Bad, format!("{} ✗", s.as_str())),
        _ => style.cell(Tone::Bad, s.as_str()),
    }
}

/// The first line of an error, at most 80 characters.
fn short(e: &str) -> String {
    let line = printable(e.lines().next().unwrap_or_default()).into_owned();
    match line.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line,
    }
}

/// What the progress line of a cell shows.
struct CellLine {
    phase: &'static str,
    done: usize,
    total: usize,
    tokens: u64,
    bench_start: Option<Instant>,
    last_tenth: usize,
}

impl CellLine {
    fn text(&self, name: &str, width: usize) -> String {
        let mut t = format!("{name:<width$}  {:<12}", self.phase);
        if self.total > 0 {
            t.push_str(&format!("  {}/{}", self.done, self.total));
        }
        if let Some(s) = self.bench_start.map(|s| s.elapsed().as_secs_f64()) {
            if s > 0.0 && self.tokens > 0 {
                t.push_str(&format!("  {} tok/s", num3(self.tokens as f64 / s)));
            }
        }
        t
    }

    /// Apply an event; `true` when a plain-text line is due.
    fn apply(&mut self, event: &Event) -> bool {
        match event {
            Event::PhaseStarted(p) => {
                self.phase = match p {
                    Phase::Provision => "provisioning",
                    Phase::Load => "loading",
                    Phase::Benchmark => "benchmark",
                    Phase::Collect => "collecting",
                };
                true
            }
            Event::BenchmarkStarted { total } => {
                (self.done, self.total, self.last_tenth, self.tokens) = (0, *total, 0, 0);
                self.bench_start = Some(Instant::now());
                false
            }
            Event::RequestCompleted(r) => {
                self.done += 1;
                self.tokens += r.completion_tokens.unwrap_or(0);
                let tenth = (self.done * 10).checked_div(self.total).unwrap_or(0);
                let due = tenth > self.last_tenth;
                self.last_tenth = tenth;
                due
            }
            Event::Teardown(outcome) => {
                self.phase = match outcome {
                    TeardownOutcome::Failed { .. } => "teardown failed",
                    _ => "torn down",
                };
                true
            }
            _ => false,
        }
    }
}

/// Where progress goes: live bars on a terminal, plain lines otherwise. Other stderr lines
/// while the matrix runs (the Ctrl-C notice) go through [`MatrixTerminal::notice`] so they
/// never tear a bar.
#[derive(Clone)]
pub struct MatrixTerminal {
    multi: MultiProgress,
    bars: bool,
    quiet: bool,
}

impl MatrixTerminal {
    pub fn new(tty: bool, quiet: bool) -> Self {
        Self {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: tty && !quiet,
            quiet,
        }
    }

    /// One whole line on stderr, above the bars when they are shown.
    pub fn notice(&self, text: &str) {
        if self.bars {
            let _ = self.multi.println(text);
        } else {
            eprintln!("{text}");
        }
    }
}

/// Render matrix events until the channel closes: bars on a terminal, plain lines otherwise.
pub async fn render_progress(
    mut events: UnboundedReceiver<MatrixEvent>,
    names: Vec<String>,
    term: MatrixTerminal,
) {
    let (multi, quiet) = (&term.multi, term.quiet);
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(4);
    let mut lines: HashMap<usize, CellLine> = HashMap::new();
    let bars: Vec<ProgressBar> = if term.bars {
        queued_bars(multi, &names, width)
    } else {
        Vec::new()
    };
    while let Some(ev) = events.recv().await {
        let (cell, due) = apply_event(&mut lines, &ev);
        let name = names.get(cell).map(String::as_str).unwrap_or("?");
        // Provider status and warnings (pod ids, termination), once each, named by cell.
        if let MatrixEvent::Run {
            event: Event::Info(msg) | Event::Warn(msg),
            ..
        } = &ev
        {
            if !quiet {
                term.notice(&format!("[{name}] {}", printable(msg)));
            }
        }
        let line = lines.entry(cell).or_insert_with(new_line);
        if let Some(bar) = bars.get(cell) {
            bar.set_message(line.text(name, width));
        } else if due && !quiet {
            // One whole line per write: cells never interleave mid-line.
            eprintln!("[matrix] {}", line.text(name, width));
        }
    }
    for b in &bars {
        b.finish();
    }
}

/// One spinner line per cell, each showing its name and `queued`.
fn queued_bars(multi: &MultiProgress, names: &[String], width: usize) -> Vec<ProgressBar> {
    let style =
        ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_bar());
    names
        .iter()
        .map(|n| {
            let b = multi.add(ProgressBar::new_spinner().with_style(style.clone()));
            b.set_message(format!("{n:<width$}  queued"));
            b
        })
        .collect()
}

/// `ev` applied to its cell's line: the cell and whether the line is due to be printed.
fn apply_event(lines: &mut HashMap<usize, CellLine>, ev: &MatrixEvent) -> (usize, bool) {
    match ev {
        MatrixEvent::Started { cell } => (*cell, false),
        MatrixEvent::Run { cell, event } => {
            let line = lines.entry(*cell).or_insert_with(new_line);
            (*cell, line.apply(event))
        }
        MatrixEvent::Finished { cell, report } => {
            let line = lines.entry(*cell).or_insert_with(new_line);
            line.phase = match report.status {
                CellStatus::Completed => "done",
                CellStatus::Failed => "failed",
                CellStatus::Interrupted => "interrupted",
                CellStatus::NotStarted => "not started",
            };
            (*cell, true)
        }
    }
}

fn new_line() -> CellLine {
    CellLine {
        phase: "queued",
        done: 0,
        total: 0,
        tokens: 0,
        bench_start: None,
        last_tenth: 0,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::matrix::CellRow;
    use crate::metrics::request::RequestRecord;

    fn file() -> MatrixFile {
        let mut ok = CellRow::new("A100-80GB-vllm", &[]);
        ok.status = CellStatus::Completed;
        ok.tokens_per_second = Some(1234.5);
        ok.usd_per_million_tokens = Some(0.5);
        let mut bad = CellRow::new("L40S-vllm", &[]);
        bad.status = CellStatus::Failed;
        bad.error = Some("no capacity for L40S\nsecond line".into());
        let mut f = crate::matrix::summary::tests::file(vec![bad, ok]);
        f.rank();
        f
    }

    #[test]
    fn table_marks_the_best_and_the_failed_cell_with_its_reason() {
        let mut out = Vec::new();
        render_table(&file(), Style::PLAIN, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let rows: Vec<&str> = text.lines().filter(|l| l.contains("-vllm")).collect();
        assert!(
            rows[0].contains("A100-80GB-vllm") && rows[0].contains("1234 *"),
            "{text}"
        );
        assert!(rows[0].contains("$0.50 *"), "{text}");
        assert!(rows[1].contains("failed ✗") && rows[1].contains("no capacity for L40S"));
        assert!(!text.contains("second line"), "{text}");
        assert!(
            !text.contains("goodput"),
            "no SLO, no goodput column:\n{text}"
        );
    }

    #[test]
    fn a_cell_line_shows_phase_progress_and_throughput_every_tenth() {
        let mut line = new_line();
        assert!(line.apply(&Event::PhaseStarted(Phase::Benchmark)));
        assert!(!line.apply(&Event::BenchmarkStarted { total: 20 }));
        let record = |tokens| {
            let at = chrono::Utc::now();
            Event::RequestCompleted(Arc::new(RequestRecord {
                request_index: 0,
                conversation_index: None,
                turn_index: None,
                started_at: at,
                finished_at: at,
                send_delay_us: 0,
                pacing: Default::default(),
                timings: Default::default(),
                prompt_tokens: None,
                completion_tokens: Some(tokens),
                token_count_source: None,
                error: None,
                requested_input_tokens: None,
                requested_output_tokens: None,
            }))
        };
        assert!(!line.apply(&record(8)), "1/20 is not a tenth yet");
        assert!(line.apply(&record(8)), "2/20 is");
        let text = line.text("cell", 6);
        assert!(text.starts_with("cell    benchmark"), "{text}");
        assert!(text.contains("2/20"), "{text}");
    }
}
