//! Which Prometheus series mean what, per inference server, and the run summary built from the
//! scraped samples (SPEC §6, PROTOCOLS §5).
//!
//! Names are matched exactly (never by prefix, so `_created` and look-alike series are ignored),
//! with the server's prefix written either `vllm:` or `vllm_`. When several series carry the
//! same metric (engines, data-parallel ranks), ratios are averaged and counts are summed; series
//! that differ only by a replica label (`tp_rank`, `pp_rank`, …) report the same batch and are
//! averaged before summing, so tensor parallelism never multiplies a count.

use crate::config::types::Framework;
use crate::metrics::prometheus::{Exposition, Sample};
use crate::results::result::{GpuMetrics, GpuSummary, ServerSample};

/// The metric vocabulary of one inference server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricsDialect {
    Vllm,
    Sglang,
    LlamaCpp,
}

impl MetricsDialect {
    /// The `framework` string written into the result file.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricsDialect::Vllm => "vllm",
            MetricsDialect::Sglang => "sglang",
            MetricsDialect::LlamaCpp => "llamacpp",
        }
    }

    fn prefixes(self) -> &'static [&'static str] {
        match self {
            MetricsDialect::Vllm => &["vllm:", "vllm_"],
            MetricsDialect::Sglang => &["sglang:", "sglang_"],
            MetricsDialect::LlamaCpp => &["llamacpp:", "llamacpp_"],
        }
    }

    fn fields(self) -> &'static [FieldSpec] {
        match self {
            MetricsDialect::Vllm => VLLM,
            MetricsDialect::Sglang => SGLANG,
            MetricsDialect::LlamaCpp => LLAMACPP,
        }
    }
}

impl From<Framework> for MetricsDialect {
    fn from(framework: Framework) -> Self {
        match framework {
            Framework::Vllm => MetricsDialect::Vllm,
            Framework::Sglang => MetricsDialect::Sglang,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    KvUsage,
    Active,
    Queued,
    /// A hit-rate gauge (vLLM V0, SGLang); negative values mean "no data".
    HitRate,
    /// A throughput gauge (SGLang, llama.cpp); vLLM's comes from token deltas.
    Throughput,
    PromptTokens,
    GenerationTokens,
    PrefixHits,
    PrefixQueries,
    Preemptions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Agg {
    Mean,
    Sum,
}

/// One tracked value: the base names (without the server prefix) that carry it, in order of
/// preference; the first one present wins, so old and new spellings are never added together.
struct FieldSpec {
    field: Field,
    bases: &'static [&'static str],
    agg: Agg,
}

const fn spec(field: Field, bases: &'static [&'static str], agg: Agg) -> FieldSpec {
    FieldSpec { field, bases, agg }
}

// Counters appear with `_total` (prometheus_client) and without (other exporters).
const VLLM: &[FieldSpec] = &[
    // `kv_cache_usage_perc` is V1; `gpu_cache_usage_perc` is V0 and was still emitted beside
    // the new name during the 0.9–0.10 transition.
    spec(
        Field::KvUsage,
        &["kv_cache_usage_perc", "gpu_cache_usage_perc"],
        Agg::Mean,
    ),
    spec(Field::Active, &["num_requests_running"], Agg::Sum),
    spec(Field::Queued, &["num_requests_waiting"], Agg::Sum),
    spec(Field::HitRate, &["gpu_prefix_cache_hit_rate"], Agg::Mean),
    spec(
        Field::PromptTokens,
        &["prompt_tokens_total", "prompt_tokens"],
        Agg::Sum,
    ),
    spec(
        Field::GenerationTokens,
        &["generation_tokens_total", "generation_tokens"],
        Agg::Sum,
    ),
    // Hits and queries are chosen as a pair (same index): see `prefix_pair`.
    spec(
        Field::PrefixHits,
        &[
            "prefix_cache_hits_total",
            "prefix_cache_hits",
            "gpu_prefix_cache_hits_total",
            "gpu_prefix_cache_hits",
        ],
        Agg::Sum,
    ),
    spec(
        Field::PrefixQueries,
        &[
            "prefix_cache_queries_total",
            "prefix_cache_queries",
            "gpu_prefix_cache_queries_total",
            "gpu_prefix_cache_queries",
        ],
        Agg::Sum,
    ),
    spec(
        Field::Preemptions,
        &["num_preemptions_total", "num_preemptions"],
        Agg::Sum,
    ),
];

const SGLANG: &[FieldSpec] = &[
    spec(Field::KvUsage, &["token_usage"], Agg::Mean),
    spec(Field::Active, &["num_running_reqs"], Agg::Sum),
    spec(Field::Queued, &["num_queue_reqs"], Agg::Sum),
    spec(Field::HitRate, &["cache_hit_rate"], Agg::Mean),
    // Decode tok/s of one scheduler: data-parallel ranks add up.
    spec(Field::Throughput, &["gen_throughput"], Agg::Sum),
    spec(
        Field::PromptTokens,
        &["prompt_tokens_total", "prompt_tokens"],
        Agg::Sum,
    ),
    spec(
        Field::GenerationTokens,
        &["generation_tokens_total", "generation_tokens"],
        Agg::Sum,
    ),
    // Prompt tokens served from the radix cache; the prompt-token counter (which includes
    // them) is the matching "queries" count, as vLLM's counters are in tokens too.
    spec(
        Field::PrefixHits,
        &["cached_tokens_total", "cached_tokens"],
        Agg::Sum,
    ),
];

const LLAMACPP: &[FieldSpec] = &[
    // Removed upstream in May 2025; kept for older builds and forks.
    spec(Field::KvUsage, &["kv_cache_usage_ratio"], Agg::Mean),
    spec(Field::Active, &["requests_processing"], Agg::Sum),
    spec(Field::Queued, &["requests_deferred"], Agg::Sum),
    spec(Field::Throughput, &["predicted_tokens_seconds"], Agg::Mean),
    spec(
        Field::PromptTokens,
        &["prompt_tokens_total", "prompt_tokens"],
        Agg::Sum,
    ),
    spec(
        Field::GenerationTokens,
        &["tokens_predicted_total", "tokens_predicted"],
        Agg::Sum,
    ),
];

/// Labels whose series are replicas of the same batch (tensor/pipeline/expert ranks).
const REPLICA_LABELS: &[&str] = &["tp_rank", "pp_rank", "moe_ep_rank", "attn_tp_rank"];

/// True when `name` is one of the series `extract` reads, so the parser can drop the rest.
pub fn is_tracked(dialect: MetricsDialect, name: &str) -> bool {
    dialect.prefixes().iter().any(|prefix| {
        name.strip_prefix(prefix)
            .is_some_and(|base| dialect.fields().iter().any(|f| f.bases.contains(&base)))
    })
}

/// Reduces one scrape to the values we track. `timestamp` is left at 0 and, for vLLM,
/// `generation_throughput` at None: the scraper fills both (see [`fill_generation_throughput`]).
pub fn extract(dialect: MetricsDialect, exposition: &Exposition) -> ServerSample {
    let mut sample = ServerSample::default();
    let fields = dialect.fields();
    for spec in fields {
        let slot = match spec.field {
            Field::KvUsage => &mut sample.kv_cache_usage,
            Field::Active => &mut sample.active_requests,
            Field::Queued => &mut sample.queued_requests,
            Field::HitRate => &mut sample.prefix_cache_hit_rate,
            Field::Throughput => &mut sample.generation_throughput,
            Field::PromptTokens => &mut sample.prompt_tokens_total,
            Field::GenerationTokens => &mut sample.generation_tokens_total,
            Field::Preemptions => &mut sample.preemptions_total,
            Field::PrefixHits | Field::PrefixQueries => continue,
        };
        let accept = |v: f64| spec.field != Field::HitRate || v >= 0.0;
        *slot = spec
            .bases
            .iter()
            .find_map(|base| lookup(dialect, exposition, base, spec.agg, accept));
    }
    let (hits, queries) = prefix_pair(dialect, exposition, fields);
    sample.prefix_cache_hits_total = hits;
    sample.prefix_cache_queries_total = queries;
    if dialect == MetricsDialect::Sglang && hits.is_some() {
        sample.prefix_cache_queries_total = sample.prompt_tokens_total;
    }
    sample
}

/// Hits and queries from the same generation of names, so a transition-era server that emits
/// both `prefix_cache_*` and `gpu_prefix_cache_*` is not counted twice or mixed.
fn prefix_pair(
    dialect: MetricsDialect,
    exposition: &Exposition,
    fields: &[FieldSpec],
) -> (Option<f64>, Option<f64>) {
    let bases = |field| fields.iter().find(|f| f.field == field).map(|f| f.bases);
    let hits = bases(Field::PrefixHits).unwrap_or(&[]);
    let Some(queries) = bases(Field::PrefixQueries) else {
        let first = hits
            .iter()
            .find_map(|b| lookup(dialect, exposition, b, Agg::Sum, |_| true));
        return (first, None);
    };
    for (hit_base, query_base) in hits.iter().zip(queries.iter()) {
        let q = lookup(dialect, exposition, query_base, Agg::Sum, |_| true);
        let h = lookup(dialect, exposition, hit_base, Agg::Sum, |_| true);
        if q.is_some() || h.is_some() {
            return (h, q);
        }
    }
    (None, None)
}

/// The aggregated finite, accepted values of the series `<prefix><base>`; the first prefix
/// spelling that has any wins.
fn lookup(
    dialect: MetricsDialect,
    exposition: &Exposition,
    base: &str,
    agg: Agg,
    accept: impl Fn(f64) -> bool,
) -> Option<f64> {
    dialect.prefixes().iter().find_map(|prefix| {
        let series: Vec<&Sample> = exposition
            .samples
            .iter()
            .filter(|s| s.name.strip_prefix(prefix) == Some(base))
            .filter(|s| s.value.is_finite() && accept(s.value))
            .collect();
        aggregate(&series, agg)
    })
}

/// Series that differ only in replica labels.
struct Group<'a> {
    key: Vec<(&'a str, &'a str)>,
    sum: f64,
    n: usize,
}

fn aggregate(series: &[&Sample], agg: Agg) -> Option<f64> {
    if series.is_empty() {
        return None;
    }
    match agg {
        Agg::Mean => Some(series.iter().map(|s| s.value).sum::<f64>() / series.len() as f64),
        Agg::Sum => {
            // Group by the labels that are not replica ranks; mean within, sum across.
            let mut groups: Vec<Group<'_>> = Vec::new();
            for s in series {
                let mut key: Vec<(&str, &str)> = s
                    .labels
                    .iter()
                    .filter(|(k, _)| !REPLICA_LABELS.contains(&k.as_str()))
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                key.sort_unstable();
                match groups.iter_mut().find(|g| g.key == key) {
                    Some(g) => {
                        g.sum += s.value;
                        g.n += 1;
                    }
                    None => groups.push(Group {
                        key,
                        sum: s.value,
                        n: 1,
                    }),
                }
            }
            Some(groups.iter().map(|g| g.sum / g.n as f64).sum())
        }
    }
}

/// Whether a scrape carried any metric of this dialect (a body with none is a failed scrape).
pub fn is_recognised(sample: &ServerSample) -> bool {
    [
        sample.kv_cache_usage,
        sample.active_requests,
        sample.queued_requests,
        sample.prefix_cache_hit_rate,
        sample.generation_throughput,
        sample.prompt_tokens_total,
        sample.generation_tokens_total,
        sample.prefix_cache_hits_total,
        sample.prefix_cache_queries_total,
        sample.preemptions_total,
    ]
    .iter()
    .any(Option::is_some)
}

/// vLLM: generation tokens per second since the previous sample, as the Python tool records it
/// (None on the first sample or after a counter reset). Other dialects keep their gauge.
pub fn fill_generation_throughput(
    dialect: MetricsDialect,
    previous: Option<&ServerSample>,
    current: &mut ServerSample,
) {
    if dialect != MetricsDialect::Vllm {
        return;
    }
    current.generation_throughput = previous.and_then(|prev| {
        counter_rate(
            prev.timestamp,
            prev.generation_tokens_total?,
            current.timestamp,
            current.generation_tokens_total?,
        )
    });
}

fn counter_rate(t0: f64, v0: f64, t1: f64, v1: f64) -> Option<f64> {
    let (dt, dv) = (t1 - t0, v1 - v0);
    (dt > 0.0 && dv >= 0.0).then(|| dv / dt)
}

/// The run's server-side summary (SPEC §6).
pub fn summarize(dialect: MetricsDialect, metrics: &GpuMetrics) -> GpuSummary {
    let ts = &metrics.time_series;
    let (kv_peak, kv_mean) = peak_and_mean(ts.iter().filter_map(|s| s.kv_cache_usage));
    let (active_peak, active_mean) = peak_and_mean(ts.iter().filter_map(|s| s.active_requests));
    let (queued_peak, _) = peak_and_mean(ts.iter().filter_map(|s| s.queued_requests));
    let gauge_hit_rate = peak_and_mean(ts.iter().filter_map(|s| s.prefix_cache_hit_rate)).1;
    let gauge_throughput = peak_and_mean(ts.iter().filter_map(|s| s.generation_throughput)).1;
    let has_prefix_counters = ts
        .iter()
        .any(|s| s.prefix_cache_hits_total.is_some() && s.prefix_cache_queries_total.is_some());
    let counter_hit_rate = || {
        let (first, last) = first_last(ts, |s| {
            Some((s.prefix_cache_hits_total?, s.prefix_cache_queries_total?))
        })?;
        let (hits, queries) = (last.1 .0 - first.1 .0, last.1 .1 - first.1 .1);
        (queries > 0.0 && hits >= 0.0).then(|| hits / queries)
    };
    let counter_throughput = || {
        let (first, last) = first_last(ts, |s| s.generation_tokens_total)?;
        counter_rate(first.0, first.1, last.0, last.1)
    };
    let (prefix_cache_hit_rate, generation_throughput) = match dialect {
        // Counters first: the V0 gauge exists only where the counters do not.
        MetricsDialect::Vllm => (
            if has_prefix_counters {
                counter_hit_rate()
            } else {
                gauge_hit_rate
            },
            counter_throughput(),
        ),
        MetricsDialect::Sglang | MetricsDialect::LlamaCpp => (
            gauge_hit_rate.or_else(counter_hit_rate),
            gauge_throughput.or_else(counter_throughput),
        ),
    };
    let preemptions = first_last(ts, |s| s.preemptions_total)
        .and_then(|(first, last)| Some(last.1 - first.1).filter(|d| *d >= 0.0));
    GpuSummary {
        kv_cache_usage_peak: kv_peak,
        kv_cache_usage_mean: kv_mean,
        active_requests_peak: active_peak,
        active_requests_mean: active_mean,
        prefix_cache_hit_rate,
        generation_throughput,
        total_samples: ts.len(),
        scrape_errors: metrics.scrape_errors,
        queued_requests_peak: queued_peak,
        preemptions,
    }
}

/// Max and arithmetic mean (summed in order, as Python's `sum(xs) / len(xs)`).
fn peak_and_mean(values: impl Iterator<Item = f64>) -> (Option<f64>, Option<f64>) {
    let (mut peak, mut sum, mut n) = (f64::NEG_INFINITY, 0.0, 0usize);
    for v in values.filter(|v| v.is_finite()) {
        peak = peak.max(v);
        sum += v;
        n += 1;
    }
    if n == 0 {
        (None, None)
    } else {
        (Some(peak), Some(sum / n as f64))
    }
}

/// `(timestamp, value)`.
type Point<T> = (f64, T);

/// The first and last samples where `get` yields a value.
fn first_last<T: Copy>(
    ts: &[ServerSample],
    get: impl Fn(&ServerSample) -> Option<T>,
) -> Option<(Point<T>, Point<T>)> {
    let first = ts.iter().find_map(|s| Some((s.timestamp, get(s)?)))?;
    let last = ts.iter().rev().find_map(|s| Some((s.timestamp, get(s)?)))?;
    Some((first, last))
}

#[cfg(test)]
mod tests;
