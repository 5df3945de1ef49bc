//! The shared HTTP client and how its errors read to a user.

use std::error::Error as _;

use super::{RunnerError, RunnerTimeouts};

/// One client per runner: HTTP/1.1 (one stream per connection, as the Python tool measured),
/// no Nagle delay, a pool as large as the concurrency, and no total timeout (streams are long;
/// silence is bounded by the idle read timeout instead).
pub(crate) fn build_client(
    timeouts: &RunnerTimeouts,
    max_connections: usize,
    headers: reqwest::header::HeaderMap,
) -> Result<reqwest::Client, RunnerError> {
    reqwest::Client::builder()
        .default_headers(headers)
        .use_rustls_tls()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(max_connections.max(1))
        .connect_timeout(timeouts.connect)
        .build()
        .map_err(|e| RunnerError::Client(full_chain(&e)))
}

/// Why a request got no response: `connection refused`, `timeout`, or the error chain.
pub(crate) fn describe_send_error(e: &reqwest::Error) -> String {
    if is_refused(e) {
        return "connection refused".to_string();
    }
    if e.is_timeout() {
        return "timeout".to_string();
    }
    full_chain(e)
}

pub(crate) fn is_refused(e: &reqwest::Error) -> bool {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return true;
            }
        }
        source = s.source();
    }
    false
}

/// `reqwest` hides the useful part (refused, DNS, TLS) in the source chain.
pub(crate) fn full_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !msg.contains(&part) {
            msg.push_str(": ");
            msg.push_str(&part);
        }
        source = s.source();
    }
    msg
}

pub(crate) use crate::redact::Redactor;

/// Runner errors with the server URL's credentials hidden.
pub(crate) trait RedactError {
    fn error(&self, e: RunnerError) -> RunnerError;
}

impl RedactError for Redactor {
    fn error(&self, e: RunnerError) -> RunnerError {
        if self.is_empty() {
            return e;
        }
        let r = |s: String| self.text(&s);
        match e {
            RunnerError::HealthTimeout {
                url,
                waited_s,
                last,
            } => RunnerError::HealthTimeout {
                url: r(url),
                waited_s,
                last: r(last),
            },
            RunnerError::ModelNotServed {
                model,
                url,
                served,
                any_name,
            } => RunnerError::ModelNotServed {
                model,
                url: r(url),
                served,
                any_name,
            },
            RunnerError::ModelList { url, reason } => RunnerError::ModelList {
                url: r(url),
                reason: r(reason),
            },
            RunnerError::InvalidUrl { url, reason } => RunnerError::InvalidUrl {
                url: r(url),
                reason: r(reason),
            },
            RunnerError::Unreachable { url, waited_s } => RunnerError::Unreachable {
                url: r(url),
                waited_s,
            },
            RunnerError::HealthNotFound { url, advice } => RunnerError::HealthNotFound {
                url: r(url),
                advice: r(advice),
            },
            RunnerError::Client(msg) => RunnerError::Client(r(msg)),
            RunnerError::Cancelled => RunnerError::Cancelled,
        }
    }
}
