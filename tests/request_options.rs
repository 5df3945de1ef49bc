//! Issue 19 in-process: the request a configured runner sends (sampling options, `extra_body`,
//! headers, the API key), the whole-request timeout, and the simulator's `--api-key` guard
//! (401 without the key, for requests, the model check and SGLang's `/metrics`).

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use llm_inf_bench::config::{Framework, GenerationParams};
use llm_inf_bench::metrics::request::ErrorKind;
use llm_inf_bench::metrics::server_metrics::MetricsDialect;
use llm_inf_bench::redact::Secret;
use llm_inf_bench::runners::options::RunnerOptions;
use llm_inf_bench::runners::scrape::{spawn_scraper_with_headers, ScrapeOptions};
use llm_inf_bench::runners::{create_runner_with, ChatMessage, Runner, RunnerTimeouts};
use llm_inf_bench::sim::{SimProfile, SimServer};
use support::stream_server::{Schedule, Script, StreamServer};
use tokio_util::sync::CancellationToken;

const HANG_GUARD: Duration = Duration::from_secs(60);
const KEY: &str = "sk-sim-0123456789abcdef";

fn params() -> GenerationParams {
    GenerationParams {
        max_tokens: 8,
        temperature: 0.0,
        ignore_eos: false,
    }
}

fn runner(framework: Framework, base: &str, model: &str, o: RunnerOptions) -> Arc<dyn Runner> {
    let t = RunnerTimeouts::for_framework(framework);
    create_runner_with(framework, base, model, t, 4, o).unwrap()
}

/// The options a config file gives (the path the CLI takes), plus a key.
fn options_from_yaml(workload_extra: &str, key: Option<&str>) -> RunnerOptions {
    let dir = tempfile::tempdir().unwrap();
    let prompt = r#"{"messages": [{"role": "user", "content": "hi"}]}"#;
    std::fs::write(dir.path().join("p.jsonl"), prompt).unwrap();
    let yaml = format!(
        "name: t\nmodel: {{name: test-model}}\nframework: vllm\n\
         infrastructure: {{provider: simulated}}\n\
         workload:\n  requests: {{source: p.jsonl, count: 1}}\n{workload_extra}"
    );
    let path = dir.path().join("exp.yaml");
    std::fs::write(&path, yaml).unwrap();
    let mut exp = llm_inf_bench::config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    exp.request.api_key = key.map(Secret::new);
    RunnerOptions::new(&exp.request, None)
}

#[tokio::test]
async fn configured_options_headers_and_key_reach_the_server() {
    let (base, server) = StreamServer::start(Script::streaming(Schedule::instant(3))).await;
    let options = options_from_yaml(
        "  parameters:\n    max_tokens: 8\n    top_p: 0.8\n    top_k: 5\n    seed: 11\n    \
         stop: END\n    min_tokens: 2\n    presence_penalty: 0.1\n    frequency_penalty: 0.2\n    \
         extra_body: {repetition_penalty: 1.05, guided_choice: [a, b]}\n  \
         headers: {X-Team: bench}\n",
        Some(KEY),
    );
    let r = runner(Framework::Vllm, &base, "test-model", options);
    let msgs = [ChatMessage::new("user", "hello")];
    let cancel = CancellationToken::new();
    let out = tokio::time::timeout(HANG_GUARD, r.chat(&msgs, &params(), false, &cancel))
        .await
        .unwrap();
    assert!(out.error.is_none(), "{:?}", out.error);
    let sent = &server.requests()[0];
    assert_eq!(sent["top_p"], 0.8);
    assert_eq!(sent["top_k"], 5);
    assert_eq!(sent["seed"], 11);
    assert_eq!(sent["stop"], "END");
    assert_eq!(sent["min_tokens"], 2);
    assert_eq!(sent["presence_penalty"], 0.1);
    assert_eq!(sent["frequency_penalty"], 0.2);
    assert_eq!(sent["repetition_penalty"], 1.05);
    assert_eq!(sent["guided_choice"], serde_json::json!(["a", "b"]));
    assert_eq!(sent["max_tokens"], 8);
    let headers = r.request_headers();
    assert_eq!(headers["x-team"], "bench");
    assert_eq!(headers["authorization"], format!("Bearer {KEY}").as_str());
}

#[tokio::test]
async fn a_request_longer_than_timeout_s_ends_as_a_timeout_error() {
    // 40 tokens 100 ms apart: the stream cannot end before 4 s, the limit is 0.3 s.
    let slow = Schedule::new(Duration::ZERO, Duration::from_millis(100), 40);
    let (base, _server) = StreamServer::start(Script::streaming(slow)).await;
    let options = options_from_yaml("  timeout_s: 0.3\n", None);
    let r = runner(Framework::Vllm, &base, "test-model", options);
    let msgs = [ChatMessage::new("user", "hello")];
    let cancel = CancellationToken::new();
    let mut p = params();
    p.max_tokens = 40;
    let out = tokio::time::timeout(HANG_GUARD, r.chat(&msgs, &p, false, &cancel))
        .await
        .unwrap();
    let err = out.error.expect("the request was cut");
    assert_eq!(err.kind, ErrorKind::Timeout, "{}", err.message);
    assert!(
        err.message.contains("workload.timeout_s (0.3 s)"),
        "{}",
        err.message
    );
    assert!(out.timings.token_offsets_us.len() < 40);
    // Without the limit the same stream completes.
    let r = runner(
        Framework::Vllm,
        &base,
        "test-model",
        RunnerOptions::default(),
    );
    let mut p = params();
    p.max_tokens = 3;
    let out = tokio::time::timeout(HANG_GUARD, r.chat(&msgs, &p, false, &cancel))
        .await
        .unwrap();
    assert!(out.error.is_none(), "{:?}", out.error);
}

async fn secured_sim(framework: Framework) -> SimServer {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let profile = SimProfile {
        decode_step_ms: 0.5,
        ..SimProfile::default()
    };
    SimServer::start_secured(
        framework,
        profile,
        "sim-model",
        addr,
        None,
        Some(Secret::new(KEY)),
    )
    .await
    .unwrap()
}

fn keyed(key: &str) -> RunnerOptions {
    RunnerOptions {
        api_key: Some(Secret::new(key)),
        ..RunnerOptions::default()
    }
}

#[tokio::test]
async fn a_simulator_with_a_key_answers_401_without_it_and_serves_with_it() {
    for framework in Framework::ALL {
        let sim = secured_sim(framework).await;
        let base = sim.base_url();
        let msgs = [ChatMessage::new("user", "hello")];
        let cancel = CancellationToken::new();
        for bad in [RunnerOptions::default(), keyed("sk-wrong")] {
            let r = runner(framework, &base, "sim-model", bad);
            let err = r.check_model().await.unwrap_err().to_string();
            assert!(err.contains("HTTP 401"), "{framework}: {err}");
            let out = r.chat(&msgs, &params(), false, &cancel).await;
            let e = out.error.expect("refused");
            assert!(e.message.contains("401"), "{framework}: {}", e.message);
            assert!(!e.message.contains(KEY));
        }
        let r = runner(framework, &base, "sim-model", keyed(KEY));
        r.check_model().await.unwrap();
        let out = r.chat(&msgs, &params(), false, &cancel).await;
        assert!(out.error.is_none(), "{framework}: {:?}", out.error);
        assert!(out.completion_tokens.unwrap_or(0) > 0);
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn the_scraper_sends_the_key_sglangs_metrics_need() {
    let sim = secured_sim(Framework::Sglang).await;
    let opts = ScrapeOptions::new(Duration::from_millis(20));
    let dialect = MetricsDialect::from(Framework::Sglang);
    let cancel = CancellationToken::new();
    let with_key = runner(Framework::Sglang, &sim.base_url(), "sim-model", keyed(KEY));
    let good = spawn_scraper_with_headers(
        &sim.base_url(),
        dialect,
        opts,
        with_key.request_headers(),
        cancel.clone(),
    );
    let bad = spawn_scraper_with_headers(
        &sim.base_url(),
        dialect,
        opts,
        Default::default(),
        cancel.clone(),
    );
    // Wait (bounded) until both have tried a few times.
    let mut status = good.status();
    let scraped = tokio::time::timeout(HANG_GUARD, status.wait_for(|s| s.total_scrapes >= 3))
        .await
        .unwrap()
        .unwrap()
        .clone();
    let mut status = bad.status();
    let refused = tokio::time::timeout(HANG_GUARD, status.wait_for(|s| s.total_scrapes >= 3))
        .await
        .unwrap()
        .unwrap()
        .clone();
    assert_eq!(scraped.scrape_errors, 0, "{scraped:?}");
    assert!(scraped.latest.is_some());
    assert_eq!(refused.scrape_errors, refused.total_scrapes, "{refused:?}");
    let _ = good.stop().await;
    let _ = bad.stop().await;
    sim.shutdown().await;
}
