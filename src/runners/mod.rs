//! Runners talk to an inference server: health check and streaming chat completions with
//! per-token timing. One OpenAI-compatible implementation (`openai.rs`); vLLM and SGLang differ
//! only in health-check cadence and a few request extras, so they are thin configurations of it.

mod chunk;
mod client;
pub mod endpoint;
mod error_body;
#[doc(hidden)]
pub mod fuzzing;
pub mod health;
pub mod openai;
pub mod options;
pub mod scrape;
pub mod sglang;
mod stream;
pub mod vllm;

#[cfg(test)]
#[path = "../../tests/support/fixtures.rs"]
pub(crate) mod test_fixtures;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::config::{Framework, GenerationParams};
use crate::metrics::request::{RequestError, StreamTimings, TokenCountSource};

/// One chat message (`{"role": "...", "content": "..."}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// What one request sends: chat messages, or a `/v1/completions` prompt as text or token ids.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    Chat(Vec<ChatMessage>),
    Text(String),
    Tokens(Vec<u32>),
}

/// What the runner measured for one request. Errors are data: a failed request still carries
/// the timing gathered up to the failure.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatOutcome {
    /// Wall-clock send time (for `started_at`); timings are monotonic offsets from the send.
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: chrono::DateTime<chrono::Utc>,
    pub timings: StreamTimings,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub token_count_source: Option<TokenCountSource>,
    pub error: Option<RequestError>,
    /// The assistant's reply text; only kept when asked for (multi-turn history).
    pub reply: Option<String>,
}

/// Why the server never became ready.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error(
        "server at {url} did not become healthy within {waited_s:.0} s (last attempt: {last})"
    )]
    HealthTimeout {
        url: String,
        waited_s: f64,
        last: String,
    },
    #[error("health check cancelled")]
    Cancelled,
    /// `--server-url`: nothing listening there.
    #[error(
        "nothing is listening at {url}: connection refused for {waited_s:.0} s. Start the server          first, or check the host and port of --server-url (--health-timeout covers a server          that is up but still loading)"
    )]
    Unreachable { url: String, waited_s: f64 },
    /// `--server-url`: the health endpoint does not exist there.
    #[error("{url} answered HTTP 404 Not Found: {advice}")]
    HealthNotFound { url: String, advice: String },
    #[error(
        "model `{model}` is not served at {url}; it serves: {}. Set the experiment's model name \
         to one of these (vLLM: --served-model-name; SGLang: the --model-path unless renamed){}",
        served.join(", "),
        if *any_name {
            ". SGLang answers requests for any model name, so the run would measure that model \
             while recording it as this one"
        } else {
            ""
        }
    )]
    ModelNotServed {
        model: String,
        url: String,
        served: Vec<String>,
        /// The server answers any model name (SGLang): nothing else would catch the mistake.
        any_name: bool,
    },
    #[error("could not list the served models at {url}: {reason}")]
    ModelList { url: String, reason: String },
    #[error("invalid server URL {url}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("could not build the HTTP client: {0}")]
    Client(String),
}

/// Progress of a health check, for the loading-phase display.
#[derive(Debug, Clone)]
pub struct HealthProgress {
    pub elapsed: Duration,
    pub last_status: String,
}

#[async_trait]
pub trait Runner: Send + Sync {
    fn framework(&self) -> Framework;
    fn base_url(&self) -> &str;
    fn model(&self) -> &str;

    /// Poll the framework's health endpoint until it answers 200 or `timeout` passes.
    /// `on_wait` is called after each failed attempt (never between a chunk and its stamp).
    async fn wait_healthy(
        &self,
        timeout: Duration,
        cancel: &CancellationToken,
        on_wait: &(dyn Fn(HealthProgress) + Send + Sync),
    ) -> Result<(), RunnerError>;

    /// `wait_healthy` for a server the user says is already running (`--server-url`): ends
    /// at once on mistakes no wait fixes (connection refused for `health::REFUSED_LIMIT`, a
    /// 404 on the health endpoint) instead of waiting out `timeout`.
    async fn wait_healthy_external(
        &self,
        timeout: Duration,
        cancel: &CancellationToken,
        on_wait: &(dyn Fn(HealthProgress) + Send + Sync),
    ) -> Result<(), RunnerError> {
        self.wait_healthy(timeout, cancel, on_wait).await
    }

    /// Check, before any measured request, that the server lists `model()` at `/v1/models`,
    /// so a wrong model name is one clear error instead of N failed requests.
    async fn check_model(&self) -> Result<(), RunnerError>;

    /// Headers every request to this server needs (API key, `workload.headers`): the metrics
    /// scraper sends them too (SGLang's `--api-key` guards `/metrics`).
    fn request_headers(&self) -> reqwest::header::HeaderMap {
        reqwest::header::HeaderMap::new()
    }

    /// Stream one chat completion and time every chunk. Never returns an error: failures are
    /// recorded in the outcome. `keep_reply` asks for the reply text (multi-turn history).
    async fn chat(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
        keep_reply: bool,
        cancel: &CancellationToken,
    ) -> ChatOutcome;

    /// Stream one request of any prompt kind. `exact_output` asks for exactly `max_tokens`
    /// tokens (`ignore_eos` and `min_tokens`). Runners without completions support only chat.
    async fn send(
        &self,
        prompt: &Prompt,
        params: &GenerationParams,
        exact_output: bool,
        cancel: &CancellationToken,
    ) -> ChatOutcome {
        let _ = exact_output;
        match prompt {
            Prompt::Chat(messages) => self.chat(messages, params, false, cancel).await,
            Prompt::Text(_) | Prompt::Tokens(_) => {
                let now = chrono::Utc::now();
                ChatOutcome {
                    started_at: now,
                    finished_at: now,
                    timings: StreamTimings::default(),
                    prompt_tokens: None,
                    completion_tokens: None,
                    token_count_source: None,
                    error: Some(crate::metrics::request::RequestError {
                        kind: crate::metrics::request::ErrorKind::Http,
                        message: "this runner cannot send /v1/completions requests".into(),
                    }),
                    reply: None,
                }
            }
        }
    }
}

/// Timeouts of SPEC §5.
#[derive(Debug, Clone, Copy)]
pub struct RunnerTimeouts {
    pub connect: Duration,
    /// Longest silence allowed while a response is streaming.
    pub idle_read: Duration,
    /// Interval between health probes.
    pub health_interval: Duration,
    /// Longest wait for one health probe (or the model list) to answer.
    pub probe: Duration,
}

impl RunnerTimeouts {
    pub fn for_framework(framework: Framework) -> Self {
        Self {
            connect: Duration::from_secs(10),
            idle_read: Duration::from_secs(120),
            health_interval: match framework {
                Framework::Vllm => Duration::from_secs(5),
                Framework::Sglang => Duration::from_secs(10),
            },
            probe: Duration::from_secs(5),
        }
    }
}

/// Factory: the runner for `framework` at `base_url` serving `model`.
/// `max_connections` sizes the HTTP connection pool (the workload's concurrency).
pub fn create_runner(
    framework: Framework,
    base_url: &str,
    model: &str,
    timeouts: RunnerTimeouts,
    max_connections: usize,
) -> Result<std::sync::Arc<dyn Runner>, RunnerError> {
    create_runner_with(
        framework,
        base_url,
        model,
        timeouts,
        max_connections,
        options::RunnerOptions::default(),
    )
}

/// [`create_runner`] sending `options` (API key, headers, sampling options, request timeout).
pub fn create_runner_with(
    framework: Framework,
    base_url: &str,
    model: &str,
    timeouts: RunnerTimeouts,
    max_connections: usize,
    options: options::RunnerOptions,
) -> Result<std::sync::Arc<dyn Runner>, RunnerError> {
    let flavor = match framework {
        Framework::Vllm => vllm::flavor(),
        Framework::Sglang => sglang::flavor(),
    };
    let runner = openai::OpenAiRunner::new(flavor, base_url, model, timeouts, max_connections)?;
    Ok(std::sync::Arc::new(runner.with_options(options)?))
}
