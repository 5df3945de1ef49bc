//! Aggregation (SPEC §7): per-request records → run summary, plus the per-request DTOs of the
//! result file. Pure functions of the records; unit-tested against NumPy-computed values.
//!
//! Like the Python tool, totals and latency statistics cover successful requests only:
//! `requests_per_second` is successful requests over the benchmark wall time, and a failed
//! request contributes neither tokens nor timings (its partial timings stay on its row).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::metrics::request::{ErrorKind, RequestRecord, TokenCountSource};
use crate::results::result::{RequestResult, Stats, Summary, TurnSummary};

/// Percentile of already sorted values, NumPy's default ("linear") method: the virtual index
/// p/100·(n−1) is interpolated between its neighbours. `p` is clamped to 0..=100.
/// Returns NaN for an empty slice (callers go through [`Stats::from_values`], which never
/// passes one).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let q = p.clamp(0.0, 100.0) / 100.0;
    let index = q * (n - 1) as f64;
    let lo = index.floor();
    let lo_i = lo as usize;
    let hi_i = (lo_i + 1).min(n - 1);
    let t = index - lo;
    let (a, b) = (sorted[lo_i], sorted[hi_i]);
    let diff = b - a;
    // NumPy's `_lerp`: interpolate from the nearer end, which keeps p=100 exactly the max.
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

/// The percentiles a summary stores, in order (`--percentiles` chooses among them).
pub const STORED_PERCENTILES: [f64; 5] = [50.0, 90.0, 95.0, 99.0, 99.9];

impl Stats {
    /// Percentiles, mean, min, max and standard deviation of `values` (sorted in place).
    /// `None` when empty.
    pub fn from_values(values: &mut [f64]) -> Option<Stats> {
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        // Two passes, as NumPy does: the mean first, then the squared deviations from it.
        let variance = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        Some(Stats {
            p50: percentile(values, 50.0),
            p95: percentile(values, 95.0),
            p99: percentile(values, 99.0),
            mean,
            min: values[0],
            max: values[values.len() - 1],
            p90: Some(percentile(values, 90.0)),
            p99_9: Some(percentile(values, 99.9)),
            std: Some(variance.sqrt()),
        })
    }

    /// The stored percentile `p` (one of [`STORED_PERCENTILES`]); `None` for another `p` or
    /// one a Python file lacks.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        match p {
            50.0 => Some(self.p50),
            90.0 => self.p90,
            95.0 => Some(self.p95),
            99.0 => Some(self.p99),
            99.9 => self.p99_9,
            _ => None,
        }
    }
}

/// The `snake_case` name used for an error kind in result files and reports.
pub fn error_kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Http => "http",
        ErrorKind::Connect => "connect",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Transport => "transport",
        ErrorKind::StreamError => "stream_error",
        ErrorKind::Malformed => "malformed",
        ErrorKind::Incomplete => "incomplete",
        ErrorKind::Cancelled => "cancelled",
        ErrorKind::Skipped => "skipped",
    }
}

fn token_source_name(source: TokenCountSource) -> &'static str {
    match source {
        TokenCountSource::Usage => "usage",
        TokenCountSource::ChunkCount => "chunk_count",
    }
}

/// What the statistics need from a request, whether a live record or a loaded result row
/// (so `show` can build the per-turn table of a Python file, which has none).
trait Measured {
    fn ok(&self) -> bool;
    fn ttft(&self) -> Option<f64>;
    fn e2e(&self) -> Option<f64>;
    fn gaps(&self) -> Vec<f64>;
    fn tpot(&self) -> Option<f64>;
    fn prompt(&self) -> Option<u64>;
    fn completion(&self) -> Option<u64>;
    fn turn(&self) -> Option<usize>;
}

impl Measured for RequestRecord {
    fn ok(&self) -> bool {
        self.is_success()
    }
    fn ttft(&self) -> Option<f64> {
        self.ttft_ms()
    }
    fn e2e(&self) -> Option<f64> {
        Some(self.e2e_ms())
    }
    fn gaps(&self) -> Vec<f64> {
        self.timings.inter_token_ms().collect()
    }
    fn tpot(&self) -> Option<f64> {
        self.tpot_ms()
    }
    fn prompt(&self) -> Option<u64> {
        self.prompt_tokens
    }
    fn completion(&self) -> Option<u64> {
        self.completion_tokens
    }
    fn turn(&self) -> Option<usize> {
        self.turn_index
    }
}

impl Measured for RequestResult {
    fn ok(&self) -> bool {
        self.error.is_none()
    }
    fn ttft(&self) -> Option<f64> {
        self.ttft_ms
    }
    fn e2e(&self) -> Option<f64> {
        self.e2e_latency_ms
    }
    fn gaps(&self) -> Vec<f64> {
        self.inter_token_latencies_ms.clone()
    }
    fn tpot(&self) -> Option<f64> {
        self.tpot_ms
    }
    fn prompt(&self) -> Option<u64> {
        self.prompt_tokens
    }
    fn completion(&self) -> Option<u64> {
        self.completion_tokens
    }
    fn turn(&self) -> Option<usize> {
        self.turn_index
    }
}

/// TTFT, E2E, pooled TBT and TPOT statistics over successful requests.
struct LatencyStats {
    ttft: Option<Stats>,
    e2e: Option<Stats>,
    tbt: Option<Stats>,
    tpot: Option<Stats>,
}

fn latency_stats<M: Measured>(rows: &[&M]) -> LatencyStats {
    let ok = || rows.iter().filter(|r| r.ok());
    let mut ttft: Vec<f64> = ok().filter_map(|r| r.ttft()).collect();
    let mut e2e: Vec<f64> = ok().filter_map(|r| r.e2e()).collect();
    let mut tbt: Vec<f64> = ok().flat_map(|r| r.gaps()).collect();
    let mut tpot: Vec<f64> = ok().filter_map(|r| r.tpot()).collect();
    LatencyStats {
        ttft: Stats::from_values(&mut ttft),
        e2e: Stats::from_values(&mut e2e),
        tbt: Stats::from_values(&mut tbt),
        tpot: Stats::from_values(&mut tpot),
    }
}

fn per_second(count: f64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count / seconds
    } else {
        0.0
    }
}

fn mean_of(values: impl Iterator<Item = u64>) -> Option<f64> {
    let (sum, n) = values.fold((0u64, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum as f64 / n as f64)
}

/// Run summary of SPEC §7. `duration` is the benchmark phase's wall time.
/// `gpu_summary` is left `None`; the server-metrics collector fills it in.
///
/// Warmup records are left out of every figure; the duration then runs from the first
/// measured request's start to the last one's end.
pub fn summarize(records: &[RequestRecord], duration: Duration) -> Summary {
    let warmup = records.iter().filter(|r| r.pacing.warmup).count();
    if warmup > 0 {
        let measured: Vec<RequestRecord> = records
            .iter()
            .filter(|r| !r.pacing.warmup)
            .cloned()
            .collect();
        let span = super::open_loop::span(&measured);
        let mut summary = summarize(&measured, span);
        summary.load.warmup_requests = Some(warmup);
        return summary;
    }
    let total = records.len();
    let successful = records.iter().filter(|r| r.is_success()).count();
    // Cancelled turns (kept with their partial timing) are not failures.
    let failed = records.iter().filter(|r| r.is_failure()).count();
    let seconds = duration.as_secs_f64();
    let ok = records.iter().filter(|r| r.is_success());
    let prompt: u64 = ok.clone().filter_map(|r| r.prompt_tokens).sum();
    let completion: u64 = ok.filter_map(|r| r.completion_tokens).sum();

    let mut errors_by_kind = BTreeMap::new();
    for err in records.iter().filter_map(|r| r.error.as_ref()) {
        *errors_by_kind
            .entry(error_kind_name(err.kind).to_string())
            .or_insert(0) += 1;
    }

    let stats = latency_stats(&records.iter().collect::<Vec<_>>());
    Summary {
        total_requests: total,
        successful_requests: successful,
        failed_requests: failed,
        total_duration_s: seconds,
        requests_per_second: per_second(successful as f64, seconds),
        total_prompt_tokens: prompt,
        total_completion_tokens: completion,
        tokens_per_second: per_second(completion as f64, seconds),
        total_tokens_per_second: Some(per_second((prompt + completion) as f64, seconds)),
        ttft: stats.ttft,
        e2e_latency: stats.e2e,
        tbt: stats.tbt,
        gpu_summary: None,
        tpot: stats.tpot,
        errors_by_kind: Some(errors_by_kind),
        per_turn: per_turn(records),
        slo: None,
        cost: None,
        load: Default::default(),
        tokens: None,
    }
}

/// One row per turn index, when the workload is multi-turn.
fn per_turn<M: Measured>(rows: &[M]) -> Option<Vec<TurnSummary>> {
    let mut turns: BTreeMap<usize, Vec<&M>> = BTreeMap::new();
    for r in rows {
        if let Some(turn) = r.turn() {
            turns.entry(turn).or_default().push(r);
        }
    }
    if turns.is_empty() {
        return None;
    }
    let rows = turns
        .into_iter()
        .map(|(turn_index, rs)| {
            let ok = || rs.iter().filter(|r| r.ok());
            let stats = latency_stats(&rs);
            TurnSummary {
                turn_index,
                count: rs.len(),
                successful: ok().count(),
                mean_prompt_tokens: mean_of(ok().filter_map(|r| r.prompt())),
                mean_completion_tokens: mean_of(ok().filter_map(|r| r.completion())),
                ttft: stats.ttft,
                e2e_latency: stats.e2e,
                tbt: stats.tbt,
            }
        })
        .collect();
    Some(rows)
}

/// The per-turn table computed from result rows, for files that lack `summary.per_turn`
/// (the Python tool's). `None` unless some row has a `turn_index`.
pub fn per_turn_from_rows(rows: &[RequestResult]) -> Option<Vec<TurnSummary>> {
    per_turn(rows)
}

/// The result-file row of one request (Python field names; new fields beside them).
pub fn to_result(record: &RequestRecord) -> RequestResult {
    RequestResult {
        request_index: record.request_index,
        ttft_ms: record.ttft_ms(),
        e2e_latency_ms: Some(record.e2e_ms()),
        inter_token_latencies_ms: record.timings.inter_token_ms().collect(),
        prompt_tokens: record.prompt_tokens,
        completion_tokens: record.completion_tokens,
        error: record.error.as_ref().map(|e| e.message.clone()),
        started_at: Some(record.started_at),
        finished_at: Some(record.finished_at),
        turn_index: record.turn_index,
        conversation_index: record.conversation_index,
        tpot_ms: record.tpot_ms(),
        error_kind: record
            .error
            .as_ref()
            .map(|e| error_kind_name(e.kind).to_string()),
        token_count_source: record
            .token_count_source
            .map(|s| token_source_name(s).into()),
        send_delay_ms: Some(record.send_delay_us as f64 / 1000.0),
        chunk_tokens: (!record.timings.chunk_tokens.is_empty())
            .then(|| record.timings.chunk_tokens.clone()),
        slo_met: None,
        scheduled_offset_ms: record
            .pacing
            .scheduled_offset_us
            .map(|us| us as f64 / 1000.0),
        send_lag_ms: record
            .pacing
            .scheduled_offset_us
            .map(|_| record.send_delay_us as f64 / 1000.0),
        cap_wait_ms: record.pacing.cap_wait_us.map(|us| us as f64 / 1000.0),
        warmup: record.pacing.warmup.then_some(true),
        requested_input_tokens: record.requested_input_tokens,
        requested_output_tokens: record.requested_output_tokens,
    }
}

/// Metric name → how it is computed, stored in the result file's `definitions`.
pub fn definitions() -> BTreeMap<String, String> {
    let defs: &[(&str, &str)] = &[
        (
            "ttft_ms",
            "request sent -> first chunk carrying generated text (content or reasoning_content)",
        ),
        (
            "e2e_latency_ms",
            "request sent -> end of stream (or the moment the failure was seen)",
        ),
        (
            "inter_token_latencies_ms",
            "gaps between consecutive text-carrying chunks, per chunk: a server may put several \
             tokens in one chunk (SGLang does), see chunk_tokens",
        ),
        (
            "chunk_tokens",
            "tokens each text chunk carried, from the running usage.completion_tokens the server \
             sends on every chunk (requested from SGLang); absent when unknown. Gap i of \
             inter_token_latencies_ms ends at chunk i+1, so gap[i] / chunk_tokens[i+1] is its \
             per-token latency",
        ),
        (
            "tpot_ms",
            "(e2e_latency_ms - ttft_ms) / (completion_tokens - 1), tokens counted from the \
             server's usage (not chunks, which may carry several tokens); null below 2 tokens",
        ),
        (
            "send_delay_ms",
            "actual send time - intended send time (client-side lag, not in latency)",
        ),
        (
            "completion_tokens",
            "from the server's usage chunk; else the number of text chunks (token_count_source)",
        ),
        (
            "percentiles",
            "linear interpolation between closest ranks (NumPy default): index p/100*(n-1)",
        ),
        ("ttft", "statistics of ttft_ms over successful requests"),
        (
            "e2e_latency",
            "statistics of e2e_latency_ms over successful requests",
        ),
        (
            "tbt",
            "statistics of all inter-token gaps (per chunk, see inter_token_latencies_ms) of \
             all successful requests, pooled",
        ),
        ("tpot", "statistics of tpot_ms over successful requests"),
        ("total_duration_s", "wall time of the benchmark phase"),
        (
            "requests_per_second",
            "successful_requests / total_duration_s",
        ),
        (
            "tokens_per_second",
            "total_completion_tokens / total_duration_s",
        ),
        (
            "total_tokens_per_second",
            "(total_prompt_tokens + total_completion_tokens) / total_duration_s",
        ),
        (
            "std",
            "population standard deviation (NumPy np.std, ddof=0), beside mean/min/max; p90 and \
             p99_9 (p99.9) beside p50/p95/p99",
        ),
        (
            "total_prompt_tokens",
            "sum of prompt_tokens over successful requests",
        ),
        (
            "total_completion_tokens",
            "sum of completion_tokens over successful requests",
        ),
        (
            "errors_by_kind",
            "requests that did not succeed counted by error_kind; `cancelled` ones (cut short \
             by Ctrl-C or a circuit breaker) are not in failed_requests",
        ),
        ("per_turn", "multi-turn: the same statistics per turn_index"),
    ];
    defs.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::request::{RequestError, StreamTimings};
    use chrono::{TimeZone, Utc};

    #[derive(serde::Deserialize)]
    struct Fixture {
        cases: Vec<Case>,
    }
    #[derive(serde::Deserialize)]
    struct Case {
        name: String,
        values: Vec<f64>,
        percentiles: BTreeMap<String, f64>,
        mean: f64,
        std: f64,
    }

    #[test]
    fn percentiles_match_numpy() {
        let fixture: Fixture =
            serde_json::from_str(include_str!("../../tests/fixtures/percentiles.json")).unwrap();
        assert!(fixture.cases.len() >= 8);
        for case in fixture.cases {
            let mut sorted = case.values.clone();
            sorted.sort_by(f64::total_cmp);
            for (p, expected) in &case.percentiles {
                let p: f64 = p.parse().unwrap();
                let got = percentile(&sorted, p);
                assert!(
                    (got - expected).abs() <= 1e-9,
                    "{}: p{p} = {got}, numpy says {expected}",
                    case.name
                );
            }
            let stats = Stats::from_values(&mut case.values.clone()).unwrap();
            assert!((stats.mean - case.mean).abs() <= 1e-9);
            let std = stats.std.unwrap();
            assert!(
                (std - case.std).abs() <= 1e-9 * case.std.max(1.0),
                "{}: std {std}, numpy says {}",
                case.name,
                case.std
            );
            // The stored percentiles are the NumPy ones of the fixture.
            for p in STORED_PERCENTILES {
                let expected = case.percentiles[&p.to_string()];
                let got = stats.percentile(p).unwrap();
                assert!((got - expected).abs() <= 1e-9, "{}: p{p}", case.name);
            }
            assert_eq!(stats.percentile(75.0), None);
            assert_eq!(stats.p95, percentile(&sorted, 95.0));
            assert_eq!(stats.min, sorted[0]);
            assert_eq!(stats.max, sorted[sorted.len() - 1]);
        }
    }

    #[test]
    fn percentile_edges() {
        assert!(percentile(&[], 50.0).is_nan());
        assert_eq!(percentile(&[1.0, 2.0], 150.0), 2.0);
        assert_eq!(percentile(&[1.0, 2.0], -5.0), 1.0);
        assert_eq!(Stats::from_values(&mut Vec::new()), None);
    }

    fn rec(index: usize, offsets_ms: &[u32], end_ms: u64, tokens: u64) -> RequestRecord {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        RequestRecord {
            request_index: index,
            conversation_index: None,
            turn_index: None,
            started_at: at,
            finished_at: at,
            send_delay_us: 250,
            pacing: Default::default(),
            timings: StreamTimings {
                token_offsets_us: offsets_ms.iter().map(|ms| ms * 1000).collect(),
                end_us: end_ms * 1000,
                chunk_tokens: Vec::new(),
            },
            prompt_tokens: Some(10),
            completion_tokens: Some(tokens),
            token_count_source: Some(TokenCountSource::Usage),
            error: None,
            requested_input_tokens: None,
            requested_output_tokens: None,
        }
    }

    fn failed(index: usize, kind: ErrorKind) -> RequestRecord {
        let mut r = rec(index, &[30], 40, 1);
        r.prompt_tokens = None;
        r.completion_tokens = None;
        r.error = Some(RequestError {
            kind,
            message: format!("{kind:?} failure"),
        });
        r
    }

    #[test]
    fn summary_counts_successful_requests_only() {
        let records = vec![
            rec(0, &[100, 110, 130], 140, 3),
            rec(1, &[200, 220], 230, 2),
            failed(2, ErrorKind::Http),
            failed(3, ErrorKind::Http),
            failed(4, ErrorKind::Timeout),
        ];
        let s = summarize(&records, Duration::from_millis(500));
        assert_eq!(
            (s.total_requests, s.successful_requests, s.failed_requests),
            (5, 2, 3)
        );
        assert_eq!(s.total_duration_s, 0.5);
        assert_eq!(s.requests_per_second, 4.0);
        assert_eq!(s.total_prompt_tokens, 20);
        assert_eq!(s.total_completion_tokens, 5);
        assert_eq!(s.tokens_per_second, 10.0);
        let ttft = s.ttft.unwrap();
        assert_eq!(
            (ttft.min, ttft.max, ttft.p50, ttft.mean),
            (100.0, 200.0, 150.0, 150.0)
        );
        let e2e = s.e2e_latency.unwrap();
        assert_eq!((e2e.min, e2e.max), (140.0, 230.0));
        // Pooled gaps: 10, 20 (request 0) and 20 (request 1); the failed ones add none.
        let tbt = s.tbt.unwrap();
        assert_eq!((tbt.min, tbt.p50, tbt.max), (10.0, 20.0, 20.0));
        assert!((tbt.mean - 50.0 / 3.0).abs() < 1e-12);
        // TPOT: (140-100)/2 = 20 and (230-200)/1 = 30.
        let tpot = s.tpot.unwrap();
        assert_eq!((tpot.min, tpot.max, tpot.p50), (20.0, 30.0, 25.0));
        let kinds = s.errors_by_kind.unwrap();
        assert_eq!(kinds.get("http"), Some(&2));
        assert_eq!(kinds.get("timeout"), Some(&1));
        assert_eq!(s.per_turn, None);
        assert_eq!(s.gpu_summary, None);
    }

    #[test]
    fn summary_of_nothing_has_no_stats_and_no_division_by_zero() {
        let s = summarize(&[], Duration::ZERO);
        assert_eq!(s.total_requests, 0);
        assert_eq!(s.requests_per_second, 0.0);
        assert_eq!(s.tokens_per_second, 0.0);
        assert_eq!(
            (s.ttft, s.e2e_latency, s.tbt, s.tpot),
            (None, None, None, None)
        );
        assert_eq!(s.errors_by_kind, Some(BTreeMap::new()));
    }

    #[test]
    fn per_turn_table_groups_by_turn_index() {
        let mut records = Vec::new();
        for conv in 0..2 {
            for turn in 0..2 {
                let mut r = rec(conv * 2 + turn, &[50 + 10 * turn as u32, 70], 80, 2);
                r.conversation_index = Some(conv);
                r.turn_index = Some(turn);
                r.prompt_tokens = Some(10 + 20 * turn as u64 + conv as u64);
                records.push(r);
            }
        }
        records[3] = {
            let mut f = failed(3, ErrorKind::Skipped);
            f.conversation_index = Some(1);
            f.turn_index = Some(1);
            f
        };
        let turns = summarize(&records, Duration::from_secs(1))
            .per_turn
            .unwrap();
        assert_eq!(turns.len(), 2);
        assert_eq!(
            (turns[0].turn_index, turns[0].count, turns[0].successful),
            (0, 2, 2)
        );
        assert_eq!(turns[0].mean_prompt_tokens, Some(10.5));
        assert_eq!(turns[0].ttft.unwrap().p50, 50.0);
        assert_eq!((turns[1].count, turns[1].successful), (2, 1));
        assert_eq!(turns[1].mean_prompt_tokens, Some(30.0));
        assert_eq!(turns[1].ttft.unwrap().max, 60.0);
        assert_eq!(turns[1].tbt.unwrap().mean, 10.0);
        // Rebuilt from result rows (a Python file has no per_turn), the table is the same.
        let rows: Vec<RequestResult> = records.iter().map(to_result).collect();
        assert_eq!(per_turn_from_rows(&rows), Some(turns));
        assert_eq!(per_turn_from_rows(&rows[..0]), None);
    }

    #[test]
    fn request_row_uses_python_names_and_adds_new_fields() {
        let row = to_result(&rec(7, &[80, 95], 111, 2));
        let json = serde_json::to_value(&row).unwrap();
        assert_eq!(json["request_index"], 7);
        assert_eq!(json["ttft_ms"], 80.0);
        assert_eq!(json["e2e_latency_ms"], 111.0);
        assert_eq!(json["inter_token_latencies_ms"], serde_json::json!([15.0]));
        assert_eq!(json["tpot_ms"], 31.0);
        assert_eq!(json["send_delay_ms"], 0.25);
        assert_eq!(json["token_count_source"], "usage");
        assert_eq!(json["error"], serde_json::Value::Null);
        assert!(json.get("error_kind").is_none());

        let mut no_token = failed(1, ErrorKind::Incomplete);
        no_token.timings.token_offsets_us.clear();
        let row = to_result(&no_token);
        assert_eq!(row.ttft_ms, None);
        assert_eq!(row.error_kind.as_deref(), Some("incomplete"));
        assert_eq!(row.error.as_deref(), Some("Incomplete failure"));
        assert!(row.inter_token_latencies_ms.is_empty());
    }

    #[test]
    fn definitions_cover_summary_metrics() {
        let defs = definitions();
        for key in ["ttft", "tbt", "tpot", "requests_per_second", "percentiles"] {
            assert!(defs.contains_key(key), "{key}");
        }
    }
}
