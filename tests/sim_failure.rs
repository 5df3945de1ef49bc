//! The simulator's profile is range-checked at validation (no panic on absurd values), and a
//! panic inside the simulator fails the run with a clear error instead of recording every
//! request as a failure of its own.

mod support;

use predicates::prelude::*;
use support::sim::SimYaml;
use support::Sandbox;

/// Eight requests, four at a time, on the simulator with `simulation` as its profile.
fn config(sb: &Sandbox, simulation: &str) -> std::path::PathBuf {
    SimYaml::new("sim-fail")
        .simulation(simulation)
        .workload("type: concurrent, concurrency: 4")
        .count(8)
        .parameters("max_tokens: 8")
        .write(sb, "exp.yaml")
}

#[test]
fn absurd_profile_values_fail_validation_in_dry_run() {
    let sb = Sandbox::new();
    let cfg = config(&sb, "decode_step_ms: 1e300, base_ttft_ms: 1e300");
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
    let cfg = config(&sb, "seed: 1");
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
