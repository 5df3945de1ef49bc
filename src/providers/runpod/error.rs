//! Typed RunPod API errors. Messages say what happened and what to do; none of them can
//! contain the API key (it only ever travels in a sensitive request header).

use serde::Deserialize;

/// An RFC 9457 problem (`application/problem+json`) as RunPod v2 sends it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Problem {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub detail: String,
    #[serde(default)]
    pub errors: Vec<String>,
}

impl Problem {
    /// Parse a problem body; anything else (HTML from a proxy, plain text) becomes `detail`.
    pub fn parse(status: u16, body: &str) -> Self {
        match serde_json::from_str::<Problem>(body) {
            Ok(p) if !p.title.is_empty() || !p.detail.is_empty() || !p.errors.is_empty() => p,
            _ => Problem {
                title: String::new(),
                status: Some(status),
                detail: truncate(body.trim(), 300),
                errors: Vec::new(),
            },
        }
    }

    /// `detail`, else `title`, else a placeholder.
    pub fn summary(&self) -> String {
        if !self.detail.is_empty() {
            self.detail.clone()
        } else if !self.title.is_empty() {
            self.title.clone()
        } else {
            "no details given".to_string()
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunpodError {
    #[error(
        "no RunPod API key configured: set RUNPOD_API_KEY or run \
         `llm-inf-bench config set runpod.api_key <key>`"
    )]
    MissingApiKey,
    /// Stopped before the call was sent (nothing was created).
    #[error("cancelled before the request was sent")]
    Cancelled,
    #[error(
        "RunPod rejected the API key (401: {detail}); create a key at \
         https://www.runpod.io/console/user/settings and set RUNPOD_API_KEY or run \
         `llm-inf-bench config set runpod.api_key <key>`"
    )]
    Unauthorized { detail: String },
    #[error("RunPod account has insufficient balance (402: {detail}); add credit and retry")]
    InsufficientBalance { detail: String },
    #[error(
        "RunPod could not place a pod with {gpu} ({cloud} cloud): {detail}. This usually means \
         no capacity right now: retry later, try the other cloud_type, or another gpu_type{}",
        alternatives_hint(.alternatives)
    )]
    NoCapacity {
        gpu: String,
        cloud: String,
        detail: String,
        alternatives: Vec<String>,
    },
    #[error("RunPod rejected the request (400: {detail})")]
    BadRequest { detail: String },
    #[error("RunPod denied access (403: {detail}); the API key may lack permission for this resource or GPU pool")]
    Forbidden { detail: String },
    #[error("not found on RunPod: {what}")]
    NotFound { what: String },
    #[error("RunPod refused the action in the pod's current state (409: {detail})")]
    Conflict { detail: String },
    #[error("RunPod rejected the request body (422: {detail}): {}", .errors.join("; "))]
    Validation { detail: String, errors: Vec<String> },
    #[error("RunPod rate limit still exceeded after {attempts} attempts; wait a minute and retry")]
    RateLimited { attempts: u32 },
    #[error("RunPod API server error {status} after {attempts} attempts: {detail}")]
    Server {
        status: u16,
        detail: String,
        attempts: u32,
    },
    #[error("unexpected RunPod API response {status}: {detail}")]
    Unexpected { status: u16, detail: String },
    #[error("cannot reach the RunPod API at {url} after {attempts} attempts: {message}")]
    Network {
        url: String,
        message: String,
        attempts: u32,
    },
    #[error("cannot read RunPod's answer to {what}: {message}")]
    Decode { what: String, message: String },
    #[error("invalid RunPod settings: {0}")]
    Settings(String),
}

fn alternatives_hint(alternatives: &[String]) -> String {
    if alternatives.is_empty() {
        String::new()
    } else {
        format!(" (e.g. {})", alternatives.join(", "))
    }
}

impl RunpodError {
    /// Map a non-success status and its problem to the typed error (no retry decision here).
    pub fn from_status(status: u16, problem: &Problem, what: &str) -> Self {
        let detail = problem.summary();
        match status {
            400 => RunpodError::BadRequest { detail },
            401 => RunpodError::Unauthorized { detail },
            402 => RunpodError::InsufficientBalance { detail },
            403 => RunpodError::Forbidden { detail },
            404 => RunpodError::NotFound {
                what: what.to_string(),
            },
            409 => RunpodError::Conflict { detail },
            422 => RunpodError::Validation {
                detail,
                errors: problem.errors.clone(),
            },
            _ => RunpodError::Unexpected { status, detail },
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, RunpodError::NotFound { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_json_and_plain_bodies() {
        let p = Problem::parse(
            422,
            r#"{"title":"Unprocessable Entity","status":422,"detail":"Request validation failed.","errors":["$.disk: must be >= 1"]}"#,
        );
        assert_eq!(p.errors, vec!["$.disk: must be >= 1"]);
        let e = RunpodError::from_status(422, &p, "create");
        let msg = e.to_string();
        assert!(
            msg.contains("Request validation failed.") && msg.contains("$.disk"),
            "{msg}"
        );

        let p = Problem::parse(502, "<html>bad gateway</html>");
        assert_eq!(p.summary(), "<html>bad gateway</html>");
        assert_eq!(Problem::parse(500, "").summary(), "no details given");
    }

    #[test]
    fn unauthorized_says_how_to_set_the_key() {
        let e = RunpodError::from_status(401, &Problem::parse(401, "{}"), "x");
        assert!(e.to_string().contains("RUNPOD_API_KEY"));
    }
}
