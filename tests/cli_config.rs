//! The binary's handling of configs: dry runs of every example, and bad input that must give a
//! clear error (file, field, line) with exit 1 — never a panic.

mod support;

use std::path::Path;

use predicates::prelude::*;
use support::{Sandbox, PROMPTS};

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn every_example_dry_runs() {
    let sb = Sandbox::new();
    let dir = repo("experiments/examples");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("examples dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|x| x == "yaml") {
            n += 1;
            sb.cmd()
                .args(["run", "--dry-run"])
                .arg(&path)
                .assert()
                .success()
                .stdout(predicate::str::contains("Dry run: nothing was provisioned"));
        }
    }
    assert!(n >= 9, "examples found: {n}");
    assert!(sb.result_files().is_empty());
}

#[test]
fn dry_run_prints_plan_with_cost() {
    let sb = Sandbox::new();
    sb.cmd()
        .args(["run", "--dry-run"])
        .arg(repo("experiments/examples/concurrency-sweep.yaml"))
        .assert()
        .success()
        .stdout(predicate::str::contains("/hr"))
        .stdout(predicate::str::contains("Estimated cost"));
}

#[test]
fn three_independent_mistakes_are_all_reported() {
    let sb = Sandbox::new();
    sb.cmd()
        .args(["run", "--dry-run"])
        .arg(repo("tests/fixtures/config/three-mistakes.yaml"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("infrastructure.gpu_count"))
        .stderr(predicate::str::contains("workload.concurrency"))
        .stderr(predicate::str::contains("workload.requests.source"))
        .stderr(predicate::str::contains("panicked").not());
}

#[test]
fn typo_gets_did_you_mean() {
    let sb = Sandbox::new();
    sb.write("p.jsonl", PROMPTS);
    let cfg = sb.write(
        "typo.yaml",
        "name: t\nmodel: {name: m}\nframework: vllm\ninfrastructure: {provider: simulated}\nworkload:\n  type: concurrent\n  concurency: 4\n  requests: {source: p.jsonl, count: 2}\n",
    );
    sb.cmd()
        .args(["run", "--dry-run"])
        .arg(&cfg)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("workload.concurency"))
        .stderr(predicate::str::contains("did you mean 'concurrency'"));
}

#[test]
fn malformed_yaml_reports_line_and_column() {
    let sb = Sandbox::new();
    let cfg = sb.write(
        "bad.yaml",
        "name: t\nmodel:\n  name: [unclosed\nframework: vllm\n",
    );
    sb.cmd()
        .args(["run", "--dry-run"])
        .arg(&cfg)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("bad.yaml"))
        .stderr(predicate::str::is_match(r"line \d+|:\d+:\d+").expect("regex"))
        .stderr(predicate::str::contains("panicked").not());
}

#[test]
fn bad_jsonl_line_reports_file_and_line() {
    let sb = Sandbox::new();
    sb.write(
        "p.jsonl",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n\n{not json}\n",
    );
    let cfg = sb.write(
        "exp.yaml",
        "name: t\nmodel: {name: m}\nframework: vllm\ninfrastructure: {provider: simulated}\nworkload:\n  type: single\n  requests: {source: p.jsonl, count: 2}\n",
    );
    sb.cmd()
        .args(["run", "--dry-run"])
        .arg(&cfg)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("p.jsonl:3"));
}

#[test]
fn missing_config_file_is_a_clear_error() {
    let sb = Sandbox::new();
    sb.cmd()
        .args(["run", "nope.yaml"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("nope.yaml"));
}

#[test]
fn usage_errors_exit_2() {
    let sb = Sandbox::new();
    sb.cmd().args(["run"]).assert().code(2);
    sb.cmd().args(["frobnicate"]).assert().code(2);
}

#[test]
fn init_config_and_doctor() {
    let sb = Sandbox::new();
    sb.cmd()
        .arg("init")
        .assert()
        .success()
        .stdout(predicate::str::contains("Created"));
    sb.cmd()
        .arg("init")
        .assert()
        .success()
        .stdout(predicate::str::contains("already exists"));
    let key = "rpa_TESTKEY_1234567890_ABCDEF";
    // `set` echoes no part of the key (not even the `rpa_…CDEF` ends `get` shows).
    sb.cmd()
        .args(["config", "set", "runpod.api_key", key])
        .assert()
        .success()
        .stdout(predicate::str::contains("runpod.api_key set (hidden)"))
        .stdout(predicate::str::contains("rpa_").not())
        .stdout(predicate::str::contains("CDEF").not());
    sb.cmd()
        .args(["config", "get", "runpod.api_key"])
        .assert()
        .success()
        .stdout(predicate::str::contains("rpa_"))
        .stdout(predicate::str::contains("TESTKEY").not());
    sb.cmd()
        .args(["config", "path"])
        .assert()
        .success()
        .stdout(predicate::str::contains("config.yaml"));
    let stored = std::fs::read_to_string(sb.home().join("config.yaml")).expect("config");
    assert!(stored.contains(key), "the key is stored in the app config");
    // doctor: local checks pass; the API is unreachable here (WARN only) → exit 0.
    sb.cmd()
        .arg("doctor")
        .env("RUNPOD_API_URL", "http://127.0.0.1:9")
        .assert()
        .success()
        .stdout(predicate::str::contains("OK"))
        .stdout(predicate::str::contains("RunPod API key"))
        .stdout(predicate::str::contains(key).not());
}

#[test]
fn doctor_fails_on_unreadable_app_config() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.home()).expect("mkdir");
    std::fs::write(sb.home().join("config.yaml"), "runpod: [oops\n").expect("write");
    sb.cmd()
        .arg("doctor")
        .env("RUNPOD_API_URL", "http://127.0.0.1:9")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("FAIL"));
}

#[test]
fn server_url_runs_need_no_provider_section() {
    let sb = Sandbox::new();
    sb.write("p.jsonl", PROMPTS);
    let cfg = sb.write(
        "ext.yaml",
        "name: ext\nmodel: {name: m}\nframework: vllm\nworkload:\n  type: single\n  requests: {source: p.jsonl, count: 2}\n",
    );
    // Without --server-url the default provider (runpod) needs a GPU type...
    sb.cmd()
        .args(["run", "--dry-run"])
        .arg(&cfg)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("infrastructure.gpu_type"));
    // ...with it, nothing is provisioned, so it does not.
    sb.cmd()
        .args(["run", "--dry-run", "--server-url", "http://127.0.0.1:9"])
        .arg(&cfg)
        .assert()
        .success();
}
