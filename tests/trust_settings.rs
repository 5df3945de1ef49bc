//! Issue 11 items 16 and 17: messages that say what to do about *this* server and key, and
//! settings that are honoured. `--keep-server` and a failed teardown name the command that
//! stops that very server; `config get runpod.api_key` says when the key comes from the
//! environment; a RunPod run shows its plan before the cost question; `show` prints the
//! whole resolved experiment and no GPU for a `--server-url` run; the app config's
//! `defaults.output_dir` is where `run` writes when neither `--output-dir` nor the experiment
//! says; `list --dir` of a missing folder is an error.
#![cfg(unix)]

mod support;

use support::sim::SimYaml;
use support::{Sandbox, PROMPTS};

/// Two single requests; `metrics`: the `metrics` keys (empty: no section, the defaults).
fn sim_config(sb: &Sandbox, file: &str, metrics: &str) {
    SimYaml::seeded("st", "1.0")
        .metrics(metrics)
        .write(sb, file);
}

fn json_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn the_app_configs_output_dir_is_the_last_default() {
    let sb = Sandbox::new();
    sb.write("home/config.yaml", "defaults:\n  output_dir: app-out\n");
    sim_config(&sb, "plain.yaml", "");
    sim_config(&sb, "own.yaml", "output_dir: exp-out");
    sb.cmd().args(["run", "plain.yaml"]).assert().success();
    assert_eq!(
        json_files(&sb.path().join("app-out")),
        1,
        "app config default"
    );
    sb.cmd().args(["run", "own.yaml"]).assert().success();
    assert_eq!(
        json_files(&sb.path().join("exp-out")),
        1,
        "the experiment's own"
    );
    sb.cmd()
        .args(["run", "own.yaml", "--output-dir", "flag-out"])
        .assert()
        .success();
    assert_eq!(
        json_files(&sb.path().join("flag-out")),
        1,
        "--output-dir first"
    );
    assert_eq!(json_files(&sb.path().join("app-out")), 1);
    assert_eq!(json_files(&sb.path().join("exp-out")), 1);
    // `list` without --dir reads the same default.
    let out = sb.cmd().arg("list").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("st-"));
}

#[test]
fn list_of_a_missing_folder_is_an_error() {
    let sb = Sandbox::new();
    let out = sb.cmd().args(["list", "--dir", "nope"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("nope is not a folder"), "{stderr}");
}

#[test]
fn config_get_says_the_key_comes_from_the_environment_without_showing_it() {
    let sb = Sandbox::new();
    sb.cmd()
        .args([
            "config",
            "set",
            "runpod.api_key",
            "rpa_FILEKEY_1234567890_WXYZ",
        ])
        .assert()
        .success();
    let env_key = "rpa_ENVKEY_0987654321_QRST";
    let out = sb
        .cmd()
        .args(["config", "get", "runpod.api_key"])
        .env("RUNPOD_API_KEY", env_key)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.contains("from the environment"), "{stdout}");
    assert!(stdout.contains("RUNPOD_API_KEY"), "{stdout}");
    for part in ["ENVKEY", "QRST", "0987"] {
        assert!(!stdout.contains(part), "no part of the key: {stdout}");
    }
    // Without the variable: the app config's (redacted) key, no mention of the environment.
    let out = sb
        .cmd()
        .args(["config", "get", "runpod.api_key"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("environment") && stdout.contains("WXYZ"),
        "{stdout}"
    );
}

#[test]
fn keep_server_on_the_simulator_says_it_stops_with_the_tool() {
    let sb = Sandbox::new();
    sim_config(&sb, "keep.yaml", "");
    let out = sb
        .cmd()
        .args(["run", "keep.yaml", "--keep-server"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("stops when it exits"), "{stderr}");
    assert!(!stderr.contains("<pod-id>"), "{stderr}");
}

#[test]
fn keep_server_on_runpod_names_that_pods_stop_command() {
    let w = support::runpod_bin::World::new();
    let cfg = w.config("st-keep", 2, 1);
    let (code, _, stderr) = w.run(&["run", cfg.to_str().unwrap(), "--keep-server"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("--keep-server") && stderr.contains("`llm-inf-bench server stop pod0001`"),
        "{stderr}"
    );
    let (code, _, stderr) = w.run(&["server", "stop", "pod0001"]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_runpod_run_shows_its_plan_before_the_cost_question() {
    let w = support::runpod_bin::World::new();
    let cfg = w.config_on("st-plan", "H100-80GB", 8, 4, 2, 16);
    let (code, _, stderr) = w.run(&["run", cfg.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    let plan = stderr.find("Plan").expect("the plan is shown");
    let cost = stderr.find("Estimated cost").expect("the estimate");
    assert!(plan < cost, "plan first:\n{stderr}");
    assert!(stderr.contains("H100"), "{stderr}");
    assert!(w.fake.calls().is_empty(), "nothing provisioned");
}

#[test]
fn show_prints_the_resolved_experiment_and_no_gpu_for_a_server_url_run() {
    let sb = Sandbox::new();
    let (mut sim, url) = support::process::start_simulator(&sb, "2", "sim/tiny");
    sb.write("prompts.jsonl", PROMPTS);
    sb.write(
        "ext.yaml",
        r#"name: ext
model: {name: sim/tiny}
framework: vllm
infrastructure: {provider: runpod, gpu_type: H100-80GB}
workload:
  type: single
  requests: {source: prompts.jsonl, count: 2}
  parameters: {max_tokens: 3}
metrics: {output_dir: results, collect_gpu_metrics: false}
"#,
    );
    let out = sb
        .cmd()
        .args(["run", "ext.yaml", "--server-url", &url])
        .output()
        .unwrap();
    let _ = sim.kill();
    let _ = sim.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = sb
        .cmd()
        .args(["show", "ext", "--dir", "results"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    let (details, _) = stdout.split_once("Summary").unwrap();
    assert!(
        !details.contains("GPU") && !details.contains("H100"),
        "no GPU for a --server-url run:\n{stdout}"
    );
    assert!(stdout.contains("Experiment (resolved)"), "{stdout}");
    for key in ["max_tokens: 3", "collect_gpu_metrics: false", "source:"] {
        assert!(stdout.contains(key), "{key} in\n{stdout}");
    }
}
