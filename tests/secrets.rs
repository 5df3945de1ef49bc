//! Secrets never leave the process: the RunPod key (sent only as an `Authorization` header) and
//! credentials in `--server-url` appear in no output, no file the run writes, no error message
//! and no `Debug` form a panic message could print.

mod support;

use std::path::Path;
use std::time::Duration;

use llm_inf_bench::config::{Framework, GenerationParams};
use llm_inf_bench::runners::{create_runner, ChatMessage, RunnerTimeouts};
use support::runpod::FakeRunpod;
use support::sandbox::ran;
use support::stream_server::{closed_port_url, Reply, Schedule, Script, StreamServer};
use tokio_util::sync::CancellationToken;

const KEY: &str = "rpa_SECRETKEY0123456789ABCDEFGHIJKLMNOPQRSTUV";
const PASSWORD: &str = "Pw0rd-s3cr3t-9f2e";

/// Every file under `dir` (recursively) as text.
fn all_files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(all_files(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((
                path.display().to_string(),
                String::from_utf8_lossy(&bytes).to_string(),
            ));
        }
    }
    out
}

fn assert_nowhere(secret: &str, sb: &support::Sandbox, outputs: &[&str]) {
    for text in outputs {
        assert!(!text.contains(secret), "secret in output:\n{text}");
    }
    let files = all_files(sb.path());
    assert!(!files.is_empty());
    for (path, text) in files {
        assert!(!text.contains(secret), "secret in {path}");
    }
}

const PROMPTS: &str = r#"{"messages": [{"role": "user", "content": "ok one"}]}
{"messages": [{"role": "user", "content": "trigger status"}]}
{"messages": [{"role": "user", "content": "ok two"}]}
"#;

/// `/metrics` is scraped (and fails: the scripted server has none), so scraper warnings are in
/// the output too.
fn config(sb: &support::Sandbox, provider: &str, model: &str) -> std::path::PathBuf {
    sb.write("prompts.jsonl", PROMPTS);
    sb.write(
        "exp.yaml",
        &format!(
            r#"name: secret
model: {{name: {model}}}
framework: vllm
infrastructure: {{provider: {provider}, gpu_type: RTX-4090}}
workload:
  type: single
  requests: {{source: prompts.jsonl, count: 3}}
  parameters: {{max_tokens: 8}}
metrics: {{collect_gpu_metrics: true, sample_interval_ms: 20, output_dir: results}}
"#
        ),
    )
}

fn status_404_script() -> Script {
    Script::streaming(Schedule::instant(3)).with_override(
        "status",
        Reply::Status {
            code: 404,
            body: r#"{"message":"model not found"}"#.into(),
        },
    )
}

fn with_password(base: &str) -> String {
    base.replace("http://", &format!("http://bench:{PASSWORD}@"))
}

#[test]
fn server_url_credentials_are_redacted_in_output_and_files() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (base, server) = rt.block_on(StreamServer::start(status_404_script()));
    let url = with_password(&base);
    let sb = support::Sandbox::new();
    let cfg = config(&sb, "simulated", "test-model");
    let out = ran(sb
        .cmd()
        .args(["run", "--server-url", &url])
        .arg(&cfg)
        .timeout(Duration::from_secs(120)));
    let (stdout, stderr) = (out.stdout.clone(), out.stderr.clone());
    assert!(out.success(), "{stderr}");
    assert_eq!(server.requests().len(), 3, "the run did use the server");
    let results = sb.results_json();
    assert_eq!(results.len(), 1);
    assert_eq!(
        results[0]["metadata"]["server_url"],
        base.replace("http://", "http://***@")
    );
    // The 404 message names the server (redacted).
    let errors: Vec<&str> = results[0]["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["error"].as_str())
        .collect();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("***@"), "{}", errors[0]);
    assert_nowhere(PASSWORD, &sb, &[&stdout, &stderr]);

    // A wrong model name fails before any request, naming the server — redacted.
    let cfg = config(&sb, "simulated", "no-such-model");
    let out = ran(sb
        .cmd()
        .args(["run", "--server-url", &url])
        .arg(&cfg)
        .timeout(Duration::from_secs(120)));
    let stderr = out.stderr.clone();
    assert!(!out.success());
    assert!(stderr.contains("no-such-model"), "{stderr}");
    assert_nowhere(PASSWORD, &sb, &[&stderr]);
}

#[tokio::test]
async fn runner_errors_never_carry_url_credentials() {
    let timeouts = RunnerTimeouts {
        connect: Duration::from_secs(5),
        idle_read: Duration::from_millis(300),
        health_interval: Duration::from_millis(10),
        probe: Duration::from_millis(200),
    };
    let params = GenerationParams {
        max_tokens: 4,
        temperature: 0.0,
        ignore_eos: false,
    };
    let msgs = [ChatMessage::new("user", "trigger status")];
    let cancel = CancellationToken::new();

    let refused = with_password(&closed_port_url().await);
    let (base, _server) = StreamServer::start(status_404_script()).await;
    for url in [refused, with_password(&base)] {
        let r = create_runner(Framework::Vllm, &url, "test-model", timeouts, 2).unwrap();
        let o = r.chat(&msgs, &params, false, &cancel).await;
        let e = o.error.expect("an error");
        assert!(!e.message.contains(PASSWORD), "{}", e.message);
        let health = r
            .wait_healthy(Duration::from_millis(50), &cancel, &|_| {})
            .await;
        if let Err(e) = health {
            assert!(!e.to_string().contains(PASSWORD), "{e}");
            assert!(!format!("{e:?}").contains(PASSWORD), "{e:?}");
        }
        if let Err(e) = r.check_model().await {
            assert!(!e.to_string().contains(PASSWORD), "{e}");
        }
    }
    let bad_model =
        create_runner(Framework::Vllm, &with_password(&base), "nope", timeouts, 2).unwrap();
    let e = bad_model.check_model().await.expect_err("not served");
    assert!(!e.to_string().contains(PASSWORD), "{e}");
}

#[test]
fn runpod_key_never_appears_in_output_files_or_debug() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fake = rt.block_on(FakeRunpod::start(KEY));
    let (base, server) = rt.block_on(StreamServer::start(status_404_script()));
    let sb = support::Sandbox::new();
    let cfg = config(&sb, "runpod", "test-model");
    let out = ran(sb
        .cmd()
        .args(["run", "--confirm"])
        .arg(&cfg)
        .env("RUNPOD_API_KEY", KEY)
        .env("RUNPOD_API_URL", &fake.url)
        .env("RUNPOD_PROXY_URL", &base)
        .env("LLM_INF_BENCH_RUNPOD_POLL_MS", "5")
        .timeout(Duration::from_secs(120)));
    let (stdout, stderr) = (out.stdout.clone(), out.stderr.clone());
    assert!(out.success(), "{stderr}");
    assert_eq!(server.requests().len(), 3, "the run reached the pod");
    assert!(fake.live_pods().is_empty(), "the pod was torn down");
    // Every API call carried the key, as a bearer token only.
    let calls = fake.calls();
    assert!(!calls.is_empty());
    for call in &calls {
        assert_eq!(call.auth.as_deref(), Some(format!("Bearer {KEY}").as_str()));
        assert!(!call.path.contains(KEY));
        assert!(!call
            .body
            .as_ref()
            .is_some_and(|b| b.to_string().contains(KEY)));
    }
    assert_eq!(sb.results_json().len(), 1);
    assert_nowhere(KEY, &sb, &[&stdout, &stderr]);

    // `config show`-style output and Debug forms (what a panic message could print) hide it.
    let mut settings = llm_inf_bench::providers::runpod::RunpodSettings::new(KEY);
    settings.api_url = fake.url.clone();
    assert!(!format!("{settings:?}").contains(KEY));
    let client = llm_inf_bench::providers::runpod::RunpodClient::new(&settings).unwrap();
    assert!(!format!("{client:?}").contains(KEY));
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        panic!("provider state: {client:?}")
    }))
    .expect_err("panicked");
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("***") && !message.contains(KEY),
        "{message}"
    );

    // A wrong key is rejected without echoing either key.
    let out = ran(sb
        .cmd()
        .args(["run", "--confirm"])
        .arg(&cfg)
        .env("RUNPOD_API_KEY", "rpa_WRONGKEY_abcdefghijklmnop")
        .env("RUNPOD_API_URL", &fake.url)
        .env("RUNPOD_PROXY_URL", &base)
        .env("LLM_INF_BENCH_RUNPOD_POLL_MS", "5")
        .timeout(Duration::from_secs(120)));
    let stderr = out.stderr.clone();
    assert!(!out.success());
    assert!(
        !stderr.contains("WRONGKEY") && !stderr.contains(KEY),
        "{stderr}"
    );
}
