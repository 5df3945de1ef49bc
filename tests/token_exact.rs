//! Token-exact workloads end to end: the real binary against the simulator, which counts tokens
//! with the same tokenizer (the real-vLLM tiny model's, committed as a fixture).

mod support;

use std::path::PathBuf;

use support::{f64_at, Sandbox};

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn config(api: &str, workload: &str) -> String {
    format!(
        "name: tok\nmodel: {{name: tiny, tokenizer: '{}'}}\nframework: vllm\n\
         infrastructure:\n  provider: simulated\n  simulation: {{seed: 3, decode_step_ms: 1.0, base_ttft_ms: 2.0}}\n\
         workload:\n  api: {api}\n{workload}\nmetrics: {{sample_interval_ms: 20}}\n",
        fixture("tiny-tokenizer").display()
    )
}

fn run(sb: &Sandbox, yaml: &str) -> serde_json::Value {
    let cfg = sb.write("exp.yaml", yaml);
    sb.cmd().arg("run").arg(&cfg).assert().success();
    let mut results = sb.results_json();
    assert_eq!(results.len(), 1);
    results.remove(0)
}

fn assert_all_exact(r: &serde_json::Value, n: u64) {
    assert_eq!(r["summary"]["tokens"]["checked_requests"], n);
    assert_eq!(r["summary"]["tokens"]["input_exact"], n);
    assert_eq!(r["summary"]["tokens"]["output_exact"], n);
    for q in r["requests"].as_array().expect("requests") {
        assert!(q["requested_input_tokens"].as_u64().is_some(), "{q}");
        assert_eq!(q["completion_tokens"], q["requested_output_tokens"]);
    }
}

#[test]
fn completions_synthetic_prompts_get_exactly_the_asked_lengths() {
    let sb = Sandbox::new();
    let r = run(
        &sb,
        &config(
            "completions",
            "  type: concurrent\n  concurrency: 4\n  requests:\n    count: 30\n    synthetic: {input_tokens: {dist: normal, mean: 200, std: 50, min: 50, max: 400}, output_tokens: 16, seed: 5}",
        ),
    );
    assert_all_exact(&r, 30);
    for q in r["requests"].as_array().expect("requests") {
        assert_eq!(q["prompt_tokens"], q["requested_input_tokens"]);
    }
}

#[test]
fn chat_synthetic_prompts_measure_the_template_overhead() {
    let sb = Sandbox::new();
    let r = run(
        &sb,
        &config(
            "chat",
            "  type: single\n  requests:\n    count: 6\n    synthetic: {input_tokens: 64, output_tokens: {dist: uniform, min: 4, max: 12}}",
        ),
    );
    assert_all_exact(&r, 6);
    let overhead = r["summary"]["tokens"]["chat_template_overhead_tokens"]
        .as_u64()
        .expect("overhead measured");
    assert!(overhead > 0);
    assert_eq!(r["requests"][0]["prompt_tokens"], 64 + overhead);
}

#[test]
fn trace_replay_is_exact_and_reports_ideal_and_measured_reuse() {
    let sb = Sandbox::new();
    let r = run(
        &sb,
        &config(
            "completions",
            &format!(
                "  type: trace\n  trace: {{file: '{}', time_scale: 0.05, block_size: 64}}",
                fixture("traces/mooncake-small.jsonl").display()
            ),
        ),
    );
    assert_all_exact(&r, 24);
    let ideal = f64_at(&r, "/summary/tokens/ideal_block_reuse_ratio");
    let measured = f64_at(&r, "/summary/tokens/measured_prefix_cache_hit_rate");
    assert!(ideal > 0.5 && ideal < 1.0, "{ideal}");
    assert!(
        measured > 0.0,
        "the simulator's prefix cache saw the shared blocks"
    );
}

#[test]
fn sharegpt_output_lengths_come_from_the_dataset() {
    let sb = Sandbox::new();
    let r = run(
        &sb,
        &config(
            "chat",
            &format!(
                "  type: single\n  requests: {{source: '{}', output_tokens: from_dataset, max_input_tokens: 20, count: 3}}",
                fixture("sharegpt-small.json").display()
            ),
        ),
    );
    assert_eq!(r["summary"]["tokens"]["skipped_too_long"], 1);
    assert_eq!(r["summary"]["tokens"]["output_exact"], 3);
}
