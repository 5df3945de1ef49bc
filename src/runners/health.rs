//! Readiness: poll the health endpoint until it answers 200.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::client::describe_send_error;
use super::{HealthProgress, RunnerError};

/// GET `url` every `interval` until HTTP 200 or `timeout`. Any other status (including the
/// RunPod proxy's 502/503/524 while the port is not up) or a connect error means "not yet".
pub(crate) async fn wait_healthy(
    client: &reqwest::Client,
    url: &str,
    interval: Duration,
    probe_timeout: Duration,
    timeout: Duration,
    cancel: &CancellationToken,
    on_wait: &(dyn Fn(HealthProgress) + Send + Sync),
) -> Result<(), RunnerError> {
    let start = Instant::now();
    let deadline = start + timeout;
    loop {
        let attempt = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(RunnerError::Cancelled),
            r = probe(client, url, probe_timeout) => r,
        };
        let last = match attempt {
            Ok(()) => return Ok(()),
            Err(last) => last,
        };
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
        // The last probe happens at the deadline rather than one interval after it.
        let wake = (now + interval).min(deadline);
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(RunnerError::Cancelled),
            _ = tokio::time::sleep_until(wake.into()) => {}
        }
    }
}

/// One probe: Ok on 200, else what went wrong (`HTTP 503`, `connection refused`, `timeout`).
async fn probe(client: &reqwest::Client, url: &str, timeout: Duration) -> Result<(), String> {
    match client.get(url).timeout(timeout).send().await {
        Ok(resp) if resp.status() == reqwest::StatusCode::OK => Ok(()),
        Ok(resp) => Err(format!("HTTP {}", resp.status().as_u16())),
        Err(e) => Err(describe_send_error(&e)),
    }
}
