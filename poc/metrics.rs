//! Proof of concept: fetch a server's Prometheus `/metrics` and print a curated subset,
//! through the same parser and framework maps the benchmark uses.
//!
//!   cargo run --example metrics -- http://127.0.0.1:8000 vllm     # or sglang

use llm_inf_bench::config::Framework;
use llm_inf_bench::metrics::prometheus;
use llm_inf_bench::metrics::server_metrics::{self, MetricsDialect};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(url) = args.first() else {
        eprintln!("usage: metrics <server-url> [vllm|sglang]");
        std::process::exit(2);
    };
    let framework = match args.get(1).map(String::as_str) {
        Some("sglang") => Framework::Sglang,
        _ => Framework::Vllm,
    };
    let text = match reqwest::get(format!("{}/metrics", url.trim_end_matches('/'))).await {
        Ok(resp) => resp.text().await.unwrap_or_default(),
        Err(e) => {
            eprintln!("GET /metrics failed: {e}");
            std::process::exit(1);
        }
    };
    let exposition = prometheus::parse(&text);
    println!(
        "{} samples, {} unparseable lines",
        exposition.samples.len(),
        exposition.skipped_lines
    );
    let sample = server_metrics::extract(MetricsDialect::from(framework), &exposition);
    let show = |name: &str, v: Option<f64>| match v {
        Some(v) => println!("  {name:<28} {v}"),
        None => println!("  {name:<28} -"),
    };
    show("kv_cache_usage", sample.kv_cache_usage);
    show("active_requests", sample.active_requests);
    show("queued_requests", sample.queued_requests);
    show("prefix_cache_hit_rate", sample.prefix_cache_hit_rate);
    show("generation_throughput", sample.generation_throughput);
    show("prompt_tokens_total", sample.prompt_tokens_total);
    show("generation_tokens_total", sample.generation_tokens_total);
    show("prefix_cache_hits_total", sample.prefix_cache_hits_total);
    show(
        "prefix_cache_queries_total",
        sample.prefix_cache_queries_total,
    );
    show("preemptions_total", sample.preemptions_total);
}
