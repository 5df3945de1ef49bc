//! The summary panel (SPEC §9): requests, duration, throughput, latency percentiles, server
//! metrics and the multi-turn per-turn table.

use std::io::{self, Write};

use comfy_table::{Cell, CellAlignment};

use crate::output::style::{ms, num3, or_dash, percent, Style};
use crate::results::result::{GpuSummary, Stats, Summary, TurnSummary};

/// Label column width, so values line up.
const LABEL: usize = 16;

fn line(out: &mut dyn Write, style: Style, label: &str, value: &str) -> io::Result<()> {
    let padded = format!("{label:<LABEL$}");
    writeln!(out, "  {}{value}", style.dim(&padded))
}

/// The percentiles the panel prints unless `--percentiles` says otherwise.
pub const DEFAULT_SHOWN: [f64; 3] = [50.0, 95.0, 99.0];

/// `p50=42ms p95=78ms p99=112ms  mean=51ms std=9.1ms`, or `-` when there were no values.
pub fn percentiles(stats: Option<&Stats>) -> String {
    percentiles_with(stats, &DEFAULT_SHOWN)
}

/// [`percentiles`] with the chosen percentiles (`-` for one a Python file lacks).
pub fn percentiles_with(stats: Option<&Stats>, shown: &[f64]) -> String {
    let Some(s) = stats else {
        return "-".to_string();
    };
    let mut text: Vec<String> = shown
        .iter()
        .map(|&p| format!("p{p}={}", or_dash(s.percentile(p).map(ms))))
        .collect();
    text.push(format!(" mean={}", ms(s.mean)));
    if let Some(std) = s.std {
        text.push(format!("std={}", ms(std)));
    }
    text.join(" ")
}

/// `--percentiles 50,90,99,99.9`: which stored percentiles the summary prints.
pub fn parse_percentiles(text: &str) -> Result<Vec<f64>, String> {
    let stored = crate::metrics::aggregate::STORED_PERCENTILES;
    let names = || {
        stored
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim) {
        let p = part.trim_start_matches(['p', 'P']).parse::<f64>().ok();
        match p.filter(|p| stored.contains(p)) {
            Some(p) if !out.contains(&p) => out.push(p),
            Some(_) => {}
            None => {
                return Err(format!(
                    "`{part}` is not a stored percentile; choose from {} (comma-separated)",
                    names()
                ))
            }
        }
    }
    Ok(out)
}

/// `, 1 cancelled` for requests cut short by Ctrl-C or a breaker (neither ok nor failed).
fn cancelled_text(summary: &Summary) -> String {
    let cancelled = summary
        .total_requests
        .saturating_sub(summary.successful_requests + summary.failed_requests);
    if cancelled > 0 {
        format!(", {cancelled} cancelled")
    } else {
        String::new()
    }
}

/// Renders the panel. `per_turn` may be computed by the caller for files without one
/// (see `aggregate::per_turn_from_rows`); it falls back to `summary.per_turn`.
pub fn render_summary(
    summary: &Summary,
    per_turn: Option<&[TurnSummary]>,
    style: Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    render_summary_with(summary, per_turn, style, &DEFAULT_SHOWN, out)
}

/// [`render_summary`] printing the percentiles in `shown` (`--percentiles`).
pub fn render_summary_with(
    summary: &Summary,
    per_turn: Option<&[TurnSummary]>,
    style: Style,
    shown: &[f64],
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(out, "{}", style.bold("Summary"))?;
    render_volume(summary, style, out)?;
    render_latencies(summary, style, shown, out)?;
    crate::output::answers::render(summary, style, LABEL, out)?;
    crate::output::open_loop::render_load(summary, style, out)?;
    if let Some(gpu) = &summary.gpu_summary {
        render_server_metrics(gpu, style, out)?;
    }
    if let Some(turns) = per_turn.or(summary.per_turn.as_deref()) {
        render_per_turn(turns, style, out)?;
    }
    if let Some(tokens) = &summary.tokens {
        render_token_exactness(tokens, out)?;
    }
    Ok(())
}

/// Requests (ok, failed, cancelled), errors by kind, duration, throughput and tokens.
fn render_volume(summary: &Summary, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let failed = summary.failed_requests;
    let failed_text = format!("{failed} failed");
    let failed_text = if failed > 0 {
        style.red(&failed_text)
    } else {
        failed_text
    };
    let requests = format!(
        "{} total, {} ok, {failed_text}{}",
        summary.total_requests,
        summary.successful_requests,
        cancelled_text(summary)
    );
    line(out, style, "Requests", &requests)?;
    if let Some(kinds) = summary.errors_by_kind.as_ref().filter(|k| !k.is_empty()) {
        let text: Vec<String> = kinds
            .iter()
            .map(|(k, n)| format!("{}={n}", crate::text::printable(k)))
            .collect();
        line(out, style, "Errors", &style.red(&text.join(" ")))?;
    }
    let duration = format!("{}s", num3(summary.total_duration_s));
    line(out, style, "Duration", &duration)?;
    line(out, style, "Throughput", &throughput(summary))?;
    let tokens = format!(
        "{} prompt, {} completion",
        summary.total_prompt_tokens, summary.total_completion_tokens
    );
    line(out, style, "Tokens", &tokens)
}

/// TTFT, end-to-end latency, TBT and (when measured) TPOT percentiles.
fn render_latencies(
    summary: &Summary,
    style: Style,
    shown: &[f64],
    out: &mut dyn Write,
) -> io::Result<()> {
    let pct = |s: &Option<Stats>| percentiles_with(s.as_ref(), shown);
    line(out, style, "TTFT", &pct(&summary.ttft))?;
    line(out, style, "Latency", &pct(&summary.e2e_latency))?;
    line(out, style, "TBT", &pct(&summary.tbt))?;
    if summary.tpot.is_some() {
        line(out, style, "TPOT", &pct(&summary.tpot))?;
    }
    Ok(())
}

/// The token-exactness line and the first mismatches.
fn render_token_exactness(
    tokens: &crate::metrics::tokens::TokenSummary,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(out, "  {}", tokens.describe())?;
    for m in tokens.mismatches.iter().take(5) {
        writeln!(
            out,
            "    request {}: asked {:?} in / {:?} out, server counted {:?} / {:?}",
            m.request_index,
            m.requested_input_tokens,
            m.requested_output_tokens,
            m.prompt_tokens,
            m.completion_tokens
        )?;
    }
    Ok(())
}

/// `438 tok/s, 27.4 req/s, 912 tok/s in+out`: output tokens first (the Python tool's figure),
/// then input and output together (computed for files that predate the field).
fn throughput(summary: &Summary) -> String {
    let total = summary.total_tokens_per_second.or_else(|| {
        let tokens = (summary.total_prompt_tokens + summary.total_completion_tokens) as f64;
        (summary.total_duration_s > 0.0).then(|| tokens / summary.total_duration_s)
    });
    let mut text = format!(
        "{} tok/s, {} req/s",
        num3(summary.tokens_per_second),
        num3(summary.requests_per_second)
    );
    if let Some(total) = total {
        text.push_str(&format!(", {} tok/s in+out", num3(total)));
    }
    text
}

fn render_server_metrics(gpu: &GpuSummary, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let peak_mean = |peak: Option<f64>, mean: Option<f64>, f: fn(f64) -> String| {
        format!(
            "peak={} mean={}",
            or_dash(peak.map(f)),
            or_dash(mean.map(f))
        )
    };
    writeln!(out)?;
    writeln!(out, "{}", style.bold("Server Metrics"))?;
    line(
        out,
        style,
        "KV cache",
        &peak_mean(gpu.kv_cache_usage_peak, gpu.kv_cache_usage_mean, percent),
    )?;
    line(
        out,
        style,
        "Active requests",
        &peak_mean(gpu.active_requests_peak, gpu.active_requests_mean, num3),
    )?;
    if let Some(queued) = gpu.queued_requests_peak {
        line(out, style, "Queued", &format!("peak={}", num3(queued)))?;
    }
    line(
        out,
        style,
        "Prefix cache",
        &format!(
            "hit rate {}",
            or_dash(gpu.prefix_cache_hit_rate.map(percent))
        ),
    )?;
    line(
        out,
        style,
        "Gen throughput",
        &or_dash(
            gpu.generation_throughput
                .map(|t| format!("{} tok/s", num3(t))),
        ),
    )?;
    if let Some(preemptions) = gpu.preemptions {
        line(out, style, "Preemptions", &num3(preemptions))?;
    }
    let errors = format!("{} scrape errors", gpu.scrape_errors);
    let errors = if gpu.scrape_errors > 0 {
        style.yellow(&errors)
    } else {
        errors
    };
    line(
        out,
        style,
        "Samples",
        &format!("{} ({errors})", gpu.total_samples),
    )
}

/// `p50 / p95 / p99` in ms, for a table cell.
fn triple(stats: Option<&Stats>) -> String {
    stats.map_or_else(
        || "-".to_string(),
        |s| format!("{} / {} / {}", num3(s.p50), num3(s.p95), num3(s.p99)),
    )
}

fn render_per_turn(turns: &[TurnSummary], style: Style, out: &mut dyn Write) -> io::Result<()> {
    let mut table = style.table();
    table.set_header(vec![
        "Turn",
        "Requests",
        "OK",
        "Prompt tok (mean)",
        "Completion tok (mean)",
        "TTFT ms p50/p95/p99",
        "Latency ms p50/p95/p99",
        "TBT ms p50/p95/p99",
    ]);
    for t in turns {
        table.add_row(vec![
            Cell::new(t.turn_index),
            Cell::new(t.count),
            Cell::new(t.successful),
            Cell::new(or_dash(t.mean_prompt_tokens.map(num3))),
            Cell::new(or_dash(t.mean_completion_tokens.map(num3))),
            Cell::new(triple(t.ttft.as_ref())),
            Cell::new(triple(t.e2e_latency.as_ref())),
            Cell::new(triple(t.tbt.as_ref())),
        ]);
    }
    for i in 0..3 {
        if let Some(col) = table.column_mut(i) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    writeln!(out)?;
    writeln!(out, "{}", style.bold("Per turn"))?;
    writeln!(out, "{table}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn stats(p50: f64) -> Stats {
        Stats {
            p50,
            p95: p50 * 2.0,
            p99: p50 * 3.0,
            mean: p50 * 1.5,
            min: p50 / 2.0,
            max: p50 * 4.0,
            ..Default::default()
        }
    }

    fn summary() -> Summary {
        Summary {
            total_requests: 12,
            successful_requests: 10,
            failed_requests: 2,
            total_duration_s: 2.5,
            requests_per_second: 4.0,
            total_prompt_tokens: 120,
            total_completion_tokens: 320,
            tokens_per_second: 128.0,
            ttft: Some(stats(42.0)),
            e2e_latency: Some(stats(150.0)),
            tbt: Some(stats(4.5)),
            tpot: None,
            errors_by_kind: Some(BTreeMap::from([("http".to_string(), 2)])),
            ..Summary::default()
        }
    }

    fn render(summary: &Summary, style: Style) -> String {
        let mut out = Vec::new();
        render_summary(summary, None, style, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn plain_panel() {
        let expected = "\
Summary
  Requests        12 total, 10 ok, 2 failed
  Errors          http=2
  Duration        2.50s
  Throughput      128 tok/s, 4 req/s, 176 tok/s in+out
  Tokens          120 prompt, 320 completion
  TTFT            p50=42ms p95=84ms p99=126ms  mean=63ms
  Latency         p50=150ms p95=300ms p99=450ms  mean=225ms
  TBT             p50=4.50ms p95=9ms p99=13.5ms  mean=6.75ms
";
        assert_eq!(render(&summary(), Style::PLAIN), expected);
    }

    #[test]
    fn chosen_percentiles_p90_p99_9_and_std_are_printed_and_missing_ones_dashed() {
        let mut s = summary();
        s.ttft = Some(Stats {
            p90: Some(80.0),
            p99_9: Some(130.4),
            std: Some(12.24),
            ..stats(42.0)
        });
        s.total_tokens_per_second = Some(200.0);
        let shown = parse_percentiles("50,90,p99,99.9").unwrap();
        let mut out = Vec::new();
        render_summary_with(&s, None, Style::PLAIN, &shown, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(
                "TTFT            p50=42ms p90=80ms p99=126ms p99.9=130ms  mean=63ms std=12.2ms"
            ),
            "{text}"
        );
        // A Python file has no p90: a dash, no std.
        assert!(
            text.contains("Latency         p50=150ms p90=- p99=450ms p99.9=-  mean=225ms\n"),
            "{text}"
        );
        assert!(
            text.contains("128 tok/s, 4 req/s, 200 tok/s in+out"),
            "{text}"
        );
    }

    #[test]
    fn percentiles_flag_accepts_only_stored_ones() {
        assert_eq!(parse_percentiles("99.9, 50,50").unwrap(), vec![99.9, 50.0]);
        let err = parse_percentiles("50,75").unwrap_err();
        assert!(err.contains("`75` is not a stored percentile"), "{err}");
        assert!(err.contains("50, 90, 95, 99, 99.9"), "{err}");
        assert!(parse_percentiles("").is_err());
    }

    #[test]
    fn coloured_panel_marks_failures_red() {
        let text = render(&summary(), Style::COLOR);
        assert!(text.contains("\x1b[31m2 failed\x1b[0m"), "{text}");
        assert!(text.contains("\x1b[31mhttp=2\x1b[0m"), "{text}");
        assert!(text.contains("\x1b[1mSummary\x1b[0m"), "{text}");
    }

    #[test]
    fn missing_stats_show_a_dash_and_tpot_appears_when_present() {
        let mut s = summary();
        s.tbt = None;
        s.tpot = Some(stats(10.0));
        s.errors_by_kind = Some(BTreeMap::new());
        let text = render(&s, Style::PLAIN);
        assert!(text.contains("  TBT             -\n"), "{text}");
        assert!(
            text.contains("  TPOT            p50=10ms p95=20ms"),
            "{text}"
        );
        assert!(!text.contains("Errors"), "{text}");
    }

    #[test]
    fn server_metrics_block() {
        let mut s = summary();
        s.gpu_summary = Some(GpuSummary {
            kv_cache_usage_peak: Some(0.16),
            kv_cache_usage_mean: Some(0.1392),
            active_requests_peak: Some(8.0),
            active_requests_mean: Some(6.96),
            prefix_cache_hit_rate: Some(0.2496),
            generation_throughput: Some(410.5),
            total_samples: 25,
            scrape_errors: 1,
            queued_requests_peak: Some(3.0),
            preemptions: None,
        });
        let text = render(&s, Style::PLAIN);
        let block = text.split("Server Metrics\n").nth(1).unwrap();
        assert_eq!(
            block,
            "  KV cache        peak=16.0% mean=13.9%
  Active requests peak=8 mean=6.96
  Queued          peak=3
  Prefix cache    hit rate 25.0%
  Gen throughput  410 tok/s
  Samples         25 (1 scrape errors)
"
        );
        let coloured = render(&s, Style::COLOR);
        assert!(coloured.contains("\x1b[33m1 scrape errors\x1b[0m"));
    }

    #[test]
    fn per_turn_table() {
        let mut s = summary();
        s.per_turn = Some(vec![TurnSummary {
            turn_index: 0,
            count: 3,
            successful: 2,
            mean_prompt_tokens: Some(14.5),
            mean_completion_tokens: None,
            ttft: Some(stats(40.0)),
            e2e_latency: None,
            tbt: Some(stats(5.0)),
        }]);
        let text = render(&s, Style::PLAIN);
        let table = text.split("Per turn\n").nth(1).unwrap();
        let row = table.lines().nth(3).unwrap();
        let cells: Vec<&str> = row.trim_matches('│').split('┆').map(str::trim).collect();
        assert_eq!(
            cells,
            [
                "0",
                "3",
                "2",
                "14.5",
                "-",
                "40 / 80 / 120",
                "-",
                "5 / 10 / 15"
            ]
        );
        assert!(!text.contains('\x1b'));
    }
}
