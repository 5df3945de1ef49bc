//! The axum router: health, models, metrics and chat completions in the framework's dialect.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::engine::{lock, SeqRequest};
use super::generate::{self, Job};
use super::plan::RequestPlan;
use super::profile::SimProfile;
use super::request;
use super::stats::Stats;
use super::wire::{error_body, Wire};
use super::{exposition, ANY_MODEL, DEFAULT_MODEL};
use crate::config::Framework;

/// Shared by all handlers.
pub struct AppState {
    pub framework: Framework,
    pub profile: SimProfile,
    /// The accepted model name, or `*` for any.
    pub served_model: String,
    pub next_seq: AtomicU64,
    pub engine: mpsc::UnboundedSender<SeqRequest>,
    pub stats: Arc<Mutex<Stats>>,
    pub cancel: CancellationToken,
    pub started_unix: u64,
    /// Where a panicking stream task reports itself (the run then stops with it).
    pub failure: crate::providers::ServerFailure,
    /// `model.tokenizer`: count prompts with it (else the built-in approximate tokenizer).
    pub tokenizer: Option<crate::tokens::TextTokenizer>,
}

impl AppState {
    /// The name `/v1/models` and `/metrics` report.
    fn listed_model(&self) -> &str {
        if self.served_model == ANY_MODEL {
            DEFAULT_MODEL
        } else {
            &self.served_model
        }
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    let mut router = Router::new()
        .route("/health", get(health))
        .route("/v1/models", get(models))
        .route("/metrics", get(metrics))
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(super::completions::completions));
    if state.framework == Framework::Sglang {
        router = router
            .route("/health_generate", get(health))
            .route("/get_model_info", get(model_info))
            .route("/model_info", get(model_info));
    }
    router.with_state(state)
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An error response in the framework's JSON error format.
pub fn error_response(
    framework: Framework,
    status: StatusCode,
    message: &str,
    kind: &str,
    param: Option<&str>,
) -> Response {
    let body = error_body(framework, message, kind, param, status.as_u16());
    (status, Json(body)).into_response()
}

async fn health() -> StatusCode {
    StatusCode::OK
}

async fn models(State(app): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let model = app.listed_model();
    let created = app.started_unix;
    let entry = match app.framework {
        Framework::Vllm => json!({
            "id": model,
            "object": "model",
            "created": created,
            "owned_by": "vllm",
            "root": model,
            "parent": null,
            "max_model_len": app.profile.max_model_len,
            "permission": [{
                "id": "modelperm-0000000000000000",
                "object": "model_permission",
                "created": created,
                "allow_create_engine": false,
                "allow_sampling": true,
                "allow_logprobs": true,
                "allow_search_indices": false,
                "allow_view": true,
                "allow_fine_tuning": false,
                "organization": "*",
                "group": null,
                "is_blocking": false,
            }],
        }),
        Framework::Sglang => json!({
            "id": model,
            "object": "model",
            "created": created,
            "owned_by": "sglang",
            "root": model,
            "max_model_len": app.profile.max_model_len,
        }),
    };
    Json(json!({"object": "list", "data": [entry]}))
}

async fn model_info(State(app): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let model = app.listed_model();
    Json(json!({"model_path": model, "tokenizer_path": model, "is_generation": true}))
}

async fn metrics(State(app): State<Arc<AppState>>) -> Response {
    let body = {
        let stats = lock(&app.stats);
        exposition::render(app.framework, &stats, app.listed_model(), Instant::now())
    };
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(exposition::CONTENT_TYPE),
        )],
        body,
    )
        .into_response()
}

async fn chat(State(app): State<Arc<AppState>>, body: Bytes) -> Response {
    let arrival = Instant::now();
    let fw = app.framework;
    let bad = |msg: &str| error_response(fw, StatusCode::BAD_REQUEST, msg, "BadRequestError", None);
    let req = match request::parse(&body) {
        Ok(r) => r,
        Err(msg) => return bad(&msg),
    };
    let prepared = match request::prepare_with(&req, &app.profile, app.tokenizer.as_ref()) {
        Ok(p) => p,
        Err(msg) => return bad(&msg),
    };
    launch(app, arrival, &req.model, prepared, false).await
}

/// Check the model, plan the request and answer it (chat, or completions with `text` chunks).
pub(super) async fn launch(
    app: Arc<AppState>,
    arrival: Instant,
    req_model: &str,
    prepared: request::Prepared,
    completions: bool,
) -> Response {
    let fw = app.framework;
    if app.served_model != ANY_MODEL && req_model != app.served_model {
        let msg = format!("The model `{req_model}` does not exist.");
        return error_response(
            fw,
            StatusCode::NOT_FOUND,
            &msg,
            "NotFoundError",
            Some("model"),
        );
    }
    let seq = app.next_seq.fetch_add(1, Ordering::Relaxed);
    let plan = RequestPlan::new(&app.profile, seq, prepared.max_tokens, prepared.ignore_eos);
    if plan.faults.http_error {
        return error_response(
            fw,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Simulated internal server error (fault injection: error_rate).",
            "InternalServerError",
            None,
        );
    }
    let model = if app.served_model == ANY_MODEL {
        req_model
    } else {
        app.served_model.as_str()
    };
    let mut wire = Wire::new(fw, &plan.id_hex, unix_now(), model);
    wire.completions = completions;
    let job = new_job(&app, arrival, seq, &prepared, plan, wire);
    let mut response = if prepared.stream {
        generate::stream(app.clone(), job)
    } else {
        generate::complete(app.clone(), job).await
    };
    if let Ok(v) = HeaderValue::from_str(&seq.to_string()) {
        response.headers_mut().insert("x-sim-request-seq", v);
    }
    response
}

/// The request as the engine and the stream see it.
fn new_job(
    app: &AppState,
    arrival: Instant,
    seq: u64,
    prepared: &request::Prepared,
    plan: RequestPlan,
    wire: Wire,
) -> Job {
    let (tokens_tx, tokens_rx) = mpsc::unbounded_channel();
    Job {
        submit: SeqRequest {
            seq,
            prompt_len: prepared.prompt_tokens.len(),
            block_hashes: super::tokenizer::block_hashes(
                &prepared.prompt_tokens,
                app.profile.block_size,
            ),
            output_tokens: plan.output_tokens,
            max_tokens: prepared.max_tokens,
            arrival,
            tokens: tokens_tx,
        },
        tokens: tokens_rx,
        plan,
        wire,
        include_usage: prepared.include_usage,
        continuous_usage: prepared.continuous_usage,
    }
}
