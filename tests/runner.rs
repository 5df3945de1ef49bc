//! The runner against a scripted server: timing lower bounds, the request it sends, every
//! failure mode recorded as data, the model check and the health check.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use llm_inf_bench::config::{Framework, GenerationParams};
use llm_inf_bench::metrics::request::{ErrorKind, TokenCountSource};
use llm_inf_bench::runners::{
    create_runner, ChatMessage, ChatOutcome, HealthProgress, Runner, RunnerError, RunnerTimeouts,
};
use support::stream_server::{
    closed_port_url, Ending, Health, Reply, Schedule, Script, StreamServer,
};
use tokio_util::sync::CancellationToken;

/// Guards against a hang only; no test asserts how fast anything was.
const HANG_GUARD: Duration = Duration::from_secs(60);

fn timeouts(idle_read: Duration) -> RunnerTimeouts {
    RunnerTimeouts {
        connect: Duration::from_secs(5),
        idle_read,
        health_interval: Duration::from_millis(10),
        probe: Duration::from_millis(200),
    }
}

fn runner(base: &str, idle_read: Duration) -> Arc<dyn Runner> {
    create_runner(Framework::Vllm, base, "test-model", timeouts(idle_read), 64).unwrap()
}

fn params(ignore_eos: bool) -> GenerationParams {
    GenerationParams {
        max_tokens: 32,
        temperature: 0.0,
        ignore_eos,
    }
}

async fn ask(r: &dyn Runner, text: &str) -> ChatOutcome {
    let msgs = [ChatMessage::new("user", text)];
    tokio::time::timeout(
        HANG_GUARD,
        r.chat(&msgs, &params(false), false, &CancellationToken::new()),
    )
    .await
    .expect("chat hung")
}

#[tokio::test]
async fn streams_tokens_with_ttft_and_e2e_lower_bounds() {
    let ttft = Duration::from_millis(40);
    let itl = Duration::from_millis(5);
    let mut schedule = Schedule::new(ttft, itl, 8);
    schedule.reasoning_tokens = 2;
    let (base, _server) = StreamServer::start(Script::streaming(schedule)).await;
    let r = runner(&base, Duration::from_secs(120));
    let msgs = [ChatMessage::new("user", "hi")];
    let out = r
        .chat(&msgs, &params(false), true, &CancellationToken::new())
        .await;

    assert_eq!(out.error, None);
    let t = &out.timings;
    assert_eq!(
        t.token_offsets_us.len(),
        8,
        "reasoning chunks are tokens too"
    );
    assert!(t.ttft_ms().unwrap() >= 40.0, "ttft {:?}", t.ttft_ms());
    assert!(t.token_offsets_us.windows(2).all(|w| w[1] >= w[0]));
    assert!(t.e2e_ms() >= 40.0 + 7.0 * 5.0, "e2e {}", t.e2e_ms());
    assert!(t.end_us >= u64::from(*t.token_offsets_us.last().unwrap()));
    assert_eq!(out.completion_tokens, Some(8));
    assert_eq!(out.prompt_tokens, Some(10));
    assert_eq!(out.token_count_source, Some(TokenCountSource::Usage));
    assert_eq!(out.reply.as_deref(), Some("t2 t3 t4 t5 t6 t7 "));
    assert!(out.finished_at >= out.started_at);
}

#[tokio::test]
async fn without_usage_the_chunk_count_is_used() {
    let mut schedule = Schedule::instant(5);
    schedule.usage = false;
    let (base, _server) = StreamServer::start(Script::streaming(schedule)).await;
    let out = ask(&*runner(&base, Duration::from_secs(120)), "hi").await;
    assert_eq!(out.error, None);
    assert_eq!(out.completion_tokens, Some(5));
    assert_eq!(out.prompt_tokens, None);
    assert_eq!(out.token_count_source, Some(TokenCountSource::ChunkCount));
    assert_eq!(out.reply, None, "reply text only when asked");
}

#[tokio::test]
async fn request_body_asks_for_usage_and_ignore_eos_when_asked() {
    let (base, server) = StreamServer::start(Script::streaming(Schedule::instant(1))).await;
    let r = runner(&base, Duration::from_secs(120));
    let msgs = [
        ChatMessage::new("system", "be brief"),
        ChatMessage::new("user", "hi"),
    ];
    let cancel = CancellationToken::new();
    r.chat(&msgs, &params(true), false, &cancel).await;
    r.chat(&msgs, &params(false), false, &cancel).await;
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    let with = &reqs[0];
    assert_eq!(with["model"], "test-model");
    assert_eq!(with["stream"], true);
    assert_eq!(with["stream_options"]["include_usage"], true);
    assert_eq!(with["max_tokens"], 32);
    assert_eq!(with["temperature"], 0.0);
    assert_eq!(with["ignore_eos"], true);
    assert_eq!(with["messages"][0]["role"], "system");
    assert_eq!(with["messages"][1]["content"], "hi");
    assert!(reqs[1].get("ignore_eos").is_none());
}

const HTTP_500_BODY: &str = r#"{"object": "error", "message": "The engine is dead: EngineDeadError raised in the background loop; check the server log for the original traceback, then restart the server", "type": "InternalServerError", "param": null, "code": 500}"#;

#[tokio::test]
async fn every_failure_mode_is_recorded_while_other_requests_succeed() {
    let stream = |ending| Reply::Stream {
        schedule: Schedule::instant(3),
        ending,
    };
    let script = Script::streaming(Schedule::instant(4))
        .with_override(
            "http500",
            Reply::Status {
                code: 500,
                body: HTTP_500_BODY.to_string(),
            },
        )
        .with_override(
            "midstream",
            stream(Ending::ErrorThenDone("KV cache full".into())),
        )
        .with_override("malformed", stream(Ending::MalformedThenDone))
        .with_override("close", stream(Ending::Close))
        .with_override("abort", stream(Ending::Abort))
        .with_override("stall", stream(Ending::Stall))
        .with_override("hang", Reply::Hang)
        .with_override(
            "nonsse",
            Reply::NonSse {
                content_type: "application/json".into(),
                body: r#"{"id":"cmpl-1","choices":[{"message":{"content":"hi"}}]}"#.into(),
            },
        );
    let (base, _server) = StreamServer::start(script).await;
    let r = runner(&base, Duration::from_secs(1));
    let names = [
        "ok-1",
        "http500",
        "ok-2",
        "midstream",
        "malformed",
        "close",
        "abort",
        "stall",
        "hang",
        "nonsse",
        "ok-3",
    ];
    let outs = futures_util::future::join_all(names.iter().map(|n| ask(&*r, n))).await;
    let by_name = |n: &str| &outs[names.iter().position(|x| *x == n).unwrap()];
    let kind = |n: &str| by_name(n).error.as_ref().map(|e| e.kind);

    for ok in ["ok-1", "ok-2", "ok-3"] {
        assert_eq!(by_name(ok).error, None, "{ok}");
        assert_eq!(by_name(ok).completion_tokens, Some(4), "{ok}");
    }
    let http = by_name("http500").error.as_ref().unwrap();
    assert_eq!(http.kind, ErrorKind::Http);
    // The JSON error body is shown as its type and whole message.
    assert_eq!(
        http.message,
        "HTTP 500 InternalServerError: The engine is dead: EngineDeadError raised in the \
         background loop; check the server log for the original traceback, then restart the \
         server"
    );
    assert_eq!(by_name("http500").timings.token_offsets_us.len(), 0);

    let mid = by_name("midstream");
    assert_eq!(kind("midstream"), Some(ErrorKind::StreamError));
    assert_eq!(mid.error.as_ref().unwrap().message, "KV cache full");
    assert_eq!(
        mid.timings.token_offsets_us.len(),
        3,
        "timing kept up to the failure"
    );
    assert_eq!(mid.completion_tokens, Some(3));
    assert_eq!(mid.token_count_source, Some(TokenCountSource::ChunkCount));

    assert_eq!(kind("malformed"), Some(ErrorKind::Malformed));
    assert_eq!(kind("close"), Some(ErrorKind::Incomplete));
    assert_eq!(by_name("close").timings.token_offsets_us.len(), 3);
    assert_eq!(kind("abort"), Some(ErrorKind::Transport));
    assert_eq!(kind("stall"), Some(ErrorKind::Timeout));
    assert_eq!(
        by_name("stall").error.as_ref().unwrap().message,
        "no data for 1 s"
    );
    assert!(by_name("stall").timings.end_us >= 1_000_000);
    assert_eq!(kind("hang"), Some(ErrorKind::Timeout));
    let nonsse = by_name("nonsse").error.as_ref().unwrap();
    assert_eq!(nonsse.kind, ErrorKind::Malformed);
    assert!(
        nonsse.message.contains("text/event-stream"),
        "{}",
        nonsse.message
    );
    assert!(
        nonsse.message.contains("application/json"),
        "{}",
        nonsse.message
    );
    assert!(nonsse.message.contains("cmpl-1"), "{}", nonsse.message);
}

#[tokio::test]
async fn sse_without_the_content_type_is_still_measured() {
    let body = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: [DONE]\n\n";
    let script = Script::streaming(Schedule::instant(1)).with_override(
        "x",
        Reply::NonSse {
            content_type: "text/plain".into(),
            body: body.into(),
        },
    );
    let (base, _server) = StreamServer::start(script).await;
    let out = ask(&*runner(&base, Duration::from_secs(120)), "x").await;
    assert_eq!(out.error, None);
    assert_eq!(out.timings.token_offsets_us.len(), 1);
}

#[tokio::test]
async fn a_404_names_the_model_and_where_to_look() {
    let body = r#"{"object":"error","message":"The model `test-model` does not exist.","type":"NotFoundError","param":null,"code":404}"#;
    let script = Script::streaming(Schedule::instant(1)).with_override(
        "x",
        Reply::Status {
            code: 404,
            body: body.into(),
        },
    );
    let (base, _server) = StreamServer::start(script).await;
    let out = ask(&*runner(&base, Duration::from_secs(120)), "x").await;
    let err = out.error.unwrap();
    assert_eq!(err.kind, ErrorKind::Http);
    assert!(
        err.message
            .starts_with("HTTP 404 NotFoundError: The model `test-model` does not exist."),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("model `test-model`"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains(&format!("{base}/v1/models")),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    let base = closed_port_url().await;
    let out = ask(&*runner(&base, Duration::from_secs(120)), "hi").await;
    let err = out.error.unwrap();
    assert_eq!(err.kind, ErrorKind::Connect);
    assert!(
        err.message.contains("connection refused"),
        "{}",
        err.message
    );
    assert_eq!(out.completion_tokens, None);
}

#[tokio::test]
async fn cancelling_a_stalled_request_returns_cancelled() {
    let script = Script::streaming(Schedule::instant(2)).with_override(
        "stall",
        Reply::Stream {
            schedule: Schedule::instant(2),
            ending: Ending::Stall,
        },
    );
    let (base, server) = StreamServer::start(script).await;
    let r = runner(&base, Duration::from_secs(3600));
    let cancel = CancellationToken::new();
    let task = {
        let (r, cancel) = (r.clone(), cancel.clone());
        tokio::spawn(async move {
            let msgs = [ChatMessage::new("user", "stall")];
            r.chat(&msgs, &params(false), false, &cancel).await
        })
    };
    server.wait_for_requests(1).await;
    cancel.cancel();
    let out = tokio::time::timeout(HANG_GUARD, task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.error.unwrap().kind, ErrorKind::Cancelled);
}

#[tokio::test]
async fn check_model_accepts_a_served_model_and_names_the_served_ones_otherwise() {
    let mut script = Script::streaming(Schedule::instant(1));
    script.models = vec!["Qwen/Qwen3-8B".into(), "other".into()];
    let (base, _server) = StreamServer::start(script).await;
    let t = timeouts(Duration::from_secs(120));
    let good = create_runner(Framework::Sglang, &base, "Qwen/Qwen3-8B", t, 1).unwrap();
    good.check_model().await.unwrap();
    let bad = create_runner(Framework::Vllm, &base, "qwen3-8b", t, 1).unwrap();
    let err = bad.check_model().await.unwrap_err();
    assert!(matches!(err, RunnerError::ModelNotServed { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("`qwen3-8b`"), "{msg}");
    assert!(msg.contains("Qwen/Qwen3-8B, other"), "{msg}");

    let down = create_runner(Framework::Vllm, &closed_port_url().await, "m", t, 1).unwrap();
    let err = down.check_model().await.unwrap_err();
    assert!(matches!(err, RunnerError::ModelList { .. }), "{err}");
    assert!(err.to_string().contains("connection refused"), "{err}");
}

/// Run `wait_healthy`, collecting every progress report.
async fn wait(
    r: &dyn Runner,
    timeout: Duration,
    cancel: &CancellationToken,
    cancel_after: Option<usize>,
) -> (Result<(), RunnerError>, Vec<HealthProgress>) {
    let seen = Mutex::new(Vec::new());
    let on_wait = |p: HealthProgress| {
        let mut seen = seen.lock().unwrap();
        seen.push(p);
        if Some(seen.len()) == cancel_after {
            cancel.cancel();
        }
    };
    let res = tokio::time::timeout(HANG_GUARD, r.wait_healthy(timeout, cancel, &on_wait))
        .await
        .expect("health check hung");
    (res, seen.into_inner().unwrap())
}

#[tokio::test]
async fn health_succeeds_after_some_503s() {
    let script = Script::streaming(Schedule::instant(1))
        .with_health(Health::FailFirst { n: 3, status: 503 });
    let (base, server) = StreamServer::start(script).await;
    let r = runner(&base, Duration::from_secs(120));
    let (res, seen) = wait(&*r, HANG_GUARD, &CancellationToken::new(), None).await;
    res.unwrap();
    assert_eq!(server.health_probes(), 4);
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|p| p.last_status == "HTTP 503"));
    assert!(seen.windows(2).all(|w| w[1].elapsed >= w[0].elapsed));
}

#[tokio::test]
async fn health_timeout_names_the_url_and_the_last_failure() {
    let script = Script::streaming(Schedule::instant(1)).with_health(Health::FailFirst {
        n: usize::MAX,
        status: 503,
    });
    let (base, _server) = StreamServer::start(script).await;
    let never_up = [
        (base.clone(), "HTTP 503"),
        (closed_port_url().await, "connection refused"),
    ];
    for (url, last) in never_up {
        let r = runner(&url, Duration::from_secs(120));
        let (res, seen) = wait(
            &*r,
            Duration::from_millis(100),
            &CancellationToken::new(),
            None,
        )
        .await;
        let err = res.unwrap_err();
        assert!(
            matches!(&err, RunnerError::HealthTimeout { last: l, .. } if l == last),
            "{err}"
        );
        assert!(err.to_string().contains(&format!("{url}/health")), "{err}");
        assert_eq!(seen.last().unwrap().last_status, last, "progress reported");
    }
}

#[tokio::test]
async fn a_health_probe_that_never_answers_is_a_timeout() {
    let script = Script::streaming(Schedule::instant(1)).with_health(Health::Stall);
    let (base, _server) = StreamServer::start(script).await;
    let r = runner(&base, Duration::from_secs(120));
    let (res, _) = wait(
        &*r,
        Duration::from_millis(300),
        &CancellationToken::new(),
        None,
    )
    .await;
    match res {
        Err(RunnerError::HealthTimeout { last, .. }) => assert_eq!(last, "timeout"),
        other => panic!("expected a health timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn health_check_stops_when_cancelled() {
    let script = Script::streaming(Schedule::instant(1)).with_health(Health::FailFirst {
        n: usize::MAX,
        status: 503,
    });
    let (base, _server) = StreamServer::start(script).await;
    let r = runner(&base, Duration::from_secs(120));
    let cancel = CancellationToken::new();
    let (res, seen) = wait(&*r, Duration::from_secs(3600), &cancel, Some(2)).await;
    assert!(matches!(res, Err(RunnerError::Cancelled)), "{res:?}");
    assert_eq!(seen.len(), 2);
}
