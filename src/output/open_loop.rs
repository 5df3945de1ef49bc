//! Summary lines for warmup, open-loop pacing and the steady-state window (issue 13), and the
//! steady-state view `compare` uses.

use std::io::{self, Write};

use crate::metrics::open_loop::SteadyState;
use crate::output::style::{ms, num3, Style};
use crate::output::summary::percentiles;
use crate::results::result::Summary;

const LABEL: usize = 16;

fn line(out: &mut dyn Write, style: Style, label: &str, value: &str) -> io::Result<()> {
    let padded = format!("{label:<LABEL$}");
    writeln!(out, "  {}{value}", style.dim(&padded))
}

/// The lines under the whole-run figures: warmup count, pacing, the steady-state window.
pub fn render_load(summary: &Summary, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let load = &summary.load;
    if let Some(n) = load.warmup_requests {
        line(
            out,
            style,
            "Warmup",
            &format!("{n} requests sent first, left out of every figure"),
        )?;
    }
    if let Some(o) = &load.open_loop {
        line(
            out,
            style,
            "Arrival rate",
            &format!(
                "target {} req/s ({}), achieved {} req/s ({:.1}%), {} sent",
                num3(o.target_request_rate),
                o.arrival,
                num3(o.achieved_request_rate),
                100.0 * o.achieved_request_rate / o.target_request_rate,
                o.requests_sent
            ),
        )?;
        if let Some(lag) = &o.send_lag_ms {
            line(
                out,
                style,
                "Send lag",
                &format!(
                    "p50={} p99={} max={}",
                    ms(lag.p50),
                    ms(lag.p99),
                    ms(lag.max)
                ),
            )?;
        }
        if let (Some(cap), Some(waited)) = (o.max_concurrency, o.cap_waited_requests) {
            let wait = o
                .cap_wait_ms
                .as_ref()
                .map(|w| format!(", wait p50={} max={}", ms(w.p50), ms(w.max)))
                .unwrap_or_default();
            line(
                out,
                style,
                "Cap waits",
                &format!("{waited} requests found max_concurrency {cap} full{wait}"),
            )?;
        }
    }
    if let Some(s) = &load.steady_state {
        render_steady(s, style, out)?;
    }
    Ok(())
}

fn render_steady(s: &SteadyState, style: Style, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "{}",
        style.bold(&format!(
            "Steady state ({}-{} s, median in flight {}, {} requests)",
            num3(s.start_offset_s),
            num3(s.end_offset_s),
            num3(s.median_in_flight),
            s.total_requests
        ))
    )?;
    line(
        out,
        style,
        "Throughput",
        &format!(
            "{} tok/s, {} req/s",
            num3(s.tokens_per_second),
            num3(s.requests_per_second)
        ),
    )?;
    line(out, style, "TTFT", &percentiles(s.ttft.as_ref()))?;
    line(out, style, "Latency", &percentiles(s.e2e_latency.as_ref()))?;
    line(out, style, "TBT", &percentiles(s.tbt.as_ref()))?;
    if s.tpot.is_some() {
        line(out, style, "TPOT", &percentiles(s.tpot.as_ref()))?;
    }
    Ok(())
}

/// The summary with its steady-state figures in place of the whole-run ones; `None` without
/// a steady-state window.
pub fn steady_view(summary: &Summary) -> Option<Summary> {
    let s = summary.load.steady_state.as_ref()?;
    Some(Summary {
        total_requests: s.total_requests,
        successful_requests: s.successful_requests,
        failed_requests: s.total_requests - s.successful_requests,
        requests_per_second: s.requests_per_second,
        tokens_per_second: s.tokens_per_second,
        ttft: s.ttft,
        e2e_latency: s.e2e_latency,
        tbt: s.tbt,
        tpot: s.tpot,
        ..summary.clone()
    })
}

/// `poisson, 50 requests/s (seed 42), at most 256 in flight`.
pub fn arrivals_text(rate: &crate::config::RateSpec, what: &str) -> String {
    let shape = match rate.arrival {
        crate::config::Arrival::Gamma { burstiness } => format!("gamma (burstiness {burstiness})"),
        a => a.name().to_string(),
    };
    let cap = rate
        .max_concurrency
        .map(|c| format!(", at most {c} in flight"))
        .unwrap_or_default();
    format!(
        "{shape}, {} {what}/s (seed {}){cap}",
        num3(rate.request_rate),
        rate.seed
    )
}

/// Plan rows for warmup, duration and think time, when set.
pub fn timing_rows(t: &crate::config::Timing) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    if let Some(d) = t.duration {
        rows.push((
            "Duration".to_string(),
            format!("{} s (requests.count still caps)", num3(d.as_secs_f64())),
        ));
    }
    match t.warmup {
        Some(crate::config::Warmup::Requests(n)) => rows.push((
            "Warmup".to_string(),
            format!("first {n} requests (kept, not in figures)"),
        )),
        Some(crate::config::Warmup::Duration(d)) => rows.push((
            "Warmup".to_string(),
            format!("first {} s (kept, not in figures)", num3(d.as_secs_f64())),
        )),
        None => {}
    }
    if !t.think_time.is_zero() {
        rows.push((
            "Think time".to_string(),
            format!(
                "{} ms between a reply and the next turn",
                num3(t.think_time.as_secs_f64() * 1000.0)
            ),
        ));
    }
    rows
}
