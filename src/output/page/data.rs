//! What the page draws from one result: compact columns instead of the result's per-request
//! objects, so a 10,000-request report stays well under 2 MB. The dashboard adds it to
//! `/api/results/{run_id}` as `chart`; the report embeds it inline. One shape, one page code.

use serde::Serialize;

use crate::results::result::{RequestResult, RunResult, ServerSample};

/// One run as the page sees it: the result's head plus its chart columns.
#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    pub run_id: String,
    pub status: &'static str,
    pub metadata: serde_json::Value,
    pub summary: serde_json::Value,
    pub chart: ChartData,
}

/// Per-request columns (sorted by finish time) and server-metric columns. Times are seconds
/// since the first request started; latencies are ms rounded to 0.01 ms.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ChartData {
    pub start_s: Vec<f64>,
    pub end_s: Vec<f64>,
    pub ttft_ms: Vec<Option<f64>>,
    pub e2e_ms: Vec<Option<f64>>,
    /// Mean time between tokens of the request.
    pub tbt_ms: Vec<Option<f64>>,
    pub completion_tokens: Vec<Option<u64>>,
    /// 1 = succeeded, 0 = failed.
    pub ok: Vec<u8>,
    pub server: ServerColumns,
}

/// Server-metrics samples, seconds since the scraper started (≈ the first request).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ServerColumns {
    pub t: Vec<f64>,
    pub kv_cache_usage: Vec<Option<f64>>,
    pub active_requests: Vec<Option<f64>>,
    pub queued_requests: Vec<Option<f64>>,
    pub prefix_cache_hit_rate: Vec<Option<f64>>,
    pub generation_throughput: Vec<Option<f64>>,
}

fn round(x: f64, places: i32) -> f64 {
    let k = 10f64.powi(places);
    (x * k).round() / k
}

fn ms(x: Option<f64>) -> Option<f64> {
    x.filter(|v| v.is_finite()).map(|v| round(v, 2))
}

/// Mean of a request's inter-token latencies, if it has any.
fn mean_tbt(r: &RequestResult) -> Option<f64> {
    let itl = &r.inter_token_latencies_ms;
    (!itl.is_empty()).then(|| itl.iter().sum::<f64>() / itl.len() as f64)
}

impl ChartData {
    pub fn from_result(result: &RunResult) -> Self {
        let t0 = result.requests.iter().filter_map(|r| r.started_at).min();
        // (start, end) in seconds; without timestamps (old files) requests are laid end to end.
        let mut rows: Vec<(f64, f64, &RequestResult)> = Vec::with_capacity(result.requests.len());
        let mut cursor = 0.0;
        for r in &result.requests {
            let e2e_s = r.e2e_latency_ms.unwrap_or(0.0) / 1000.0;
            let span = match (t0, r.started_at, r.finished_at) {
                (Some(t0), Some(s), Some(f)) => {
                    let s = (s - t0).num_microseconds().unwrap_or(0) as f64 / 1e6;
                    let f = (f - t0).num_microseconds().unwrap_or(0) as f64 / 1e6;
                    (s, f)
                }
                (Some(t0), Some(s), None) => {
                    let s = (s - t0).num_microseconds().unwrap_or(0) as f64 / 1e6;
                    (s, s + e2e_s)
                }
                _ => {
                    let span = (cursor, cursor + e2e_s);
                    cursor += e2e_s;
                    span
                }
            };
            rows.push((span.0, span.1, r));
        }
        rows.sort_by(|a, b| a.1.total_cmp(&b.1));
        let mut out = ChartData::default();
        for (start, end, r) in rows {
            out.start_s.push(round(start, 3));
            out.end_s.push(round(end, 3));
            out.ttft_ms.push(ms(r.ttft_ms));
            out.e2e_ms.push(ms(r.e2e_latency_ms));
            out.tbt_ms.push(ms(mean_tbt(r)));
            out.completion_tokens.push(r.completion_tokens);
            out.ok.push(u8::from(r.error.is_none()));
        }
        if let Some(g) = &result.gpu_metrics {
            out.server = ServerColumns::from_samples(&g.time_series);
        }
        out
    }
}

/// The prefix-cache hit rate at `s`: the server's own gauge when it has one, else hits over
/// queries since `prev` (vLLM exposes only the two counters), else over the whole run so far.
pub fn hit_rate(prev: Option<&ServerSample>, s: &ServerSample) -> Option<f64> {
    if s.prefix_cache_hit_rate.is_some() {
        return s.prefix_cache_hit_rate;
    }
    let (hits, queries) = (s.prefix_cache_hits_total?, s.prefix_cache_queries_total?);
    let before =
        prev.and_then(|p| Some((p.prefix_cache_hits_total?, p.prefix_cache_queries_total?)));
    let (dh, dq) = match before {
        Some((h0, q0)) if queries > q0 => (hits - h0, queries - q0),
        Some(_) => return None,
        None => (hits, queries),
    };
    (dq > 0.0).then(|| (dh / dq).clamp(0.0, 1.0))
}

impl ServerColumns {
    pub fn from_samples(samples: &[ServerSample]) -> Self {
        let mut out = ServerColumns::default();
        let mut prev: Option<&ServerSample> = None;
        for s in samples {
            let rate = hit_rate(prev, s);
            prev = Some(s);
            out.t.push(round(s.timestamp, 3));
            out.kv_cache_usage
                .push(s.kv_cache_usage.map(|v| round(v, 4)));
            out.active_requests.push(s.active_requests);
            out.queued_requests.push(s.queued_requests);
            out.prefix_cache_hit_rate.push(rate.map(|v| round(v, 4)));
            out.generation_throughput
                .push(s.generation_throughput.map(|v| round(v, 1)));
        }
        out
    }
}

impl RunView {
    pub fn from_result(result: &RunResult) -> Self {
        RunView {
            run_id: result.run_id.clone(),
            status: result.status.as_str(),
            metadata: serde_json::to_value(&result.metadata).unwrap_or_default(),
            summary: serde_json::to_value(&result.summary).unwrap_or_default(),
            chart: ChartData::from_result(result),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::result::{Metadata, RunStatus, Summary};
    use chrono::{TimeZone, Utc};

    fn request(i: usize, start_ms: i64, e2e: f64, error: Option<&str>) -> RequestResult {
        let t = Utc
            .timestamp_millis_opt(1_700_000_000_000 + start_ms)
            .unwrap();
        RequestResult {
            request_index: i,
            ttft_ms: Some(e2e / 4.0),
            e2e_latency_ms: Some(e2e),
            inter_token_latencies_ms: vec![1.0, 3.0],
            prompt_tokens: Some(10),
            completion_tokens: Some(3),
            error: error.map(String::from),
            started_at: Some(t),
            finished_at: Some(t + chrono::Duration::milliseconds(e2e as i64)),
            ..Default::default()
        }
    }

    fn result(requests: Vec<RequestResult>) -> RunResult {
        RunResult {
            schema_version: Some(1),
            run_id: "r".into(),
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
    fn columns_are_sorted_by_finish_and_relative_to_the_first_start() {
        let r = result(vec![
            request(0, 0, 3000.0, None),
            request(1, 500, 1000.0, Some("boom")),
        ]);
        let c = ChartData::from_result(&r);
        assert_eq!(c.start_s, vec![0.5, 0.0]);
        assert_eq!(c.end_s, vec![1.5, 3.0]);
        assert_eq!(c.ok, vec![0, 1]);
        assert_eq!(c.tbt_ms, vec![Some(2.0), Some(2.0)]);
        assert_eq!(c.e2e_ms, vec![Some(1000.0), Some(3000.0)]);
    }

    #[test]
    fn hit_rate_comes_from_the_counters_when_the_gauge_is_missing() {
        let at = |h: f64, q: f64| ServerSample {
            prefix_cache_hits_total: Some(h),
            prefix_cache_queries_total: Some(q),
            ..ServerSample::default()
        };
        let (a, b, c) = (at(10.0, 40.0), at(40.0, 80.0), at(40.0, 80.0));
        assert_eq!(hit_rate(None, &a), Some(0.25));
        assert_eq!(hit_rate(Some(&a), &b), Some(0.75));
        assert_eq!(hit_rate(Some(&b), &c), None, "no queries in the window");
        let gauge = ServerSample {
            prefix_cache_hit_rate: Some(0.5),
            ..b.clone()
        };
        assert_eq!(hit_rate(Some(&a), &gauge), Some(0.5));
    }

    #[test]
    fn requests_without_timestamps_are_laid_end_to_end() {
        let mut a = request(0, 0, 1000.0, None);
        let mut b = request(1, 0, 2000.0, None);
        for r in [&mut a, &mut b] {
            r.started_at = None;
            r.finished_at = None;
        }
        let c = ChartData::from_result(&result(vec![a, b]));
        assert_eq!(c.start_s, vec![0.0, 1.0]);
        assert_eq!(c.end_s, vec![1.0, 3.0]);
    }
}
