//! `list` (one row per result file, then interrupted runs with their resume command) and
//! `show` (one run's metadata, config and summary).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use comfy_table::{Cell, CellAlignment};
use serde_json::Value;

use crate::metrics::aggregate::per_turn_from_rows;
use crate::output::style::{ms, num3, or_dash, Style, Tone};
use crate::results::journal::{JournalError, JournalState};
use crate::results::result::{RunResult, RunStatus};
use crate::results::storage::{ResultEntry, RunInfo};
use crate::text::printable;

fn status_tone(status: RunStatus) -> Tone {
    match status {
        RunStatus::Completed => Tone::Good,
        RunStatus::Partial | RunStatus::Failed => Tone::Bad,
    }
}

/// Runs that stopped without finishing (a crash, `kill -9`, a second Ctrl-C): their journal is
/// still there. Each with what it saved and the command that continues it. Nothing when none.
pub fn render_interrupted(
    journals: &[(PathBuf, Result<JournalState, JournalError>)],
    style: Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    if journals.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "\n{}",
        style.yellow("Interrupted runs (journal kept; resume to finish them):")
    )?;
    for (_, state) in journals {
        match state {
            Ok(state) => {
                journal_line(state, "interrupted", "saved", style, out)?;
                writeln!(out, "    resume: {}", printable(&state.resume_command()))?;
            }
            // The error names the file.
            Err(e) => writeln!(
                out,
                "  {} {}",
                style.yellow("unreadable journal:"),
                printable(&e.to_string())
            )?,
        }
    }
    Ok(())
}

/// Runs whose journal another process still writes (it holds the run's lock): not
/// interrupted, so no resume command.
pub fn render_running(
    running: &[(JournalState, Option<u32>)],
    style: Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    if running.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "\n{}",
        style.bold("Runs still going (in another process):")
    )?;
    for (state, pid) in running {
        let label = match pid {
            Some(p) => format!("running (pid {p})"),
            None => "running".to_string(),
        };
        journal_line(state, &label, "so far", style, out)?;
    }
    Ok(())
}

/// `<run id>  <label>  started …  N request(s) <when>, i/n iteration(s) done`.
fn journal_line(
    state: &JournalState,
    label: &str,
    when: &str,
    style: Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(
        out,
        "  {}  {label}  started {}  {} request(s) {when}, {}/{} iteration(s) done",
        style.bold(&printable(&state.run_id)),
        state.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        state.completed_requests(),
        state.finished.len(),
        state.iterations
    )
}

/// The `list` table; unreadable files are listed under it with the reason.
pub fn render_list(
    entries: &[ResultEntry],
    dir: &Path,
    style: Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    if entries.is_empty() {
        return writeln!(out, "No results in {}", dir.display());
    }
    let mut table = style.table();
    table.set_header(vec![
        "Run ID",
        "Status",
        "Started (UTC)",
        "Requests ok/total",
        "tok/s",
        "TTFT p50",
    ]);
    let mut unreadable = Vec::new();
    for entry in entries {
        let info = match &entry.info {
            Ok(info) => info,
            Err(reason) => {
                unreadable.push((entry, reason));
                continue;
            }
        };
        table.add_row(list_row(entry, info, style));
    }
    for i in 3..6 {
        if let Some(col) = table.column_mut(i) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    if unreadable.len() < entries.len() {
        writeln!(out, "{table}")?;
    }
    for (entry, reason) in unreadable {
        writeln!(
            out,
            "{} {}: {}",
            style.yellow("unreadable:"),
            printable(&entry.path.display().to_string()),
            printable(&reason.to_string())
        )?;
    }
    Ok(())
}

/// One readable result of the `list` table.
fn list_row(entry: &ResultEntry, info: &RunInfo, style: Style) -> Vec<Cell> {
    vec![
        Cell::new(printable(&entry.id)),
        style.cell(status_tone(info.status), info.status.as_str()),
        Cell::new(or_dash(
            info.started
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()),
        )),
        Cell::new(format!(
            "{}/{}",
            info.successful_requests, info.total_requests
        )),
        Cell::new(num3(info.tokens_per_second)),
        Cell::new(or_dash(info.ttft_p50_ms.map(ms))),
    ]
}

/// A dotted path into the experiment config, as display text (`null` counts as missing).
fn config_value(experiment: &Value, pointer: &str) -> Option<String> {
    match experiment.pointer(pointer)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// `type (count=40, concurrency=8, max_tokens=32)` from whichever keys the config has.
fn workload_text(experiment: &Value) -> Option<String> {
    let kind = config_value(experiment, "/workload/type")?;
    let params: Vec<String> = [
        ("count", "/workload/requests/count"),
        ("concurrency", "/workload/concurrency"),
        ("batch_size", "/workload/batch_size"),
        ("rate", "/workload/rate"),
        ("turns", "/workload/conversation/turns"),
        ("max_tokens", "/workload/parameters/max_tokens"),
        ("temperature", "/workload/parameters/temperature"),
    ]
    .iter()
    .filter_map(|(name, p)| config_value(experiment, p).map(|v| format!("{name}={v}")))
    .collect();
    Some(if params.is_empty() {
        kind
    } else {
        format!("{kind} ({})", params.join(", "))
    })
}

/// Metadata and config as label/value pairs; missing ones are left out.
fn details(result: &RunResult, path: &Path) -> Vec<(&'static str, String)> {
    let m = &result.metadata;
    let e = &result.experiment;
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.to_rfc3339());
    // A `--server-url` run used no GPU of the config's: show none rather than a wrong one.
    let external = m.provider.as_deref() == Some("external");
    let gpu = m
        .gpu_type
        .clone()
        .or_else(|| config_value(e, "/infrastructure/gpu_type").filter(|_| !external))
        .map(|g| {
            let count = m
                .gpu_count
                .map(|c| c.to_string())
                .or_else(|| config_value(e, "/infrastructure/gpu_count"));
            count.map_or(g.clone(), |c| format!("{c} x {g}"))
        });
    let tool = m.tool.as_ref().map(|t| {
        format!("{t} {}", m.tool_version.as_deref().unwrap_or_default())
            .trim_end()
            .to_string()
    });
    let fields = [
        ("File", Some(path.display().to_string())),
        ("Experiment", Some(m.experiment_name.clone())),
        ("Started", time(m.started_at)),
        ("Finished", time(m.finished_at)),
        ("Model", config_value(e, "/model/name")),
        (
            "Framework",
            m.framework
                .clone()
                .or_else(|| config_value(e, "/framework")),
        ),
        ("Workload", workload_text(e)),
        ("GPU", gpu),
        (
            "Provider",
            m.provider
                .clone()
                .or_else(|| config_value(e, "/infrastructure/provider")),
        ),
        ("Server", m.server_url.clone()),
        ("Pod", m.pod_id.clone()),
        ("Cost", m.cost_per_hr.map(|c| format!("${c:.2}/hr"))),
        ("Tool", tool),
        ("Stopped early", m.stopped_early.clone()),
    ];
    fields
        .into_iter()
        .filter_map(|(label, v)| v.map(|v| (label, v)))
        .collect()
}

/// `show`: header, metadata, config summary, then the summary panel.
pub fn render_show(
    result: &RunResult,
    path: &Path,
    style: Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    let shown = crate::output::summary::DEFAULT_SHOWN;
    render_show_with(result, path, style, &shown, out)
}

/// [`render_show`] printing the percentiles in `shown` (`show --percentiles`).
pub fn render_show_with(
    result: &RunResult,
    path: &Path,
    style: Style,
    shown: &[f64],
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(
        out,
        "{}  {}",
        style.bold(&printable(&result.run_id)),
        style.tone(status_tone(result.status), result.status.as_str())
    )?;
    for (label, value) in details(result, path) {
        let value = printable(&value);
        writeln!(out, "  {}{value}", style.dim(&format!("{label:<16}")))?;
    }
    writeln!(out)?;
    // Python files carry no per-turn table; rebuild it from their rows.
    let per_turn = match result.summary.per_turn {
        Some(_) => None,
        None => per_turn_from_rows(&result.requests),
    };
    crate::output::summary::render_summary_with(
        &result.summary,
        per_turn.as_deref(),
        style,
        shown,
        out,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::result::{Metadata, RequestResult, Summary};
    use crate::results::storage::RunInfo;
    use chrono::{TimeZone, Utc};
    use std::path::PathBuf;

    fn info(status: RunStatus) -> RunInfo {
        RunInfo {
            run_id: "r".into(),
            status,
            name: "exp".into(),
            started: Some(Utc.with_ymd_and_hms(2026, 11, 27, 17, 8, 35).unwrap()),
            total_requests: 12,
            successful_requests: 10,
            tokens_per_second: 437.84,
            ttft_p50_ms: Some(39.86),
            sweep_id: None,
        }
    }

    fn list(entries: &[ResultEntry], style: Style) -> String {
        let mut out = Vec::new();
        render_list(entries, Path::new("results"), style, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn list_table_and_unreadable_files() {
        let entries = vec![
            ResultEntry {
                id: "exp-20261127-170835".into(),
                path: PathBuf::from("results/exp-20261127-170835.json"),
                info: Ok(info(RunStatus::Partial)),
            },
            ResultEntry {
                id: "broken".into(),
                path: PathBuf::from("results/broken.json"),
                info: Err("expected value at line 1 column 1".into()),
            },
        ];
        let text = list(&entries, Style::PLAIN);
        let expected = "\
┌─────────────────────┬─────────┬─────────────────────┬───────────────────┬───────┬──────────┐
│ Run ID              ┆ Status  ┆ Started (UTC)       ┆ Requests ok/total ┆ tok/s ┆ TTFT p50 │
╞═════════════════════╪═════════╪═════════════════════╪═══════════════════╪═══════╪══════════╡
│ exp-20261127-170835 ┆ partial ┆ 2026-11-27 17:08:35 ┆             10/12 ┆   438 ┆   39.9ms │
└─────────────────────┴─────────┴─────────────────────┴───────────────────┴───────┴──────────┘
unreadable: results/broken.json: expected value at line 1 column 1
";
        assert_eq!(text, expected);
        let coloured = list(&entries, Style::COLOR);
        assert!(coloured.contains("\x1b[38;5;9m partial "), "{coloured:?}");
        assert!(coloured.contains("\x1b[33munreadable:\x1b[0m"));
    }

    #[test]
    fn interrupted_runs_show_what_was_saved_and_how_to_resume() {
        let state = JournalState {
            run_id: "exp-20261127-170835".into(),
            config_hash: "h".into(),
            config: serde_json::Value::Null,
            iterations: 2,
            started_at: Utc.with_ymd_and_hms(2026, 11, 27, 17, 8, 35).unwrap(),
            resume_args: vec!["exp.yaml".into()],
            resumed_at: Vec::new(),
            finished: [(1, "results/a.json".to_string())].into_iter().collect(),
            records: Default::default(),
            interrupted: Default::default(),
        };
        let journals = vec![
            (PathBuf::from("results/exp.journal.jsonl"), Ok(state)),
            (
                PathBuf::from("results/bad.journal.jsonl"),
                Err(JournalError::NoHeader {
                    path: PathBuf::from("results/bad.journal.jsonl"),
                }),
            ),
        ];
        let mut out = Vec::new();
        render_interrupted(&journals, Style::PLAIN, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "\nInterrupted runs (journal kept; resume to finish them):\n  \
             exp-20261127-170835  interrupted  started 2026-11-27 17:08:35 UTC  0 request(s) saved, 1/2 iteration(s) done\n    \
             resume: llm-inf-bench run exp.yaml --resume exp-20261127-170835\n  \
             unreadable journal: results/bad.journal.jsonl: not a journal (line 1 has no header)\n"
        );
        let mut out = Vec::new();
        render_interrupted(&[], Style::PLAIN, &mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn empty_list_says_where_it_looked() {
        assert_eq!(list(&[], Style::PLAIN), "No results in results\n");
    }

    #[test]
    fn show_prints_metadata_config_and_rebuilt_per_turn_table() {
        let mut requests = Vec::new();
        for turn in 0..2 {
            requests.push(RequestResult {
                request_index: turn,
                ttft_ms: Some(80.0 + turn as f64),
                e2e_latency_ms: Some(300.0),
                inter_token_latencies_ms: vec![15.0, 16.0],
                prompt_tokens: Some(10),
                completion_tokens: Some(3),
                turn_index: Some(turn),
                conversation_index: Some(0),
                ..Default::default()
            });
        }
        let result = RunResult {
            schema_version: None,
            run_id: "mt-1".into(),
            status: RunStatus::Completed,
            experiment: serde_json::json!({
                "model": {"name": "Qwen/Qwen3-0.6B"},
                "framework": "vllm",
                "infrastructure": {"provider": "runpod", "gpu_type": "A100-80GB", "gpu_count": 2},
                "workload": {"type": "multi_turn", "requests": {"count": 1}, "concurrency": null,
                             "conversation": {"turns": 2}, "parameters": {"max_tokens": 16}},
            }),
            metadata: Metadata {
                experiment_name: "mt".into(),
                cost_per_hr: Some(1.64),
                ..Metadata::default()
            },
            summary: Summary {
                total_requests: 2,
                successful_requests: 2,
                ..Summary::default()
            },
            requests,
            gpu_metrics: None,
            definitions: None,
        };
        let mut out = Vec::new();
        render_show(&result, Path::new("r/mt-1.json"), Style::PLAIN, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let head: Vec<&str> = text.lines().take(9).collect();
        assert_eq!(
            head,
            [
                "mt-1  completed",
                "  File            r/mt-1.json",
                "  Experiment      mt",
                "  Model           Qwen/Qwen3-0.6B",
                "  Framework       vllm",
                "  Workload        multi_turn (count=1, turns=2, max_tokens=16)",
                "  GPU             2 x A100-80GB",
                "  Provider        runpod",
                "  Cost            $1.64/hr",
            ]
        );
        assert!(
            text.contains("Requests        2 total, 2 ok, 0 failed"),
            "{text}"
        );
        assert!(text.contains("Per turn"), "{text}");
        assert!(text.contains("81 / 81 / 81"), "{text}");

        let mut out = Vec::new();
        render_show(&result, Path::new("r/mt-1.json"), Style::COLOR, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("\x1b[1mmt-1\x1b[0m  \x1b[32mcompleted\x1b[0m\n"),
            "{text:?}"
        );
    }
}
