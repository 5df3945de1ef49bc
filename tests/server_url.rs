//! `run --server-url` fails fast on mistakes no waiting fixes (nothing listening, a `/v1`
//! base URL), honours `--health-timeout`, and joins URLs with a query string correctly.
#![cfg(unix)]

mod support;

use std::process::Child;
use std::time::Duration;

use assert_cmd::Command;
use predicates::prelude::*;
use support::process::start_simulator;
use support::sim::SimYaml;
use support::{closed_port_url, Sandbox};

/// Guards against a hang only (the old behaviour waited 600 s); no speed is asserted.
const HANG_GUARD: Duration = Duration::from_secs(120);

fn sandbox() -> (Sandbox, std::path::PathBuf) {
    let sb = Sandbox::new();
    let cfg = SimYaml::new("url-test")
        .model("sim/url")
        .metrics("collect_gpu_metrics: true, sample_interval_ms: 20, output_dir: results")
        .write(&sb, "exp.yaml");
    (sb, cfg)
}

fn run(sb: &Sandbox, cfg: &std::path::Path, url: &str) -> Command {
    let mut cmd = sb.cmd();
    cmd.arg("run")
        .arg(cfg)
        .args(["--server-url", url])
        .env_remove("LLM_INF_BENCH_HEALTH_TIMEOUT_S")
        .timeout(HANG_GUARD);
    cmd
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn connection_refused_ends_with_a_clear_error_not_a_long_wait() {
    let (sb, cfg) = sandbox();
    run(&sb, &cfg, &closed_port_url())
        .env("LLM_INF_BENCH_REFUSED_LIMIT_S", "0.5")
        .assert()
        .failure()
        .stderr(predicate::str::contains("nothing is listening at"))
        .stderr(predicate::str::contains("connection refused for"));
}

#[test]
fn health_timeout_flag_bounds_the_wait() {
    let (sb, cfg) = sandbox();
    run(&sb, &cfg, &closed_port_url())
        .env("LLM_INF_BENCH_REFUSED_LIMIT_S", "100000")
        .args(["--health-timeout", "1"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "did not become healthy within 1 s",
        ));
}

#[test]
fn a_v1_base_url_is_refused_at_once_with_the_fix() {
    let (sb, cfg) = sandbox();
    let (sim, url) = start_simulator(&sb, "3", "sim/url");
    let _sim = Killed(sim);
    run(&sb, &cfg, &format!("{url}/v1"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("404"))
        .stderr(predicate::str::contains("remove the /v1 suffix"));
    assert!(sb.result_files().is_empty());
}

#[test]
fn a_query_string_stays_after_each_endpoint_path() {
    let (sb, cfg) = sandbox();
    let (sim, url) = start_simulator(&sb, "3", "sim/url");
    let _sim = Killed(sim);
    run(&sb, &cfg, &format!("{url}/?key=value"))
        .assert()
        .success();
    let results = sb.results_json();
    assert_eq!(results.len(), 1);
    let r = &results[0];
    assert_eq!(r["summary"]["successful_requests"], 2, "{}", r["summary"]);
    let g = &r["gpu_metrics"];
    assert!(g["total_scrapes"].as_u64().unwrap_or(0) > 0, "{g}");
    assert_eq!(
        g["scrape_errors"], 0,
        "the /metrics URL keeps the query too: {g}"
    );
}
