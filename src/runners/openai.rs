//! OpenAI-compatible streaming chat completions with per-chunk timing.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::client::{
    build_client, describe_send_error, full_chain, is_refused, RedactError, Redactor,
};
use super::options::RunnerOptions;
use super::stream::{offset_us, read_stream, truncate, ReadOptions, StreamReading};
use super::{
    ChatMessage, ChatOutcome, HealthProgress, Prompt, Runner, RunnerError, RunnerTimeouts,
};
use crate::config::{Framework, GenerationParams};
use crate::metrics::request::{ErrorKind, RequestError, StreamTimings, TokenCountSource};
use crate::text::printable;

/// What differs between frameworks speaking the same API.
#[derive(Debug, Clone, Copy)]
pub struct Flavor {
    pub framework: Framework,
    pub health_path: &'static str,
    /// Ask for the running usage on every chunk (`stream_options.continuous_usage_stats`) to
    /// record how many tokens each chunk carried (servers that merge tokens into chunks).
    pub continuous_usage: bool,
}

/// Error bodies are read up to this many bytes; the message keeps their first 200 characters.
const ERROR_BODY_CAP: usize = 8 * 1024;

pub struct OpenAiRunner {
    flavor: Flavor,
    base_url: String,
    chat_url: reqwest::Url,
    completions_url: reqwest::Url,
    model: String,
    timeouts: RunnerTimeouts,
    client: reqwest::Client,
    /// Credentials in the URL never reach a message.
    redact: Redactor,
    /// API key, headers, sampling options, whole-request timeout (issue 19).
    options: RunnerOptions,
    max_connections: usize,
}

impl OpenAiRunner {
    pub fn new(
        flavor: Flavor,
        base_url: &str,
        model: &str,
        timeouts: RunnerTimeouts,
        max_connections: usize,
    ) -> Result<Self, RunnerError> {
        let base_url = base_url.trim_end_matches('/').to_string();
        let redact = Redactor::for_url(&base_url);
        let invalid = |reason: String| {
            redact.error(RunnerError::InvalidUrl {
                url: base_url.clone(),
                reason,
            })
        };
        let chat_url = super::endpoint::join(&base_url, "/v1/chat/completions").map_err(invalid)?;
        let completions_url =
            super::endpoint::join(&base_url, "/v1/completions").map_err(invalid)?;
        if !matches!(chat_url.scheme(), "http" | "https") {
            return Err(invalid("it must start with http:// or https://".into()));
        }
        Ok(Self {
            flavor,
            chat_url,
            completions_url,
            base_url,
            model: model.to_string(),
            client: build_client(&timeouts, max_connections, Default::default())?,
            timeouts,
            redact,
            options: RunnerOptions::default(),
            max_connections,
        })
    }

    /// The same runner sending `options` (its headers on every request, health and model
    /// checks included).
    pub fn with_options(mut self, options: RunnerOptions) -> Result<Self, RunnerError> {
        self.client = build_client(&self.timeouts, self.max_connections, options.header_map()?)?;
        self.options = options;
        Ok(self)
    }

    pub fn timeouts(&self) -> &RunnerTimeouts {
        &self.timeouts
    }

    /// `path` under the base URL (its query string kept). The base parsed in `new`.
    fn endpoint(&self, path: &str) -> String {
        super::endpoint::join(&self.base_url, path)
            .map(String::from)
            .unwrap_or_else(|_| format!("{}{path}", self.base_url))
    }

    async fn wait_healthy_with(
        &self,
        timeout: Duration,
        fail_fast: Option<&super::health::FailFast>,
        cancel: &CancellationToken,
        on_wait: &(dyn Fn(HealthProgress) + Send + Sync),
    ) -> Result<(), RunnerError> {
        let url = self.endpoint(self.flavor.health_path);
        let on_wait = |p: HealthProgress| {
            on_wait(HealthProgress {
                last_status: self.redact.text(&p.last_status),
                ..p
            })
        };
        super::health::wait_healthy(
            &self.client,
            &url,
            self.timeouts.health_interval,
            self.timeouts.probe,
            timeout,
            fail_fast,
            cancel,
            &on_wait,
        )
        .await
        .map_err(|e| self.redact.error(e))
    }

    fn request_body(&self, messages: &[ChatMessage], params: &GenerationParams) -> Vec<u8> {
        let body = ChatRequest {
            model: &self.model,
            messages,
            max_tokens: params.max_tokens,
            temperature: params.temperature,
            stream: true,
            stream_options: StreamOptions {
                include_usage: true,
                continuous_usage_stats: self.flavor.continuous_usage.then_some(true),
            },
            ignore_eos: params.ignore_eos.then_some(true),
            min_tokens: self.options.min_tokens,
            extra: &self.options.body,
        };
        // Serialising plain structs of strings and numbers cannot fail.
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// The body and URL for any prompt kind; `exact_output` pins the output length.
    fn any_request(
        &self,
        prompt: &Prompt,
        params: &GenerationParams,
        exact_output: bool,
    ) -> (reqwest::Url, Vec<u8>) {
        let ignore_eos = (params.ignore_eos || exact_output).then_some(true);
        let min_tokens = exact_output
            .then_some(params.max_tokens)
            .or(self.options.min_tokens);
        let extra = &self.options.body;
        let stream_options = StreamOptions {
            include_usage: true,
            continuous_usage_stats: self.flavor.continuous_usage.then_some(true),
        };
        let (url, body) = match prompt {
            Prompt::Chat(messages) => (
                &self.chat_url,
                serde_json::to_vec(&ChatRequest {
                    model: &self.model,
                    messages,
                    max_tokens: params.max_tokens,
                    temperature: params.temperature,
                    stream: true,
                    stream_options,
                    ignore_eos,
                    min_tokens,
                    extra,
                }),
            ),
            Prompt::Text(_) | Prompt::Tokens(_) => (
                &self.completions_url,
                serde_json::to_vec(&CompletionRequest {
                    model: &self.model,
                    prompt: match prompt {
                        Prompt::Tokens(ids) => CompletionPrompt::Tokens(ids),
                        Prompt::Text(text) => CompletionPrompt::Text(text),
                        Prompt::Chat(_) => CompletionPrompt::Text(""),
                    },
                    max_tokens: params.max_tokens,
                    temperature: params.temperature,
                    stream: true,
                    stream_options,
                    ignore_eos,
                    min_tokens,
                    extra,
                }),
            ),
        };
        // Serialising plain structs of strings and numbers cannot fail.
        (url.clone(), body.unwrap_or_default())
    }

    /// Send `body` to `url` and time the stream (shared by chat and completions).
    async fn stream(
        &self,
        url: reqwest::Url,
        body: Vec<u8>,
        max_tokens: u32,
        keep_reply: bool,
        cancel: &CancellationToken,
    ) -> ChatOutcome {
        let opts = ReadOptions {
            idle_read: self.timeouts.idle_read,
            keep_reply,
            capacity_hint: max_tokens.min(1 << 16) as usize,
            count_chunk_tokens: self.flavor.continuous_usage,
        };
        // Everything that is not sending happens before the clock starts.
        let request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        let started_at = chrono::Utc::now();
        let sent = Instant::now();
        let mut reading = match self.options.timeout {
            None => self.send_and_read(request, sent, opts, cancel).await,
            Some(limit) => self.read_within(limit, request, sent, opts, cancel).await,
        };
        if let Some(e) = reading.error.as_mut() {
            e.message = printable(&self.redact.text(&e.message)).into_owned();
        }
        outcome(started_at, reading)
    }

    /// `send_and_read` ended after `limit` (`workload.timeout_s`): a request still going then
    /// is stopped and recorded as a timeout, keeping the tokens it received.
    async fn read_within(
        &self,
        limit: Duration,
        request: reqwest::RequestBuilder,
        sent: Instant,
        opts: ReadOptions,
        cancel: &CancellationToken,
    ) -> StreamReading {
        let deadline = cancel.child_token();
        let reading = self.send_and_read(request, sent, opts, &deadline);
        futures_util::pin_mut!(reading);
        tokio::select! {
            biased;
            r = &mut reading => return r,
            _ = tokio::time::sleep_until((sent + limit).into()) => deadline.cancel(),
        }
        let mut r = reading.await;
        let stopped_by_deadline = !cancel.is_cancelled();
        if let Some(e) = r.error.as_mut().filter(|e| e.kind == ErrorKind::Cancelled) {
            if stopped_by_deadline {
                e.kind = ErrorKind::Timeout;
                e.message = format!(
                    "request took longer than workload.timeout_s ({} s)",
                    limit.as_secs_f64()
                );
            }
        }
        r
    }

    /// Turn a non-2xx response into `HTTP <code> <type>: <the server's message>`.
    async fn http_error(&self, resp: reqwest::Response, cancel: &CancellationToken) -> String {
        let code = resp.status();
        let status = code.as_u16();
        let body = read_capped(resp.bytes_stream(), self.timeouts.idle_read, cancel).await;
        let mut msg = super::error_body::describe(status, code.canonical_reason(), &body);
        msg.push_str(&self.auth_advice(status));
        if status == 404 {
            msg.push_str(&format!(
                " (is model `{}` served there? GET {}/v1/models lists the served names)",
                self.model, self.base_url
            ));
        }
        msg
    }

    async fn send_and_read(
        &self,
        request: reqwest::RequestBuilder,
        sent: Instant,
        opts: ReadOptions,
        cancel: &CancellationToken,
    ) -> StreamReading {
        let fail = |kind, message| StreamReading {
            end_us: offset_us(sent, Instant::now()),
            error: Some(RequestError { kind, message }),
            ..StreamReading::default()
        };
        let send = request.send();
        let resp = tokio::select! {
            biased;
            _ = cancel.cancelled() => return fail(ErrorKind::Cancelled, "cancelled".into()),
            r = tokio::time::timeout(self.timeouts.idle_read, send) => r,
        };
        let resp = match resp {
            Err(_) => {
                let msg = format!(
                    "no response for {} s",
                    self.timeouts.idle_read.as_secs_f64()
                );
                return fail(ErrorKind::Timeout, msg);
            }
            Ok(Err(e)) => return fail(classify_send_error(&e), self.send_error(&e)),
            Ok(Ok(resp)) => resp,
        };
        if !resp.status().is_success() {
            let msg = self.http_error(resp, cancel).await;
            return fail(ErrorKind::Http, msg);
        }
        let is_sse = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("text/event-stream"));
        if is_sse {
            return read_stream(resp.bytes_stream(), sent, opts, cancel, Instant::now).await;
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none")
            .to_string();
        self.read_unlabelled(resp, &content_type, sent, opts, cancel)
            .await
    }

    /// A 200 without `text/event-stream`: still SSE if it starts like SSE (some proxies drop
    /// the header), else a clear "not a stream" failure with the start of the body.
    async fn read_unlabelled(
        &self,
        resp: reqwest::Response,
        content_type: &str,
        sent: Instant,
        opts: ReadOptions,
        cancel: &CancellationToken,
    ) -> StreamReading {
        let mut bytes = resp.bytes_stream();
        let mut head: Vec<Bytes> = Vec::new();
        let mut seen = 0usize;
        // Look at the first non-blank bytes before deciding.
        let looks_sse = loop {
            let next = tokio::select! {
                biased;
                _ = cancel.cancelled() => None,
                r = tokio::time::timeout(opts.idle_read, bytes.next()) => r.ok().flatten(),
            };
            match next {
                Some(Ok(b)) => {
                    seen += b.len();
                    head.push(b);
                    let text: Vec<u8> = head.concat();
                    let start = String::from_utf8_lossy(&text);
                    let start = start.trim_start_matches(['\u{feff}', ' ', '\r', '\n', '\t']);
                    if start.len() >= 6 || seen > 64 {
                        break ["data:", ":", "event:", "id:", "retry:"]
                            .iter()
                            .any(|p| start.starts_with(p));
                    }
                }
                // End, error, timeout or cancel: let the SSE reader classify what we have.
                _ => break true,
            }
        };
        let replay = futures_util::stream::iter(head.into_iter().map(Ok::<_, reqwest::Error>));
        if looks_sse {
            return read_stream(replay.chain(bytes), sent, opts, cancel, Instant::now).await;
        }
        let body = read_capped(replay.chain(bytes), opts.idle_read, cancel).await;
        StreamReading {
            end_us: offset_us(sent, Instant::now()),
            error: Some(RequestError {
                kind: ErrorKind::Malformed,
                message: format!(
                    "expected an SSE stream (text/event-stream) but got a 200 with content-type \
                     {content_type}: {}",
                    truncate(body.trim(), 200)
                ),
            }),
            ..StreamReading::default()
        }
    }

    async fn check_model_unredacted(&self) -> Result<(), RunnerError> {
        let url = self.endpoint("/v1/models");
        let list_err = |reason: String| RunnerError::ModelList {
            url: url.clone(),
            reason,
        };
        let resp = self
            .client
            .get(&url)
            .timeout(self.timeouts.probe.max(Duration::from_secs(10)))
            .send()
            .await
            .map_err(|e| list_err(describe_send_error(&e)))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| list_err(describe_send_error(&e)))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            return Err(list_err(format!(
                "HTTP {}: {}{}",
                status.as_u16(),
                truncate(text.trim(), 200),
                self.auth_advice(status.as_u16())
            )));
        }
        let list: ModelList = serde_json::from_slice(&body)
            .map_err(|e| list_err(format!("unexpected response ({e})")))?;
        if list.data.iter().any(|m| m.id == self.model) {
            return Ok(());
        }
        let mut served: Vec<String> = list.data.into_iter().map(|m| m.id).collect();
        let mut any_name = false;
        if self.flavor.framework == Framework::Sglang {
            // SGLang answers a request for any model name with the one model it serves, so
            // this check is all that stops a run being labelled with a model it never ran.
            // The model's path (what `--model-path` loaded) names it as well as the served name.
            any_name = true;
            if let Some(path) = self.sglang_model_path().await {
                if same_model_path(&path, &self.model) {
                    return Ok(());
                }
                if !served.contains(&path) {
                    served.push(path);
                }
            }
        }
        Err(RunnerError::ModelNotServed {
            model: self.model.clone(),
            url,
            served: served.iter().map(|m| printable(m).into_owned()).collect(),
            any_name,
        })
    }

    /// The `model_path` of SGLang's `/model_info` (`/get_model_info` before 0.5), if it answers.
    async fn sglang_model_path(&self) -> Option<String> {
        for path in ["/model_info", "/get_model_info"] {
            let resp = self
                .client
                .get(format!("{}{path}", self.base_url))
                .timeout(self.timeouts.probe.max(Duration::from_secs(10)))
                .send()
                .await
                .ok()?;
            if !resp.status().is_success() {
                continue;
            }
            let info: ModelInfo = resp.json().await.ok()?;
            return info.model_path;
        }
        None
    }

    /// What to do about a 401/403: the server wants a key, or another one.
    fn auth_advice(&self, status: u16) -> String {
        if !matches!(status, 401 | 403) {
            return String::new();
        }
        match self.options.api_key {
            None => " (the server wants an API key: give `--api-key`, or set \
                     LLM_INF_BENCH_SERVER_API_KEY, OPENAI_API_KEY or `server.api_key` in the \
                     app config)"
                .into(),
            Some(_) => " (the server refused the API key that was sent)".into(),
        }
    }

    fn send_error(&self, e: &reqwest::Error) -> String {
        if crate::sys::is_out_of_fds(e) {
            let limit = crate::sys::nofile_limit()
                .map(|n| format!(" (limit {n})"))
                .unwrap_or_default();
            format!(
                "out of file descriptors{limit}: raise `ulimit -n` (the hard limit) or lower \
                 the concurrency"
            )
        } else if is_refused(e) {
            format!("connection refused ({})", self.chat_url)
        } else if e.is_connect() && e.is_timeout() {
            format!(
                "connect timeout after {} s ({})",
                self.timeouts.connect.as_secs_f64(),
                self.chat_url
            )
        } else {
            full_chain(e)
        }
    }
}

fn classify_send_error(e: &reqwest::Error) -> ErrorKind {
    if e.is_connect() || is_refused(e) {
        ErrorKind::Connect
    } else if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Transport
    }
}

/// Up to `ERROR_BODY_CAP` bytes of a body as text, stopping early on silence or cancellation.
async fn read_capped<S, E>(bytes: S, idle: Duration, cancel: &CancellationToken) -> String
where
    S: Stream<Item = Result<Bytes, E>>,
{
    futures_util::pin_mut!(bytes);
    let mut buf = Vec::new();
    while buf.len() < ERROR_BODY_CAP {
        let next = tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            r = tokio::time::timeout(idle, bytes.next()) => r,
        };
        match next {
            Ok(Some(Ok(b))) => buf.extend_from_slice(&b),
            _ => break,
        }
    }
    buf.truncate(ERROR_BODY_CAP);
    String::from_utf8_lossy(&buf).into_owned()
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
    max_tokens: u32,
    temperature: f64,
    stream: bool,
    stream_options: StreamOptions,
    #[serde(skip_serializing_if = "Option::is_none")]
    ignore_eos: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_tokens: Option<u32>,
    /// Sampling options and `extra_body`, none of them a field above (checked by the config).
    #[serde(flatten)]
    extra: &'a serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
struct CompletionRequest<'a> {
    model: &'a str,
    prompt: CompletionPrompt<'a>,
    max_tokens: u32,
    temperature: f64,
    stream: bool,
    stream_options: StreamOptions,
    #[serde(skip_serializing_if = "Option::is_none")]
    ignore_eos: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_tokens: Option<u32>,
    /// Sampling options and `extra_body`, none of them a field above (checked by the config).
    #[serde(flatten)]
    extra: &'a serde_json::Map<String, serde_json::Value>,
}

/// `prompt`: text, or token ids (sent as they are: the server counts exactly these).
#[derive(Serialize)]
#[serde(untagged)]
enum CompletionPrompt<'a> {
    Text(&'a str),
    Tokens(&'a [u32]),
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    continuous_usage_stats: Option<bool>,
}

#[derive(Deserialize)]
struct ModelList {
    data: Vec<ModelEntry>,
}

#[derive(Deserialize)]
struct ModelEntry {
    id: String,
}

#[derive(Deserialize)]
struct ModelInfo {
    #[serde(default)]
    model_path: Option<String>,
}

/// Whether the experiment's model name names the folder or hub id SGLang loaded (a trailing
/// slash aside).
fn same_model_path(loaded: &str, name: &str) -> bool {
    loaded.trim_end_matches('/') == name.trim_end_matches('/')
}

#[async_trait]
impl Runner for OpenAiRunner {
    fn framework(&self) -> Framework {
        self.flavor.framework
    }

    fn base_url(&self) -> &str {
        &self.base_url
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn request_headers(&self) -> reqwest::header::HeaderMap {
        self.options.header_map().unwrap_or_default()
    }

    async fn wait_healthy(
        &self,
        timeout: Duration,
        cancel: &CancellationToken,
        on_wait: &(dyn Fn(HealthProgress) + Send + Sync),
    ) -> Result<(), RunnerError> {
        self.wait_healthy_with(timeout, None, cancel, on_wait).await
    }

    async fn wait_healthy_external(
        &self,
        timeout: Duration,
        cancel: &CancellationToken,
        on_wait: &(dyn Fn(HealthProgress) + Send + Sync),
    ) -> Result<(), RunnerError> {
        let fail_fast = super::health::FailFast {
            refused_for: super::health::refused_limit(),
            base_url: self.base_url.clone(),
        };
        self.wait_healthy_with(timeout, Some(&fail_fast), cancel, on_wait)
            .await
    }

    async fn check_model(&self) -> Result<(), RunnerError> {
        self.check_model_unredacted()
            .await
            .map_err(|e| self.redact.error(e))
    }

    async fn chat(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
        keep_reply: bool,
        cancel: &CancellationToken,
    ) -> ChatOutcome {
        let body = self.request_body(messages, params);
        self.stream(
            self.chat_url.clone(),
            body,
            params.max_tokens,
            keep_reply,
            cancel,
        )
        .await
    }

    async fn send(
        &self,
        prompt: &Prompt,
        params: &GenerationParams,
        exact_output: bool,
        cancel: &CancellationToken,
    ) -> ChatOutcome {
        let (url, body) = self.any_request(prompt, params, exact_output);
        self.stream(url, body, params.max_tokens, false, cancel)
            .await
    }
}

/// Token counts: the server's usage when it sent one, else the number of text chunks.
fn outcome(started_at: chrono::DateTime<chrono::Utc>, mut r: StreamReading) -> ChatOutcome {
    // The offsets were sized for `max_tokens`; a reply that stopped early (end of sequence)
    // must not keep that reserve for the rest of the run. After the stream: off the clock.
    r.token_offsets_us.shrink_to_fit();
    let chunks = r.token_offsets_us.len() as u64;
    let (completion_tokens, source) = match r.usage.and_then(|u| u.completion_tokens) {
        Some(n) => (Some(n), Some(TokenCountSource::Usage)),
        None if chunks > 0 || r.error.is_none() => {
            (Some(chunks), Some(TokenCountSource::ChunkCount))
        }
        None => (None, None),
    };
    let finished_at =
        started_at + chrono::Duration::microseconds(i64::try_from(r.end_us).unwrap_or(i64::MAX));
    ChatOutcome {
        started_at,
        finished_at,
        timings: StreamTimings {
            token_offsets_us: r.token_offsets_us,
            chunk_tokens: r.chunk_tokens,
            end_us: r.end_us,
        },
        prompt_tokens: r.usage.and_then(|u| u.prompt_tokens),
        completion_tokens,
        token_count_source: source,
        error: r.error,
        reply: r.reply,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(offsets: &[u32], usage: Option<(u64, u64)>, error: bool) -> StreamReading {
        StreamReading {
            token_offsets_us: offsets.to_vec(),
            chunk_tokens: Vec::new(),
            end_us: 10_000,
            usage: usage.map(|(p, c)| super::super::chunk::Usage {
                prompt_tokens: Some(p),
                completion_tokens: Some(c),
            }),
            reply: None,
            error: error.then(|| RequestError {
                kind: ErrorKind::Incomplete,
                message: "x".into(),
            }),
        }
    }

    #[test]
    fn usage_wins_over_chunk_count() {
        let o = outcome(chrono::Utc::now(), reading(&[1, 2], Some((13, 3)), false));
        assert_eq!(o.completion_tokens, Some(3));
        assert_eq!(o.prompt_tokens, Some(13));
        assert_eq!(o.token_count_source, Some(TokenCountSource::Usage));
        assert_eq!(
            (o.finished_at - o.started_at).num_microseconds(),
            Some(10_000)
        );
    }

    #[test]
    fn chunk_count_is_the_fallback_and_failures_without_text_have_no_count() {
        let o = outcome(chrono::Utc::now(), reading(&[1, 2, 3], None, false));
        assert_eq!(o.completion_tokens, Some(3));
        assert_eq!(o.token_count_source, Some(TokenCountSource::ChunkCount));
        assert_eq!(o.prompt_tokens, None);
        let o = outcome(chrono::Utc::now(), reading(&[], None, true));
        assert_eq!(o.completion_tokens, None);
        assert_eq!(o.token_count_source, None);
    }

    #[test]
    fn request_body_has_usage_and_ignore_eos_only_when_asked() {
        let timeouts = RunnerTimeouts::for_framework(Framework::Vllm);
        let r =
            OpenAiRunner::new(super::super::vllm::flavor(), "http://x/", "m", timeouts, 4).unwrap();
        let msgs = [ChatMessage::new("user", "hi")];
        let mut params = GenerationParams {
            max_tokens: 7,
            temperature: 0.0,
            ignore_eos: false,
        };
        let v: serde_json::Value = serde_json::from_slice(&r.request_body(&msgs, &params)).unwrap();
        assert_eq!(v["stream"], true);
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!(v["max_tokens"], 7);
        assert_eq!(v["model"], "m");
        assert_eq!(v["messages"][0]["content"], "hi");
        assert!(v.get("ignore_eos").is_none());
        params.ignore_eos = true;
        let v: serde_json::Value = serde_json::from_slice(&r.request_body(&msgs, &params)).unwrap();
        assert_eq!(v["ignore_eos"], true);
        assert_eq!(r.base_url(), "http://x");
    }

    #[test]
    fn completions_bodies_carry_text_or_ids_and_exact_output_pins_the_length() {
        let timeouts = RunnerTimeouts::for_framework(Framework::Vllm);
        let r =
            OpenAiRunner::new(super::super::vllm::flavor(), "http://x", "m", timeouts, 1).unwrap();
        let params = GenerationParams {
            max_tokens: 32,
            temperature: 0.0,
            ignore_eos: false,
        };
        let (url, body) = r.any_request(&Prompt::Tokens(vec![5, 6, 7]), &params, true);
        assert_eq!(url.as_str(), "http://x/v1/completions");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["prompt"], serde_json::json!([5, 6, 7]));
        assert_eq!(v["ignore_eos"], true);
        assert_eq!(v["min_tokens"], 32);
        assert_eq!(v["stream_options"]["include_usage"], true);
        let (_, body) = r.any_request(&Prompt::Text("hi".into()), &params, false);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["prompt"], "hi");
        assert!(v.get("min_tokens").is_none() && v.get("ignore_eos").is_none());
        let chat = Prompt::Chat(vec![ChatMessage::new("user", "")]);
        let (url, body) = r.any_request(&chat, &params, true);
        assert_eq!(url.as_str(), "http://x/v1/chat/completions");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["min_tokens"], 32);
    }

    #[test]
    fn sampling_options_go_into_both_bodies_and_exact_output_keeps_its_min_tokens() {
        let timeouts = RunnerTimeouts::for_framework(Framework::Vllm);
        let mut body = serde_json::Map::new();
        body.insert("top_p".into(), serde_json::json!(0.9));
        body.insert("stop".into(), serde_json::json!(["END"]));
        body.insert("chat_template_kwargs".into(), serde_json::json!({"x": 1}));
        let options = RunnerOptions {
            min_tokens: Some(3),
            body,
            ..RunnerOptions::default()
        };
        let r = OpenAiRunner::new(super::super::vllm::flavor(), "http://x", "m", timeouts, 1)
            .unwrap()
            .with_options(options)
            .unwrap();
        let params = GenerationParams {
            max_tokens: 32,
            temperature: 0.0,
            ignore_eos: false,
        };
        let msgs = [ChatMessage::new("user", "hi")];
        let chat: serde_json::Value =
            serde_json::from_slice(&r.request_body(&msgs, &params)).unwrap();
        let (_, text) = r.any_request(&Prompt::Text("hi".into()), &params, false);
        let text: serde_json::Value = serde_json::from_slice(&text).unwrap();
        for v in [&chat, &text] {
            assert_eq!(v["top_p"], 0.9);
            assert_eq!(v["stop"], serde_json::json!(["END"]));
            assert_eq!(v["chat_template_kwargs"]["x"], 1);
            assert_eq!(v["min_tokens"], 3);
            assert_eq!(v["stream"], true);
        }
        let (_, exact) = r.any_request(&Prompt::Tokens(vec![1]), &params, true);
        let exact: serde_json::Value = serde_json::from_slice(&exact).unwrap();
        assert_eq!(
            exact["min_tokens"], 32,
            "token-exact output pins the length"
        );
    }

    #[test]
    fn a_bad_base_url_is_refused_up_front() {
        let timeouts = RunnerTimeouts::for_framework(Framework::Sglang);
        let err = OpenAiRunner::new(super::super::sglang::flavor(), "pod:8000", "m", timeouts, 1)
            .err()
            .unwrap();
        assert!(matches!(err, RunnerError::InvalidUrl { .. }), "{err}");
    }
}
