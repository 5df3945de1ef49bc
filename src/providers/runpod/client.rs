//! RunPod REST v2 client: pods (create, get, list, terminate) and the GPU catalog.
//!
//! Every call retries 429 (honouring `Retry-After`), 5xx and connection failures with bounded
//! exponential backoff. One client is shared by every pod of a process (a matrix runs several):
//! at most [`MAX_CONCURRENT_CALLS`] calls are in flight, a 429 pauses every call for its
//! `Retry-After`, and creates are spaced [`CREATE_SPACING`] apart so a burst of cells does not
//! trip the rate limit. Create is special: a 5xx or a lost answer may still have created a
//! billing pod (seen in the wild), so before retrying we list pods and adopt ours by name.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, RETRY_AFTER, USER_AGENT};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use super::error::{Problem, RunpodError};
use super::model::{CreatePodRequest, GpuType, ListGpuTypesResponse, ListPodsResponse, Pod};
use super::settings::{RetryPolicy, RunpodSettings, Secret};

/// A pod whose creation this client saw answered (or found after a failed answer).
#[derive(Debug, Clone, PartialEq)]
pub struct CreatedPod {
    pub pod: Pod,
    /// Found by name after the create call failed: it exists and bills all the same.
    pub adopted: bool,
}

/// How a terminate call ended; both mean the pod no longer bills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    Terminated,
    AlreadyGone,
}

/// Pods created this long before our create call are not ours to adopt (clock-skew slack).
const ADOPT_SLACK: Duration = Duration::from_secs(120);

/// Calls in flight at once on one client.
pub const MAX_CONCURRENT_CALLS: usize = 4;
/// Creates are spaced this many base retry delays apart (2 s by default).
pub const CREATE_SPACING: u32 = 2;

/// Shared by every clone of a client: the call limit, a 429 pause, the create spacing.
#[derive(Debug)]
struct Gate {
    calls: tokio::sync::Semaphore,
    /// No call starts before this (set by a 429's `Retry-After`).
    paused_until: Mutex<Option<tokio::time::Instant>>,
    /// The earliest time the next create may be sent.
    next_create: tokio::sync::Mutex<tokio::time::Instant>,
    spacing: Duration,
}

impl Gate {
    fn new(spacing: Duration) -> Self {
        Self {
            calls: tokio::sync::Semaphore::new(MAX_CONCURRENT_CALLS),
            paused_until: Mutex::new(None),
            next_create: tokio::sync::Mutex::new(tokio::time::Instant::now()),
            spacing,
        }
    }

    fn paused_until(&self) -> Option<tokio::time::Instant> {
        *self.paused_until.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hold every call until `wait` from now (never shortening a pause already set).
    fn pause(&self, wait: Duration) {
        let until = tokio::time::Instant::now() + wait;
        let mut p = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        if p.is_none_or(|t| t < until) {
            *p = Some(until);
        }
    }

    /// Wait for this create's slot; `false` when cancelled first.
    async fn create_slot(&self, cancel: &CancellationToken) -> bool {
        let mut next = tokio::select! {
            n = self.next_create.lock() => n,
            _ = cancel.cancelled() => return false,
        };
        tokio::select! {
            _ = tokio::time::sleep_until(*next) => {}
            _ = cancel.cancelled() => return false,
        }
        *next = tokio::time::Instant::now() + self.spacing;
        true
    }
}

/// One HTTP attempt's result, before the retry decision.
enum Attempt {
    Done {
        status: StatusCode,
        body: String,
    },
    Retryable {
        error: RunpodError,
        retry_after: Option<Duration>,
        maybe_created: bool,
    },
    Fatal(RunpodError),
}

#[derive(Debug, Clone)]
pub struct RunpodClient {
    http: reqwest::Client,
    base: String,
    key: Secret,
    retry: RetryPolicy,
    gate: Arc<Gate>,
}

impl RunpodClient {
    pub fn new(settings: &RunpodSettings) -> Result<Self, RunpodError> {
        if settings.api_key.is_empty() {
            return Err(RunpodError::MissingApiKey);
        }
        let base = settings.api_url.trim().trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(RunpodError::Settings(format!(
                "API URL '{base}' must start with http:// or https:// (RUNPOD_API_URL / runpod.api_url)"
            )));
        }
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("llm-inf-bench/", env!("CARGO_PKG_VERSION"))),
        );
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| RunpodError::Settings(format!("cannot build HTTP client: {e}")))?;
        Ok(Self {
            http,
            base,
            key: settings.api_key.clone(),
            retry: settings.retry,
            gate: Arc::new(Gate::new(
                settings.retry.base_delay.saturating_mul(CREATE_SPACING),
            )),
        })
    }

    /// `POST /v2/pods`. Retries stop once `cancel` fires, but an answer already in flight is
    /// still read and a possibly-created pod still looked for, so nothing billing is lost.
    pub async fn create_pod(
        &self,
        request: &CreatePodRequest,
        cancel: &CancellationToken,
    ) -> Result<CreatedPod, RunpodError> {
        let body = serde_json::to_value(request).map_err(|e| RunpodError::Decode {
            what: "create pod request".into(),
            message: e.to_string(),
        })?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if !self.gate.create_slot(cancel).await {
                return Err(RunpodError::Cancelled);
            }
            let started = Utc::now();
            let (error, retry_after, maybe_created) =
                match self.once(Method::POST, "/v2/pods", Some(&body)).await {
                    Attempt::Done { status, body } if status.is_success() => {
                        let pod = decode::<Pod>(&body, "create pod")?;
                        return Ok(CreatedPod {
                            pod,
                            adopted: false,
                        });
                    }
                    Attempt::Done { status, body } => {
                        let problem = Problem::parse(status.as_u16(), &body);
                        return Err(RunpodError::from_status(
                            status.as_u16(),
                            &problem,
                            "create pod",
                        ));
                    }
                    Attempt::Fatal(e) => return Err(e),
                    Attempt::Retryable {
                        error,
                        retry_after,
                        maybe_created,
                    } => (error, retry_after, maybe_created),
                };
            if maybe_created {
                if let Some(pod) = self.find_created(&request.name, started).await {
                    tracing::info!(pod_id = %pod.id, "create failed ({error}) but the pod exists; adopting it");
                    return Ok(CreatedPod { pod, adopted: true });
                }
            }
            if attempt >= self.retry.max_attempts || cancel.is_cancelled() {
                return Err(final_error(error, attempt));
            }
            let wait = self.retry.delay(attempt, retry_after);
            tracing::debug!(attempt, ?wait, "create pod: retrying after {error}");
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = cancel.cancelled() => return Err(final_error(error, attempt)),
            }
        }
    }

    /// Our pod among all pods: same name, not terminated, created no earlier than our call.
    async fn find_created(&self, name: &str, not_before: DateTime<Utc>) -> Option<Pod> {
        let pods = match self.list_pods().await {
            Ok(pods) => pods,
            Err(e) => {
                tracing::warn!("cannot list pods to check for a half-created pod: {e}");
                return None;
            }
        };
        let cutoff = not_before - chrono::Duration::from_std(ADOPT_SLACK).unwrap_or_default();
        pods.into_iter()
            .filter(|p| p.name == name && p.status != super::model::PodStatus::Terminated)
            .filter(|p| match created_at(p) {
                Some(t) => t >= cutoff,
                None => true,
            })
            .max_by_key(created_at)
    }

    /// `GET /v2/pods/{id}`.
    pub async fn get_pod(&self, pod_id: &str) -> Result<Pod, RunpodError> {
        let path = format!("/v2/pods/{}", encode_segment(pod_id));
        let body = self
            .call(Method::GET, &path, &format!("pod {pod_id}"))
            .await?;
        decode(&body, "get pod")
    }

    /// `GET /v2/pods`: every pod on the account (no server-side name filter exists).
    pub async fn list_pods(&self) -> Result<Vec<Pod>, RunpodError> {
        let body = self.call(Method::GET, "/v2/pods", "pod list").await?;
        Ok(decode::<ListPodsResponse>(&body, "list pods")?.pods)
    }

    /// `DELETE /v2/pods/{id}` ("Terminate a pod"; `POST .../action {"action":"terminate"}` is
    /// documented as equivalent). 404 means the pod is already gone, which is success here.
    pub async fn terminate_pod(&self, pod_id: &str) -> Result<Termination, RunpodError> {
        let path = format!("/v2/pods/{}", encode_segment(pod_id));
        match self
            .call(Method::DELETE, &path, &format!("pod {pod_id}"))
            .await
        {
            Ok(_) => Ok(Termination::Terminated),
            Err(e) if e.is_not_found() => Ok(Termination::AlreadyGone),
            Err(e) => Err(e),
        }
    }

    /// `GET /v2/catalog/gpus`: GPU types with per-GPU list prices.
    pub async fn gpu_catalog(&self) -> Result<Vec<GpuType>, RunpodError> {
        let body = self
            .call(Method::GET, "/v2/catalog/gpus", "GPU catalog")
            .await?;
        Ok(decode::<ListGpuTypesResponse>(&body, "GPU catalog")?.gpus)
    }

    /// An idempotent call with the standard retry loop; returns the success body.
    async fn call(&self, method: Method, path: &str, what: &str) -> Result<String, RunpodError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (error, retry_after) = match self.once(method.clone(), path, None).await {
                Attempt::Done { status, body } if status.is_success() => return Ok(body),
                Attempt::Done { status, body } => {
                    let problem = Problem::parse(status.as_u16(), &body);
                    return Err(RunpodError::from_status(status.as_u16(), &problem, what));
                }
                Attempt::Fatal(e) => return Err(e),
                Attempt::Retryable {
                    error, retry_after, ..
                } => (error, retry_after),
            };
            if attempt >= self.retry.max_attempts {
                return Err(final_error(error, attempt));
            }
            let wait = self.retry.delay(attempt, retry_after);
            tracing::debug!(attempt, ?wait, "{method} {path}: retrying after {error}");
            tokio::time::sleep(wait).await;
        }
    }

    async fn once(&self, method: Method, path: &str, body: Option<&serde_json::Value>) -> Attempt {
        let url = format!("{}{}", self.base, path);
        self.wait_out_pause().await;
        let Ok(_permit) = self.gate.calls.acquire().await else {
            return Attempt::Fatal(RunpodError::Cancelled);
        };
        let auth = match self.authorization() {
            Ok(v) => v,
            Err(e) => return Attempt::Fatal(e),
        };
        let mut req = self.http.request(method, &url).header(AUTHORIZATION, auth);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return send_failed(url, &e),
        };
        let status = resp.status();
        let retry_after = parse_retry_after(resp.headers().get(RETRY_AFTER));
        let text = match resp.text().await {
            Ok(t) => t,
            Err(e) => {
                return Attempt::Retryable {
                    error: RunpodError::Network {
                        url,
                        message: format!("reading the answer: {}", describe_reqwest(&e)),
                        attempts: 1,
                    },
                    retry_after: None,
                    maybe_created: true,
                }
            }
        };
        self.answered(status, retry_after, text)
    }

    /// Wait while a rate limit has paused every call of this client.
    async fn wait_out_pause(&self) {
        while let Some(until) = self.gate.paused_until() {
            if until <= tokio::time::Instant::now() {
                break;
            }
            tokio::time::sleep_until(until).await;
        }
    }

    /// The `Authorization` header, marked sensitive so it is never logged.
    fn authorization(&self) -> Result<HeaderValue, RunpodError> {
        let mut auth =
            HeaderValue::from_str(&format!("Bearer {}", self.key.expose())).map_err(|_| {
                RunpodError::Settings(
                    "the API key contains characters not allowed in an HTTP header".into(),
                )
            })?;
        auth.set_sensitive(true);
        Ok(auth)
    }

    /// An answer read in full: 429 pauses the client and retries, 5xx retries, the rest is done.
    fn answered(&self, status: StatusCode, retry_after: Option<Duration>, text: String) -> Attempt {
        if status == StatusCode::TOO_MANY_REQUESTS {
            // Every call of this client waits, not only this one.
            self.gate
                .pause(self.retry.delay(1, retry_after).max(self.retry.base_delay));
            Attempt::Retryable {
                error: RunpodError::RateLimited { attempts: 1 },
                retry_after,
                maybe_created: false,
            }
        } else if status.is_server_error() {
            let problem = Problem::parse(status.as_u16(), &text);
            Attempt::Retryable {
                error: RunpodError::Server {
                    status: status.as_u16(),
                    detail: problem.summary(),
                    attempts: 1,
                },
                retry_after,
                maybe_created: true,
            }
        } else {
            Attempt::Done { status, body: text }
        }
    }
}

/// A request that got no answer: retryable when it may not have reached the server or timed out.
fn send_failed(url: String, e: &reqwest::Error) -> Attempt {
    let error = RunpodError::Network {
        url,
        message: describe_reqwest(e),
        attempts: 1,
    };
    // A refused connection never reached the server; anything later might have.
    let retryable = e.is_connect() || e.is_timeout() || e.is_request();
    if retryable {
        Attempt::Retryable {
            error,
            retry_after: None,
            maybe_created: !e.is_connect(),
        }
    } else {
        Attempt::Fatal(error)
    }
}

/// Stamp the attempt count on the last retryable error.
fn final_error(error: RunpodError, attempts: u32) -> RunpodError {
    match error {
        RunpodError::RateLimited { .. } => RunpodError::RateLimited { attempts },
        RunpodError::Server { status, detail, .. } => RunpodError::Server {
            status,
            detail,
            attempts,
        },
        RunpodError::Network { url, message, .. } => RunpodError::Network {
            url,
            message,
            attempts,
        },
        other => other,
    }
}

fn created_at(p: &Pod) -> Option<DateTime<Utc>> {
    p.created_at
        .as_deref()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// `Retry-After` in seconds (the HTTP-date form falls back to our own backoff).
fn parse_retry_after(v: Option<&HeaderValue>) -> Option<Duration> {
    let secs: f64 = v?.to_str().ok()?.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

/// The error with its causes (URLs never hold the key: it only travels in a header).
fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

fn decode<T: DeserializeOwned>(body: &str, what: &str) -> Result<T, RunpodError> {
    serde_json::from_str(body).map_err(|e| RunpodError::Decode {
        what: what.to_string(),
        message: e.to_string(),
    })
}

/// Percent-encode a path segment (pod ids are alphanumeric, but never trust input in a URL).
fn encode_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_only() {
        let h = |s: &str| HeaderValue::from_str(s).unwrap();
        assert_eq!(
            parse_retry_after(Some(&h("3"))),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            parse_retry_after(Some(&h("0.5"))),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            parse_retry_after(Some(&h("Wed, 21 Oct 2026 07:28:00 GMT"))),
            None
        );
        assert_eq!(parse_retry_after(None), None);
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_segment("abc123"), "abc123");
        assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn empty_key_is_refused_up_front() {
        let s = RunpodSettings::new("  ");
        assert!(matches!(
            RunpodClient::new(&s),
            Err(RunpodError::MissingApiKey)
        ));
    }

    #[test]
    fn client_debug_hides_the_key() {
        let c = RunpodClient::new(&RunpodSettings::new("rpa_DEBUGKEY")).unwrap();
        assert!(!format!("{c:?}").contains("DEBUGKEY"));
    }
}

#[cfg(test)]
#[path = "client_gate_tests.rs"]
mod gate_tests;
