//! Summary figures of issue 13: warmup count, open-loop pacing (target vs achieved rate, send
//! lag, cap waits) and the steady-state window. Pure functions of the records.
//!
//! Steady-state rule: the in-flight count is sampled at every measured request's send; the
//! window opens when the in-flight count first reaches the median of those samples and closes
//! at the last scheduled send (closed loops: the last send). Requests sent inside the window
//! make its figures. This drops the ramp-up (an empty server answers faster) and the drain
//! (the last replies arrive with nothing behind them). Throughput in the window counts what
//! finished in it; latencies are those of the requests sent in it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::aggregate::summarize;
use super::request::RequestRecord;
use crate::config::{WorkloadKind, WorkloadSpec};
use crate::results::result::{Stats, Summary};

pub const STEADY_STATE_RULE: &str = "from when the in-flight count first reaches its median (sampled at each send) to the last scheduled send; latencies of the requests sent in the window, throughput of those finished in it";

/// Extra summary keys (flattened into `summary`); each present only when it applies.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadSummary {
    /// Requests sent as warmup (kept in `requests` with `"warmup": true`, in no figure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup_requests: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_loop: Option<OpenLoopSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steady_state: Option<SteadyState>,
}

/// How well the pacer kept to the schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenLoopSummary {
    pub arrival: String,
    /// Configured requests (multi-turn: conversations) per second.
    pub target_request_rate: f64,
    /// The schedule's own rate: (n − 1) / (last − first scheduled send).
    pub scheduled_request_rate: f64,
    /// (n − 1) / (last − first actual send).
    pub achieved_request_rate: f64,
    pub requests_sent: usize,
    /// Actual − scheduled send, ms.
    pub send_lag_ms: Option<Stats>,
    pub max_concurrency: Option<usize>,
    /// Requests that found the cap full and waited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_waited_requests: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_wait_ms: Option<Stats>,
}

/// Figures over the steady-state window (see the module comment for the rule).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SteadyState {
    pub rule: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Window bounds from the first request's send, s.
    pub start_offset_s: f64,
    pub end_offset_s: f64,
    pub median_in_flight: f64,
    /// Requests sent inside the window (their latencies make the figures below).
    pub total_requests: usize,
    pub successful_requests: usize,
    /// Successful requests and completion tokens finished inside the window, per second.
    pub requests_per_second: f64,
    pub tokens_per_second: f64,
    pub ttft: Option<Stats>,
    pub e2e_latency: Option<Stats>,
    pub tbt: Option<Stats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpot: Option<Stats>,
}

/// First start → last end of the records.
pub fn span(records: &[RequestRecord]) -> Duration {
    let first = records.iter().map(|r| r.started_at).min();
    let last = records.iter().map(|r| r.finished_at).max();
    match (first, last) {
        (Some(a), Some(b)) => (b - a).to_std().unwrap_or_default(),
        _ => Duration::ZERO,
    }
}

/// Add the open-loop and steady-state figures that `workload` calls for to `summary`.
/// `records` are all of the run's records, warmup included.
pub fn annotate(summary: &mut Summary, records: &[RequestRecord], workload: &WorkloadSpec) {
    let measured: Vec<&RequestRecord> = records.iter().filter(|r| !r.pacing.warmup).collect();
    let rate = match &workload.kind {
        WorkloadKind::Rate { rate } => Some(rate),
        _ => workload.timing.conversation_rate.as_ref(),
    };
    if let Some(rate) = rate {
        summary.load.open_loop =
            pacing(&measured, rate.request_rate, rate.max_concurrency).map(|mut s| {
                s.arrival = rate.arrival.name().to_string();
                s
            });
    }
    let closed_pool = matches!(workload.kind, WorkloadKind::Concurrent { .. });
    if rate.is_some() || closed_pool {
        summary.load.steady_state = steady_state(records);
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Send-lag and cap figures over the records that carry a schedule.
pub fn pacing(
    records: &[&RequestRecord],
    target: f64,
    cap: Option<usize>,
) -> Option<OpenLoopSummary> {
    let paced: Vec<(u64, u64)> = records
        .iter()
        .filter_map(|r| {
            r.pacing
                .scheduled_offset_us
                .map(|s| (s, s + r.send_delay_us))
        })
        .collect();
    if paced.is_empty() {
        return None;
    }
    let rate_of = |mut times: Vec<u64>| {
        times.sort_unstable();
        let (first, last) = (times[0], times[times.len() - 1]);
        if last > first {
            (times.len() - 1) as f64 / ((last - first) as f64 / 1e6)
        } else {
            0.0
        }
    };
    let mut lag: Vec<f64> = records
        .iter()
        .filter(|r| r.pacing.scheduled_offset_us.is_some())
        .map(|r| ms(r.send_delay_us))
        .collect();
    let mut waits: Vec<f64> = records
        .iter()
        .filter_map(|r| r.pacing.cap_wait_us)
        .filter(|&w| w > 0)
        .map(ms)
        .collect();
    Some(OpenLoopSummary {
        arrival: String::new(),
        target_request_rate: target,
        scheduled_request_rate: rate_of(paced.iter().map(|p| p.0).collect()),
        achieved_request_rate: rate_of(paced.iter().map(|p| p.1).collect()),
        requests_sent: paced.len(),
        send_lag_ms: Stats::from_values(&mut lag),
        max_concurrency: cap,
        cap_waited_requests: cap.map(|_| waits.len()),
        cap_wait_ms: Stats::from_values(&mut waits),
    })
}

/// The median number of requests in flight at each send, and the first time (µs from the
/// origin) the in-flight level reaches it.
fn median_in_flight(
    records: &[RequestRecord],
    us: impl Fn(DateTime<Utc>) -> i64,
) -> Option<(f64, i64)> {
    // +1 at each send, −1 at each end; ends first at equal times.
    let mut events: Vec<(i64, i32)> = records
        .iter()
        .flat_map(|r| [(us(r.started_at), 1), (us(r.finished_at), -1)])
        .collect();
    events.sort_by_key(|&(t, d)| (t, d));
    let mut level = 0i64;
    let mut at_send = Vec::new();
    let mut levels = Vec::with_capacity(events.len());
    for &(t, d) in &events {
        level += i64::from(d);
        levels.push((t, level));
        if d > 0 {
            at_send.push(level as f64);
        }
    }
    at_send.sort_by(f64::total_cmp);
    let median = super::aggregate::percentile(&at_send, 50.0);
    let start_us = levels
        .iter()
        .find(|&&(_, l)| l as f64 >= median)
        .map(|&(t, _)| t)?;
    Some((median, start_us))
}

/// The steady-state window of a run (all records; warmup ones count for the in-flight level
/// but not for the figures). `None` with fewer than 2 measured requests.
pub fn steady_state(records: &[RequestRecord]) -> Option<SteadyState> {
    let measured: Vec<&RequestRecord> = records.iter().filter(|r| !r.pacing.warmup).collect();
    if measured.len() < 2 {
        return None;
    }
    let origin = records.iter().map(|r| r.started_at).min()?;
    let us = |t: DateTime<Utc>| (t - origin).num_microseconds().unwrap_or(0);
    let (median, start_us) = median_in_flight(records, us)?;
    // Last scheduled send (open loop) or last send.
    let end_us = measured
        .iter()
        .map(|r| match r.pacing.scheduled_offset_us {
            Some(_) => us(r.started_at) - r.send_delay_us as i64,
            None => us(r.started_at),
        })
        .max()?
        .max(start_us);
    let inside: Vec<RequestRecord> = measured
        .iter()
        .filter(|r| (start_us..=end_us).contains(&us(r.started_at)))
        .map(|r| (*r).clone())
        .collect();
    let window = Duration::from_micros((end_us - start_us).max(0) as u64);
    let s: Summary = summarize(&inside, window);
    // Throughput: what the server completed inside the window (not what arrived in it).
    let done: Vec<RequestRecord> = measured
        .iter()
        .filter(|r| (start_us..=end_us).contains(&us(r.finished_at)))
        .map(|r| (*r).clone())
        .collect();
    let throughput: Summary = summarize(&done, window);
    let at = |off: i64| origin + chrono::Duration::microseconds(off);
    Some(SteadyState {
        rule: STEADY_STATE_RULE.to_string(),
        start: at(start_us),
        end: at(end_us),
        start_offset_s: start_us as f64 / 1e6,
        end_offset_s: end_us as f64 / 1e6,
        median_in_flight: median,
        total_requests: s.total_requests,
        successful_requests: s.successful_requests,
        requests_per_second: throughput.requests_per_second,
        tokens_per_second: throughput.tokens_per_second,
        ttft: s.ttft,
        e2e_latency: s.e2e_latency,
        tbt: s.tbt,
        tpot: s.tpot,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::request::{Pacing, StreamTimings};
    use chrono::TimeZone;

    /// A request sent at `start_ms`, ending at `end_ms`, scheduled `lag_us` earlier.
    fn rec(
        i: usize,
        start_ms: i64,
        end_ms: i64,
        lag_us: u64,
        cap_wait_us: Option<u64>,
    ) -> RequestRecord {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        RequestRecord {
            requested_input_tokens: None,
            requested_output_tokens: None,
            request_index: i,
            conversation_index: None,
            turn_index: None,
            started_at: t0 + chrono::Duration::milliseconds(start_ms),
            finished_at: t0 + chrono::Duration::milliseconds(end_ms),
            send_delay_us: lag_us,
            timings: StreamTimings {
                chunk_tokens: Vec::new(),
                token_offsets_us: vec![((end_ms - start_ms) * 500) as u32],
                end_us: ((end_ms - start_ms) * 1000) as u64,
            },
            prompt_tokens: Some(1),
            completion_tokens: Some(1),
            token_count_source: None,
            error: None,
            pacing: Pacing {
                warmup: false,
                scheduled_offset_us: Some((start_ms * 1000) as u64 - lag_us),
                cap_wait_us,
            },
        }
    }

    #[test]
    fn pacing_reports_rates_lag_and_cap_waits() {
        // Scheduled every 10 ms (100/s); sends drift to 11 ms apart.
        let records: Vec<RequestRecord> = (0..11)
            .map(|i| {
                rec(
                    i,
                    i as i64 * 11,
                    i as i64 * 11 + 5,
                    i as u64 * 1000,
                    Some(if i % 2 == 0 { 0 } else { 300 }),
                )
            })
            .collect();
        let refs: Vec<&RequestRecord> = records.iter().collect();
        let p = pacing(&refs, 100.0, Some(4)).unwrap();
        assert!((p.scheduled_request_rate - 100.0).abs() < 1e-9);
        assert!((p.achieved_request_rate - 1000.0 / 11.0).abs() < 1e-9);
        let lag = p.send_lag_ms.unwrap();
        assert_eq!((lag.min, lag.max), (0.0, 10.0));
        assert_eq!(p.cap_waited_requests, Some(5));
        assert_eq!(p.cap_wait_ms.unwrap().max, 0.3);
        assert_eq!(p.requests_sent, 11);
    }

    #[test]
    fn steady_state_opens_at_the_median_in_flight_and_closes_at_the_last_send() {
        // Sends every 10 ms, each lasting 35 ms: in flight climbs 1, 2, 3, 4 then stays 4.
        let mut records: Vec<RequestRecord> = (0..20)
            .map(|i| rec(i, i as i64 * 10, i as i64 * 10 + 35, 0, None))
            .collect();
        let s = steady_state(&records).unwrap();
        assert_eq!(s.median_in_flight, 4.0);
        assert!(
            (s.start_offset_s - 0.030).abs() < 1e-9,
            "{}",
            s.start_offset_s
        );
        assert!((s.end_offset_s - 0.190).abs() < 1e-9);
        assert_eq!(s.total_requests, 17);
        // A warmup request counts for the in-flight level but not in the figures.
        records[5].pacing.warmup = true;
        assert_eq!(steady_state(&records).unwrap().total_requests, 16);
    }
}
