//! Issue 19 through the binary: a server that requires an API key. The key comes from
//! `--api-key`, `LLM_INF_BENCH_SERVER_API_KEY`, `OPENAI_API_KEY` or the app config's
//! `server.api_key`, in that order; a server the tool starts with a bare `--api-key`
//! (`simulation.require_api_key` for the simulator) gets a generated key. No key ever shows in
//! output or in a file the run writes.
#![cfg(unix)]

mod support;

use std::path::Path;
use std::process::Child;
use std::time::Duration;

use support::process::{spawn, wait_for_line};
use support::{Sandbox, PROMPTS};

const KEY: &str = "sk-secured-0123456789abcdef";
const HANG_GUARD: Duration = Duration::from_secs(120);

fn config(framework: &str, simulation: &str) -> String {
    format!(
        "name: secured\nmodel:\n  name: sim-model\nframework: {framework}\n\
         infrastructure:\n  provider: simulated\n  simulation: {simulation}\n\
         workload:\n  type: concurrent\n  concurrency: 2\n  requests:\n    source: prompts.jsonl\n    \
         count: 10\n  parameters:\n    max_tokens: 48\n    seed: 3\n    top_p: 0.9\n\
         metrics:\n  sample_interval_ms: 20\n  output_dir: results\n"
    )
}

/// Every file under `dir` as text.
/// `run <cfg> <extra…>`, stopped if it hangs.
fn run_cfg(sb: &Sandbox, cfg: &Path, extra: &[&str]) -> std::process::Output {
    sb.cmd()
        .arg("run")
        .arg(cfg)
        .args(extra)
        .timeout(HANG_GUARD)
        .output()
        .unwrap()
}

/// [`run_cfg`], which must succeed; its stderr.
fn run_ok(sb: &Sandbox, cfg: &Path, extra: &[&str]) -> String {
    let out = run_cfg(sb, cfg, extra);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

fn all_text(dir: &Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.push_str(&all_text(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    out
}

#[test]
fn a_simulator_started_to_require_a_key_gets_a_generated_one_used_for_requests_and_metrics() {
    let sb = Sandbox::new();
    sb.write("prompts.jsonl", PROMPTS);
    // SGLang's flavour guards /metrics too, so the scrape needs the key as well.
    let cfg = sb.write(
        "exp.yaml",
        &config("sglang", "{require_api_key: true, decode_step_ms: 0.5}"),
    );
    let out = run_cfg(&sb, &cfg, &[]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let result = &sb.results_json()[0];
    assert_eq!(result["summary"]["failed_requests"], 0, "{stdout}");
    assert_eq!(result["summary"]["successful_requests"], 10);
    let gpu = &result["gpu_metrics"];
    assert!(gpu["total_scrapes"].as_u64().unwrap_or(0) >= 1, "{gpu}");
    assert_eq!(gpu["scrape_errors"], 0, "{gpu}");
    assert_eq!(result["experiment"]["workload"]["parameters"]["top_p"], 0.9);
    let written = all_text(&sb.results());
    for text in [&*stdout, &*stderr, &written] {
        assert!(!text.contains("Bearer"), "a credential leaked");
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `simulate --api-key KEY` on a free port.
fn secured_simulator(sb: &Sandbox) -> (Killed, String) {
    let (child, rx) = spawn(
        sb,
        &[
            "simulate",
            "--port",
            "0",
            "--model",
            "sim-model",
            "--api-key",
            KEY,
        ],
    );
    let line = wait_for_line(&rx, |l| l.contains("listening on"));
    assert!(!line.contains(KEY));
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("url in the banner")
        .to_string();
    (Killed(child), url)
}

/// `run --server-url` with `env` set; (success, stdout + stderr).
fn run_against(
    sb: &Sandbox,
    url: &str,
    flag: Option<&str>,
    env: &[(&str, &str)],
) -> (bool, String) {
    let cfg = sb.write("exp.yaml", &config("vllm", "{}"));
    let mut cmd = sb.cmd();
    cmd.arg("run")
        .arg(&cfg)
        .args(["--server-url", url])
        .timeout(HANG_GUARD);
    if let Some(key) = flag {
        cmd.args(["--api-key", key]);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn an_external_server_key_comes_from_flag_env_or_app_config_in_that_order() {
    let sb = Sandbox::new();
    sb.write("prompts.jsonl", PROMPTS);
    let (_sim, url) = secured_simulator(&sb);

    let (ok, text) = run_against(&sb, &url, None, &[]);
    assert!(!ok, "no key: refused");
    assert!(text.contains("HTTP 401"), "{text}");
    assert!(
        text.contains("the server wants an API key: give `--api-key`"),
        "{text}"
    );

    let (ok, text) = run_against(&sb, &url, Some(KEY), &[("OPENAI_API_KEY", "sk-wrong")]);
    assert!(ok, "--api-key first: {text}");
    assert!(!text.contains(KEY));

    let (ok, text) = run_against(
        &sb,
        &url,
        Some("sk-wrong"),
        &[("LLM_INF_BENCH_SERVER_API_KEY", KEY)],
    );
    assert!(
        !ok && text.contains("HTTP 401"),
        "the flag wins over the environment: {text}"
    );
    assert!(text.contains("refused the API key that was sent"), "{text}");

    let env = [
        ("LLM_INF_BENCH_SERVER_API_KEY", KEY),
        ("OPENAI_API_KEY", "sk-wrong"),
    ];
    let (ok, text) = run_against(&sb, &url, None, &env);
    assert!(ok, "the tool's variable before OPENAI_API_KEY: {text}");

    let (ok, text) = run_against(&sb, &url, None, &[("OPENAI_API_KEY", KEY)]);
    assert!(ok, "OPENAI_API_KEY: {text}");

    let set = sb
        .cmd()
        .args(["config", "set", "server.api_key", KEY])
        .output()
        .unwrap();
    assert!(set.status.success());
    assert!(!String::from_utf8_lossy(&set.stdout).contains(KEY));
    let (ok, text) = run_against(&sb, &url, None, &[("OPENAI_API_KEY", "sk-wrong")]);
    assert!(!ok, "OPENAI_API_KEY before the app config: {text}");
    let (ok, text) = run_against(&sb, &url, None, &[]);
    assert!(ok, "server.api_key in the app config: {text}");

    // An Authorization header in workload.headers with a key: a warning, and the key is sent.
    let with_header = config("vllm", "{}").replace(
        "  parameters:",
        "  headers: {Authorization: Bearer sk-header-value}\n  parameters:",
    );
    let cfg = sb.write("exp-header.yaml", &with_header);
    let stderr = run_ok(&sb, &cfg, &["--server-url", &url, "--api-key", KEY]);
    assert!(
        stderr.contains("workload.headers sets Authorization"),
        "{stderr}"
    );
    assert!(!all_text(&sb.results()).contains("sk-header-value"));

    assert!(
        !all_text(&sb.results()).contains(KEY),
        "the key reached a file"
    );
}

#[test]
fn simulate_refuses_a_profile_requiring_a_key_without_one() {
    let sb = Sandbox::new();
    let profile = sb.write("p.yaml", "require_api_key: true\n");
    let out = sb
        .cmd()
        .args(["simulate", "--port", "0", "--profile"])
        .arg(&profile)
        .timeout(HANG_GUARD)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--api-key"));
}

/// Stands in for `vllm serve … --api-key KEY`: the simulator on the given port, requiring the
/// key it was given (and printing nothing of it).
const FAKE_SECURED_VLLM: &str = r#"#!/bin/sh
port=""; key=""; prev=""
for a in "$@"; do
  case "$prev" in --port) port=$a;; --api-key) key=$a;; esac
  prev=$a
done
[ -n "$key" ] || { echo "no --api-key value" >&2; exit 3; }
exec "$SIM_BIN" simulate --port "$port" --model sim-model --api-key "$key"
"#;

#[cfg(target_os = "linux")]
#[test]
fn a_local_server_started_with_a_bare_api_key_flag_gets_a_generated_key() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    sb.write("prompts.jsonl", PROMPTS);
    let exe = sb.write("fake-vllm", FAKE_SECURED_VLLM);
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("llm-inf-bench");
    let cfg = sb.write(
        "local.yaml",
        &format!(
            "name: local-secured\nmodel: {{name: sim-model}}\nframework: vllm\n\
             framework_options: {{extra_args: [--api-key]}}\n\
             infrastructure:\n  provider: local\n  local:\n    executable: {}\n    \
             startup_timeout_s: 60\n    env: {{SIM_BIN: {}}}\n\
             workload:\n  requests: {{source: prompts.jsonl, count: 3}}\n  \
             parameters: {{max_tokens: 8}}\nmetrics: {{sample_interval_ms: 50, output_dir: results}}\n",
            exe.display(),
            bin.display()
        ),
    );
    let stderr = run_ok(&sb, &cfg, &[]);
    assert!(
        stderr.contains("--api-key ***"),
        "the command line hides the key: {stderr}"
    );
    let result = &sb.results_json()[0];
    assert_eq!(result["summary"]["successful_requests"], 3);
    // The log's command line hides the key as well.
    let written = all_text(&sb.results());
    assert!(written.contains("--api-key ***"));
    assert!(!written.contains("Bearer"));
}
