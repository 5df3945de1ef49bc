//! The runner and the binary against a server that replays SGLang 0.5.23's real answers
//! (tests/fixtures/protocols/sglang-0.5.23-cpu-*): its model list and model info, a stream
//! whose chunks carry several tokens, its flat context-length 400 and its metrics.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use llm_inf_bench::config::{Framework, GenerationParams};
use llm_inf_bench::runners::{create_runner, ChatMessage, Runner, RunnerError, RunnerTimeouts};
use tokio_util::sync::CancellationToken;

fn capture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/protocols")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Chat bodies received.
type Seen = Arc<Mutex<Vec<serde_json::Value>>>;

async fn chat(State(seen): State<Seen>, body: String) -> axum::response::Response {
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    seen.lock().expect("lock").push(v.clone());
    let text = v["messages"][0]["content"].as_str().unwrap_or_default();
    if text.starts_with("long") {
        let body = capture("sglang-0.5.23-cpu-error-context-length.json");
        return (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
    }
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        capture("sglang-0.5.23-cpu-chat-stream-continuous-usage.txt"),
    )
        .into_response()
}

/// A server answering like SGLang 0.5.23 serving `tiny` from `/tmp/sgl/tiny`.
async fn start() -> (String, Seen) {
    let seen = Seen::default();
    let json = |name: &'static str| {
        move || async move { ([(header::CONTENT_TYPE, "application/json")], capture(name)) }
    };
    let app = Router::new()
        .route("/health", get(|| async { "" }))
        .route("/v1/models", get(json("sglang-0.5.23-cpu-models.json")))
        .route(
            "/model_info",
            get(json("sglang-0.5.23-cpu-model-info.json")),
        )
        .route(
            "/metrics",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    capture("sglang-0.5.23-cpu-metrics-busy.txt"),
                )
            }),
        )
        .route("/v1/chat/completions", post(chat))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

fn runner(url: &str, model: &str) -> Arc<dyn Runner> {
    create_runner(
        Framework::Sglang,
        url,
        model,
        RunnerTimeouts::for_framework(Framework::Sglang),
        2,
    )
    .expect("runner")
}

#[tokio::test]
async fn model_check_uses_the_model_list_and_the_model_path() {
    let (url, _) = start().await;
    runner(&url, "tiny")
        .check_model()
        .await
        .expect("served name");
    runner(&url, "/tmp/sgl/tiny/")
        .check_model()
        .await
        .expect("the --model-path names it too");
    let err = runner(&url, "no-such-model")
        .check_model()
        .await
        .expect_err("wrong name");
    assert!(matches!(
        err,
        RunnerError::ModelNotServed { any_name: true, .. }
    ));
    let text = err.to_string();
    assert!(text.contains("it serves: tiny, /tmp/sgl/tiny"), "{text}");
    assert!(
        text.contains("answers requests for any model name"),
        "{text}"
    );
}

#[tokio::test]
async fn chunk_tokens_from_continuous_usage_and_a_clear_context_length_error() {
    let (url, seen) = start().await;
    let r = runner(&url, "tiny");
    let params = GenerationParams {
        max_tokens: 32,
        temperature: 0.0,
        ignore_eos: true,
    };
    let cancel = CancellationToken::new();
    let out = r
        .chat(
            &[ChatMessage::new("user", "hello")],
            &params,
            false,
            &cancel,
        )
        .await;
    assert_eq!(out.error, None);
    assert_eq!(out.completion_tokens, Some(32));
    assert_eq!(out.timings.token_offsets_us.len(), 27);
    assert_eq!(out.timings.chunk_tokens.len(), 27);
    assert_eq!(out.timings.chunk_tokens.iter().sum::<u32>(), 32);
    let body = seen.lock().expect("lock")[0].clone();
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(body["stream_options"]["continuous_usage_stats"], true);

    let out = r
        .chat(
            &[ChatMessage::new("user", "long prompt")],
            &params,
            false,
            &cancel,
        )
        .await;
    let err = out.error.expect("400");
    assert!(
        err.message.starts_with(
            "HTTP 400 BadRequestError: Requested token count exceeds the model's maximum context \
             length of 1024 tokens. You requested a total of 1219 tokens"
        ),
        "{}",
        err.message
    );
    assert!(!err.message.contains("\"object\""), "{}", err.message);
}

#[test]
fn the_binary_shows_a_repeated_context_length_error_once() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (url, _) = rt.block_on(start());
    let sb = support::Sandbox::new();
    sb.write(
        "long.jsonl",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"long prompt\"}]}\n",
    );
    let cfg = sb.write(
        "too-long.yaml",
        "name: too-long\nmodel: {name: tiny}\nframework: sglang\ninfrastructure: {provider: local}\n\
         workload:\n  type: single\n  requests: {source: long.jsonl, count: 3}\n  \
         parameters: {max_tokens: 400}\nmetrics: {sample_interval_ms: 50, output_dir: results}\n",
    );
    let out = sb
        .cmd()
        .args(["run", cfg.to_str().expect("path"), "--server-url", &url])
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Every request failed: the run fails (issue 11 item 12), naming the error once on each
    // stream (the panel on stdout, the verdict on stderr), not once per request.
    assert_eq!(out.status.code(), Some(1), "{stderr}\n{stdout}");
    assert_eq!(
        stdout.matches("maximum context length").count(),
        1,
        "{stdout}"
    );
    assert_eq!(
        stderr.matches("maximum context length").count(),
        1,
        "{stderr}"
    );
    assert!(
        stdout.contains("Failures        3 requests: HTTP 400 BadRequestError:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("framework_options.max_model_len"),
        "{stdout}"
    );
}
