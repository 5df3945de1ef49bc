//! Entry point over the Prometheus parser for fuzzing and corpus replay (`fuzz/`,
//! `tests/fuzz_corpus_replay.rs`). Not a stable API.

use super::prometheus;
use super::server_metrics::{self, MetricsDialect};
use crate::results::result::GpuMetrics;

/// Parse a `/metrics` body the way the scraper does and run everything downstream of the
/// parser on it, for every dialect. Panics if an invariant breaks. Returns the sample count.
pub fn prometheus(body: &[u8]) -> usize {
    let text = String::from_utf8_lossy(body);
    let all = prometheus::parse(&text);
    for family in all.types.keys() {
        if let Some(h) = all.histogram(family) {
            assert!(
                h.buckets.windows(2).all(|w| w[0].0 < w[1].0),
                "buckets sorted by le, each le once"
            );
        }
        let _ = all.metric_type(family);
    }
    for dialect in [
        MetricsDialect::Vllm,
        MetricsDialect::Sglang,
        MetricsDialect::LlamaCpp,
    ] {
        let kept = prometheus::parse_filtered(&text, |n| server_metrics::is_tracked(dialect, n));
        assert_eq!(
            kept.skipped_lines, all.skipped_lines,
            "filtering does not change which lines are valid"
        );
        assert!(kept.samples.len() <= all.samples.len());
        let mut first = server_metrics::extract(dialect, &kept);
        // Compared as text: NaN samples are equal there.
        assert_eq!(
            format!("{first:?}"),
            format!("{:?}", server_metrics::extract(dialect, &all)),
            "the filter keeps every sample extract reads"
        );
        let _ = server_metrics::is_recognised(&first);
        first.timestamp = 1.0;
        let mut second = first.clone();
        second.timestamp = 2.0;
        server_metrics::fill_generation_throughput(dialect, Some(&first), &mut second);
        let metrics = GpuMetrics {
            time_series: vec![first, second],
            ..GpuMetrics::default()
        };
        let summary = server_metrics::summarize(dialect, &metrics);
        serde_json::to_string(&summary).expect("a summary serializes");
    }
    all.samples.len()
}
