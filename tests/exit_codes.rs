//! Issue 11 item 12: exit codes people can trust. `run` exits 1 when a result `failed` or a
//! circuit breaker stopped it (printing the breaker's reason and the dominant error, e.g. the
//! open-file limit with its `ulimit -n` advice), 0 when only some requests failed (with a
//! warning and the count); a teardown failure is printed on stderr and exits 1 even when
//! stdout is a closed pipe; `list`/`show`/`compare`/`export` into a closed pipe exit 0 quietly.
//! (130 on interrupt: `tests/signals.rs`.)
#![cfg(unix)]

mod support;

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};

use support::{Sandbox, PROMPTS};

fn config(sb: &Sandbox, name: &str, error_rate: f64) {
    sb.write("prompts.jsonl", PROMPTS);
    sb.write(
        name,
        &format!(
            r#"name: ec
model: {{name: sim/tiny}}
framework: vllm
infrastructure:
  provider: simulated
  simulation: {{seed: 3, decode_step_ms: 1.0, base_ttft_ms: 1.0, error_rate: {error_rate}}}
workload:
  type: concurrent
  concurrency: 2
  requests: {{source: prompts.jsonl, count: 20}}
  parameters: {{max_tokens: 4}}
metrics: {{output_dir: results}}
"#
        ),
    );
}

fn run(sb: &Sandbox, cfg: &str) -> (Option<i32>, String, String) {
    let out = sb.cmd().args(["run", cfg]).output().unwrap();
    let (stdout, stderr) = text(&out);
    (out.status.code(), stdout, stderr)
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The write end of a pipe whose read end is already closed: every write fails with EPIPE.
fn closed_pipe() -> Stdio {
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills two descriptors we then own; the read end is closed at once.
    unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
        libc::close(fds[0]);
        Stdio::from(OwnedFd::from_raw_fd(fds[1]))
    }
}

#[test]
fn a_circuit_breaker_fails_the_run_with_its_reason_and_dominant_error() {
    let sb = Sandbox::new();
    config(&sb, "breaker.yaml", 0.5);
    let (code, stdout, stderr) = run(&sb, "breaker.yaml");
    assert_eq!(code, Some(1), "{stderr}");
    let result = &sb.results_json()[0];
    assert_eq!(result["status"], "partial");
    // In the run output, not only in `show`.
    assert!(
        stdout.contains("Stopped early   circuit breaker"),
        "{stdout}"
    );
    assert!(
        stderr.contains("stopped early: circuit breaker"),
        "{stderr}"
    );
    assert!(stderr.contains("most frequent error"), "{stderr}");
    assert!(
        stderr.contains("error_rate"),
        "the dominant error itself: {stderr}"
    );
}

#[test]
fn a_failed_result_fails_the_run() {
    let sb = Sandbox::new();
    config(&sb, "failed.yaml", 1.0);
    let (code, _, stderr) = run(&sb, "failed.yaml");
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(sb.results_json()[0]["status"], "failed");
    assert!(stderr.contains("no request succeeded"), "{stderr}");
}

#[test]
fn some_failed_requests_are_a_warning_with_the_count_and_exit_0() {
    let sb = Sandbox::new();
    config(&sb, "some.yaml", 0.1);
    let (code, _, stderr) = run(&sb, "some.yaml");
    assert_eq!(code, Some(0), "{stderr}");
    let result = &sb.results_json()[0];
    assert_eq!(result["status"], "partial");
    assert!(result["metadata"]["stopped_early"].is_null());
    let failed = result["summary"]["failed_requests"].as_u64().unwrap();
    assert!(failed > 0);
    assert!(
        stderr.contains(&format!("warning: {failed} request(s) failed")),
        "{stderr}"
    );
}

#[test]
fn the_open_file_limit_is_named_with_its_advice_and_fails_the_run() {
    let sb = Sandbox::new();
    let (mut sim, url) = support::process::start_simulator(&sb, "1", "sim/tiny");
    sb.write("prompts.jsonl", PROMPTS);
    sb.write(
        "nofile.yaml",
        r#"name: nofile
model: {name: sim/tiny}
framework: vllm
infrastructure: {provider: simulated}
workload:
  type: concurrent
  concurrency: 64
  requests: {source: prompts.jsonl, count: 128}
  parameters: {max_tokens: 4}
metrics: {output_dir: results, collect_gpu_metrics: false}
"#,
    );
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("llm-inf-bench"));
    cmd.args(["run", "nofile.yaml", "--server-url", &url])
        .env("LLM_INF_BENCH_HOME", sb.home())
        .env("NO_COLOR", "1")
        .current_dir(sb.path());
    // SAFETY: only setrlimit(2) between fork and exec. 40 descriptors, soft and hard: 64
    // connections cannot all open.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 40,
                rlim_max: 40,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let _ = sim.kill();
    let _ = sim.wait();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("out of file descriptors"), "{stderr}");
    assert!(stderr.contains("ulimit -n"), "{stderr}");
}

#[test]
fn a_teardown_failure_is_on_stderr_and_exits_1_with_stdout_a_closed_pipe() {
    let w = support::runpod_bin::World::new();
    w.fake.fail_terminate(true);
    let cfg = w.config("ec-stuck", 4, 2);
    let out = Command::new(assert_cmd::cargo::cargo_bin("llm-inf-bench"))
        .args(["run", cfg.to_str().unwrap()])
        .envs(w.envs())
        .env_remove("RUST_LOG")
        .current_dir(w.sb.path())
        .stdin(Stdio::null())
        .stdout(closed_pipe())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("TEARDOWN FAILED"), "{stderr}");
    assert!(stderr.contains("server stop pod0001"), "{stderr}");
    // Leave the fake account clean.
    w.fake.fail_terminate(false);
    let (code, _, stderr) = w.run(&["server", "stop", "pod0001"]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn result_commands_into_a_closed_pipe_exit_0_quietly() {
    let sb = Sandbox::new();
    config(&sb, "ok.yaml", 0.0);
    for _ in 0..2 {
        let (code, _, stderr) = run(&sb, "ok.yaml");
        assert_eq!(code, Some(0), "{stderr}");
    }
    let ids: Vec<String> = sb
        .results_json()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap().to_string())
        .collect();
    let commands: [Vec<&str>; 5] = [
        vec!["list", "--dir", "results"],
        vec!["show", &ids[0], "--dir", "results"],
        vec!["compare", &ids[0], &ids[1], "--dir", "results"],
        vec!["export", &ids[0], "--dir", "results", "--format", "csv"],
        vec!["export", &ids[0], "--dir", "results", "--format", "jsonl"],
    ];
    for args in commands {
        let out = Command::new(assert_cmd::cargo::cargo_bin("llm-inf-bench"))
            .args(&args)
            .env("LLM_INF_BENCH_HOME", sb.home())
            .env("NO_COLOR", "1")
            .current_dir(sb.path())
            .stdout(closed_pipe())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?} is quiet: {stderr}");
    }
}
