//! Turning engine tokens into a response: an SSE stream (with injected faults) or one
//! `chat.completion` body.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::engine::{GeneratedToken, SeqRequest};
use super::http::{error_response, AppState};
use super::plan::{Faults, RequestPlan};
use super::wire::{stream_error, Usage, Wire};
use crate::config::Framework;

/// One accepted request on its way through the engine.
pub struct Job {
    pub submit: SeqRequest,
    pub tokens: mpsc::UnboundedReceiver<GeneratedToken>,
    pub plan: RequestPlan,
    pub wire: Wire,
    pub include_usage: bool,
    pub continuous_usage: bool,
}

type Frame = Result<Bytes, io::Error>;

/// Frames buffered between the generating task and the socket.
const FRAME_BUFFER: usize = 64;

/// Hand the request to the engine after the fixed front-end delay. False when shutting down.
async fn submit(app: &AppState, req: SeqRequest) -> bool {
    // The profile is range-checked; `try_` keeps a bad value from panicking regardless.
    let delay = Duration::try_from_secs_f64(app.profile.base_ttft_ms / 1000.0).unwrap_or_default();
    if !delay.is_zero() {
        tokio::select! {
            _ = app.cancel.cancelled() => return false,
            _ = tokio::time::sleep(delay) => {}
        }
    }
    app.engine.send(req).is_ok()
}

/// Text of token `index`. A natural stop ends with the EOS token, which decodes to "" (it
/// still counts in `completion_tokens`, as on vLLM).
fn piece(plan: &mut RequestPlan, index: usize) -> String {
    if !plan.hit_max_tokens && index + 1 == plan.output_tokens {
        String::new()
    } else {
        plan.text.next_piece()
    }
}

/// Start streaming: the response returns at once, a task writes the frames.
pub fn stream(app: Arc<AppState>, job: Job) -> Response {
    let (tx, rx) = mpsc::channel::<Frame>(FRAME_BUFFER);
    let frames = FrameWriter {
        out: tx,
        cancel: app.cancel.clone(),
    };
    let failure = app.failure.clone();
    tokio::spawn(async move {
        failure
            .guard("the simulator's stream task", run_stream(app, job, frames))
            .await
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|frame| (frame, rx))
    });
    (
        [(header::CONTENT_TYPE, "text/event-stream; charset=utf-8")],
        Body::from_stream(body),
    )
        .into_response()
}

struct FrameWriter {
    out: mpsc::Sender<Frame>,
    cancel: CancellationToken,
}

impl FrameWriter {
    /// False when the client is gone or the server is stopping.
    async fn send(&self, frame: Frame) -> bool {
        tokio::select! {
            sent = self.out.send(frame) => sent.is_ok(),
            _ = self.cancel.cancelled() => false,
        }
    }

    async fn data(&self, value: &Value) -> bool {
        self.send(Ok(Bytes::from(format!("data: {value}\n\n"))))
            .await
    }

    async fn done(&self) -> bool {
        self.send(Ok(Bytes::from_static(b"data: [DONE]\n\n"))).await
    }

    /// Make the body fail: hyper drops the connection without finishing the response.
    async fn cut(&self) {
        let err = io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "simulated disconnect (fault injection: disconnect_rate)",
        );
        self.send(Err(err)).await;
    }

    async fn pause(&self, duration: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(duration) => true,
            _ = self.out.closed() => false,
            _ = self.cancel.cancelled() => false,
        }
    }
}

async fn run_stream(app: Arc<AppState>, mut job: Job, w: FrameWriter) {
    let fw = job.wire.framework;
    let prompt_tokens = job.submit.prompt_len;
    let n = job.plan.output_tokens;
    let usage = |k: usize| Usage {
        prompt_tokens,
        completion_tokens: k,
    };
    let continuous = job.continuous_usage;
    let per_chunk_usage = |k: usize| continuous.then(|| usage(k));
    if !w.data(&job.wire.role_chunk(per_chunk_usage(0))).await {
        return;
    }
    if !submit(&app, job.submit).await {
        return;
    }
    let faults = job.plan.faults;
    let finish = job.plan.finish_reason();
    for k in 0..n {
        if !before_token(&w, &faults, k, fw, app.profile.stall_ms).await {
            return;
        }
        let token = tokio::select! {
            t = job.tokens.recv() => t,
            _ = w.out.closed() => return,
            _ = w.cancel.cancelled() => return,
        };
        if token.is_none() {
            // The engine stopped (shutdown): end without `[DONE]`, like a dying server.
            return;
        }
        let text = piece(&mut job.plan, k);
        let last = k + 1 == n;
        let chunk = match fw {
            Framework::Vllm => {
                job.wire
                    .content_chunk(&text, last.then_some(finish), per_chunk_usage(k + 1))
            }
            // SGLang streams only non-empty text; the finish comes in its own chunk.
            Framework::Sglang if text.is_empty() => continue,
            Framework::Sglang => job.wire.content_chunk(&text, None, None),
        };
        if !w.data(&chunk).await {
            return;
        }
    }
    if let Some(chunk) = job.wire.finish_chunk(finish) {
        if !w.data(&chunk).await {
            return;
        }
    }
    if job.include_usage && !w.data(&job.wire.usage_chunk(usage(n))).await {
        return;
    }
    w.done().await;
}

/// The faults planned before token `k`: a stall (then the stream goes on), a cut connection
/// or a mid-stream error. False when the stream has ended.
async fn before_token(
    w: &FrameWriter,
    faults: &Faults,
    k: usize,
    fw: Framework,
    stall_ms: u64,
) -> bool {
    if faults.stall_after == Some(k) && !w.pause(Duration::from_millis(stall_ms)).await {
        return false;
    }
    if faults.disconnect_after == Some(k) {
        w.cut().await;
        return false;
    }
    if faults.error_after == Some(k) {
        let (kind, code) = match fw {
            Framework::Vllm => ("InternalServerError", 500),
            Framework::Sglang => ("BadRequestError", 400),
        };
        let msg = "Simulated engine error (fault injection: midstream_error_rate).";
        if w.data(&stream_error(fw, msg, kind, code)).await {
            w.done().await;
        }
        return false;
    }
    true
}

/// Non-streaming: wait for every token, answer one JSON body.
pub async fn complete(app: Arc<AppState>, mut job: Job) -> Response {
    let fw = job.wire.framework;
    let usage = Usage {
        prompt_tokens: job.submit.prompt_len,
        completion_tokens: job.plan.output_tokens,
    };
    let stopped = || {
        error_response(
            fw,
            StatusCode::SERVICE_UNAVAILABLE,
            "The simulated server is shutting down.",
            "ServiceUnavailableError",
            None,
        )
    };
    if !submit(&app, job.submit).await {
        return stopped();
    }
    let mut text = String::new();
    for k in 0..job.plan.output_tokens {
        let token = tokio::select! {
            t = job.tokens.recv() => t,
            _ = app.cancel.cancelled() => None,
        };
        if token.is_none() {
            return stopped();
        }
        text.push_str(&piece(&mut job.plan, k));
    }
    let finish = job.plan.finish_reason();
    Json(job.wire.completion(&text, finish, usage)).into_response()
}
