//! Readiness: poll the health endpoint until it answers 200.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::client::{describe_send_error, is_refused};
use super::{HealthProgress, RunnerError};

/// How long an already running server (`--server-url`) may refuse connections before the
/// health check gives up: long enough for a restart, far shorter than a model load.
pub const REFUSED_LIMIT: Duration = Duration::from_secs(30);

/// Test hook: a shorter `REFUSED_LIMIT` (seconds, fractions allowed). Not for normal use.
const REFUSED_LIMIT_ENV: &str = "LLM_INF_BENCH_REFUSED_LIMIT_S";

/// `REFUSED_LIMIT`, or the test hook's value.
pub(crate) fn refused_limit() -> Duration {
    std::env::var(REFUSED_LIMIT_ENV)
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .unwrap_or(REFUSED_LIMIT)
}

/// Mistakes that end the wait at once for a server that should already be running: nothing
/// listening for `refused_for`, or no health endpoint at all (HTTP 404: a wrong base URL).
#[derive(Debug, Clone)]
pub(crate) struct FailFast {
    pub refused_for: Duration,
    /// The base URL as given, for the 404 advice.
    pub base_url: String,
}

impl FailFast {
    /// Ends the wait on a 404, or on connections refused for `refused_for` since `since`.
    fn check(
        &self,
        not_ready: &NotReady,
        refused_since: Option<Instant>,
        probed_at: Instant,
        url: &str,
    ) -> Result<(), RunnerError> {
        if matches!(not_ready, NotReady::NotFound) {
            return Err(RunnerError::HealthNotFound {
                url: url.to_string(),
                advice: not_found_advice(&self.base_url),
            });
        }
        if let Some(since) = refused_since {
            if probed_at.duration_since(since) >= self.refused_for {
                return Err(RunnerError::Unreachable {
                    url: url.to_string(),
                    waited_s: probed_at.duration_since(since).as_secs_f64(),
                });
            }
        }
        Ok(())
    }
}

/// One failed probe.
enum NotReady {
    Refused,
    NotFound,
    Other(String),
}

impl NotReady {
    fn describe(&self) -> String {
        match self {
            NotReady::Refused => "connection refused".into(),
            NotReady::NotFound => "HTTP 404".into(),
            NotReady::Other(s) => s.clone(),
        }
    }
}

/// GET `url` every `interval` until HTTP 200 or `timeout`. Any other status (including the
/// RunPod proxy's 502/503/524 while the port is not up) or a connect error means "not yet",
/// unless `fail_fast` says otherwise.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn wait_healthy(
    client: &reqwest::Client,
    url: &str,
    interval: Duration,
    probe_timeout: Duration,
    timeout: Duration,
    fail_fast: Option<&FailFast>,
    cancel: &CancellationToken,
    on_wait: &(dyn Fn(HealthProgress) + Send + Sync),
) -> Result<(), RunnerError> {
    let start = Instant::now();
    let deadline = start + timeout;
    // Start of the current unbroken run of refused connections.
    let mut refused_since = None::<Instant>;
    loop {
        let attempt = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(RunnerError::Cancelled),
            r = probe(client, url, probe_timeout) => r,
        };
        let not_ready = match attempt {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let probed_at = Instant::now();
        refused_since = match not_ready {
            NotReady::Refused => Some(refused_since.unwrap_or(probed_at)),
            _ => None,
        };
        if let Some(ff) = fail_fast {
            ff.check(&not_ready, refused_since, probed_at, url)?;
        }
        let last = not_ready.describe();
        let elapsed = start.elapsed();
        on_wait(HealthProgress {
            elapsed,
            last_status: last.clone(),
        });
        let now = Instant::now();
        if now >= deadline {
            return Err(RunnerError::HealthTimeout {
                url: url.to_string(),
                waited_s: elapsed.as_secs_f64(),
                last,
            });
        }
        // The last probe happens at the deadline rather than one interval after it (and at the
        // end of the refused grace, so that error comes on time too).
        let mut wake = (now + interval).min(deadline);
        if let (Some(ff), Some(since)) = (fail_fast, refused_since) {
            wake = wake.min(since + ff.refused_for);
        }
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(RunnerError::Cancelled),
            _ = tokio::time::sleep_until(wake.into()) => {}
        }
    }
}

fn not_found_advice(base_url: &str) -> String {
    if super::endpoint::has_v1_suffix(base_url) {
        "remove the /v1 suffix from --server-url: it is the server's root URL \
         (e.g. http://host:8000), and /v1/... is added for each request"
            .into()
    } else {
        "is --server-url the server's root URL (e.g. http://host:8000)? The health endpoint \
         is looked up below it"
            .into()
    }
}

/// One probe: Ok on 200, else what went wrong (`HTTP 503`, `connection refused`, `timeout`).
async fn probe(client: &reqwest::Client, url: &str, timeout: Duration) -> Result<(), NotReady> {
    match client.get(url).timeout(timeout).send().await {
        Ok(resp) if resp.status() == reqwest::StatusCode::OK => Ok(()),
        Ok(resp) if resp.status() == reqwest::StatusCode::NOT_FOUND => Err(NotReady::NotFound),
        Ok(resp) => Err(NotReady::Other(format!("HTTP {}", resp.status().as_u16()))),
        Err(e) if is_refused(&e) => Err(NotReady::Refused),
        Err(e) => Err(NotReady::Other(describe_send_error(&e))),
    }
}
