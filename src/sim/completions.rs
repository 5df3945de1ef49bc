//! `/v1/completions`: a prompt as text or token ids; the stream carries `choices[].text`.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::http::{error_response, launch, AppState};
use super::request::{self, Limits, StreamOptions};
use super::{hf, tokenizer};

#[derive(Debug, Deserialize)]
pub struct CompletionRequest {
    pub model: String,
    pub prompt: PromptField,
    #[serde(default)]
    pub max_tokens: Option<i64>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub ignore_eos: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum PromptField {
    Text(String),
    Tokens(Vec<u64>),
}

pub async fn completions(State(app): State<Arc<AppState>>, body: Bytes) -> Response {
    let arrival = Instant::now();
    let fw = app.framework;
    let bad = |msg: &str| error_response(fw, StatusCode::BAD_REQUEST, msg, "BadRequestError", None);
    let req: CompletionRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad(&format!("Invalid request body: {e}")),
    };
    let ids = match (&req.prompt, app.tokenizer.as_ref()) {
        (PromptField::Tokens(ids), _) => ids.clone(),
        (PromptField::Text(text), Some(tok)) => match hf::text_ids(tok, text) {
            Ok(ids) => ids,
            Err(msg) => return bad(&msg),
        },
        (PromptField::Text(text), None) => {
            let mut ids = Vec::new();
            tokenizer::tokenize(text, &mut ids);
            ids
        }
    };
    if ids.is_empty() {
        return bad("The prompt cannot be empty.");
    }
    let limits = Limits {
        max_tokens: req.max_tokens,
        ignore_eos: req.ignore_eos,
        stream: req.stream,
        stream_options: req.stream_options.as_ref(),
    };
    let prepared = match request::check_lengths(ids, limits, &app.profile) {
        Ok(p) => p,
        Err(msg) => return bad(&msg),
    };
    launch(app, arrival, &req.model, prepared, true).await
}
