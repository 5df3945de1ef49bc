//! `export`: per-request rows for pandas / notebooks.
//!
//! - CSV: one column per scalar field of a request, plus the inter-token gaps three ways:
//!   `inter_token_count`, `inter_token_mean_ms`, and `inter_token_latencies_ms` as the full
//!   list joined with `;` (so nothing is lost: `df.inter_token_latencies_ms.str.split(";")`).
//!   Missing values are empty cells; floats are printed in full precision. `slo_met` (last)
//!   is `true`/`false` for runs with an `slo:` block, else empty.
//! - JSONL: one request per line, exactly as in the result file, with `run_id` first.

use std::io::{self, Write};

use serde::Serialize;

use crate::results::result::{RequestResult, RunResult};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("cannot encode a request as JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot write the export: {0}")]
    Io(#[from] io::Error),
}

pub const CSV_COLUMNS: [&str; 19] = [
    "run_id",
    "request_index",
    "conversation_index",
    "turn_index",
    "started_at",
    "finished_at",
    "ttft_ms",
    "e2e_latency_ms",
    "tpot_ms",
    "prompt_tokens",
    "completion_tokens",
    "token_count_source",
    "send_delay_ms",
    "error_kind",
    "error",
    "inter_token_count",
    "inter_token_mean_ms",
    "inter_token_latencies_ms",
    "slo_met",
];

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn csv_row(run_id: &str, r: &RequestResult) -> [String; 19] {
    let gaps = &r.inter_token_latencies_ms;
    let mean = (!gaps.is_empty()).then(|| gaps.iter().sum::<f64>() / gaps.len() as f64);
    let joined: Vec<String> = gaps.iter().map(f64::to_string).collect();
    [
        run_id.to_string(),
        r.request_index.to_string(),
        opt(r.conversation_index),
        opt(r.turn_index),
        opt(r.started_at.map(|t| t.to_rfc3339())),
        opt(r.finished_at.map(|t| t.to_rfc3339())),
        opt(r.ttft_ms),
        opt(r.e2e_latency_ms),
        opt(r.tpot_ms),
        opt(r.prompt_tokens),
        opt(r.completion_tokens),
        opt(r.token_count_source.as_deref()),
        opt(r.send_delay_ms),
        opt(r.error_kind.as_deref()),
        opt(r.error.as_deref()),
        gaps.len().to_string(),
        opt(mean),
        joined.join(";"),
        opt(r.slo_met),
    ]
}

/// Header plus one CSV row per request.
pub fn write_csv(result: &RunResult, out: &mut dyn Write) -> Result<(), ExportError> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(CSV_COLUMNS)?;
    for r in &result.requests {
        writer.write_record(csv_row(&result.run_id, r))?;
    }
    writer.flush()?;
    Ok(())
}

#[derive(Serialize)]
struct JsonLine<'a> {
    run_id: &'a str,
    #[serde(flatten)]
    request: &'a RequestResult,
}

/// One JSON object per request per line.
pub fn write_jsonl(result: &RunResult, out: &mut dyn Write) -> Result<(), ExportError> {
    for request in &result.requests {
        let line = JsonLine {
            run_id: &result.run_id,
            request,
        };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::result::{Metadata, RunStatus, Summary};
    use chrono::{TimeZone, Utc};

    fn result() -> RunResult {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let ok = RequestResult {
            request_index: 0,
            ttft_ms: Some(40.5),
            e2e_latency_ms: Some(100.0),
            inter_token_latencies_ms: vec![10.0, 20.25],
            prompt_tokens: Some(12),
            completion_tokens: Some(3),
            started_at: Some(at),
            finished_at: Some(at),
            tpot_ms: Some(29.75),
            token_count_source: Some("usage".into()),
            send_delay_ms: Some(0.25),
            slo_met: Some(true),
            ..Default::default()
        };
        let failed = RequestResult {
            request_index: 1,
            ttft_ms: None,
            e2e_latency_ms: Some(5.0),
            inter_token_latencies_ms: vec![],
            prompt_tokens: None,
            completion_tokens: None,
            error: Some("HTTP 500: \"boom\", again".into()),
            error_kind: Some("http".into()),
            tpot_ms: None,
            token_count_source: None,
            slo_met: Some(false),
            ..ok.clone()
        };
        RunResult {
            schema_version: Some(1),
            run_id: "exp-1".into(),
            status: RunStatus::Partial,
            experiment: serde_json::Value::Null,
            metadata: Metadata::default(),
            summary: Summary::default(),
            requests: vec![ok, failed],
            gpu_metrics: None,
            definitions: None,
        }
    }

    #[test]
    fn csv_has_one_column_per_field_and_quotes_errors() {
        let mut out = Vec::new();
        write_csv(&result(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], CSV_COLUMNS.join(","));
        assert_eq!(
            lines[1],
            "exp-1,0,,,2026-01-02T03:04:05+00:00,2026-01-02T03:04:05+00:00,40.5,100,29.75,12,3,usage,0.25,,,2,15.125,10;20.25,true"
        );
        assert_eq!(
            lines[2],
            "exp-1,1,,,2026-01-02T03:04:05+00:00,2026-01-02T03:04:05+00:00,,5,,,,,0.25,http,\"HTTP 500: \"\"boom\"\", again\",0,,,false"
        );
        assert_eq!(lines.len(), 3);
    }

    #[test]
    fn jsonl_is_one_request_per_line_with_run_id() {
        let mut out = Vec::new();
        write_jsonl(&result(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("{\"run_id\":\"exp-1\",\"request_index\":0,"));
        let back: RequestResult = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(back, result().requests[1]);
    }
}
