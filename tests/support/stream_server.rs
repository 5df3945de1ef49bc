//! A scripted OpenAI-compatible server for tests: streams a known token schedule with real
//! gaps (absolute deadlines, so gaps do not drift), misbehaves on request, answers `/health`
//! and `/v1/models` as scripted, and records every chat request body it receives.
//!
//! ```ignore
//! let (base, server) = StreamServer::start(Script::streaming(Schedule::new(ttft, itl, 32))).await;
//! // ... run requests against `base` ...
//! assert_eq!(server.requests()[0]["stream"], true);
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::time::Instant;

/// When each token is sent, relative to the moment the request arrived.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub ttft: Duration,
    pub itl: Duration,
    pub tokens: usize,
    /// The first `reasoning_tokens` tokens come as `delta.reasoning_content`.
    pub reasoning_tokens: usize,
    /// Send a usage chunk (`choices: []`) after the finish chunk.
    pub usage: bool,
    pub prompt_tokens: u64,
}

impl Schedule {
    pub fn new(ttft: Duration, itl: Duration, tokens: usize) -> Self {
        Self {
            ttft,
            itl,
            tokens,
            reasoning_tokens: 0,
            usage: true,
            prompt_tokens: 10,
        }
    }

    /// Tokens sent immediately.
    pub fn instant(tokens: usize) -> Self {
        Self::new(Duration::ZERO, Duration::ZERO, tokens)
    }
}

/// How a stream ends after its tokens.
#[derive(Debug, Clone)]
pub enum Ending {
    /// Finish chunk, usage chunk (if scheduled), `[DONE]`.
    Done,
    /// `data: {"error": {...}}` then `[DONE]` (what vLLM/SGLang do).
    ErrorThenDone(String),
    /// A data line that is not JSON, then `[DONE]`.
    MalformedThenDone,
    /// A clean close without `[DONE]`.
    Close,
    /// The connection is cut mid-body (a transport error for the client).
    Abort,
    /// Nothing more, ever (the connection stays open).
    Stall,
}

/// What `/v1/chat/completions` answers.
#[derive(Debug, Clone)]
pub enum Reply {
    Stream {
        schedule: Schedule,
        ending: Ending,
    },
    /// A non-2xx status with this body.
    Status {
        code: u16,
        body: String,
    },
    /// A 200 that is not an event stream.
    NonSse {
        content_type: String,
        body: String,
    },
    /// Accept the request and never send response headers.
    Hang,
}

/// What `/health` answers.
#[derive(Debug, Clone)]
pub enum Health {
    Ok,
    /// `status` for the first `n` probes, 200 after.
    FailFirst {
        n: usize,
        status: u16,
    },
    /// Never answers.
    Stall,
}

#[derive(Debug, Clone)]
pub struct Script {
    pub chat: Reply,
    /// A request whose last message contains the marker gets that reply instead of `chat`.
    pub overrides: Vec<(String, Reply)>,
    pub health: Health,
    /// Ids listed by `/v1/models`.
    pub models: Vec<String>,
}

impl Script {
    pub fn streaming(schedule: Schedule) -> Self {
        Self {
            chat: Reply::Stream {
                schedule,
                ending: Ending::Done,
            },
            overrides: Vec::new(),
            health: Health::Ok,
            models: vec!["test-model".to_string()],
        }
    }

    pub fn with_override(mut self, marker: &str, reply: Reply) -> Self {
        self.overrides.push((marker.to_string(), reply));
        self
    }

    pub fn with_health(mut self, health: Health) -> Self {
        self.health = health;
        self
    }
}

struct Shared {
    script: Script,
    requests: Mutex<Vec<Value>>,
    received: tokio::sync::watch::Sender<usize>,
    health_probes: AtomicUsize,
}

/// The running server; dropping it stops it.
pub struct ServerHandle {
    pub base_url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl ServerHandle {
    /// The JSON bodies of the chat requests received so far, in arrival order.
    pub fn requests(&self) -> Vec<Value> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Wait until at least `n` chat requests have arrived.
    pub async fn wait_for_requests(&self, n: usize) {
        let mut rx = self.shared.received.subscribe();
        rx.wait_for(|&got| got >= n).await.unwrap();
    }

    pub fn health_probes(&self) -> usize {
        self.shared.health_probes.load(Ordering::SeqCst)
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub struct StreamServer;

impl StreamServer {
    /// Serve `script` on `127.0.0.1:0`; returns the base URL (no trailing slash) and the handle.
    pub async fn start(script: Script) -> (String, ServerHandle) {
        let shared = Arc::new(Shared {
            script,
            requests: Mutex::new(Vec::new()),
            received: tokio::sync::watch::Sender::new(0),
            health_probes: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/health", get(health))
            .route("/v1/models", get(models))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        // Like a real server: no Nagle delay on the small SSE frames.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let handle = ServerHandle {
            base_url: base_url.clone(),
            shared,
            task,
        };
        (base_url, handle)
    }
}

/// A base URL where nothing listens (connection refused).
pub async fn closed_port_url() -> String {
    super::closed_port_url()
}

async fn chat(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let arrived = Instant::now();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let last_message = json["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_string();
    shared.requests.lock().unwrap().push(json);
    shared.received.send_modify(|n| *n += 1);

    let reply = shared
        .script
        .overrides
        .iter()
        .find(|(marker, _)| last_message.contains(marker.as_str()))
        .map(|(_, r)| r.clone())
        .unwrap_or_else(|| shared.script.chat.clone());
    match reply {
        Reply::Stream { schedule, ending } => {
            let body = Body::from_stream(schedule_stream(arrived, schedule, ending));
            Response::builder()
                .header(header::CONTENT_TYPE, "text/event-stream")
                .body(body)
                .unwrap()
        }
        Reply::Status { code, body } => Response::builder()
            .status(StatusCode::from_u16(code).unwrap())
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap(),
        Reply::NonSse { content_type, body } => Response::builder()
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap(),
        Reply::Hang => std::future::pending().await,
    }
}

enum Frame {
    Data(String),
    Abort,
    Stall,
}

fn chunk(delta: Value, finish: Option<&str>) -> String {
    let c = json!({
        "id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 0, "model": "test-model",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
    });
    format!("data: {c}\n\n")
}

/// The frames of one response, each with the absolute moment it is due.
fn frames(arrived: Instant, s: &Schedule, ending: &Ending) -> Vec<(Instant, Frame)> {
    let mut out = vec![(
        arrived,
        Frame::Data(chunk(json!({"role": "assistant", "content": ""}), None)),
    )];
    let mut last = arrived + s.ttft;
    for k in 0..s.tokens {
        last = arrived + s.ttft + s.itl * k as u32;
        let delta = if k < s.reasoning_tokens {
            json!({"reasoning_content": format!("r{k} ")})
        } else {
            json!({"content": format!("t{k} ")})
        };
        out.push((last, Frame::Data(chunk(delta, None))));
    }
    let data = |s: String| (last, Frame::Data(s));
    match ending {
        Ending::Done => {
            out.push(data(chunk(json!({"content": ""}), Some("length"))));
            if s.usage {
                let usage = json!({"id": "chatcmpl-test", "object": "chat.completion.chunk",
                    "created": 0, "model": "test-model", "choices": [],
                    "usage": {"prompt_tokens": s.prompt_tokens, "completion_tokens": s.tokens,
                              "total_tokens": s.prompt_tokens + s.tokens as u64}});
                out.push(data(format!("data: {usage}\n\n")));
            }
            out.push(data("data: [DONE]\n\n".into()));
        }
        Ending::ErrorThenDone(message) => {
            let err = json!({"error": {"object": "error", "message": message,
                "type": "BadRequestError", "param": null, "code": 400}});
            out.push(data(format!("data: {err}\n\n")));
            out.push(data("data: [DONE]\n\n".into()));
        }
        Ending::MalformedThenDone => {
            out.push(data("data: {\"choices\": [{\"delta\": \n\n".into()));
            out.push(data("data: [DONE]\n\n".into()));
        }
        Ending::Close => {}
        Ending::Abort => out.push((last, Frame::Abort)),
        Ending::Stall => out.push((last, Frame::Stall)),
    }
    out
}

fn schedule_stream(
    arrived: Instant,
    schedule: Schedule,
    ending: Ending,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let frames = frames(arrived, &schedule, &ending);
    futures_util::stream::iter(frames).then(|(due, frame)| async move {
        tokio::time::sleep_until(due).await;
        match frame {
            Frame::Data(s) => Ok(Bytes::from(s)),
            Frame::Abort => Err(std::io::Error::other("scripted abort")),
            Frame::Stall => std::future::pending().await,
        }
    })
}

async fn health(State(shared): State<Arc<Shared>>) -> StatusCode {
    let probe = shared.health_probes.fetch_add(1, Ordering::SeqCst);
    match shared.script.health {
        Health::Ok => StatusCode::OK,
        Health::FailFirst { n, status } if probe < n => StatusCode::from_u16(status).unwrap(),
        Health::FailFirst { .. } => StatusCode::OK,
        Health::Stall => std::future::pending().await,
    }
}

async fn models(State(shared): State<Arc<Shared>>) -> axum::Json<Value> {
    let data: Vec<Value> = shared
        .script
        .models
        .iter()
        .map(|id| json!({"id": id, "object": "model", "owned_by": "test"}))
        .collect();
    axum::Json(json!({"object": "list", "data": data}))
}
