use super::*;
use crate::metrics::prometheus::{parse, parse_filtered};
use std::path::{Path, PathBuf};

/// The real-server captures kept in the repository (`tests/fixtures`).
pub(crate) fn shared_fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn protocol(name: &str) -> Exposition {
    let e = parse(&read(&shared_fixtures_dir().join("protocols").join(name)));
    assert_eq!(e.skipped_lines, 0, "{name}: real capture has no bad line");
    e
}

fn local(name: &str) -> Exposition {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prometheus");
    parse(&read(&path.join(name)))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1e-12)
}

#[track_caller]
fn assert_close(actual: Option<f64>, expected: Option<f64>, what: &str) {
    match (actual, expected) {
        (Some(a), Some(b)) => assert!(close(a, b), "{what}: {a} != {b}"),
        (a, b) => assert_eq!(a, b, "{what}"),
    }
}

#[test]
fn every_protocol_metrics_capture_parses_cleanly() {
    let dir = shared_fixtures_dir().join("protocols");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.contains("metrics") && name.ends_with(".txt")) {
            continue;
        }
        let e = parse(&read(&path));
        assert_eq!(e.skipped_lines, 0, "{name}");
        assert!(e.samples.len() > 5, "{name}");
        assert!(!e.types.is_empty(), "{name}");
        let dialect = if name.starts_with("vllm") {
            MetricsDialect::Vllm
        } else if name.starts_with("sglang") {
            MetricsDialect::Sglang
        } else {
            MetricsDialect::LlamaCpp
        };
        assert!(is_recognised(&extract(dialect, &e)), "{name}");
        // The filtered parse the scraper uses gives the same sample.
        let filtered = parse_filtered(&read(&path), |n| is_tracked(dialect, n));
        assert!(filtered.samples.len() < e.samples.len(), "{name}");
        assert_eq!(extract(dialect, &filtered), extract(dialect, &e), "{name}");
        seen += 1;
    }
    // At least the six it was written with (more captures are added over time).
    assert!(
        seen >= 6,
        "expected the metrics captures in {}, found {seen}",
        dir.display()
    );
}

#[test]
fn vllm_v0_under_load() {
    let e = protocol("vllm-v0-metrics.txt");
    assert_eq!(
        e.metric_type("vllm:time_to_first_token_seconds"),
        Some(crate::metrics::prometheus::MetricType::Histogram)
    );
    let h = e.histogram("vllm:time_to_first_token_seconds").unwrap();
    assert_eq!(h.count, Some(8499.0));
    assert_eq!(h.buckets.last(), Some(&(f64::INFINITY, 8499.0)));
    let s = extract(MetricsDialect::Vllm, &e);
    assert_eq!(
        s,
        ServerSample {
            timestamp: 0.0,
            kv_cache_usage: Some(0.0),
            active_requests: Some(3.0),
            queued_requests: Some(2.0),
            // The V0 gauge reads -1: no data.
            prefix_cache_hit_rate: None,
            generation_throughput: None,
            prompt_tokens_total: Some(5_453_083.0),
            generation_tokens_total: Some(155_722.0),
            prefix_cache_hits_total: None,
            prefix_cache_queries_total: None,
            preemptions_total: Some(0.0),
        }
    );
}

#[test]
fn vllm_v1_idle_reads_zeros() {
    let s = extract(MetricsDialect::Vllm, &protocol("vllm-v1-metrics.txt"));
    assert_eq!(s.kv_cache_usage, Some(0.0));
    assert_eq!(s.active_requests, Some(0.0));
    assert_eq!(s.queued_requests, Some(0.0));
    assert_eq!(s.prompt_tokens_total, Some(0.0));
    assert_eq!(s.generation_tokens_total, Some(0.0));
    assert_eq!(s.prefix_cache_hits_total, Some(0.0));
    assert_eq!(s.prefix_cache_queries_total, Some(0.0));
    assert_eq!(s.preemptions_total, Some(0.0));
    assert_eq!(s.prefix_cache_hit_rate, None);
}

#[test]
fn vllm_032_after_load_reads_counters() {
    let e = protocol("vllm-0.32-cpu-metrics-after-load.txt");
    let s = extract(MetricsDialect::Vllm, &e);
    assert_eq!(s.prompt_tokens_total, Some(495.0));
    assert_eq!(s.generation_tokens_total, Some(2848.0));
    assert_eq!(s.prefix_cache_queries_total, Some(495.0));
    assert_eq!(s.prefix_cache_hits_total, Some(0.0));
    assert_eq!(s.preemptions_total, Some(0.0));
    assert_eq!(
        (s.active_requests, s.queued_requests),
        (Some(0.0), Some(0.0))
    );
    assert_eq!(s.kv_cache_usage, Some(0.0));
    // `_created` gauges are parsed but never read as the counter.
    assert!(e.value("vllm:generation_tokens_created").unwrap() > 1.7e9);
    assert!(!is_tracked(
        MetricsDialect::Vllm,
        "vllm:generation_tokens_created"
    ));
    assert!(!is_tracked(
        MetricsDialect::Vllm,
        "vllm:prompt_tokens_cached_total"
    ));
    assert!(is_tracked(MetricsDialect::Vllm, "vllm_prompt_tokens_total"));
}

#[test]
fn sglang_0_4_gauges_and_counters() {
    let s = extract(MetricsDialect::Sglang, &protocol("sglang-metrics.txt"));
    assert_eq!(s.active_requests, Some(162.0));
    assert_eq!(s.queued_requests, Some(2826.0));
    assert_eq!(s.kv_cache_usage, Some(0.28));
    assert_eq!(s.prefix_cache_hit_rate, Some(0.007507552643049313));
    assert_eq!(s.generation_throughput, Some(86.50814177726902));
    assert_eq!(s.prompt_tokens_total, Some(8_128_902.0));
    assert_eq!(s.generation_tokens_total, Some(7_557_572.0));
    // This version has no cached-token counter.
    assert_eq!(
        (s.prefix_cache_hits_total, s.prefix_cache_queries_total),
        (None, None)
    );
}

#[test]
fn llamacpp_current_and_legacy() {
    let s = extract(MetricsDialect::LlamaCpp, &protocol("llamacpp-metrics.txt"));
    assert_eq!(
        (s.active_requests, s.queued_requests),
        (Some(0.0), Some(0.0))
    );
    assert_eq!(s.prompt_tokens_total, Some(26129.0));
    assert_eq!(s.generation_tokens_total, Some(10911.0));
    assert_eq!(s.generation_throughput, Some(23.2458));
    assert_eq!(s.kv_cache_usage, None);
    let s = extract(
        MetricsDialect::LlamaCpp,
        &protocol("llamacpp-legacy-ik-fork-metrics.txt"),
    );
    assert_eq!(s.kv_cache_usage, Some(0.491063));
    assert_eq!(s.prompt_tokens_total, Some(6886.0));
    assert_eq!(s.generation_tokens_total, Some(3469.0));
    assert_eq!(s.generation_throughput, Some(0.978764));
}

#[test]
fn vllm_multi_engine_transition_names() {
    // Two data-parallel engines, both old and new names, labels in varying order.
    let s = extract(MetricsDialect::Vllm, &local("vllm-dp2-transition.txt"));
    assert_eq!(s.kv_cache_usage, Some(0.375)); // mean of 0.25 and 0.5 (new name wins)
    assert_eq!(s.active_requests, Some(7.0));
    assert_eq!(s.queued_requests, Some(3.0));
    assert_eq!(s.prefix_cache_queries_total, Some(1000.0));
    assert_eq!(s.prefix_cache_hits_total, Some(250.0));
    assert_eq!(s.generation_tokens_total, Some(900.0));
    assert_eq!(s.preemptions_total, Some(2.0));
    assert_eq!(s.prefix_cache_hit_rate, Some(0.5)); // -1 from engine 1 ignored
}

#[test]
fn vllm_underscore_spelling_and_counters_without_total() {
    let s = extract(MetricsDialect::Vllm, &local("vllm-underscore-no-total.txt"));
    assert_eq!(s.active_requests, Some(4.0));
    assert_eq!(s.queued_requests, Some(1.0));
    assert_eq!(s.kv_cache_usage, Some(0.125));
    assert_eq!(s.prompt_tokens_total, Some(120.0));
    assert_eq!(s.generation_tokens_total, Some(64.0));
    assert_eq!(s.prefix_cache_hits_total, Some(30.0));
    assert_eq!(s.prefix_cache_queries_total, Some(120.0));
    // Only the transition pair exists here, and a look-alike prefix is not matched.
    assert_eq!(s.preemptions_total, None);
}

#[test]
fn sglang_current_labels_average_ratios_and_sum_counts() {
    // dp_rank 0 and 1, each on tp_rank 0 and 1 (all schedulers reporting).
    let s = extract(MetricsDialect::Sglang, &local("sglang-dp2-tp2.txt"));
    assert_eq!(s.active_requests, Some(10.0)); // 4 (both tp) + 6 (both tp)
    assert_eq!(s.queued_requests, Some(3.0));
    assert_eq!(s.kv_cache_usage, Some(0.25));
    assert_eq!(s.prefix_cache_hit_rate, Some(0.5));
    assert_eq!(s.generation_throughput, Some(300.0));
    assert_eq!(s.prompt_tokens_total, Some(2000.0));
    assert_eq!(s.prefix_cache_hits_total, Some(500.0));
    assert_eq!(s.prefix_cache_queries_total, Some(2000.0));
}

#[test]
fn unrelated_or_empty_bodies_are_not_recognised() {
    for dialect in [
        MetricsDialect::Vllm,
        MetricsDialect::Sglang,
        MetricsDialect::LlamaCpp,
    ] {
        assert!(!is_recognised(&extract(dialect, &parse(""))));
        let other = parse("python_info 1\nvllm:num_requests_running_created 5\n");
        assert!(!is_recognised(&extract(dialect, &other)));
    }
    // The sglang capture is not vLLM.
    let e = protocol("sglang-metrics.txt");
    assert!(!is_recognised(&extract(MetricsDialect::Vllm, &e)));
    let nan = parse("vllm:num_requests_running NaN\n");
    assert!(!is_recognised(&extract(MetricsDialect::Vllm, &nan)));
}

#[test]
fn dialect_from_framework() {
    assert_eq!(MetricsDialect::from(Framework::Vllm), MetricsDialect::Vllm);
    assert_eq!(
        MetricsDialect::from(Framework::Sglang),
        MetricsDialect::Sglang
    );
    assert_eq!(MetricsDialect::LlamaCpp.as_str(), "llamacpp");
}

fn python_result(prefix: &str) -> serde_json::Value {
    let dir = shared_fixtures_dir().join("python-results");
    let path = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix}* in {}", dir.display()));
    serde_json::from_str(&read(&path)).unwrap()
}

/// Our summary and per-sample throughput reproduce the Python tool's from its own series.
#[test]
fn summarize_reproduces_python_results() {
    for prefix in ["ref-single-", "ref-concurrent-", "ref-multiturn-"] {
        let doc = python_result(prefix);
        let metrics: GpuMetrics = serde_json::from_value(doc["gpu_metrics"].clone()).unwrap();
        let expected: GpuSummary =
            serde_json::from_value(doc["summary"]["gpu_summary"].clone()).unwrap();
        assert!(metrics.time_series.len() > 10, "{prefix}");
        let got = summarize(MetricsDialect::Vllm, &metrics);
        assert_close(
            got.kv_cache_usage_peak,
            expected.kv_cache_usage_peak,
            prefix,
        );
        assert_close(
            got.kv_cache_usage_mean,
            expected.kv_cache_usage_mean,
            prefix,
        );
        assert_close(
            got.active_requests_peak,
            expected.active_requests_peak,
            prefix,
        );
        assert_close(
            got.active_requests_mean,
            expected.active_requests_mean,
            prefix,
        );
        assert_close(
            got.prefix_cache_hit_rate,
            expected.prefix_cache_hit_rate,
            prefix,
        );
        assert_close(
            got.generation_throughput,
            expected.generation_throughput,
            prefix,
        );
        assert_eq!(got.total_samples, expected.total_samples, "{prefix}");
        assert_eq!(got.scrape_errors, expected.scrape_errors, "{prefix}");
        assert_eq!(got.queued_requests_peak, Some(0.0), "{prefix}");
        assert_eq!(
            got.preemptions, None,
            "{prefix}: Python series have no preemptions"
        );

        let mut previous: Option<ServerSample> = None;
        for original in &metrics.time_series {
            let mut sample = ServerSample {
                generation_throughput: None,
                ..original.clone()
            };
            fill_generation_throughput(MetricsDialect::Vllm, previous.as_ref(), &mut sample);
            assert_close(
                sample.generation_throughput,
                original.generation_throughput,
                prefix,
            );
            previous = Some(sample);
        }
    }
}

fn at(t: f64, f: impl FnOnce(&mut ServerSample)) -> ServerSample {
    let mut s = ServerSample {
        timestamp: t,
        ..ServerSample::default()
    };
    f(&mut s);
    s
}

fn series(time_series: Vec<ServerSample>) -> GpuMetrics {
    GpuMetrics {
        framework: "x".into(),
        sample_interval_ms: 100,
        total_scrapes: time_series.len() + 1,
        scrape_errors: 1,
        time_series,
    }
}

#[test]
fn summarize_vllm_counters_gauges_and_gaps() {
    let m = series(vec![
        at(0.0, |s| s.active_requests = Some(1.0)), // before the counters appear
        at(1.0, |s| {
            s.prefix_cache_hits_total = Some(10.0);
            s.prefix_cache_queries_total = Some(100.0);
            s.generation_tokens_total = Some(50.0);
            s.preemptions_total = Some(1.0);
            s.queued_requests = Some(4.0);
            s.kv_cache_usage = Some(0.5);
        }),
        at(3.0, |s| {
            s.prefix_cache_hits_total = Some(40.0);
            s.prefix_cache_queries_total = Some(200.0);
            s.generation_tokens_total = Some(250.0);
            s.preemptions_total = Some(4.0);
            s.active_requests = Some(5.0);
            s.kv_cache_usage = Some(f64::NAN);
        }),
    ]);
    let g = summarize(MetricsDialect::Vllm, &m);
    assert_eq!(g.prefix_cache_hit_rate, Some(0.3));
    assert_eq!(g.generation_throughput, Some(100.0));
    assert_eq!(g.preemptions, Some(3.0));
    assert_eq!(g.queued_requests_peak, Some(4.0));
    assert_eq!(
        (g.kv_cache_usage_peak, g.kv_cache_usage_mean),
        (Some(0.5), Some(0.5))
    );
    assert_eq!(
        (g.active_requests_peak, g.active_requests_mean),
        (Some(5.0), Some(3.0))
    );
    assert_eq!((g.total_samples, g.scrape_errors), (3, 1));

    // No queries during the run → no hit rate; V0 gauge only → its mean.
    let idle = series(vec![
        at(0.0, |s| {
            s.prefix_cache_hits_total = Some(5.0);
            s.prefix_cache_queries_total = Some(9.0);
        }),
        at(1.0, |s| {
            s.prefix_cache_hits_total = Some(5.0);
            s.prefix_cache_queries_total = Some(9.0);
        }),
    ]);
    assert_eq!(
        summarize(MetricsDialect::Vllm, &idle).prefix_cache_hit_rate,
        None
    );
    let v0 = series(vec![
        at(0.0, |s| s.prefix_cache_hit_rate = Some(0.2)),
        at(1.0, |_| {}),
        at(2.0, |s| s.prefix_cache_hit_rate = Some(0.4)),
    ]);
    let g = summarize(MetricsDialect::Vllm, &v0);
    assert_close(g.prefix_cache_hit_rate, Some(0.3), "v0 gauge mean");
    assert_eq!(g.generation_throughput, None);
    assert_eq!(g.kv_cache_usage_peak, None);

    let empty = summarize(MetricsDialect::Vllm, &series(vec![]));
    assert_eq!(empty.total_samples, 0);
    assert_eq!(empty.generation_throughput, None);
    assert_eq!(empty.preemptions, None);
}

#[test]
fn summarize_gauge_dialects_use_gauge_means() {
    let m = series(vec![
        at(0.0, |s| {
            s.generation_throughput = Some(100.0);
            s.prefix_cache_hit_rate = Some(0.1);
            s.generation_tokens_total = Some(0.0);
        }),
        at(10.0, |s| {
            s.generation_throughput = Some(300.0);
            s.prefix_cache_hit_rate = Some(0.3);
            s.generation_tokens_total = Some(5000.0);
        }),
    ]);
    let g = summarize(MetricsDialect::LlamaCpp, &m);
    assert_eq!(g.generation_throughput, Some(200.0));
    assert_close(g.prefix_cache_hit_rate, Some(0.2), "gauge mean");
    // SGLang: its token counter over the run first (like vLLM), the gauge without counters.
    let g = summarize(MetricsDialect::Sglang, &m);
    assert_eq!(g.generation_throughput, Some(500.0));
    assert_close(g.prefix_cache_hit_rate, Some(0.2), "gauge mean");
    // The same series read as vLLM uses the token counter instead.
    assert_eq!(
        summarize(MetricsDialect::Vllm, &m).generation_throughput,
        Some(500.0)
    );
}

#[test]
fn per_sample_throughput_only_for_vllm_and_never_negative() {
    let prev = at(1.0, |s| s.generation_tokens_total = Some(100.0));
    let mut cur = at(1.5, |s| s.generation_tokens_total = Some(150.0));
    fill_generation_throughput(MetricsDialect::Vllm, Some(&prev), &mut cur);
    assert_eq!(cur.generation_throughput, Some(100.0));
    fill_generation_throughput(MetricsDialect::Vllm, None, &mut cur);
    assert_eq!(cur.generation_throughput, None);
    let mut reset = at(2.0, |s| s.generation_tokens_total = Some(3.0));
    fill_generation_throughput(MetricsDialect::Vllm, Some(&prev), &mut reset);
    assert_eq!(reset.generation_throughput, None);
    let mut sg = at(2.0, |s| s.generation_throughput = Some(42.0));
    fill_generation_throughput(MetricsDialect::Sglang, Some(&prev), &mut sg);
    assert_eq!(sg.generation_throughput, Some(42.0));
}
