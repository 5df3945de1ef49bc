//! The experiment matrix (issue 17) on the fake RunPod API, through the real binary: cells on
//! parallel pods (never more than `max_parallel_pods` alive), Ctrl-C across every pod, a GPU
//! type without capacity. Synchronisation is on the fake's state and the binary's output lines,
//! never on sleeps.
#![cfg(unix)]

mod support;

use std::collections::BTreeSet;

use llm_inf_bench::sim::SimProfile;
use support::runpod::Lifecycle;
use support::runpod_bin::World;

/// 3 GPU types × 2 GPU counts = 6 cells, 3 at a time.
fn matrix_config(w: &World, name: &str, count: usize, concurrency: usize) -> std::path::PathBuf {
    w.runpod_config(
        name,
        &format!(
            r#"framework_options: {{max_model_len: 4096}}
infrastructure: {{provider: runpod, cloud_type: community}}
matrix:
  gpu_type: [A100-80GB, H100-80GB, L40S]
  gpu_count: [1, 2]
max_parallel_pods: 3
workload:
  type: concurrent
  concurrency: {concurrency}
  requests: {{source: prompts.jsonl, count: {count}}}
  parameters: {{max_tokens: 8, ignore_eos: true}}
metrics: {{collect_gpu_metrics: false, output_dir: results}}
"#
        ),
    )
}

const CELLS: [&str; 6] = [
    "A100-80GB-1gpu",
    "A100-80GB-2gpu",
    "H100-80GB-1gpu",
    "H100-80GB-2gpu",
    "L40S-1gpu",
    "L40S-2gpu",
];

/// (run results, matrix summaries) in the results folder.
fn files(w: &World) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    w.sb.results_json()
        .into_iter()
        .partition(|v| v.get("kind").is_none())
}

fn cell_of(result: &serde_json::Value) -> String {
    result["metadata"]["matrix"]["cell"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn cells_with(summary: &serde_json::Value, status: &str) -> BTreeSet<String> {
    summary["cells"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["status"] == status)
        .filter_map(|c| c["cell"].as_str().map(String::from))
        .collect()
}

#[test]
fn six_cells_three_pods_at_a_time_all_terminated() {
    let w = World::new();
    // A pod only reaches RUNNING once two were alive together: a serial matrix would time out.
    w.fake.set_lifecycle(Lifecycle::RunningOncePeak(2));
    let cfg = matrix_config(&w, "mx", 6, 2);
    let mut cmd = w.cmd();
    cmd.env("LLM_INF_BENCH_RUNPOD_RUNNING_TIMEOUT_MS", "30000");
    let (code, stdout, stderr) = w.run_with(cmd, &["run", cfg.to_str().unwrap(), "-y"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");

    assert_eq!(w.fake.create_bodies().len(), 6, "one pod per cell");
    let peak = w.fake.peak_alive();
    assert!(peak <= 3, "at most max_parallel_pods alive, saw {peak}");
    assert!(peak >= 2, "cells ran in parallel, saw {peak}");
    w.assert_no_pod_left();

    let (results, summaries) = files(&w);
    assert_eq!(results.len(), 6, "one result file per cell");
    assert_eq!(summaries.len(), 1, "one matrix summary");
    let summary = &summaries[0];
    let id = summary["id"].as_str().unwrap();
    assert!(id.starts_with("mx-matrix-"), "{id}");
    let tagged: BTreeSet<String> = results.iter().map(cell_of).collect();
    assert_eq!(tagged, CELLS.iter().map(|c| c.to_string()).collect());
    for r in &results {
        assert_eq!(r["metadata"]["matrix"]["id"], id);
        assert_eq!(r["status"], "completed");
    }
    assert_eq!(cells_with(summary, "completed").len(), 6);
    // The table ranks every cell and marks a best throughput.
    for cell in CELLS {
        assert!(stdout.contains(cell), "{cell} in the table:\n{stdout}");
    }
    assert!(summary["best"]["tokens_per_second"].is_string());
    assert!(stdout.contains(" *"), "{stdout}");
    // Each pod is named after its cell.
    let names: BTreeSet<String> = w
        .fake
        .create_bodies()
        .iter()
        .filter_map(|b| b["name"].as_str().map(String::from))
        .collect();
    assert!(names.contains("llm-inf-bench-mx-L40S-2gpu"), "{names:?}");
}

#[test]
fn sigint_mid_matrix_saves_partial_results_and_terminates_every_pod() {
    let w = World::with(support::runpod_bin::PodServer::Sim(SimProfile {
        decode_step_ms: 5.0,
        base_ttft_ms: 5.0,
        ..SimProfile::default()
    }));
    let cfg = matrix_config(&w, "mxint", 1000, 4);
    let mut p = w.spawn(&["run", cfg.to_str().unwrap(), "-y"]);
    // Three cells (the first wave) are measuring: each printed a 10 % progress line.
    let mut measuring = BTreeSet::new();
    while measuring.len() < 3 {
        let line = p.wait_for(|l| l.starts_with("[matrix]") && l.contains("benchmark"));
        if line.contains("00/1000") {
            if let Some(cell) = line.split_whitespace().nth(1) {
                measuring.insert(cell.to_string());
            }
        }
    }
    p.signal(libc::SIGINT);
    let (status, out) = p.finish();
    assert_eq!(status.code(), Some(130), "{out}");
    w.assert_key_never_leaked(&[&out]);
    assert_eq!(
        w.fake.create_bodies().len(),
        3,
        "queued cells never started"
    );
    w.assert_no_pod_left();

    let (results, summaries) = files(&w);
    let partial: BTreeSet<String> = results
        .iter()
        .filter(|r| r["status"] == "partial")
        .map(cell_of)
        .collect();
    assert_eq!(partial, measuring, "a partial file for each running cell");
    assert_eq!(results.len(), 3);
    let summary = &summaries[0];
    assert_eq!(summary["interrupted"], true);
    assert_eq!(cells_with(summary, "interrupted"), measuring);
    assert_eq!(cells_with(summary, "not_started").len(), 3);
    assert!(out.contains("--resume"), "{out}");
}

#[test]
fn a_gpu_without_capacity_fails_its_cells_and_the_others_complete() {
    let w = World::new();
    w.fake.no_capacity_for("L40S");
    let cfg = matrix_config(&w, "mxcap", 4, 2);
    let (code, stdout, stderr) = w.run(&["run", cfg.to_str().unwrap(), "-y"]);
    assert_eq!(
        code, 1,
        "a failed cell fails the command:\n{stdout}\n{stderr}"
    );
    w.assert_no_pod_left();
    let (results, summaries) = files(&w);
    let done: BTreeSet<String> = results.iter().map(cell_of).collect();
    assert_eq!(
        done,
        CELLS[..4].iter().map(|c| c.to_string()).collect(),
        "the other cells completed"
    );
    let summary = &summaries[0];
    let failed = cells_with(summary, "failed");
    assert_eq!(failed, ["L40S-1gpu", "L40S-2gpu"].map(String::from).into());
    for cell in summary["cells"].as_array().unwrap() {
        if cell["status"] == "failed" {
            let error = cell["error"].as_str().unwrap();
            assert!(
                error.contains("no longer any instances available"),
                "{error}"
            );
        }
    }
    // The table lists the failed cells, marked, with the reason.
    let l40s = stdout
        .lines()
        .find(|l| l.contains("L40S-1gpu"))
        .unwrap_or_default();
    assert!(l40s.contains("failed ✗"), "{stdout}");
    assert!(l40s.contains("no"), "{stdout}");
}

#[test]
fn a_failed_terminate_lists_every_pod_left_with_its_stop_command() {
    let w = World::new();
    w.fake.fail_terminate(true);
    let cfg = matrix_config(&w, "mxstuck", 2, 1);
    let (code, stdout, stderr) = w.run(&["run", cfg.to_str().unwrap(), "-y"]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let created = w.fake.created_pods();
    assert_eq!(created.len(), 6);
    assert!(stderr.contains("TEARDOWN FAILED for 6 cell(s)"), "{stderr}");
    for pod in &created {
        assert!(
            stderr.contains(&format!("llm-inf-bench server stop {pod}")),
            "{pod}:\n{stderr}"
        );
    }
    // The ledger keeps every pod until it is gone.
    let mut ledger = w.ledger_ids();
    ledger.sort();
    assert_eq!(ledger, created);
    w.fake.fail_terminate(false);
    for pod in &created {
        let (code, _, err) = w.run(&["server", "stop", pod]);
        assert_eq!(code, 0, "{err}");
    }
    w.assert_no_pod_left();
}

#[test]
fn a_second_sigint_while_teardowns_wait_still_terminates_every_pod() {
    let w = World::with(support::runpod_bin::PodServer::Sim(SimProfile {
        decode_step_ms: 5.0,
        base_ttft_ms: 5.0,
        ..SimProfile::default()
    }));
    w.fake.hang_terminate(true);
    let cfg = matrix_config(&w, "mxtwice", 1000, 4);
    let mut p = w.spawn(&["run", cfg.to_str().unwrap(), "-y"]);
    let mut measuring = BTreeSet::new();
    while measuring.len() < 3 {
        let line = p.wait_for(|l| l.starts_with("[matrix]") && l.contains("00/1000"));
        if let Some(cell) = line.split_whitespace().nth(1) {
            measuring.insert(cell.to_string());
        }
    }
    p.signal(libc::SIGINT);
    // A teardown's DELETE is now held by the fake; interrupt again while it waits.
    w.rt.block_on(w.fake.terminate_seen());
    // Every cell saves its partial result before its teardown starts: wait (polling the
    // fake's state) until all three DELETEs are held, so the second Ctrl-C lands while every
    // teardown waits, not while a cell is still saving.
    while w
        .fake
        .calls()
        .iter()
        .filter(|c| c.method == "DELETE")
        .count()
        < 3
    {
        std::thread::yield_now();
    }
    p.signal(libc::SIGINT);
    p.wait_for(|l| l.contains("teardown of every server still runs"));
    assert!(!w.fake.live_pods().is_empty(), "not yet terminated");
    w.fake.hang_terminate(false);
    // Let every held DELETE go on (each release wakes one; polling the fake's state).
    while !w.fake.live_pods().is_empty() {
        w.fake.release_terminate();
        std::thread::yield_now();
    }
    let (status, out) = p.finish();
    assert_eq!(status.code(), Some(130), "{out}");
    assert_eq!(w.fake.create_bodies().len(), 3);
    w.assert_no_pod_left();
    let (results, _) = files(&w);
    assert_eq!(results.len(), 3, "partial results saved:\n{out}");
}

#[test]
fn an_expensive_matrix_asks_once_and_without_a_terminal_refuses_before_any_api_call() {
    let w = World::new();
    let cfg = matrix_config(&w, "mxdear", 20000, 1);
    let (code, stdout, stderr) = w.run(&["run", cfg.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stderr.contains("Estimated matrix cost"), "{stderr}");
    assert_eq!(
        stderr.matches("Estimated").count(),
        1,
        "one estimate for all cells:\n{stderr}"
    );
    assert!(stderr.contains("rerun with --confirm"), "{stderr}");
    assert!(w.fake.calls().is_empty(), "nothing was provisioned");
}
