//! The simulator's profile is range-checked at validation (no panic on absurd values), and a
//! panic inside the simulator fails the run with a clear error instead of recording every
//! request as a failure of its own.

mod common;

use common::{Sandbox, PROMPTS};
use predicates::prelude::*;

fn config(simulation: &str) -> String {
    format!(
        r#"name: "sim-fail"
model:
  name: "sim/tiny"
framework: vllm
infrastructure:
  provider: simulated
  simulation:
{simulation}
workload:
  type: concurrent
  concurrency: 4
  requests:
    source: prompts.jsonl
    count: 8
  parameters:
    max_tokens: 8
metrics:
  collect_gpu_metrics: false
  output_dir: results
"#
    )
}

#[test]
fn absurd_profile_values_fail_validation_in_dry_run() {
    let sb = Sandbox::new();
    sb.write("prompts.jsonl", PROMPTS);
    let cfg = sb.write(
        "exp.yaml",
        &config("    decode_step_ms: 1e300\n    base_ttft_ms: 1e300\n"),
    );
    sb.cmd()
        .args(["run", "--dry-run"])
        .arg(&cfg)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "infrastructure.simulation.decode_step_ms",
        ))
        .stderr(predicate::str::contains(
            "infrastructure.simulation.base_ttft_ms",
        ))
        .stderr(predicate::str::contains("panicked").not());
}

#[test]
fn a_simulator_panic_fails_the_run_with_a_clear_error() {
    let sb = Sandbox::new();
    sb.write("prompts.jsonl", PROMPTS);
    let cfg = sb.write("exp.yaml", &config("    seed: 1\n"));
    sb.cmd()
        .arg("run")
        .arg(&cfg)
        .env("LLM_INF_BENCH_SIM_PANIC", "1")
        .timeout(std::time::Duration::from_secs(120))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "the server failed during the run: the simulator's engine panicked",
        ))
        .stderr(predicate::str::contains("LLM_INF_BENCH_SIM_PANIC"));
    assert!(
        sb.result_files().is_empty(),
        "no result full of requests the crash cut"
    );
}
