//! `--api-key` for the simulator, guarding what the real servers guard: vLLM checks every
//! `/v1` route; SGLang every route but `/health*` (so `/metrics` needs the key too). A missing
//! or wrong key gets their answer: HTTP 401 `{"error": "Unauthorized"}`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};

use crate::config::Framework;
use crate::redact::Secret;

struct Guard {
    framework: Framework,
    /// `Bearer <key>`, compared with the whole header.
    expected: String,
}

/// `router` answering only requests with the key (unchanged without one).
pub fn require_key(router: Router, framework: Framework, key: Option<Secret>) -> Router {
    let Some(key) = key else {
        return router;
    };
    let guard = Arc::new(Guard {
        framework,
        expected: format!("Bearer {}", key.expose()),
    });
    router.layer(axum::middleware::from_fn_with_state(guard, check))
}

fn guarded(framework: Framework, path: &str) -> bool {
    match framework {
        Framework::Vllm => path.starts_with("/v1"),
        Framework::Sglang => !path.starts_with("/health"),
    }
}

async fn check(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    if !guarded(guard.framework, request.uri().path()) {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if given.is_some_and(|g| constant_time_eq(g.as_bytes(), guard.expected.as_bytes())) {
        return next.run(request).await;
    }
    let body = serde_json::json!({"error": "Unauthorized"});
    (StatusCode::UNAUTHORIZED, Json(body)).into_response()
}

/// Equal bytes, in a time that does not depend on where they first differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_framework_guards_what_the_real_server_guards() {
        assert!(guarded(Framework::Vllm, "/v1/chat/completions"));
        assert!(guarded(Framework::Vllm, "/v1/models"));
        assert!(!guarded(Framework::Vllm, "/metrics"));
        assert!(!guarded(Framework::Vllm, "/health"));
        assert!(guarded(Framework::Sglang, "/metrics"));
        assert!(guarded(Framework::Sglang, "/model_info"));
        assert!(!guarded(Framework::Sglang, "/health_generate"));
        assert!(constant_time_eq(b"Bearer k", b"Bearer k"));
        assert!(!constant_time_eq(b"Bearer k", b"Bearer j"));
        assert!(!constant_time_eq(b"Bearer k", b"Bearer kk"));
    }
}
