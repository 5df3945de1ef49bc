//! The experiment matrix (issue 17) offline, through the real binary: the simulated example
//! (several simulators in-process), `show` / `report` by matrix id, `--resume`, `--dry-run`
//! of the RunPod example, and bad input.

mod support;

use std::path::PathBuf;

use support::{Sandbox, PROMPTS};

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("experiments/examples")
        .join(name)
}

fn run(sb: &Sandbox, args: &[&str]) -> (i32, String, String) {
    let out = sb.cmd().args(args).output().expect("run the binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// (run results, matrix summaries).
fn files(sb: &Sandbox) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    sb.results_json()
        .into_iter()
        .partition(|v| v.get("kind").is_none())
}

#[test]
fn simulated_example_runs_every_cell_ranks_them_and_show_report_take_the_id() {
    let sb = Sandbox::new();
    let cfg = example("simulated-matrix.yaml");
    let results = sb.results();
    let (code, stdout, stderr) = run(
        &sb,
        &[
            "run",
            cfg.to_str().unwrap(),
            "--output-dir",
            results.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (runs, summaries) = files(&sb);
    assert_eq!(runs.len(), 6, "3 profiles × 2 frameworks");
    assert_eq!(summaries.len(), 1);
    let summary = &summaries[0];
    let id = summary["id"].as_str().unwrap().to_string();
    for r in &runs {
        assert_eq!(r["metadata"]["matrix"]["id"], id.as_str());
        assert_eq!(r["status"], "completed");
    }
    // Cells differ by simulator profile: the fast profile out-runs the slow one.
    let tps = |cell: &str| {
        runs.iter()
            .find(|r| r["metadata"]["matrix"]["cell"] == cell)
            .and_then(|r| r["summary"]["tokens_per_second"].as_f64())
            .unwrap_or_else(|| panic!("no result for {cell}"))
    };
    assert!(tps("fast-vllm") > tps("slow-vllm"));
    // Ranked by goodput (an SLO is set); the best per column is marked.
    assert_eq!(summary["slo"], true);
    let best = summary["best"]["goodput_tps"].as_str().unwrap();
    assert!(best.starts_with("fast-"), "{best}");
    assert_eq!(summary["cells"][0]["cell"], best);
    assert!(stdout.contains("goodput tok/s") && stdout.contains("$/M good out tok"));
    assert!(stdout.contains(&id), "{stdout}");
    // Plain progress lines (no terminal): one per cell update, never half lines.
    assert!(
        stderr.lines().any(|l| l.starts_with("[matrix] fast-vllm")),
        "{stderr}"
    );

    let dir = results.to_str().unwrap();
    let (code, shown, err) = run(&sb, &["show", &id, "--dir", dir]);
    assert_eq!(code, 0, "{err}");
    assert!(
        shown.contains("slow-sglang") && shown.contains("simulation × framework"),
        "{shown}"
    );
    let (code, listed, err) = run(&sb, &["list", "--dir", dir]);
    assert_eq!(code, 0, "{err}");
    assert!(!listed.contains("unreadable"), "{listed}");
    let html = sb.path().join("r.html");
    let (code, wrote, err) = run(
        &sb,
        &["report", &id, "--dir", dir, "-o", html.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    assert!(wrote.contains("6 runs"), "{wrote}");
}

fn small_matrix(sb: &Sandbox) -> PathBuf {
    sb.write("prompts.jsonl", PROMPTS);
    sb.write(
        "m.yaml",
        r#"name: small
model: {name: "m"}
framework: vllm
infrastructure: {provider: simulated}
matrix:
  simulation: [{name: a, decode_step_ms: 1}, {name: b, decode_step_ms: 2}]
workload:
  type: concurrent
  concurrency: 2
  requests: {source: prompts.jsonl, count: 4}
  parameters: {max_tokens: 4}
metrics: {output_dir: results}
"#,
    )
}

#[test]
fn resume_runs_only_the_unfinished_cells() {
    let sb = Sandbox::new();
    let cfg = small_matrix(&sb);
    let (code, out, err) = run(&sb, &["run", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (runs, summaries) = files(&sb);
    assert_eq!(runs.len(), 2);
    let id = summaries[0]["id"].as_str().unwrap().to_string();
    // Pretend cell `b` failed.
    let path = sb.results().join(format!("{id}.json"));
    let mut summary = summaries[0].clone();
    for c in summary["cells"].as_array_mut().unwrap() {
        if c["cell"] == "b" {
            c["status"] = "failed".into();
        }
    }
    std::fs::write(&path, summary.to_string()).unwrap();

    let (code, out, err) = run(&sb, &["run", cfg.to_str().unwrap(), "--resume", &id]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (runs, summaries) = files(&sb);
    assert_eq!(summaries.len(), 1, "the same summary, updated");
    assert_eq!(summaries[0]["id"], id.as_str());
    let cells: Vec<&str> = runs
        .iter()
        .filter_map(|r| r["metadata"]["matrix"]["cell"].as_str())
        .collect();
    assert_eq!(
        cells.iter().filter(|c| **c == "a").count(),
        1,
        "a not re-run"
    );
    assert_eq!(cells.iter().filter(|c| **c == "b").count(), 2, "b re-run");
    assert!(summaries[0]["cells"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["status"] == "completed"));

    // Nothing left to resume.
    let (code, out, _) = run(&sb, &["run", cfg.to_str().unwrap(), "--resume", &id]);
    assert_eq!(code, 0);
    assert!(out.contains("nothing to resume"), "{out}");
    let (code, _, err) = run(&sb, &["run", cfg.to_str().unwrap(), "--resume", "nope"]);
    assert_ne!(code, 0);
    assert!(err.contains("no matrix summary 'nope'"), "{err}");
}

#[test]
fn dry_run_shows_every_cell_its_pod_its_command_and_the_total_cost() {
    let sb = Sandbox::new();
    let cfg = example("runpod-matrix.yaml");
    let (code, out, err) = run(&sb, &["run", cfg.to_str().unwrap(), "--dry-run"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("6 cell(s), at most 3 at once"), "{out}");
    for cell in ["A100-80GB-vllm", "H100-80GB-sglang", "L40S-vllm"] {
        assert!(out.contains(cell), "{cell}:\n{out}");
    }
    assert!(out.contains("RunPod pod L40S ×1 (community)"), "{out}");
    assert!(
        out.contains("Server command: vllm serve") && out.contains("sglang.launch_server"),
        "{out}"
    );
    assert_eq!(out.matches("    cost:").count(), 6, "{out}");
    assert!(out.contains("Estimated total cost"), "{out}");
    assert!(out.contains("nothing was provisioned"));
}

#[test]
fn bad_matrix_input_is_reported_all_at_once() {
    let sb = Sandbox::new();
    sb.write("prompts.jsonl", PROMPTS);
    let cfg = sb.write(
        "bad.yaml",
        r#"name: bad
model: {name: "m"}
framework: vllm
infrastructure: {provider: runpod}
matrix:
  gpu_typ: [A100-80GB]
  framework: []
  gpu_type: [A100-80GB, RTX-9999]
max_parallel_pods: 0
workload: {requests: {source: prompts.jsonl, count: 2}}
"#,
    );
    let (code, out, err) = run(&sb, &["run", cfg.to_str().unwrap(), "--dry-run"]);
    assert_ne!(code, 0, "{out}");
    for part in [
        "matrix.gpu_typ: not a matrix axis",
        "matrix.framework: is empty",
        "matrix.gpu_type[1]: unknown GPU type 'RTX-9999'",
        "max_parallel_pods: must be at least 1",
    ] {
        assert!(err.contains(part), "{part}:\n{err}");
    }
}

#[test]
fn a_sweep_and_a_search_still_work_inside_each_cell() {
    let sb = Sandbox::new();
    sb.write("prompts.jsonl", PROMPTS);
    let base = r#"model: {name: "m"}
framework: vllm
infrastructure: {provider: simulated, simulation: {prefill_ms_per_token: 0, max_num_seqs: 64}}
matrix:
  simulation: [{name: a, decode_step_ms: 2, decode_step_ms_per_seq: 2}, {name: b, decode_step_ms: 2, decode_step_ms_per_seq: 1}]
metrics: {output_dir: results}
"#;
    let sweep = sb.write(
        "sweep.yaml",
        &format!(
            "name: sw\n{base}workload:\n  type: concurrent\n  concurrency: 1\n  requests: {{source: prompts.jsonl, count: 4}}\n  parameters: {{max_tokens: 4}}\n  sweep: {{concurrency: [1, 2]}}\n"
        ),
    );
    let (code, out, err) = run(&sb, &["run", sweep.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (runs, summaries) = files(&sb);
    assert_eq!(runs.len(), 4, "2 cells × 2 sweep points");
    for cell in summaries[0]["cells"].as_array().unwrap() {
        assert_eq!(cell["results"].as_array().unwrap().len(), 2, "{cell}");
        assert!(cell["best_result"].is_string());
    }

    let search = sb.write(
        "search.yaml",
        &format!(
            "name: se\n{base}workload:\n  type: concurrent\n  concurrency: 1\n  requests: {{source: prompts.jsonl, count: 8}}\n  parameters: {{max_tokens: 6, ignore_eos: true}}\nslo:\n  tpot_ms: {{p: 99, max: 20}}\nsearch: {{over: concurrency, min: 1, max: 16, precision: 0.25}}\n"
        ),
    );
    let (code, out, err) = run(&sb, &["run", search.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("capacity (search)"), "{out}");
    let groups = files(&sb).1;
    let summary = groups
        .iter()
        .find(|s| s["kind"] == "matrix" && s["experiment_name"] == "se")
        .expect("search matrix summary");
    // Each cell also wrote its own search summary, as a single run does.
    let searches = groups
        .iter()
        .filter(|s| s["kind"] == "capacity_search")
        .count();
    assert_eq!(searches, 2);
    assert_eq!(summary["search"], true);
    for cell in summary["cells"].as_array().unwrap() {
        let answer = cell["search_answer"].as_f64().unwrap_or(0.0);
        assert!(answer >= 1.0, "{cell}");
    }

    let repeat = sb.write(
        "repeat.yaml",
        &format!(
            "name: rp\n{base}workload:\n  requests: {{source: prompts.jsonl, count: 2}}\n  parameters: {{max_tokens: 4}}\nrepeat: 2\n"
        ),
    );
    let (code, out, err) = run(&sb, &["run", repeat.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (runs, groups) = files(&sb);
    let repeats = runs
        .iter()
        .filter(|r| {
            r["metadata"]["matrix"]["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("rp-matrix-"))
        })
        .count();
    assert_eq!(repeats, 4, "2 cells × 2 repeats");
    let sets = groups.iter().filter(|s| s["kind"] == "repeat_set").count();
    assert_eq!(sets, 2, "one repeat set per cell");
}

/// Stands in for `vllm serve`: says which GPUs it was given, then serves the simulator.
#[cfg(target_os = "linux")]
const FAKE_VLLM: &str = r#"#!/bin/sh
port=""; prev=""
for a in "$@"; do
  case "$prev" in --port) port=$a;; esac
  prev=$a
done
echo "visible gpus: [$CUDA_VISIBLE_DEVICES]"
exec "$SIM_BIN" simulate --port "$port" --model sim-model
"#;

#[cfg(target_os = "linux")]
#[test]
fn local_cells_each_get_their_gpu_set() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    sb.write("prompts.jsonl", PROMPTS);
    let exe = sb.write("fake-vllm.sh", FAKE_VLLM);
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sim = assert_cmd::cargo::cargo_bin("llm-inf-bench");
    let cfg = sb.write(
        "local.yaml",
        &format!(
            r#"name: lm
model: {{name: sim-model}}
framework: vllm
infrastructure:
  provider: local
  local: {{executable: {}, startup_timeout_s: 60, env: {{SIM_BIN: {}}}}}
matrix:
  local.gpus: [[0], [1, 2]]
max_parallel_pods: 2
workload: {{requests: {{source: prompts.jsonl, count: 2}}, parameters: {{max_tokens: 4}}}}
metrics: {{output_dir: results}}
"#,
            exe.display(),
            sim.display()
        ),
    );
    let (code, out, err) = run(&sb, &["run", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}\n{err}");
    let logs: Vec<String> = std::fs::read_dir(sb.results())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with("-server.log"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert_eq!(logs.len(), 2, "one server per cell");
    let text = logs.join("\n");
    assert!(text.contains("visible gpus: [0]"), "{text}");
    assert!(text.contains("visible gpus: [1,2]"), "{text}");
    let (runs, _) = files(&sb);
    let cells: std::collections::BTreeSet<&str> = runs
        .iter()
        .filter_map(|r| r["metadata"]["matrix"]["cell"].as_str())
        .collect();
    assert_eq!(cells, ["gpu0", "gpu1+2"].into());
}
