//! `/metrics` bodies in the Prometheus text format, with the real metric names, HELP texts and
//! label sets of vLLM V1 (as captured from vLLM 0.32) and current SGLang.

use std::fmt::Write;
use std::time::Instant;

use super::stats::{Histogram, LatencyHistograms, Stats};
use crate::config::Framework;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Render the whole body for `framework`.
pub fn render(framework: Framework, stats: &Stats, model: &str, now: Instant) -> String {
    match framework {
        Framework::Vllm => render_vllm(stats, model, now),
        Framework::Sglang => render_sglang(stats, model, now),
    }
}

type Labels<'a> = Vec<(&'a str, String)>;

/// Prometheus-client-style writer: labels sorted by name, floats like Python prints them.
struct Writer {
    out: String,
    /// Emit `<name>_created` gauges for counters and histograms (vLLM does, SGLang does not).
    created: Option<f64>,
}

fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn label_text(labels: &Labels<'_>) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let mut sorted: Vec<_> = labels.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let parts: Vec<String> = sorted
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", parts.join(","))
}

impl Writer {
    fn header(&mut self, name: &str, help: &str, kind: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &Labels<'_>, value: f64) {
        let _ = writeln!(
            self.out,
            "{name}{} {}",
            label_text(labels),
            fmt_value(value)
        );
    }

    fn gauge(&mut self, name: &str, help: &str, series: &[(Labels<'_>, f64)]) {
        self.header(name, help, "gauge");
        for (labels, value) in series {
            self.sample(name, labels, *value);
        }
    }

    fn created_family(&mut self, base: &str, help: &str, series: &[&Labels<'_>]) {
        if let Some(created) = self.created {
            let name = format!("{base}_created");
            self.header(&name, help, "gauge");
            for labels in series {
                self.sample(&name, labels, created);
            }
        }
    }

    /// `base` without `_total`; exposed as `<base>_total` like prometheus_client does.
    fn counter(&mut self, base: &str, help: &str, series: &[(Labels<'_>, f64)]) {
        let name = format!("{base}_total");
        self.header(&name, help, "counter");
        for (labels, value) in series {
            self.sample(&name, labels, *value);
        }
        let labels: Vec<_> = series.iter().map(|(l, _)| l).collect();
        self.created_family(base, help, &labels);
    }

    fn histogram(&mut self, name: &str, help: &str, labels: &Labels<'_>, h: &Histogram) {
        self.header(name, help, "histogram");
        let bucket = format!("{name}_bucket");
        for (le, count) in h.cumulative() {
            let mut with_le = labels.clone();
            with_le.push(("le", fmt_value(le)));
            self.sample(&bucket, &with_le, count as f64);
        }
        self.sample(&format!("{name}_count"), labels, h.count as f64);
        self.sample(&format!("{name}_sum"), labels, h.sum);
        self.created_family(name, help, &[labels]);
    }
}

/// One metric family of a simulated server, in the order it is exposed: a gauge or a counter
/// (`name` without `_total`) with its value, or a histogram of the server's stats.
enum Family {
    Gauge(&'static str, &'static str, fn(&Stats, Instant) -> f64),
    Counter(&'static str, &'static str, fn(&Stats, Instant) -> f64),
    Histogram(
        &'static str,
        &'static str,
        fn(&LatencyHistograms) -> &Histogram,
    ),
}

impl Writer {
    /// Every family of `table`, each with the one series `labels`.
    fn families(&mut self, table: &[Family], labels: &Labels<'_>, s: &Stats, now: Instant) {
        for family in table {
            match family {
                Family::Gauge(name, help, value) => {
                    self.gauge(name, help, &[(labels.clone(), value(s, now))])
                }
                Family::Counter(name, help, value) => {
                    self.counter(name, help, &[(labels.clone(), value(s, now))])
                }
                Family::Histogram(name, help, hist) => {
                    self.histogram(name, help, labels, hist(&s.hist))
                }
            }
        }
    }
}

/// vLLM's scalar families before `request_success`.
const VLLM_SCALARS: &[Family] = &[
    Family::Gauge(
        "vllm:num_requests_running",
        "Number of requests in model execution batches.",
        |s, _| s.running as f64,
    ),
    Family::Gauge(
        "vllm:num_requests_waiting",
        "Number of requests waiting to be processed.",
        |s, _| s.waiting as f64,
    ),
    Family::Gauge(
        "vllm:kv_cache_usage_perc",
        "KV-cache usage. 1 means 100 percent usage.",
        |s, _| s.kv_usage(),
    ),
    Family::Counter(
        "vllm:prefix_cache_queries",
        "Prefix cache queries, in terms of number of queried tokens.",
        |s, _| s.prefix_queries as f64,
    ),
    Family::Counter(
        "vllm:prefix_cache_hits",
        "Prefix cache hits, in terms of number of cached tokens.",
        |s, _| s.prefix_hits as f64,
    ),
    Family::Counter(
        "vllm:num_preemptions",
        "Cumulative number of preemption from the engine.",
        |s, _| s.preemptions as f64,
    ),
    Family::Counter(
        "vllm:prompt_tokens",
        "Number of prefill tokens processed.",
        |s, _| s.prompt_tokens as f64,
    ),
    Family::Counter(
        "vllm:generation_tokens",
        "Number of generation tokens processed.",
        |s, _| s.generation_tokens as f64,
    ),
];

/// vLLM's per-request histograms.
const VLLM_HISTOGRAMS: &[Family] = &[
    Family::Histogram(
        "vllm:request_prompt_tokens",
        "Number of prefill tokens processed.",
        |h| &h.prompt_tokens,
    ),
    Family::Histogram(
        "vllm:request_generation_tokens",
        "Number of generation tokens processed.",
        |h| &h.generation_tokens,
    ),
    Family::Histogram(
        "vllm:iteration_tokens_total",
        "Histogram of number of tokens per engine_step.",
        |h| &h.iteration_tokens,
    ),
    Family::Histogram(
        "vllm:request_params_max_tokens",
        "Histogram of the max_tokens request parameter.",
        |h| &h.max_tokens_param,
    ),
    Family::Histogram(
        "vllm:time_to_first_token_seconds",
        "Histogram of time to first token in seconds.",
        |h| &h.ttft,
    ),
    Family::Histogram(
        "vllm:inter_token_latency_seconds",
        "Histogram of inter-token latency in seconds.",
        |h| &h.inter_token,
    ),
    Family::Histogram(
        "vllm:request_time_per_output_token_seconds",
        "Histogram of time_per_output_token_seconds per request.",
        |h| &h.time_per_output_token,
    ),
    Family::Histogram(
        "vllm:e2e_request_latency_seconds",
        "Histogram of e2e request latency in seconds.",
        |h| &h.e2e,
    ),
    Family::Histogram(
        "vllm:request_queue_time_seconds",
        "Histogram of time spent in WAITING phase for request.",
        |h| &h.queue,
    ),
    Family::Histogram(
        "vllm:request_inference_time_seconds",
        "Histogram of time spent in RUNNING phase for request.",
        |h| &h.inference,
    ),
    Family::Histogram(
        "vllm:request_prefill_time_seconds",
        "Histogram of time spent in PREFILL phase for request.",
        |h| &h.prefill,
    ),
    Family::Histogram(
        "vllm:request_decode_time_seconds",
        "Histogram of time spent in DECODE phase for request.",
        |h| &h.decode,
    ),
    Family::Histogram(
        "vllm:request_num_preemptions",
        "Histogram of the number of times a request was preempted.",
        |h| &h.num_preemptions,
    ),
];

/// SGLang's scheduler families (rank labels).
const SGLANG_SCHEDULER: &[Family] = &[
    Family::Gauge(
        "sglang:num_running_reqs",
        "The number of running requests.",
        |s, _| s.running as f64,
    ),
    Family::Gauge(
        "sglang:num_queue_reqs",
        "The number of requests in the waiting queue.",
        |s, _| s.waiting as f64,
    ),
    Family::Gauge(
        "sglang:num_used_tokens",
        "The number of used tokens.",
        |s, _| (s.kv_used_blocks * s.block_size) as f64,
    ),
    Family::Gauge("sglang:token_usage", "The token usage.", |s, _| {
        s.kv_usage()
    }),
    Family::Gauge(
        "sglang:max_total_num_tokens",
        "Maximum total number of tokens in the KV cache pool.",
        |s, _| (s.kv_num_blocks * s.block_size) as f64,
    ),
    Family::Gauge(
        "sglang:gen_throughput",
        "The generation throughput (token/s).",
        |s, now| s.gen_throughput(now),
    ),
    Family::Gauge(
        "sglang:cache_hit_rate",
        "The prefix cache hit rate.",
        |s, _| s.last_prefill_hit_rate,
    ),
    Family::Histogram(
        "sglang:queue_time_seconds",
        "Histogram of queueing time in seconds.",
        |h| &h.queue,
    ),
];

/// SGLang's tokenizer families (model label only).
const SGLANG_TOKENIZER: &[Family] = &[
    Family::Counter(
        "sglang:prompt_tokens",
        "Number of prefill tokens processed.",
        |s, _| s.prompt_tokens as f64,
    ),
    Family::Counter(
        "sglang:generation_tokens",
        "Number of generation tokens processed.",
        |s, _| s.generation_tokens as f64,
    ),
    Family::Counter(
        "sglang:cached_tokens",
        "Number of cached prompt tokens.",
        |s, _| s.prefix_hits as f64,
    ),
    Family::Counter(
        "sglang:num_requests",
        "Number of requests processed.",
        |s, _| (s.finished_stop + s.finished_length + s.aborted) as f64,
    ),
    Family::Counter(
        "sglang:num_aborted_requests",
        "Number of requests aborted.",
        |s, _| s.aborted as f64,
    ),
    Family::Histogram(
        "sglang:time_to_first_token_seconds",
        "Histogram of time to first token in seconds.",
        |h| &h.ttft,
    ),
    Family::Histogram(
        "sglang:inter_token_latency_seconds",
        "Histogram of inter-token latency in seconds.",
        |h| &h.inter_token,
    ),
    Family::Histogram(
        "sglang:e2e_request_latency_seconds",
        "Histogram of End-to-end request latency in seconds",
        |h| &h.e2e,
    ),
];

fn render_vllm(s: &Stats, model: &str, now: Instant) -> String {
    let mut w = Writer {
        out: String::new(),
        created: Some(s.created_unix),
    };
    let base: Labels = vec![("engine", "0".into()), ("model_name", model.into())];
    w.families(VLLM_SCALARS, &base, s, now);
    vllm_request_success(&mut w, s, &base);
    w.families(VLLM_HISTOGRAMS, &base, s, now);
    vllm_cache_info(&mut w, s);
    w.out
}

/// `request_success` by finish reason. vLLM leaves client-aborted requests out of it
/// (observed on 0.32), so `abort`, `error` and `repetition` exist but stay at zero here too.
fn vllm_request_success(w: &mut Writer, s: &Stats, base: &Labels<'_>) {
    let reasons = [
        ("stop", s.finished_stop),
        ("length", s.finished_length),
        ("abort", 0),
        ("error", 0),
        ("repetition", 0),
    ];
    let success: Vec<_> = reasons
        .iter()
        .map(|(reason, n)| {
            let mut l = base.clone();
            l.push(("finished_reason", (*reason).into()));
            (l, *n as f64)
        })
        .collect();
    w.counter(
        "vllm:request_success",
        "Count of successfully processed requests.",
        &success,
    );
}

/// `cache_config_info`: the KV cache's configuration as labels of a constant gauge.
fn vllm_cache_info(w: &mut Writer, s: &Stats) {
    let block_size = s.block_size;
    let info: Labels = vec![
        ("block_size", block_size.to_string()),
        ("cache_dtype", "auto".into()),
        (
            "enable_prefix_caching",
            if s.prefix_caching { "True" } else { "False" }.into(),
        ),
        ("engine", "0".into()),
        ("gpu_memory_utilization", "0.9".into()),
        (
            "kv_cache_size_tokens",
            (s.kv_num_blocks * block_size).to_string(),
        ),
        ("num_cpu_blocks", "None".into()),
        ("num_gpu_blocks", s.kv_num_blocks.to_string()),
    ];
    w.gauge(
        "vllm:cache_config_info",
        "Information of the LLMEngine CacheConfig",
        &[(info, 1.0)],
    );
}

fn render_sglang(s: &Stats, model: &str, now: Instant) -> String {
    let mut w = Writer {
        out: String::new(),
        created: None,
    };
    // Scheduler metrics carry the rank labels; tokenizer metrics only the model.
    let sched: Labels = vec![
        ("engine_type", "unified".into()),
        ("model_name", model.into()),
        ("pp_rank", "0".into()),
        ("tp_rank", "0".into()),
    ];
    let tok: Labels = vec![("model_name", model.into())];
    w.families(SGLANG_SCHEDULER, &sched, s, now);
    w.families(SGLANG_TOKENIZER, &tok, s, now);
    w.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::SimProfile;

    fn stats() -> Stats {
        let profile = SimProfile {
            kv_cache_tokens: 1600,
            ..SimProfile::default()
        };
        let mut s = Stats::new(Framework::Vllm, &profile);
        s.running = 3;
        s.waiting = 2;
        s.kv_used_blocks = 25;
        s.prefix_queries = 480;
        s.prefix_hits = 160;
        s.finished_length = 7;
        s.hist.ttft.observe(0.03);
        s
    }

    #[test]
    fn values_print_like_prometheus_client() {
        assert_eq!(fmt_value(0.0), "0.0");
        assert_eq!(fmt_value(495.0), "495.0");
        assert_eq!(fmt_value(0.25), "0.25");
        assert_eq!(fmt_value(f64::INFINITY), "+Inf");
        assert_eq!(fmt_value(f64::NAN), "NaN");
    }

    #[test]
    fn vllm_body_has_v1_names_labels_and_created_series() {
        let body = render(Framework::Vllm, &stats(), "m\"x", Instant::now());
        for line in [
            "# TYPE vllm:num_requests_running gauge",
            "vllm:num_requests_running{engine=\"0\",model_name=\"m\\\"x\"} 3.0",
            "vllm:num_requests_waiting{engine=\"0\",model_name=\"m\\\"x\"} 2.0",
            "vllm:kv_cache_usage_perc{engine=\"0\",model_name=\"m\\\"x\"} 0.25",
            "# TYPE vllm:prefix_cache_queries_total counter",
            "vllm:prefix_cache_queries_total{engine=\"0\",model_name=\"m\\\"x\"} 480.0",
            "vllm:prefix_cache_hits_total{engine=\"0\",model_name=\"m\\\"x\"} 160.0",
            "# TYPE vllm:prefix_cache_hits_created gauge",
            "vllm:request_success_total{engine=\"0\",finished_reason=\"length\",model_name=\"m\\\"x\"} 7.0",
            "vllm:time_to_first_token_seconds_bucket{engine=\"0\",le=\"0.04\",model_name=\"m\\\"x\"} 1.0",
            "vllm:time_to_first_token_seconds_bucket{engine=\"0\",le=\"+Inf\",model_name=\"m\\\"x\"} 1.0",
            "vllm:time_to_first_token_seconds_count{engine=\"0\",model_name=\"m\\\"x\"} 1.0",
            "# TYPE vllm:e2e_request_latency_seconds histogram",
            "# TYPE vllm:inter_token_latency_seconds histogram",
            "vllm:num_preemptions_total{",
            "vllm:prompt_tokens_total{",
            "vllm:generation_tokens_total{",
        ] {
            assert!(body.contains(line), "missing {line:?} in\n{body}");
        }
        assert!(body.contains("vllm:cache_config_info{block_size=\"16\""));
        assert!(body.contains("num_gpu_blocks=\"100\""));
        // Every sample line belongs to a family announced by a TYPE line.
        for line in body.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|f| body.contains(&format!("# TYPE {f} histogram")))
                .unwrap_or(name);
            assert!(body.contains(&format!("# TYPE {family} ")), "{line}");
        }
    }

    #[test]
    fn sglang_body_uses_scheduler_and_tokenizer_labels() {
        let body = render(Framework::Sglang, &stats(), "m", Instant::now());
        let sched = "{engine_type=\"unified\",model_name=\"m\",pp_rank=\"0\",tp_rank=\"0\"}";
        for line in [
            format!("sglang:num_running_reqs{sched} 3.0"),
            format!("sglang:num_queue_reqs{sched} 2.0"),
            format!("sglang:token_usage{sched} 0.25"),
            format!("sglang:num_used_tokens{sched} 400.0"),
            format!("sglang:cache_hit_rate{sched} 0.0"),
            format!("sglang:gen_throughput{sched} 0.0"),
            "sglang:prompt_tokens_total{model_name=\"m\"} 0.0".into(),
            "sglang:cached_tokens_total{model_name=\"m\"} 160.0".into(),
            "sglang:num_requests_total{model_name=\"m\"} 7.0".into(),
            "sglang:generation_tokens_total{model_name=\"m\"}".into(),
            "# TYPE sglang:time_to_first_token_seconds histogram".into(),
            "# TYPE sglang:inter_token_latency_seconds histogram".into(),
            "# TYPE sglang:e2e_request_latency_seconds histogram".into(),
        ] {
            assert!(body.contains(&line), "missing {line:?} in\n{body}");
        }
        assert!(!body.contains("_created"));
    }
}
