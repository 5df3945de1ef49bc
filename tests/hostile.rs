//! Hostile servers: every way a server can misbehave ends as a recorded request with an error of
//! the right kind — never a panic, a hang or a stopped run. Runner-level cases use a short idle
//! timeout; a few run through the real binary; `/metrics` misbehaving is tested with a workload
//! and the scraper together.

mod support;

use std::sync::Arc;
use std::time::Duration;

use llm_inf_bench::config::{Framework, GenerationParams, WorkloadKind};
use llm_inf_bench::events::EventSink;
use llm_inf_bench::metrics::request::ErrorKind;
use llm_inf_bench::metrics::server_metrics::MetricsDialect;
use llm_inf_bench::runners::scrape::{spawn_scraper_with, ScrapeOptions};
use llm_inf_bench::runners::{create_runner, ChatMessage, ChatOutcome, Runner, RunnerTimeouts};
use llm_inf_bench::workloads::{create_workload, PromptSet, WorkloadContext};
use support::raw_server::{sse_events, Act, End, RawScript, RawServer};
use support::stream_server::{closed_port_url, Ending, Reply, Schedule, Script, StreamServer};
use tokio_util::sync::CancellationToken;

/// Guards against a hang only; no test asserts how fast anything was.
const HANG_GUARD: Duration = Duration::from_secs(60);
/// The idle read timeout of these runners: short, so stalls end quickly.
const IDLE: Duration = Duration::from_millis(300);

fn runner(base: &str) -> Arc<dyn Runner> {
    let timeouts = RunnerTimeouts {
        connect: Duration::from_secs(5),
        idle_read: IDLE,
        health_interval: Duration::from_millis(10),
        probe: Duration::from_millis(500),
    };
    create_runner(Framework::Vllm, base, "test-model", timeouts, 8).unwrap()
}

fn params() -> GenerationParams {
    GenerationParams {
        max_tokens: 16,
        temperature: 0.0,
        ignore_eos: false,
    }
}

async fn ask(r: &dyn Runner, text: &str) -> ChatOutcome {
    let msgs = [ChatMessage::new("user", text)];
    tokio::time::timeout(
        HANG_GUARD,
        r.chat(&msgs, &params(), false, &CancellationToken::new()),
    )
    .await
    .expect("chat hung")
}

/// The error of `o`, asserting its kind and that its message contains `fragment`.
fn expect_error(o: &ChatOutcome, kind: ErrorKind, fragment: &str) -> String {
    let e = o
        .error
        .as_ref()
        .unwrap_or_else(|| panic!("no error: {o:?}"));
    assert_eq!(e.kind, kind, "{}", e.message);
    assert!(
        e.message.contains(fragment),
        "{:?} lacks {fragment:?}",
        e.message
    );
    assert!(o.finished_at >= o.started_at);
    e.message.clone()
}

fn status_script(code: u16, body: &str) -> Script {
    Script::streaming(Schedule::instant(2)).with_override(
        "status",
        Reply::Status {
            code,
            body: body.into(),
        },
    )
}

#[tokio::test]
async fn http_errors_with_and_without_bodies() {
    let body = r#"{"object":"error","message":"rate limited, retry later","code":429}"#;
    for code in [400u16, 404, 429, 500, 503] {
        for with_body in [true, false] {
            let (base, _server) =
                StreamServer::start(status_script(code, if with_body { body } else { "" })).await;
            let r = runner(&base);
            let o = ask(&*r, "status").await;
            let msg = expect_error(&o, ErrorKind::Http, &format!("HTTP {code}"));
            if with_body {
                assert!(msg.contains("rate limited"), "{msg}");
            } else {
                assert!(msg.contains("empty body"), "{msg}");
                assert!(!msg.ends_with(' '), "{msg:?}");
            }
            assert!(o.timings.token_offsets_us.is_empty());
            assert_eq!(o.completion_tokens, None);
            // The next request on the same runner is unaffected.
            assert_eq!(ask(&*r, "fine").await.error, None, "after HTTP {code}");
        }
    }
}

#[tokio::test]
async fn a_200_that_is_not_sse() {
    let script = Script::streaming(Schedule::instant(2)).with_override(
        "html",
        Reply::NonSse {
            content_type: "text/html".into(),
            body: "<html><body>502 Bad Gateway (nginx)</body></html>".into(),
        },
    );
    let (base, _server) = StreamServer::start(script).await;
    let r = runner(&base);
    let o = ask(&*r, "html").await;
    let msg = expect_error(&o, ErrorKind::Malformed, "text/event-stream");
    assert!(
        msg.contains("text/html") && msg.contains("Bad Gateway"),
        "{msg}"
    );
}

#[tokio::test]
async fn stream_level_misbehaviours() {
    let stream = |ending| Reply::Stream {
        schedule: Schedule::instant(3),
        ending,
    };
    let script = Script::streaming(Schedule::instant(4))
        .with_override("badjson", stream(Ending::MalformedThenDone))
        .with_override(
            "errobj",
            stream(Ending::ErrorThenDone("out of KV cache blocks".into())),
        )
        .with_override("stall", stream(Ending::Stall))
        .with_override("close", stream(Ending::Close))
        .with_override("abort", stream(Ending::Abort))
        .with_override("hang", Reply::Hang);
    let (base, _server) = StreamServer::start(script).await;
    let r = runner(&base);

    let o = ask(&*r, "badjson").await;
    expect_error(&o, ErrorKind::Malformed, "invalid JSON in stream");
    assert_eq!(o.timings.token_offsets_us.len(), 3, "timing kept");

    let o = ask(&*r, "errobj").await;
    let msg = expect_error(&o, ErrorKind::StreamError, "out of KV cache blocks");
    assert!(!msg.contains("[DONE]"));
    assert_eq!(o.completion_tokens, Some(3));

    let o = ask(&*r, "stall").await;
    expect_error(&o, ErrorKind::Timeout, "no data for 0.3 s");
    assert!(o.timings.end_us >= IDLE.as_micros() as u64);
    assert_eq!(o.timings.token_offsets_us.len(), 3);

    let o = ask(&*r, "close").await;
    expect_error(&o, ErrorKind::Incomplete, "without data: [DONE]");

    let o = ask(&*r, "abort").await;
    expect_error(&o, ErrorKind::Transport, "connection lost mid-stream");

    let o = ask(&*r, "hang").await;
    expect_error(&o, ErrorKind::Timeout, "no response for 0.3 s");

    assert_eq!(ask(&*r, "fine").await.error, None, "the runner still works");
}

#[tokio::test]
async fn connection_refused() {
    let r = runner(&closed_port_url().await);
    let o = ask(&*r, "x").await;
    expect_error(&o, ErrorKind::Connect, "connection refused");
}

fn raw(chat: Act) -> RawScript {
    RawScript {
        chat,
        metrics: Act::http("404 Not Found", "text/plain", b""),
    }
}

#[tokio::test]
async fn accepts_and_never_answers() {
    let server = RawServer::start(raw(Act::Silent)).await;
    let o = ask(&*runner(&server.base_url), "x").await;
    expect_error(&o, ErrorKind::Timeout, "no response for 0.3 s");
    assert_eq!(server.chat_requests(), 1);
}

#[tokio::test]
async fn headers_that_stop_halfway() {
    let server = RawServer::start(raw(Act::Write {
        head: b"HTTP/1.1 200 OK\r\nContent-Type: text/event-str".to_vec(),
        body: vec![],
        end: End::Hold,
    }))
    .await;
    let o = ask(&*runner(&server.base_url), "x").await;
    expect_error(&o, ErrorKind::Timeout, "no response for 0.3 s");
}

#[tokio::test]
async fn reset_mid_stream() {
    let mut events = sse_events(4);
    events.truncate(events.len() / 2);
    let server = RawServer::start(raw(Act::sse("1.1", vec![events], End::Reset))).await;
    let o = ask(&*runner(&server.base_url), "x").await;
    let msg = expect_error(&o, ErrorKind::Transport, "connection lost mid-stream");
    assert!(
        !o.timings.token_offsets_us.is_empty(),
        "chunks before the reset are kept: {msg}"
    );
}

#[tokio::test]
async fn chunked_body_cut_mid_chunk() {
    let events = sse_events(4);
    let mut body = format!("{:x}\r\n", events.len()).into_bytes();
    body.extend_from_slice(&events[..events.len() / 2]);
    let server = RawServer::start(raw(Act::Write {
        head: b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec(),
        body: vec![body],
        end: End::Close,
    }))
    .await;
    let o = ask(&*runner(&server.base_url), "x").await;
    expect_error(&o, ErrorKind::Transport, "connection lost mid-stream");
    assert!(!o.timings.token_offsets_us.is_empty());
}

#[tokio::test]
async fn stream_closed_without_done() {
    let mut events = sse_events(3);
    events.truncate(events.len() - "data: [DONE]\n\n".len());
    let server = RawServer::start(raw(Act::sse("1.1", vec![events], End::Close))).await;
    let o = ask(&*runner(&server.base_url), "x").await;
    expect_error(&o, ErrorKind::Incomplete, "without data: [DONE]");
    assert_eq!(o.timings.token_offsets_us.len(), 3);
    assert_eq!(o.completion_tokens, Some(3), "usage arrived before the cut");
}

#[tokio::test]
async fn http_1_0_close_delimited_body_succeeds() {
    let server = RawServer::start(raw(Act::sse("1.0", vec![sse_events(5)], End::Close))).await;
    let o = ask(&*runner(&server.base_url), "x").await;
    assert_eq!(o.error, None);
    assert_eq!(o.timings.token_offsets_us.len(), 5);
    assert_eq!(o.completion_tokens, Some(5));
}

#[tokio::test]
async fn a_byte_order_mark_before_the_stream_is_skipped() {
    let mut body = b"\xef\xbb\xbf".to_vec();
    body.extend_from_slice(&sse_events(3));
    // Labelled as SSE, and unlabelled (the runner sniffs the start): the BOM arrives alone.
    for head in [
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n",
        "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
    ] {
        let server = RawServer::start(raw(Act::Write {
            head: head.as_bytes().to_vec(),
            body: vec![body[..3].to_vec(), body[3..].to_vec()],
            end: End::Close,
        }))
        .await;
        let o = ask(&*runner(&server.base_url), "x").await;
        assert_eq!(o.error, None, "{head:?}");
        assert_eq!(o.timings.token_offsets_us.len(), 3);
    }
}

#[tokio::test]
async fn a_16_mb_line_is_malformed_and_not_buffered() {
    const LINE: usize = 16 * 1024 * 1024;
    let mut line = b"data: {\"choices\":[{\"delta\":{\"content\":\"".to_vec();
    line.resize(LINE, b'x');
    line.extend_from_slice(b"\"}}]}\n\ndata: [DONE]\n\n");
    let total = line.len();
    let server = RawServer::start(raw(Act::sse("1.1", vec![line], End::Close))).await;
    let o = ask(&*runner(&server.base_url), "x").await;
    expect_error(&o, ErrorKind::Malformed, "larger than 1024 KiB");
    // The client stopped reading at the cap: the server could not hand over the whole line
    // (socket buffers hold a few MB at most).
    server.wait_for_chats_done(1).await;
    assert!(
        server.delivered() < total,
        "delivered {} of {total}",
        server.delivered()
    );
}

/// A workload of `n` requests and the scraper against `server` together: every request
/// succeeds, every scrape fails, and stopping the scraper returns at once.
async fn workload_with_bad_metrics(server: &RawServer, n: usize) {
    let r = runner(&server.base_url);
    let cancel = CancellationToken::new();
    let scraper = spawn_scraper_with(
        &server.base_url,
        MetricsDialect::Vllm,
        ScrapeOptions {
            interval: Duration::from_millis(10),
            timeout: Duration::from_millis(200),
            max_body_bytes: 64 * 1024,
        },
        cancel.clone(),
    );
    // The scraper is already misbehaving-served before the first request goes out.
    server.wait_for_metrics_requests(1).await;
    let prompts = PromptSet::Messages(vec![vec![ChatMessage::new("user", "hi")]]);
    let workload =
        create_workload(&WorkloadKind::Concurrent { concurrency: 4 }, &prompts, n).unwrap();
    let outcome = tokio::time::timeout(
        HANG_GUARD,
        workload.run(WorkloadContext {
            runner: r,
            params: params(),
            events: EventSink::discard(),
            cancel: cancel.clone(),
            already_done: Default::default(),
            on_record: Box::new(|_| {}),
            timing: Default::default(),
        }),
    )
    .await
    .expect("the workload finished despite /metrics");
    assert_eq!(outcome.records.len(), n);
    assert!(outcome.records.iter().all(|r| r.error.is_none()));
    assert_eq!(outcome.stopped_early, None);
    let metrics = tokio::time::timeout(HANG_GUARD, scraper.stop())
        .await
        .expect("stopping the scraper does not wait for a hung scrape");
    assert!(metrics.time_series.is_empty(), "{:?}", metrics.time_series);
    assert_eq!(metrics.scrape_errors, metrics.total_scrapes);
}

#[tokio::test]
async fn metrics_garbage_never_disturbs_the_benchmark() {
    let mut garbage =
        b"\xff\xfe\x00 not prometheus {{{ \n# TYPE\nvllm:kv_cache_usage_perc{ 1\n".to_vec();
    garbage.extend(std::iter::repeat_n(b'z', 200 * 1024));
    let server = RawServer::start(RawScript {
        chat: Act::sse("1.1", vec![sse_events(3)], End::Close),
        metrics: Act::http("200 OK", "text/plain", &garbage),
    })
    .await;
    workload_with_bad_metrics(&server, 12).await;
}

#[tokio::test]
async fn metrics_that_hang_never_block_the_benchmark() {
    let server = RawServer::start(RawScript {
        chat: Act::sse("1.1", vec![sse_events(3)], End::Close),
        metrics: Act::Silent,
    })
    .await;
    workload_with_bad_metrics(&server, 12).await;
    assert!(server.metrics_requests() >= 1);
}

// ---- through the real binary ---------------------------------------------------------------

const MARKED_PROMPTS: &str = r#"{"messages": [{"role": "user", "content": "ok one"}]}
{"messages": [{"role": "user", "content": "trigger status"}]}
{"messages": [{"role": "user", "content": "ok two"}]}
{"messages": [{"role": "user", "content": "trigger errobj"}]}
{"messages": [{"role": "user", "content": "ok three"}]}
{"messages": [{"role": "user", "content": "trigger close"}]}
{"messages": [{"role": "user", "content": "ok four"}]}
{"messages": [{"role": "user", "content": "ok five"}]}
"#;

fn config(sb: &support::Sandbox, count: usize) -> std::path::PathBuf {
    sb.write("prompts.jsonl", MARKED_PROMPTS);
    sb.write(
        "hostile.yaml",
        &format!(
            r#"name: hostile
model: {{name: test-model}}
framework: vllm
infrastructure: {{provider: simulated}}
workload:
  type: concurrent
  concurrency: 2
  requests: {{source: prompts.jsonl, count: {count}}}
  parameters: {{max_tokens: 8}}
metrics: {{sample_interval_ms: 50, output_dir: results}}
"#
        ),
    )
}

/// Run the binary against `url`; returns the exit code and the one result file.
fn run_binary(url: &str, count: usize) -> (Option<i32>, serde_json::Value, String) {
    let sb = support::Sandbox::new();
    let cfg = config(&sb, count);
    let out = sb
        .cmd()
        .args(["run", "--server-url", url])
        .arg(&cfg)
        .timeout(HANG_GUARD)
        .output()
        .expect("run the binary");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let results = sb.results_json();
    assert_eq!(results.len(), 1, "one result file; stderr: {stderr}");
    (out.status.code(), results[0].clone(), stderr)
}

fn errors_by_prompt(result: &serde_json::Value) -> Vec<(u64, Option<String>, Option<String>)> {
    result["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .map(|r| {
            (
                r["request_index"].as_u64().unwrap(),
                r["error"].as_str().map(str::to_string),
                r["error_kind"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[test]
fn binary_records_each_failure_and_reports_partial() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let script = Script::streaming(Schedule::instant(3))
        .with_override(
            "status",
            Reply::Status {
                code: 429,
                body: r#"{"message":"too many requests"}"#.into(),
            },
        )
        .with_override(
            "errobj",
            Reply::Stream {
                schedule: Schedule::instant(2),
                ending: Ending::ErrorThenDone("scheduler overloaded".into()),
            },
        )
        .with_override(
            "close",
            Reply::Stream {
                schedule: Schedule::instant(2),
                ending: Ending::Close,
            },
        );
    let (url, _server) = rt.block_on(StreamServer::start(script));
    let (code, result, stderr) = run_binary(&url, 8);
    assert_eq!(
        code,
        Some(0),
        "a partial run is still a run; stderr: {stderr}"
    );
    assert_eq!(result["status"], "partial");
    assert_eq!(result["summary"]["successful_requests"], 5);
    assert_eq!(result["summary"]["failed_requests"], 3);
    let errors = errors_by_prompt(&result);
    assert_eq!(errors.len(), 8, "every request is in the file once");
    let failed: Vec<_> = errors.iter().filter(|e| e.1.is_some()).collect();
    assert_eq!(failed.len(), 3);
    let messages: Vec<&str> = failed.iter().filter_map(|e| e.1.as_deref()).collect();
    assert!(
        messages.iter().any(|m| m.starts_with("HTTP 429")),
        "{messages:?}"
    );
    assert!(messages.contains(&"scheduler overloaded"), "{messages:?}");
    assert!(
        messages.iter().any(|m| m.contains("without data: [DONE]")),
        "{messages:?}"
    );
}

#[test]
fn binary_against_a_raw_server_resetting_every_stream() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut events = sse_events(4);
    events.truncate(events.len() / 2);
    let server = rt.block_on(RawServer::start(raw(Act::sse(
        "1.1",
        vec![events],
        End::Reset,
    ))));
    let (code, result, stderr) = run_binary(&server.base_url, 4);
    // No request succeeded: the run fails (issue 11 item 12), saying why.
    assert_eq!(code, Some(1), "stderr: {stderr}");
    assert!(stderr.contains("connection lost mid-stream"), "{stderr}");
    assert_eq!(result["status"], "failed");
    // The circuit breaker stops the run once half the planned requests failed.
    let errors = errors_by_prompt(&result);
    assert!(!errors.is_empty());
    for (_, message, _) in &errors {
        let m = message.as_deref().expect("every request failed");
        assert!(m.contains("connection lost mid-stream"), "{m}");
    }
    assert!(result["metadata"]["stopped_early"]
        .as_str()
        .unwrap_or("")
        .contains("circuit breaker"));
}

#[test]
fn binary_http_1_0_server_completes() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(RawServer::start(raw(Act::sse(
        "1.0",
        vec![sse_events(4)],
        End::Close,
    ))));
    let (code, result, stderr) = run_binary(&server.base_url, 4);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert_eq!(result["status"], "completed", "{}", result["requests"]);
    assert_eq!(result["summary"]["successful_requests"], 4);
}
