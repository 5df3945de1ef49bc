//! The metric map on SGLang 0.5.23's real expositions (tests/fixtures/protocols): an idle
//! server after one request, and one scraped with requests running.

use super::*;
use crate::metrics::prometheus::{parse, parse_filtered};

fn capture(name: &str) -> Exposition {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/protocols")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let all = parse(&text);
    assert_eq!(all.skipped_lines, 0, "{name}");
    // The scraper's filtered parse reads the same values.
    let kept = parse_filtered(&text, |n| is_tracked(MetricsDialect::Sglang, n));
    assert_eq!(
        extract(MetricsDialect::Sglang, &kept),
        extract(MetricsDialect::Sglang, &all),
        "{name}"
    );
    kept
}

#[test]
fn busy_server_usage_is_unrounded_and_the_warm_up_is_not_load() {
    let s = extract(
        MetricsDialect::Sglang,
        &capture("sglang-0.5.23-cpu-metrics-busy.txt"),
    );
    assert_eq!(s.active_requests, Some(1.0));
    assert_eq!(s.queued_requests, Some(0.0));
    // `token_usage` says 0.0 (rounded to 2 decimals); `full_token_usage` is the real share.
    assert_eq!(s.kv_cache_usage, Some(0.001251220703125));
    assert_eq!(s.generation_throughput, Some(0.09341453451908478));
    assert_eq!(s.prefix_cache_hit_rate, Some(0.6875));
    // Only the streaming series: the warm-up's 17 prompt and 8 generated tokens are left out.
    assert_eq!(s.prompt_tokens_total, Some(23.0));
    assert_eq!(s.generation_tokens_total, Some(36.0));
    // Cached prompt tokens = 40 prompt tokens - 36 uncached (= cached_tokens_total, 4).
    assert_eq!(s.prefix_cache_hits_total, Some(4.0));
    assert_eq!(s.prefix_cache_queries_total, Some(40.0));
}

#[test]
fn idle_server_after_one_request() {
    let s = extract(
        MetricsDialect::Sglang,
        &capture("sglang-0.5.23-cpu-metrics.txt"),
    );
    assert_eq!(s.active_requests, Some(0.0));
    assert_eq!(s.kv_cache_usage, Some(0.00042724609375));
    assert_eq!(s.prompt_tokens_total, Some(14.0));
    assert_eq!(s.generation_tokens_total, Some(32.0));
    // No hit yet: `cached_tokens_total` does not exist, the histograms say 0 of 31.
    assert_eq!(s.prefix_cache_hits_total, Some(0.0));
    assert_eq!(s.prefix_cache_queries_total, Some(31.0));
}

#[test]
fn run_summary_uses_the_counters_over_the_run() {
    // Idle (after one request) then busy: 4 of 9 new prompt tokens were cached, and 4 tokens
    // were generated in 2 s, whatever the gauges said at those two moments.
    let mut first = extract(
        MetricsDialect::Sglang,
        &capture("sglang-0.5.23-cpu-metrics.txt"),
    );
    first.timestamp = 10.0;
    let mut last = extract(
        MetricsDialect::Sglang,
        &capture("sglang-0.5.23-cpu-metrics-busy.txt"),
    );
    last.timestamp = 12.0;
    let m = GpuMetrics {
        framework: "sglang".into(),
        sample_interval_ms: 1000,
        total_scrapes: 2,
        scrape_errors: 0,
        time_series: vec![first, last],
    };
    let g = summarize(MetricsDialect::Sglang, &m);
    assert_eq!(g.prefix_cache_hit_rate, Some(4.0 / 9.0));
    assert_eq!(g.generation_throughput, Some(2.0));
    assert_eq!(g.active_requests_peak, Some(1.0));
    assert_eq!(g.kv_cache_usage_peak, Some(0.001251220703125));
}
