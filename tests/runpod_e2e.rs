//! The real binary provisioning a pod on a fake RunPod API (in this test process), running the
//! benchmark against a simulated server at the pod's "proxy URL", and tearing the pod down on
//! every path: success, API failures, timeouts, signals, failed termination. Every test ends
//! with the fake holding no live pod (except where termination was made to fail) and checks
//! the API key appears in no output and no file.
#![cfg(unix)]

mod support;

use llm_inf_bench::sim::SimProfile;
use support::runpod::schema::OpenApi;
use support::runpod::{CreateScript, Lifecycle};
use support::runpod_bin::{PodServer, World, KEY, MODEL};

fn calls(w: &World) -> Vec<(String, String)> {
    w.fake
        .calls()
        .into_iter()
        .map(|c| (c.method, c.path))
        .collect()
}

fn call(method: &str, path: &str) -> (String, String) {
    (method.to_string(), path.to_string())
}

fn assert_contains(text: &str, parts: &[&str]) {
    for p in parts {
        assert!(text.contains(p), "expected {p:?} in:\n{text}");
    }
}

/// One result file, completed, with the pod's metadata.
fn assert_one_result_from(w: &World, pod_id: &str, status: &str) -> serde_json::Value {
    let results = w.sb.results_json();
    assert_eq!(results.len(), 1, "exactly one result file");
    let r = results.into_iter().next().expect("result");
    assert_eq!(r["status"], status, "{}", r["summary"]);
    let m = &r["metadata"];
    assert_eq!(m["pod_id"], pod_id);
    assert_eq!(m["gpu_type"], "A100-80GB");
    assert_eq!(m["gpu_count"], 1);
    assert_eq!(m["provider"], "runpod");
    assert_eq!(m["server_url"], w.proxy_url.as_str());
    assert!(m["cost_per_hr"].as_f64().is_some_and(|c| c > 0.0), "{m}");
    r
}

// 1. Happy path -------------------------------------------------------------------------

#[test]
fn happy_path_creates_polls_benchmarks_and_terminates() {
    let w = World::new();
    let cfg = w.config("e2e-happy", 6, 2);
    let (code, stdout, stderr) = w.run(&["-vv", "run", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");

    // Exactly: create, three polls, terminate — in that order, all authenticated.
    assert_eq!(
        calls(&w),
        vec![
            call("POST", "/v2/pods"),
            call("GET", "/v2/pods/pod0001"),
            call("GET", "/v2/pods/pod0001"),
            call("GET", "/v2/pods/pod0001"),
            call("DELETE", "/v2/pods/pod0001"),
        ]
    );
    assert_eq!(
        w.fake.served_statuses("pod0001"),
        vec!["PROVISIONING", "STARTING", "RUNNING"]
    );
    for c in w.fake.calls() {
        assert_eq!(c.auth.as_deref(), Some(format!("Bearer {KEY}").as_str()));
    }

    let bodies = w.fake.create_bodies();
    let body = &bodies[0];
    assert_eq!(body["name"], "llm-inf-bench-e2e-happy");
    assert_eq!(body["image"], "vllm/vllm-openai:latest");
    assert_eq!(body["gpu"]["id"], "NVIDIA A100 80GB PCIe");
    assert_eq!(body["gpu"]["count"], 1);
    assert_eq!(body["cloud"], "COMMUNITY");
    assert_eq!(body["ports"], serde_json::json!(["8000/http"]));
    assert_eq!(
        body["args"],
        format!(
            "{MODEL} --host 0.0.0.0 --port 8000 --max-model-len 4096 \
             --gpu-memory-utilization 0.9 --enable-prefix-caching"
        )
    );
    let violations = OpenApi::load().validate("CreatePodRequest", body);
    assert!(violations.is_empty(), "{violations:?}");

    let r = assert_one_result_from(&w, "pod0001", "completed");
    assert_eq!(r["metadata"]["cost_per_hr"], 1.25, "the pod's own $/hr");
    assert_eq!(r["summary"]["successful_requests"], 6);
    assert!(
        r["gpu_metrics"]["total_scrapes"].as_u64().unwrap_or(0) > 0,
        "the scraper reached the pod's /metrics"
    );
    assert_contains(
        &stderr,
        &[
            "[1/4] Provisioning",
            "Creating pod llm-inf-bench-e2e-happy",
            "Pod pod0001 created",
            "[2/4] Loading model",
            "[3/4] Running benchmark",
            "[4/4] Collecting results",
            "Pod pod0001 terminated",
        ],
    );
    w.assert_no_pod_left();
    assert!(
        w.sb.home().join("pods.json").exists(),
        "the ledger was used"
    );
}

// 2. Create failures --------------------------------------------------------------------

/// A create that fails for good: exit 1, the message parts shown, nothing left behind.
fn create_fails(script: CreateScript, expect: &[&str]) -> World {
    let w = World::new();
    w.fake.script_create(vec![script]);
    let cfg = w.config("e2e-create-fails", 4, 2);
    let (code, stdout, stderr) = w.run(&["run", cfg.to_str().unwrap()]);
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_contains(&stderr, expect);
    assert!(w.sb.result_files().is_empty(), "no result without a server");
    assert!(w.fake.created_pods().is_empty());
    assert!(w.fake.calls_to("DELETE", "/v2/pods").is_empty());
    w.assert_no_pod_left();
    w
}

#[test]
fn create_400_names_the_gpu_and_suggests_another() {
    create_fails(
        CreateScript::NoCapacity,
        &[
            "A100-80GB (NVIDIA A100 80GB PCIe)",
            "community cloud",
            "no longer any instances available with the requested specifications. This usually",
            "another gpu_type",
            "A100-SXM-80GB",
        ],
    );
}

#[test]
fn create_402_says_add_credit() {
    create_fails(CreateScript::NoBalance, &["insufficient balance", "402"]);
}

#[test]
fn create_422_shows_the_errors() {
    let w = create_fails(
        CreateScript::Invalid,
        &[
            "422",
            "Request validation failed.",
            "$.disk: must be >= 1",
            "additional properties 'bogus' not allowed",
        ],
    );
    assert_eq!(w.fake.create_bodies().len(), 1, "a 422 is never retried");
}

#[test]
fn create_401_with_a_wrong_key_says_how_to_set_it() {
    let w = World::new();
    let cfg = w.config("e2e-bad-key", 4, 2);
    let wrong = "rpa_WRONG_KEY_abcdef987654";
    let mut cmd = w.cmd();
    cmd.env("RUNPOD_API_KEY", wrong);
    let (code, stdout, stderr) = w.run_with(cmd, &["-vv", "run", cfg.to_str().unwrap()]);
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_contains(
        &stderr,
        &["401", "RUNPOD_API_KEY", "config set runpod.api_key"],
    );
    for text in [&stdout, &stderr] {
        assert!(!text.contains(wrong), "the wrong key is printed:\n{text}");
    }
    assert_eq!(w.fake.calls().len(), 1, "a 401 is not retried");
    w.assert_no_pod_left();
}

#[test]
fn create_429_is_retried_after_retry_after_then_runs() {
    let w = World::new();
    w.fake
        .script_create(vec![CreateScript::RateLimited { retry_after: "1" }]);
    let cfg = w.config("e2e-rate-limited", 4, 2);
    let (code, _, stderr) = w.run(&["run", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(w.fake.create_bodies().len(), 2, "one 429, then a create");
    // A 429 is not a possibly-created pod: no list call to look for one.
    assert!(calls(&w).iter().all(|c| *c != call("GET", "/v2/pods")));
    assert_eq!(w.fake.created_pods(), vec!["pod0001"]);
    assert_one_result_from(&w, "pod0001", "completed");
    w.assert_no_pod_left();
}

#[test]
fn create_500_without_a_pod_is_retried_then_gives_up() {
    let w = World::new();
    w.fake.script_create(vec![CreateScript::ServerError; 5]);
    let cfg = w.config("e2e-500", 4, 2);
    let (code, _, stderr) = w.run(&["run", cfg.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert_contains(
        &stderr,
        &["server error 500 after 5 attempts", "upstream failed"],
    );
    assert_eq!(w.fake.create_bodies().len(), 5);
    // Before each retry the client looked for a half-created pod by name.
    assert_eq!(w.fake.calls_to("GET", "/v2/pods").len(), 5);
    assert!(w.fake.created_pods().is_empty());
    assert!(w.sb.result_files().is_empty());
    w.assert_no_pod_left();
}

#[test]
fn create_500_twice_then_created_runs() {
    let w = World::new();
    w.fake
        .script_create(vec![CreateScript::ServerError, CreateScript::ServerError]);
    let cfg = w.config("e2e-500-then-ok", 4, 2);
    let (code, _, stderr) = w.run(&["run", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(w.fake.create_bodies().len(), 3);
    assert_eq!(w.fake.created_pods(), vec!["pod0001"]);
    assert_one_result_from(&w, "pod0001", "completed");
    w.assert_no_pod_left();
}

#[test]
fn create_500_after_creating_adopts_the_pod_runs_and_terminates_it() {
    let w = World::new();
    w.fake
        .script_create(vec![CreateScript::ServerErrorAfterCreate]);
    let cfg = w.config("e2e-adopt", 4, 2);
    let (code, _, stderr) = w.run(&["run", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(w.fake.create_bodies().len(), 1, "no second, duplicate pod");
    assert_eq!(w.fake.created_pods(), vec!["pod0001"]);
    assert_contains(
        &stderr,
        &["pod pod0001 exists; using it", "Pod pod0001 terminated"],
    );
    assert_one_result_from(&w, "pod0001", "completed");
    assert_eq!(
        w.fake.calls_to("DELETE", "/v2/pods/pod0001").len(),
        1,
        "the adopted pod is terminated"
    );
    w.assert_no_pod_left();
}

#[test]
fn create_500_after_creating_then_health_fails_still_terminates() {
    let w = World::with(PodServer::Refusing);
    w.fake
        .script_create(vec![CreateScript::ServerErrorAfterCreate]);
    let cfg = w.config("e2e-adopt-fails", 4, 2);
    let mut cmd = w.cmd();
    cmd.env("LLM_INF_BENCH_HEALTH_TIMEOUT_S", "0.2");
    let (code, _, stderr) = w.run_with(cmd, &["run", cfg.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert_contains(&stderr, &["using it", "Pod pod0001 terminated"]);
    assert_eq!(w.fake.created_pods(), vec!["pod0001"]);
    w.assert_no_pod_left();
}

// 3. The pod never runs -----------------------------------------------------------------

#[test]
fn pod_never_running_times_out_and_is_terminated() {
    let w = World::new();
    w.fake.set_lifecycle(Lifecycle::NeverRunning);
    let cfg = w.config("e2e-never-running", 4, 2);
    let mut cmd = w.cmd();
    cmd.env("LLM_INF_BENCH_RUNPOD_RUNNING_TIMEOUT_MS", "300");
    let (code, _, stderr) = w.run_with(cmd, &["run", cfg.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert_contains(
        &stderr,
        &[
            "pod pod0001 did not start",
            "last status: STARTING",
            "Pod pod0001 terminated",
        ],
    );
    assert!(w.fake.served_statuses("pod0001").len() >= 2, "it polled");
    assert_eq!(calls(&w).last(), Some(&call("DELETE", "/v2/pods/pod0001")));
    assert!(w.sb.result_files().is_empty());
    w.assert_no_pod_left();
}

#[test]
fn pod_going_to_error_is_terminated() {
    let w = World::new();
    w.fake.set_lifecycle(Lifecycle::ErrorAfter(2));
    let cfg = w.config("e2e-pod-error", 4, 2);
    let (code, _, stderr) = w.run(&["run", cfg.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert_contains(&stderr, &["went to ERROR", "Pod pod0001 terminated"]);
    w.assert_no_pod_left();
}

// 4. Health check times out -------------------------------------------------------------

fn health_times_out(server: PodServer, last_failure: &str) {
    let w = World::with(server);
    let cfg = w.config("e2e-unhealthy", 4, 2);
    let mut cmd = w.cmd();
    cmd.env("LLM_INF_BENCH_HEALTH_TIMEOUT_S", "0.3");
    let (code, _, stderr) = w.run_with(cmd, &["run", cfg.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert_contains(
        &stderr,
        &["/health", last_failure, "Pod pod0001 terminated"],
    );
    assert_eq!(calls(&w).last(), Some(&call("DELETE", "/v2/pods/pod0001")));
    assert!(w.sb.result_files().is_empty());
    w.assert_no_pod_left();
}

#[test]
fn health_check_refused_times_out_and_terminates_the_pod() {
    health_times_out(PodServer::Refusing, "refused");
}

#[test]
fn health_check_503_forever_times_out_and_terminates_the_pod() {
    health_times_out(PodServer::Unavailable, "HTTP 503");
}

// 5. Signals ----------------------------------------------------------------------------

/// A slow pod server so a signal lands mid-benchmark.
fn slow_world() -> World {
    World::with(PodServer::Sim(SimProfile {
        decode_step_ms: 5.0,
        base_ttft_ms: 5.0,
        ..SimProfile::default()
    }))
}

fn interrupt_mid_benchmark(sig: i32) {
    let w = slow_world();
    let cfg = w.config_on("e2e-signal", "A100-80GB", 1, 1000, 4, 10);
    let mut p = w.spawn(&["run", cfg.to_str().unwrap()]);
    // Non-terminal progress prints every 10 %: the first one means the benchmark is running.
    p.wait_for(|l| l.contains("100/1000"));
    p.signal(sig);
    let (status, out) = p.finish();
    assert_eq!(status.code(), Some(130), "{out}");
    w.assert_key_never_leaked(&[&out]);
    let r = assert_one_result_from(&w, "pod0001", "partial");
    let done = r["summary"]["successful_requests"].as_u64().unwrap_or(0);
    assert!(
        (100..1000).contains(&done),
        "completed requests kept: {done}"
    );
    assert_contains(&out, &["Pod pod0001 terminated"]);
    assert_eq!(calls(&w).last(), Some(&call("DELETE", "/v2/pods/pod0001")));
    w.assert_no_pod_left();
}

#[test]
fn sigint_mid_benchmark_saves_partial_result_and_terminates() {
    interrupt_mid_benchmark(libc::SIGINT);
}

#[test]
fn sigterm_mid_benchmark_saves_partial_result_and_terminates() {
    interrupt_mid_benchmark(libc::SIGTERM);
}

#[test]
fn second_sigint_while_teardown_waits_still_terminates() {
    let w = slow_world();
    w.fake.hang_terminate(true);
    let cfg = w.config_on("e2e-double-signal", "A100-80GB", 1, 1000, 4, 10);
    let mut p = w.spawn(&["run", cfg.to_str().unwrap()]);
    p.wait_for(|l| l.contains("100/1000"));
    p.signal(libc::SIGINT);
    // Teardown's DELETE is now held by the fake; interrupt again while it waits.
    w.rt.block_on(w.fake.terminate_seen());
    p.signal(libc::SIGINT);
    p.wait_for(|l| l.contains("teardown still runs"));
    assert_eq!(w.fake.live_pods(), vec!["pod0001"], "not yet terminated");
    w.fake.release_terminate();
    let (status, out) = p.finish();
    assert_eq!(status.code(), Some(130), "{out}");
    w.assert_key_never_leaked(&[&out]);
    assert_one_result_from(&w, "pod0001", "partial");
    assert_contains(&out, &["Pod pod0001 terminated"]);
    w.assert_no_pod_left();
}

// 6. Termination fails ------------------------------------------------------------------

#[test]
fn failed_terminate_is_reported_and_server_stop_cleans_up_later() {
    let w = World::new();
    w.fake.fail_terminate(true);
    let cfg = w.config("e2e-stuck", 4, 2);
    let (code, _, stderr) = w.run(&["--color", "always", "run", cfg.to_str().unwrap()]);
    assert_ne!(code, 0, "{stderr}");
    assert_contains(
        &stderr,
        &[
            "\x1b[31mTEARDOWN FAILED",
            "pod pod0001",
            "llm-inf-bench server stop pod0001",
        ],
    );
    assert_one_result_from(&w, "pod0001", "completed");
    assert_eq!(w.fake.live_pods(), vec!["pod0001"], "still on the account");
    assert_eq!(w.ledger_ids(), vec!["pod0001"], "the ledger keeps it");

    let (code, stdout, stderr) = w.run(&["server", "status"]);
    assert_eq!(code, 0, "{stderr}");
    assert_contains(&stdout, &["pod0001", "llm-inf-bench-e2e-stuck", "RUNNING"]);
    assert_contains(&stdout, &["llm-inf-bench server stop"]);

    // Still failing: stop says so and keeps the record.
    let (code, _, stderr) = w.run(&["server", "stop", "pod0001"]);
    assert_eq!(code, 1, "{stderr}");
    assert_contains(
        &stderr,
        &["could not terminate pod pod0001", "server stop pod0001"],
    );
    assert_eq!(w.ledger_ids(), vec!["pod0001"]);

    w.fake.fail_terminate(false);
    let (code, stdout, stderr) = w.run(&["server", "stop", "pod0001"]);
    assert_eq!(code, 0, "{stderr}");
    assert_contains(&stdout, &["Pod pod0001 terminated"]);
    w.assert_no_pod_left();

    let (code, stdout, _) = w.run(&["server", "status"]);
    assert_eq!(code, 0);
    assert_contains(&stdout, &["No pods started by llm-inf-bench are running"]);
}

// 7. Cost confirmation ------------------------------------------------------------------

#[test]
fn expensive_run_without_confirm_refuses_before_any_api_call() {
    let w = World::new();
    // 8 × H100 for at least 10 minutes of setup: several dollars.
    let cfg = w.config_on("e2e-expensive", "H100-80GB", 8, 4, 2, 16);
    let (code, stdout, stderr) = w.run(&["run", cfg.to_str().unwrap()]);
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_contains(&stderr, &["Estimated cost", "--confirm"]);
    assert!(w.fake.calls().is_empty(), "no API call: {:?}", calls(&w));
    w.assert_no_pod_left();
}

#[test]
fn expensive_run_with_y_proceeds() {
    let w = World::new();
    let cfg = w.config_on("e2e-expensive-ok", "H100-80GB", 8, 4, 2, 16);
    let (code, _, stderr) = w.run(&["run", "-y", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let body = &w.fake.create_bodies()[0];
    assert_eq!(
        body["gpu"],
        serde_json::json!({"id": "NVIDIA H100 80GB HBM3", "count": 8})
    );
    assert!(body["args"]
        .as_str()
        .unwrap_or("")
        .ends_with("--tensor-parallel-size 8"));
    let results = w.sb.results_json();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["metadata"]["gpu_type"], "H100-80GB");
    assert_eq!(results[0]["metadata"]["gpu_count"], 8);
    w.assert_no_pod_left();
}

// 9. doctor -----------------------------------------------------------------------------

#[test]
fn doctor_reports_the_api_reachable_and_warns_about_leftover_pods() {
    let w = World::new();
    let (code, stdout, stderr) = w.run(&["doctor"]);
    assert_eq!(code, 0, "{stderr}");
    let api = stdout
        .lines()
        .find(|l| l.contains("RunPod API") && !l.contains("API key"))
        .unwrap_or_else(|| panic!("no API line:\n{stdout}"));
    assert!(api.starts_with("OK") && api.contains("reachable"), "{api}");
    let leftover = stdout
        .lines()
        .find(|l| l.contains("leftover pods"))
        .expect("leftover line");
    assert!(leftover.starts_with("OK"), "{leftover}");

    // A run whose teardown fails leaves a pod in the ledger.
    w.fake.fail_terminate(true);
    let cfg = w.config("e2e-doctor", 2, 1);
    let (code, _, _) = w.run(&["run", cfg.to_str().unwrap()]);
    assert_eq!(code, 1);
    let (code, stdout, stderr) = w.run(&["doctor"]);
    assert_eq!(code, 0, "a WARN is not a failure: {stderr}");
    let leftover = stdout
        .lines()
        .find(|l| l.contains("leftover pods"))
        .expect("leftover line");
    assert!(leftover.starts_with("WARN"), "{leftover}");
    assert_contains(leftover, &["pod0001", "llm-inf-bench server stop"]);

    w.fake.fail_terminate(false);
    let (code, _, _) = w.run(&["server", "stop", "pod0001"]);
    assert_eq!(code, 0);
    w.assert_no_pod_left();
}

// 10. update-pricing --------------------------------------------------------------------

#[test]
fn update_pricing_writes_the_table_and_dry_run_shows_its_date() {
    let w = World::new();
    let cfg = w.config("e2e-pricing", 4, 2);
    let (_, before, _) = w.run(&["run", "--dry-run", cfg.to_str().unwrap()]);
    assert_contains(
        &before,
        &["builtin table, last updated 2026-11-01", "$1.19/hr"],
    );

    let (code, stdout, stderr) = w.run(&["update-pricing"]);
    assert_eq!(code, 0, "{stderr}");
    let path = w.sb.home().join("pricing.json");
    assert_contains(
        &stdout,
        &["2 from the catalog", &path.display().to_string()],
    );
    let table: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("pricing.json")).unwrap();
    let date = table["last_updated"].as_str().expect("date").to_string();
    assert_eq!(table["source"], "runpod catalog");
    assert_eq!(calls(&w), vec![call("GET", "/v2/catalog/gpus")]);

    let (code, after, stderr) = w.run(&["run", "--dry-run", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert_contains(
        &after,
        &[
            &format!("runpod catalog table, last updated {date}"),
            "$1.10/hr",
            "Dry run: nothing was provisioned",
        ],
    );
    assert_eq!(w.fake.calls().len(), 1, "a dry run calls no API");
    w.assert_no_pod_left();
}

// 5b. Signals before the benchmark ------------------------------------------------------

/// Interrupt once `trigger` is printed: exit 130, no result, the pod terminated.
fn interrupt_before_benchmark(w: World, trigger: &str) {
    let cfg = w.config("e2e-early-signal", 4, 2);
    let mut cmd_args = vec!["run", cfg.to_str().unwrap()];
    cmd_args.insert(0, "-vv");
    let mut p = w.spawn(&cmd_args);
    p.wait_for(|l| l.contains(trigger));
    p.signal(libc::SIGINT);
    let (status, out) = p.finish();
    assert_eq!(status.code(), Some(130), "{out}");
    w.assert_key_never_leaked(&[&out]);
    assert!(w.sb.result_files().is_empty(), "nothing was measured");
    assert_contains(&out, &["Pod pod0001 terminated"]);
    w.assert_no_pod_left();
}

#[test]
fn sigint_while_waiting_for_the_pod_to_run_terminates_it() {
    let w = World::new();
    w.fake.set_lifecycle(Lifecycle::NeverRunning);
    interrupt_before_benchmark(w, "waiting for the server (0s): pod pod0001");
}

#[test]
fn sigint_during_the_health_check_terminates_the_pod() {
    interrupt_before_benchmark(World::with(PodServer::Refusing), "[2/4] Loading model");
}

#[test]
fn sigint_while_create_is_in_flight_still_terminates_the_late_pod() {
    let w = World::new();
    w.fake.script_create(vec![CreateScript::HangThenCreate]);
    let cfg = w.config("e2e-signal-in-create", 4, 2);
    let mut p = w.spawn(&["run", cfg.to_str().unwrap()]);
    w.rt.block_on(w.fake.create_seen());
    p.signal(libc::SIGINT);
    p.wait_for(|l| l.contains("Stopping:"));
    // A second Ctrl-C skips waiting, but the pod RunPod is about to create is still ours.
    p.signal(libc::SIGINT);
    p.wait_for(|l| l.contains("teardown still runs"));
    assert!(w.fake.created_pods().is_empty());
    w.fake.release_create();
    let (status, out) = p.finish();
    assert_eq!(status.code(), Some(130), "{out}");
    w.assert_key_never_leaked(&[&out]);
    assert_eq!(w.fake.created_pods(), vec!["pod0001"]);
    assert_contains(&out, &["Pod pod0001 terminated"]);
    assert!(w.sb.result_files().is_empty());
    w.assert_no_pod_left();
}

/// Even with every library's trace logging on, the key stays out of the output.
#[test]
fn trace_logging_of_every_crate_never_shows_the_key() {
    let w = World::new();
    let cfg = w.config("e2e-trace", 2, 1);
    let mut cmd = w.cmd();
    cmd.env("RUST_LOG", "trace");
    let (code, _, stderr) = w.run_with(cmd, &["-vv", "run", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("TRACE"), "trace logging was on");
    w.assert_no_pod_left();
}

/// Deterministic form of the race behind the test above: the caller drops `provision` while
/// the create call is in flight (as the orchestrator's own Ctrl-C branch may); `teardown`
/// must still wait for that pod and terminate it.
#[test]
fn dropping_provision_mid_create_still_lets_teardown_terminate_the_pod() {
    use llm_inf_bench::events::EventSink;
    use llm_inf_bench::providers::runpod::{PollSettings, PriceTable, RunpodProvider};
    use llm_inf_bench::providers::Provider;

    let w = World::new();
    w.fake.script_create(vec![CreateScript::HangThenCreate]);
    w.rt.block_on(async {
        let mut provider = RunpodProvider::new(
            w.fake.settings(KEY),
            &w.sb.home(),
            PriceTable::builtin(),
            PollSettings::default(),
        )
        .expect("provider")
        .with_hf_token(None);
        let exp = support::experiments::runpod(llm_inf_bench::config::Framework::Vllm);
        let cancel = tokio_util::sync::CancellationToken::new();
        let events = EventSink::discard();
        tokio::select! {
            _ = provider.provision(&exp, &events, &cancel) => panic!("create should hang"),
            _ = w.fake.create_seen() => {} // drops the provision future mid-create
        }
        w.fake.release_create();
        provider.teardown(&events).await.expect("teardown");
        // However teardown went, the released create has made its pod by now or soon.
        w.fake.pod_created().await;
    });
    assert_eq!(w.fake.created_pods(), vec!["pod0001"]);
    w.assert_key_never_leaked(&[]);
    w.assert_no_pod_left();
}
