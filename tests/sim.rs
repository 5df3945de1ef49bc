//! The simulated server over real HTTP: wire shapes, engine behaviour, metrics and faults.
//! Synchronisation uses the engine's event stream and responses, never sleeps.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use llm_inf_bench::config::Framework;
use llm_inf_bench::sim::{EngineEvent, SimProfile, SimServer};
use serde_json::{json, Value};
use tokio::sync::broadcast;

const MODEL: &str = "test-model";

fn fast() -> SimProfile {
    SimProfile {
        decode_step_ms: 1.0,
        decode_step_ms_per_seq: 0.0,
        prefill_ms_per_token: 0.0,
        base_ttft_ms: 0.0,
        ..SimProfile::default()
    }
}

async fn start(framework: Framework, profile: SimProfile) -> SimServer {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    SimServer::start(framework, profile, MODEL, addr)
        .await
        .unwrap()
}

fn body(max_tokens: u64, ignore_eos: bool, include_usage: bool) -> Value {
    json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": "Tell me about the simulated engine."}],
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "stream": true,
        "ignore_eos": ignore_eos,
        "stream_options": {"include_usage": include_usage},
    })
}

/// The `data:` payloads of an SSE body; `[DONE]` kept as the string `"[DONE]"`.
fn frames(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter(|f| !f.is_empty())
        .map(|f| {
            let payload = f
                .strip_prefix("data: ")
                .expect("every frame is a data line");
            if payload == "[DONE]" {
                Value::String("[DONE]".into())
            } else {
                serde_json::from_str(payload).unwrap()
            }
        })
        .collect()
}

async fn post(server: &SimServer, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.base_url()))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn stream(server: &SimServer, body: &Value) -> Vec<Value> {
    let resp = post(server, body).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    frames(&resp.text().await.unwrap())
}

async fn metrics(server: &SimServer) -> String {
    reqwest::get(format!("{}/metrics", server.base_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Value of the first sample line starting with `prefix`.
fn sample(body: &str, prefix: &str) -> f64 {
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample {prefix} in\n{body}"))
}

async fn next_event(rx: &mut broadcast::Receiver<EngineEvent>) -> EngineEvent {
    rx.recv().await.expect("engine event")
}

/// Collect events until `done` says stop.
async fn events_until(
    rx: &mut broadcast::Receiver<EngineEvent>,
    mut done: impl FnMut(&[EngineEvent]) -> bool,
) -> Vec<EngineEvent> {
    let mut seen = Vec::new();
    while !done(&seen) {
        seen.push(next_event(rx).await);
    }
    seen
}

fn count(events: &[EngineEvent], pred: impl Fn(&EngineEvent) -> bool) -> usize {
    events.iter().filter(|e| pred(e)).count()
}

fn content(chunk: &Value) -> Option<&str> {
    chunk["choices"][0]["delta"]["content"].as_str()
}

#[tokio::test]
async fn vllm_stream_has_the_captured_shape() {
    let server = start(Framework::Vllm, fast()).await;
    let f = stream(&server, &body(8, true, true)).await;
    // role + 8 tokens (the last carries finish_reason) + usage + [DONE]
    assert_eq!(f.len(), 11, "{f:#?}");
    let id = f[0]["id"].as_str().unwrap();
    assert!(id.starts_with("chatcmpl-") && id.len() == 25, "{id}");
    assert_eq!(
        f[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert_eq!(f[0]["prompt_token_ids"], Value::Null);
    for (i, chunk) in f[1..9].iter().enumerate() {
        assert_eq!(chunk["id"], id);
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["model"], MODEL);
        assert!(!content(chunk).unwrap().is_empty());
        let finish = &chunk["choices"][0]["finish_reason"];
        if i == 7 {
            assert_eq!(finish, "length");
            assert_eq!(chunk["choices"][0]["stop_reason"], Value::Null);
        } else {
            assert_eq!(finish, &Value::Null);
        }
        assert!(chunk.get("usage").is_none());
    }
    let usage = &f[9];
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 8);
    let prompt = usage["usage"]["prompt_tokens"].as_u64().unwrap();
    // "Tell me about the simulated engine." = Tell|me|about|the|simul|ated|engin|e|. (9 tokens)
    assert_eq!(prompt, 9 + 4 + 3);
    assert_eq!(usage["usage"]["total_tokens"], prompt + 8);
    assert_eq!(f[10], "[DONE]");
    server.shutdown().await;
}

#[tokio::test]
async fn without_include_usage_there_is_no_usage_chunk() {
    let server = start(Framework::Vllm, fast()).await;
    let f = stream(&server, &body(4, true, false)).await;
    assert_eq!(f.len(), 6);
    assert!(f.iter().all(|c| c.get("usage").is_none()));
    assert_eq!(f[5], "[DONE]");
}

#[tokio::test]
async fn sglang_stream_has_the_native_shape() {
    let server = start(Framework::Sglang, fast()).await;
    let f = stream(&server, &body(6, true, true)).await;
    // role + 6 tokens + finish chunk + usage + [DONE]
    assert_eq!(f.len(), 10, "{f:#?}");
    let id = f[0]["id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(f[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(f[0]["choices"][0]["delta"]["content"], "");
    for chunk in &f[1..7] {
        assert_eq!(chunk["usage"], Value::Null);
        assert!(chunk.as_object().unwrap().contains_key("usage"));
        assert_eq!(chunk["choices"][0]["matched_stop"], Value::Null);
        assert_eq!(chunk["choices"][0]["finish_reason"], Value::Null);
        assert!(!content(chunk).unwrap().is_empty());
    }
    assert_eq!(f[7]["choices"][0]["finish_reason"], "length");
    assert_eq!(f[7]["choices"][0]["delta"]["content"], Value::Null);
    assert_eq!(f[8]["choices"], json!([]));
    assert_eq!(f[8]["usage"]["completion_tokens"], 6);
    assert_eq!(f[9], "[DONE]");

    let models: Value = reqwest::get(format!("{}/v1/models", server.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["owned_by"], "sglang");
    assert_eq!(models["data"][0]["id"], MODEL);
}

#[tokio::test]
async fn health_models_and_errors() {
    let server = start(Framework::Vllm, fast()).await;
    let base = server.base_url();
    let health = reqwest::get(format!("{base}/health")).await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "");
    let models: Value = reqwest::get(format!("{base}/v1/models"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["owned_by"], "vllm");
    assert_eq!(models["data"][0]["max_model_len"], 32768);

    let mut wrong = body(4, true, true);
    wrong["model"] = json!("gpt-x");
    let resp = post(&server, &wrong).await;
    assert_eq!(resp.status(), 404);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["message"], "The model `gpt-x` does not exist.");
    assert_eq!(err["error"]["code"], 404);

    let resp = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["type"], "BadRequestError");

    let resp = post(&server, &body(0, true, true)).await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn any_model_accepts_every_name() {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = SimServer::start(Framework::Vllm, fast(), "*", addr)
        .await
        .unwrap();
    let mut b = body(3, true, false);
    b["model"] = json!("whatever/Model-7B");
    let f = stream(&server, &b).await;
    assert_eq!(f[1]["model"], "whatever/Model-7B");
}

#[tokio::test]
async fn non_streaming_returns_a_chat_completion() {
    let server = start(Framework::Vllm, fast()).await;
    let mut b = body(5, true, false);
    b.as_object_mut().unwrap().remove("stream");
    let resp = post(&server, &b).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert!(!v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .is_empty());
    assert_eq!(v["usage"]["completion_tokens"], 5);
}

#[tokio::test]
async fn natural_lengths_are_within_max_tokens_and_counted_in_usage() {
    let server = start(Framework::Vllm, fast()).await;
    let mut stops = 0;
    for _ in 0..12 {
        let f = stream(&server, &body(20, false, true)).await;
        let usage = &f[f.len() - 2]["usage"];
        let n = usage["completion_tokens"].as_u64().unwrap();
        assert!((10..=20).contains(&n), "{n}");
        // One chunk per generated token, the role chunk and usage/[DONE] aside.
        assert_eq!(f.len() as u64, n + 3);
        let finish = &f[f.len() - 3]["choices"][0]["finish_reason"];
        if n < 20 {
            assert_eq!(finish, "stop");
            stops += 1;
        } else {
            assert_eq!(finish, "length");
        }
    }
    assert!(stops < 12);
}

#[tokio::test]
async fn same_seed_same_texts() {
    async fn texts(seed: u64) -> Vec<String> {
        let server = start(Framework::Vllm, SimProfile { seed, ..fast() }).await;
        let mut out = Vec::new();
        for _ in 0..3 {
            let f = stream(&server, &body(24, false, true)).await;
            out.push(f.iter().filter_map(content).collect::<String>());
        }
        server.shutdown().await;
        out
    }
    let a = texts(7).await;
    let b = texts(7).await;
    assert_eq!(a, b);
    assert_ne!(a[0], a[1], "requests differ within a run");
    assert_ne!(a, texts(8).await, "another seed, other texts");
}

#[tokio::test]
async fn requests_beyond_max_num_seqs_wait_for_a_free_slot() {
    let profile = SimProfile {
        max_num_seqs: 2,
        ..fast()
    };
    let server = start(Framework::Vllm, profile).await;
    let mut rx = server.subscribe();
    // Hold the engine until all six requests sit in its queue, so the order is exact.
    server.pause_engine();
    let mut clients = Vec::new();
    for _ in 0..6 {
        let url = server.base_url();
        clients.push(tokio::spawn(async move {
            let resp = reqwest::Client::new()
                .post(format!("{url}/v1/chat/completions"))
                .json(&body(5, true, true))
                .send()
                .await
                .unwrap();
            frames(&resp.text().await.unwrap())
        }));
    }
    let queued = events_until(&mut rx, |e| {
        count(e, |x| matches!(x, EngineEvent::Queued { .. })) == 6
    })
    .await;
    assert_eq!(queued.len(), 6);
    server.resume_engine();
    let events = events_until(&mut rx, |e| {
        count(e, |x| matches!(x, EngineEvent::Finished { .. })) == 6
    })
    .await;

    let mut admitted = Vec::new();
    let mut first_token = HashMap::new();
    let mut finished = Vec::new();
    for e in &events {
        match e {
            EngineEvent::Admitted { request, step, .. } => admitted.push((*request, *step)),
            EngineEvent::FirstToken { request, step } => {
                first_token.insert(*request, *step);
            }
            EngineEvent::Finished { step, tokens, .. } => {
                assert_eq!(*tokens, 5);
                finished.push(*step);
            }
            EngineEvent::Step {
                running, waiting, ..
            } => {
                assert!(*running <= 2);
                assert_eq!(running + waiting + finished.len(), 6);
            }
            _ => {}
        }
    }
    assert_eq!(admitted.len(), 6);
    // The first two start together; every later one only after a slot was freed.
    assert_eq!(admitted[0].1, admitted[1].1);
    for k in 2..6 {
        let (request, step) = admitted[k];
        assert!(
            step > finished[k - 2],
            "request {k} admitted before a slot was free"
        );
        assert!(first_token[&request] > finished[0]);
    }
    for client in clients {
        let f = client.await.unwrap();
        assert_eq!(f[f.len() - 2]["usage"]["completion_tokens"], 5);
    }
    let m = metrics(&server).await;
    assert!(sample(&m, "vllm:request_queue_time_seconds_sum{") > 0.0);
    assert_eq!(sample(&m, "vllm:num_requests_waiting{"), 0.0);
}

#[tokio::test]
async fn shared_prompt_prefixes_hit_the_prefix_cache() {
    let server = start(Framework::Vllm, fast()).await;
    let long: String = (0..300).map(|i| format!("word{} ", i % 17)).collect();
    let mut b = body(4, true, true);
    b["messages"] = json!([{"role": "system", "content": long}, {"role": "user", "content": "Hi"}]);
    stream(&server, &b).await;
    let before = metrics(&server).await;
    assert_eq!(sample(&before, "vllm:prefix_cache_hits_total{"), 0.0);
    assert_eq!(sample(&before, "vllm:kv_cache_usage_perc{"), 0.0);

    // Same system prompt, another question: the shared prefix is served from the cache.
    let mut rx = server.subscribe();
    b["messages"][1]["content"] = json!("Something else entirely");
    b["max_tokens"] = json!(20000);
    let url = server.base_url();
    let b2 = b.clone();
    let running = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{url}/v1/chat/completions"))
            .json(&b2)
            .send()
            .await
            .unwrap()
    });
    let events = events_until(&mut rx, |e| {
        e.iter()
            .any(|x| matches!(x, EngineEvent::FirstToken { .. }))
    })
    .await;
    let cached = events.iter().find_map(|e| match e {
        EngineEvent::Admitted { cached_tokens, .. } => Some(*cached_tokens),
        _ => None,
    });
    assert!(cached.is_some_and(|c| c >= 300), "{cached:?}");
    server.pause_engine();
    let during = metrics(&server).await;
    assert!(sample(&during, "vllm:prefix_cache_hits_total{") >= 300.0);
    assert!(
        sample(&during, "vllm:prefix_cache_queries_total{")
            > sample(&during, "vllm:prefix_cache_hits_total{")
    );
    assert!(sample(&during, "vllm:kv_cache_usage_perc{") > 0.0);
    assert_eq!(sample(&during, "vllm:num_requests_running{"), 1.0);
    // Hanging up aborts the request and frees its KV blocks.
    drop(running.await.unwrap());
    server.resume_engine();
    events_until(&mut rx, |e| {
        e.iter().any(|x| matches!(x, EngineEvent::Aborted { .. }))
    })
    .await;
    let after = metrics(&server).await;
    assert_eq!(sample(&after, "vllm:num_requests_running{"), 0.0);
}

#[tokio::test]
async fn metrics_expose_the_real_names() {
    let server = start(Framework::Vllm, fast()).await;
    stream(&server, &body(3, true, true)).await;
    let resp = reqwest::get(format!("{}/metrics", server.base_url()))
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let m = resp.text().await.unwrap();
    let labels = format!("{{engine=\"0\",model_name=\"{MODEL}\"}}");
    for name in [
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "vllm:prefix_cache_queries_total",
        "vllm:prefix_cache_hits_total",
        "vllm:prompt_tokens_total",
        "vllm:generation_tokens_total",
        "vllm:num_preemptions_total",
        "vllm:prefix_cache_queries_created",
        "vllm:time_to_first_token_seconds_count",
        "vllm:time_to_first_token_seconds_sum",
        "vllm:e2e_request_latency_seconds_count",
        "vllm:inter_token_latency_seconds_count",
    ] {
        assert!(m.contains(&format!("\n{name}{labels} ")), "{name}");
    }
    for needle in [
        "# HELP vllm:num_requests_running ",
        "# TYPE vllm:generation_tokens_total counter",
        "# TYPE vllm:time_to_first_token_seconds histogram",
        "vllm:time_to_first_token_seconds_bucket{engine=\"0\",le=\"+Inf\"",
        "vllm:request_success_total{engine=\"0\",finished_reason=\"length\"",
        "vllm:cache_config_info{",
    ] {
        assert!(m.contains(needle), "{needle}");
    }
    assert_eq!(sample(&m, "vllm:generation_tokens_total{"), 3.0);
    assert_eq!(
        sample(
            &m,
            "vllm:request_success_total{engine=\"0\",finished_reason=\"length\""
        ),
        1.0
    );
    assert_eq!(sample(&m, "vllm:e2e_request_latency_seconds_count{"), 1.0);
    assert_eq!(sample(&m, "vllm:inter_token_latency_seconds_count{"), 2.0);

    let sg = start(Framework::Sglang, fast()).await;
    stream(&sg, &body(3, true, true)).await;
    let m = metrics(&sg).await;
    let sched =
        format!("{{engine_type=\"unified\",model_name=\"{MODEL}\",pp_rank=\"0\",tp_rank=\"0\"}}");
    for name in [
        "sglang:num_running_reqs",
        "sglang:num_queue_reqs",
        "sglang:token_usage",
        "sglang:num_used_tokens",
        "sglang:cache_hit_rate",
        "sglang:gen_throughput",
    ] {
        assert!(m.contains(&format!("\n{name}{sched} ")), "{name}");
    }
    let tok = format!("{{model_name=\"{MODEL}\"}}");
    for name in [
        "sglang:prompt_tokens_total",
        "sglang:generation_tokens_total",
        "sglang:cached_tokens_total",
        "sglang:num_requests_total",
        "sglang:time_to_first_token_seconds_count",
        "sglang:e2e_request_latency_seconds_count",
        "sglang:inter_token_latency_seconds_count",
    ] {
        assert!(m.contains(&format!("\n{name}{tok} ")), "{name}");
    }
    assert_eq!(sample(&m, "sglang:generation_tokens_total{"), 3.0);
    assert_eq!(sample(&m, "sglang:num_requests_total{"), 1.0);
}

#[tokio::test]
async fn a_full_kv_cache_preempts_and_recomputes() {
    // 8 blocks of 16 tokens; each request ends holding 4 blocks, four of them need 16.
    let profile = SimProfile {
        kv_cache_tokens: 128,
        max_num_seqs: 4,
        ..fast()
    };
    let server = start(Framework::Vllm, profile).await;
    let mut rx = server.subscribe();
    server.pause_engine();
    let mut clients = Vec::new();
    for i in 0..4 {
        let url = server.base_url();
        let mut b = body(48, true, true);
        b["messages"] = json!([{"role": "user", "content": format!("q{i}")}]);
        clients.push(tokio::spawn(async move {
            let resp = reqwest::Client::new()
                .post(format!("{url}/v1/chat/completions"))
                .json(&b)
                .send()
                .await
                .unwrap();
            frames(&resp.text().await.unwrap())
        }));
    }
    events_until(&mut rx, |e| {
        count(e, |x| matches!(x, EngineEvent::Queued { .. })) == 4
    })
    .await;
    server.resume_engine();
    let events = events_until(&mut rx, |e| {
        count(e, |x| matches!(x, EngineEvent::Finished { .. })) == 4
    })
    .await;
    let preempted = count(&events, |e| matches!(e, EngineEvent::Preempted { .. }));
    assert!(preempted > 0);
    let recomputed = count(&events, |e| {
        matches!(
            e,
            EngineEvent::Admitted {
                recompute: true,
                ..
            }
        )
    });
    assert_eq!(recomputed, preempted);
    for e in &events {
        if let EngineEvent::Step { kv_used_blocks, .. } = e {
            assert!(*kv_used_blocks <= 8);
        }
    }
    // Every client still gets all its tokens exactly once.
    for client in clients {
        let f = client.await.unwrap();
        assert_eq!(f.iter().filter(|c| content(c).is_some()).count(), 49);
        assert_eq!(f[f.len() - 2]["usage"]["completion_tokens"], 48);
        assert_eq!(f[f.len() - 1], "[DONE]");
    }
    let m = metrics(&server).await;
    assert_eq!(sample(&m, "vllm:num_preemptions_total{"), preempted as f64);
}

#[tokio::test]
async fn injected_http_errors() {
    let server = start(
        Framework::Vllm,
        SimProfile {
            error_rate: 1.0,
            ..fast()
        },
    )
    .await;
    let resp = post(&server, &body(4, true, true)).await;
    assert_eq!(resp.status(), 500);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], 500);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("error_rate"));
}

#[tokio::test]
async fn injected_disconnects_end_the_stream_without_done() {
    let server = start(
        Framework::Vllm,
        SimProfile {
            disconnect_rate: 1.0,
            ..fast()
        },
    )
    .await;
    let mut rx = server.subscribe();
    let resp = post(&server, &body(16, true, true)).await;
    assert_eq!(resp.status(), 200);
    let read = resp.text().await;
    assert!(read.is_err(), "the connection should break: {read:?}");
    // The sequence leaves the engine: aborted once noticed, or finished if the engine got
    // there first (tokens run ahead of a stream that is being cut).
    events_until(&mut rx, |e| {
        e.iter().any(|x| {
            matches!(
                x,
                EngineEvent::Aborted { .. } | EngineEvent::Finished { .. }
            )
        })
    })
    .await;
}

#[tokio::test]
async fn injected_stalls_pause_the_stream_once() {
    let server = start(
        Framework::Vllm,
        SimProfile {
            stall_rate: 1.0,
            stall_ms: 60,
            ..fast()
        },
    )
    .await;
    let started = Instant::now();
    let f = stream(&server, &body(3, true, true)).await;
    // A lower bound only: the stall sleeps at least stall_ms.
    assert!(started.elapsed() >= Duration::from_millis(60));
    assert_eq!(f.len(), 6);
    assert_eq!(f[5], "[DONE]");
}

#[tokio::test]
async fn injected_midstream_errors_send_an_error_frame_then_done() {
    for framework in Framework::ALL {
        let server = start(
            framework,
            SimProfile {
                midstream_error_rate: 1.0,
                ..fast()
            },
        )
        .await;
        let f = stream(&server, &body(16, true, true)).await;
        let n = f.len();
        assert!(f[n - 2]["error"]["message"].is_string(), "{f:#?}");
        assert_eq!(f[n - 1], "[DONE]");
        assert!(
            f.iter().all(|c| c["choices"] != json!([])),
            "no usage chunk"
        );
    }
}

#[tokio::test]
async fn shutdown_ends_open_streams_and_frees_the_port() {
    let server = start(Framework::Vllm, fast()).await;
    let addr = server.addr();
    let mut rx = server.subscribe();
    let resp = post(&server, &body(20000, true, true)).await;
    events_until(&mut rx, |e| {
        e.iter()
            .any(|x| matches!(x, EngineEvent::FirstToken { .. }))
    })
    .await;
    server.shutdown().await;
    // The stream ends (no [DONE]) instead of hanging.
    let text = resp.text().await.unwrap_or_default();
    assert!(!text.contains("[DONE]"));
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn invalid_profiles_are_refused() {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let err = SimServer::start(
        Framework::Vllm,
        SimProfile {
            max_num_seqs: 0,
            ..SimProfile::default()
        },
        MODEL,
        addr,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("max_num_seqs"));
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let server = start(Framework::Vllm, fast()).await;
    let addr = server.addr();
    assert!(tokio::net::TcpStream::connect(addr).await.is_ok());
    drop(server);
    // Aborted tasks release the listener the next time the runtime polls them.
    let mut closed = false;
    for _ in 0..1000 {
        tokio::task::yield_now().await;
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            closed = true;
            break;
        }
    }
    assert!(closed, "listener still open after drop");
}

#[tokio::test]
async fn simulate_command_serves_until_shutdown() {
    let result =
        llm_inf_bench::cli::simulate::simulate(Framework::Sglang, fast(), "sim-model", 0, async {})
            .await;
    assert!(result.is_ok(), "{result:?}");
}
