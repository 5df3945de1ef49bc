//! `llm-inf-bench report <run>… [-o report.html]`: one self-contained HTML file — the
//! dashboard's page with the runs' chart columns inline, so it opens offline and draws the
//! same result / compare / sweep views.

use crate::output::page::{self, data::RunView};
use crate::results::result::RunResult;

/// The report page for `results` (one: the result view; several: compare, or sweep when they
/// are one sweep's iterations).
pub fn render(results: &[RunResult]) -> Result<String, serde_json::Error> {
    let views: Vec<RunView> = results.iter().map(RunView::from_result).collect();
    let json = serde_json::to_string(&views)?;
    let title = match results {
        [one] => format!("llm-inf-bench report: {}", one.run_id),
        many => format!("llm-inf-bench report: {} runs", many.len()),
    };
    Ok(page::render(page::Mode::Report, &title, Some(&json)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::result::{Metadata, RequestResult, RunStatus, Summary};

    /// A 10,000-request result with every field a real run fills.
    fn big_result() -> RunResult {
        let t0 = chrono::Utc::now();
        let requests = (0..10_000)
            .map(|i| {
                let start = t0 + chrono::Duration::microseconds(i as i64 * 12_345);
                RequestResult {
                    request_index: i,
                    ttft_ms: Some(123.456_789 + i as f64 % 97.0),
                    e2e_latency_ms: Some(2_345.678_91 + i as f64 % 991.0),
                    inter_token_latencies_ms: vec![12.345_678; 128],
                    prompt_tokens: Some(512),
                    completion_tokens: Some(128),
                    started_at: Some(start),
                    finished_at: Some(start + chrono::Duration::milliseconds(2345)),
                    tpot_ms: Some(12.3),
                    ..Default::default()
                }
            })
            .collect();
        RunResult {
            schema_version: Some(1),
            run_id: "big".into(),
            status: RunStatus::Completed,
            experiment: serde_json::Value::Null,
            metadata: Metadata::default(),
            summary: Summary::default(),
            requests,
            gpu_metrics: None,
            definitions: None,
        }
    }

    #[test]
    fn a_ten_thousand_request_report_stays_under_two_megabytes() {
        let html = render(&[big_result()]).unwrap();
        assert!(html.len() < 2_000_000, "{} bytes", html.len());
        assert!(html.contains("\"mode\":\"report\""));
    }
}
