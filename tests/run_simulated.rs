//! The real binary, all four phases, against the built-in simulator (`provider: simulated`).

mod support;

use predicates::prelude::*;
use support::sim::SimYaml;
use support::{f64_at, Sandbox};

/// `sim-test`: 16 tokens a request (`ignore_eos`), server metrics every 20 ms.
fn config(workload: &str, count: usize, simulation: &str) -> SimYaml {
    SimYaml::new("sim-test")
        .simulation(simulation)
        .workload(workload)
        .count(count)
        .parameters("max_tokens: 16, temperature: 0.0, ignore_eos: true")
        .metrics("collect_gpu_metrics: true, sample_interval_ms: 20, output_dir: results")
}

const FAST_SIM: &str = "seed: 7, decode_step_ms: 2.0, base_ttft_ms: 5.0";

#[test]
fn single_workload_runs_all_phases_and_writes_a_result() {
    let sb = Sandbox::new();
    let cfg = config("type: single", 8, FAST_SIM).write(&sb, "exp.yaml");
    sb.cmd()
        .args(["run"])
        .arg(&cfg)
        .assert()
        .success()
        .stdout(predicate::str::contains("TTFT"))
        .stderr(predicate::str::contains("[1/4] Provisioning"))
        .stderr(predicate::str::contains("[4/4] Collecting results"));
    let results = sb.results_json();
    assert_eq!(results.len(), 1);
    let r = &results[0];
    assert_eq!(r["status"], "completed");
    assert_eq!(f64_at(r, "/summary/total_requests"), 8.0);
    assert_eq!(f64_at(r, "/summary/successful_requests"), 8.0);
    let requests = r["requests"].as_array().expect("requests");
    for (i, req) in requests.iter().enumerate() {
        assert_eq!(req["request_index"], i);
        assert_eq!(req["completion_tokens"], 16, "ignore_eos gives max_tokens");
        assert_eq!(
            req["inter_token_latencies_ms"].as_array().map(Vec::len),
            Some(15)
        );
        assert!(req["error"].is_null());
    }
    assert!(f64_at(r, "/gpu_metrics/total_scrapes") > 0.0);
    assert_eq!(r["metadata"]["provider"], "simulated");
    assert_eq!(r["experiment"]["name"], "sim-test");
    assert!(r["definitions"]["ttft_ms"].is_string());
}

#[test]
fn concurrency_sweep_shows_saturation_and_queueing() {
    let sb = Sandbox::new();
    let sim = "seed: 1, max_num_seqs: 4, decode_step_ms: 10.0, decode_step_ms_per_seq: 0.5, base_ttft_ms: 5.0";
    let cfg = config(
        "type: concurrent, concurrency: 1, sweep: {concurrency: [1, 4, 16]}",
        32,
        sim,
    )
    .write(&sb, "sweep.yaml");
    sb.cmd()
        .arg("run")
        .arg(&cfg)
        .assert()
        .success()
        .stderr(predicate::str::contains("Sweep iteration 3/3"));
    let mut results = sb.results_json();
    assert_eq!(results.len(), 3, "one file per iteration");
    results.sort_by_key(|r| r["metadata"]["sweep"]["index"].as_u64());
    let tps: Vec<f64> = results
        .iter()
        .map(|r| f64_at(r, "/summary/tokens_per_second"))
        .collect();
    let ttft: Vec<f64> = results
        .iter()
        .map(|r| f64_at(r, "/summary/ttft/p50"))
        .collect();
    // Throughput rises with concurrency up to max_num_seqs, then flattens.
    assert!(tps[1] > tps[0] * 2.0, "c4 vs c1: {tps:?}");
    assert!(tps[2] < tps[1] * 2.0, "c16 is capped by 4 slots: {tps:?}");
    // Past max_num_seqs requests queue: TTFT grows.
    assert!(ttft[2] > ttft[1] * 2.0, "queueing shows in TTFT: {ttft:?}");
    assert_eq!(results[2]["experiment"]["workload"]["concurrency"], 16);
    assert!(results[2]["run_id"]
        .as_str()
        .unwrap_or("")
        .starts_with("sim-test-c16-"));
}

#[test]
fn multi_turn_with_shared_prefix_hits_the_prefix_cache() {
    let sb = Sandbox::new();
    let prefix = "You are a meticulous assistant. ".repeat(40);
    let kind = format!(
        "type: multi_turn, conversation: {{turns: 3, system_prompt: \"Answer briefly.\", \
         shared_prefix: \"{prefix}\", user_messages: [\"Tell me more.\", \"Give an example.\"]}}"
    );
    let cfg = config(&kind, 4, FAST_SIM).write(&sb, "mt.yaml");
    sb.cmd().arg("run").arg(&cfg).assert().success();
    let results = sb.results_json();
    assert_eq!(results.len(), 1);
    let r = &results[0];
    assert_eq!(f64_at(r, "/summary/total_requests"), 12.0);
    assert!(f64_at(r, "/summary/gpu_summary/prefix_cache_hit_rate") > 0.0);
    assert!(f64_at(r, "/summary/gpu_summary/kv_cache_usage_peak") > 0.0);
    let turns = r["summary"]["per_turn"].as_array().expect("per-turn table");
    assert_eq!(turns.len(), 3);
    // Later turns carry the history: more prompt tokens.
    let p0 = f64_at(&turns[0], "/mean_prompt_tokens");
    let p2 = f64_at(&turns[2], "/mean_prompt_tokens");
    assert!(p2 > p0, "history grows: {p0} -> {p2}");
}

#[test]
fn dry_run_contacts_nothing() {
    let sb = Sandbox::new();
    let cfg = config("type: single", 8, FAST_SIM).write(&sb, "exp.yaml");
    sb.cmd()
        .args(["run", "--dry-run"])
        .arg(&cfg)
        .assert()
        .success()
        .stdout(predicate::str::contains("sim-test"));
    assert!(sb.result_files().is_empty());
}
