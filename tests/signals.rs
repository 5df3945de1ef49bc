//! Ctrl-C / SIGTERM mid-benchmark, and `simulate` serving a second `run --server-url`.
#![cfg(unix)]

mod support;

use support::process::{signal, spawn, start_simulator, wait_for_line};
use support::sim::SimYaml;
use support::{f64_at, Sandbox};

fn slow_config(sb: &Sandbox, count: usize) -> std::path::PathBuf {
    SimYaml::new("slow")
        .simulation("seed: 3, decode_step_ms: 5.0, base_ttft_ms: 5.0")
        .workload("type: concurrent, concurrency: 2")
        .count(count)
        .parameters("max_tokens: 20, ignore_eos: true")
        .metrics("sample_interval_ms: 50, output_dir: results")
        .write(sb, "slow.yaml")
}

fn interrupt_keeps_completed_requests(sig: i32) {
    let sb = Sandbox::new();
    let cfg = slow_config(&sb, 2000);
    let cfg = cfg.to_string_lossy().to_string();
    let (mut child, rx) = spawn(&sb, &["run", &cfg]);
    // Progress lines (no terminal) come every 10 %: wait for the first one.
    wait_for_line(&rx, |l| l.contains("200/2000"));
    signal(&child, sig);
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130), "exit code after an interrupt");
    let results = sb.results_json();
    assert_eq!(results.len(), 1, "the partial result is saved");
    let r = &results[0];
    assert_eq!(r["status"], "partial");
    let done = f64_at(r, "/summary/successful_requests");
    assert!(
        (200.0..2000.0).contains(&done),
        "completed requests kept: {done}"
    );
    assert!(r["metadata"]["stopped_early"]
        .as_str()
        .unwrap_or("")
        .contains("interrupted"));
    // Every saved request is complete and appears once.
    let mut seen = std::collections::HashSet::new();
    for req in r["requests"].as_array().expect("requests") {
        assert!(req["error"].is_null(), "{req}");
        assert!(seen.insert(req["request_index"].as_u64()));
    }
}

#[test]
fn sigint_mid_run_saves_partial_results_and_exits_130() {
    interrupt_keeps_completed_requests(libc::SIGINT);
}

#[test]
fn sigterm_mid_run_saves_partial_results_and_exits_130() {
    interrupt_keeps_completed_requests(libc::SIGTERM);
}

#[test]
fn simulate_serves_a_second_run_with_server_url() {
    let sb = Sandbox::new();
    let (mut server, url) = start_simulator(&sb, "5", "sim/tiny");
    let cfg = slow_config(&sb, 6);
    sb.cmd()
        .args(["run", "--server-url", &url])
        .arg(&cfg)
        .assert()
        .success();
    let results = sb.results_json();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["status"], "completed");
    assert_eq!(
        results[0]["metadata"]["server_url"],
        url.trim_end_matches('/')
    );
    signal(&server, libc::SIGINT);
    let status = server.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "simulate exits cleanly on Ctrl-C");
}

/// Requests the server finished (`vllm:request_success_total`, every finish reason), read from
/// the simulator's own `/metrics` over a plain HTTP/1.0 request.
fn server_finished(url: &str) -> f64 {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut conn = std::net::TcpStream::connect(addr).expect("connect to /metrics");
    conn.write_all(b"GET /metrics HTTP/1.0\r\nHost: sim\r\n\r\n")
        .expect("send");
    let mut body = String::new();
    conn.read_to_string(&mut body).expect("read /metrics");
    body.lines()
        .filter(|l| l.starts_with("vllm:request_success_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn sigint_keeps_every_request_the_server_finished_before_it() {
    let sb = Sandbox::new();
    let (mut server, url) = start_simulator(&sb, "9", "sim/tiny");
    let cfg = slow_config(&sb, 2000);
    let cfg = cfg.to_string_lossy().to_string();
    let (mut run, run_rx) = spawn(&sb, &["run", "--server-url", &url, &cfg]);
    wait_for_line(&run_rx, |l| l.contains("200/2000"));
    // Everything the server has finished by now must end up in the partial result.
    let finished_before = server_finished(&url);
    signal(&run, libc::SIGINT);
    assert_eq!(run.wait().expect("wait").code(), Some(130));
    let results = sb.results_json();
    assert_eq!(results.len(), 1);
    let saved = f64_at(&results[0], "/summary/successful_requests");
    let finished_after = server_finished(&url);
    assert!(
        saved >= finished_before && saved <= finished_after,
        "saved {saved}, server finished {finished_before} before the signal, {finished_after} in all"
    );
    signal(&server, libc::SIGINT);
    assert_eq!(server.wait().expect("wait").code(), Some(0));
}
