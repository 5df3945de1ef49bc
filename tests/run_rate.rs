//! The real binary running open-loop (`type: rate`) sweeps against the simulator: the result
//! file carries the schedule, warmup flags, pacing figures and the steady-state window, and
//! queueing past the simulator's capacity shows as TTFT growth.

mod support;

use predicates::prelude::*;
use support::{f64_at, Sandbox, PROMPTS};

const CONFIG: &str = r#"name: "rate-test"
model:
  name: "sim/tiny"
framework: vllm
infrastructure:
  provider: simulated
  simulation:
    seed: 3
    max_num_seqs: 4
    decode_step_ms: 5.0
    decode_step_ms_per_seq: 0.0
    base_ttft_ms: 2.0
workload:
  type: rate
  arrival: constant
  seed: 9
  duration_s: 1
  warmup: {requests: 2}
  requests:
    source: prompts.jsonl
    count: 400
  parameters:
    max_tokens: 16
    temperature: 0.0
    ignore_eos: true
  sweep:
    request_rate: [10, 120]
metrics:
  collect_gpu_metrics: false
  output_dir: results
"#;

#[test]
fn rate_sweep_records_the_schedule_and_queueing_shows_past_capacity() {
    let sb = Sandbox::new();
    sb.write("prompts.jsonl", PROMPTS);
    let cfg = sb.write("rate.yaml", CONFIG);
    sb.cmd()
        .arg("run")
        .arg(&cfg)
        .assert()
        .success()
        .stdout(predicate::str::contains("Arrival rate"))
        .stdout(predicate::str::contains("Steady state"));
    let mut results = sb.results_json();
    assert_eq!(results.len(), 2, "one file per rate");
    results.sort_by_key(|r| r["metadata"]["sweep"]["index"].as_u64());
    let slow = &results[0];
    assert_eq!(f64_at(slow, "/metadata/sweep/request_rate"), 10.0);
    assert!(slow["run_id"]
        .as_str()
        .unwrap_or("")
        .starts_with("rate-test-r10-"));
    // 10/s for 1 s: offsets 0, 100, …, 900 ms; the first two are warmup.
    let requests = slow["requests"].as_array().expect("requests");
    assert_eq!(requests.len(), 10);
    for (i, r) in requests.iter().enumerate() {
        assert!((f64_at(r, "/scheduled_offset_ms") - 100.0 * i as f64).abs() < 1e-6);
        assert!(f64_at(r, "/send_lag_ms") >= 0.0);
        assert_eq!(r["warmup"].as_bool(), (i < 2).then_some(true), "{i}");
    }
    assert_eq!(f64_at(slow, "/summary/total_requests"), 8.0);
    assert_eq!(f64_at(slow, "/summary/warmup_requests"), 2.0);
    assert_eq!(f64_at(slow, "/summary/open_loop/target_request_rate"), 10.0);
    assert_eq!(slow["summary"]["open_loop"]["arrival"], "constant");
    assert!(slow["summary"]["steady_state"]["rule"].is_string());
    assert!(f64_at(slow, "/summary/steady_state/end_offset_s") <= 1.0);
    // 120/s is past the simulator's capacity (4 slots × 80 ms per request = 50/s): arrivals
    // queue and TTFT grows.
    let fast = &results[1];
    assert_eq!(fast["requests"].as_array().map(Vec::len), Some(120));
    let (a, b) = (
        f64_at(slow, "/summary/ttft/p50"),
        f64_at(fast, "/summary/ttft/p50"),
    );
    assert!(b > a * 3.0, "TTFT p50 at 10/s {a} ms, at 120/s {b} ms");
}

#[test]
fn bad_open_loop_fields_are_all_reported_at_once() {
    let sb = Sandbox::new();
    sb.write("prompts.jsonl", PROMPTS);
    let bad = CONFIG
        .replace("arrival: constant", "arrival: poisson\n  burstiness: 0.5")
        .replace("duration_s: 1", "duration_s: 0")
        .replace("warmup: {requests: 2}", "warmup: {requests: 400}")
        .replace("request_rate: [10, 120]", "request_rate: [10, -1]");
    let cfg = sb.write("bad.yaml", &bad);
    sb.cmd()
        .args(["run", "--dry-run"])
        .arg(&cfg)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("workload.burstiness"))
        .stderr(predicate::str::contains("workload.duration_s: must be > 0"))
        .stderr(predicate::str::contains("workload.warmup.requests"))
        .stderr(predicate::str::contains("workload.sweep.request_rate"));
}
