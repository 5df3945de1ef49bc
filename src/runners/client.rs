//! The shared HTTP client and how its errors read to a user.

use std::error::Error as _;

use super::{RunnerError, RunnerTimeouts};

/// One client per runner: HTTP/1.1 (one stream per connection, as the Python tool measured),
/// no Nagle delay, a pool as large as the concurrency, and no total timeout (streams are long;
/// silence is bounded by the idle read timeout instead).
pub(crate) fn build_client(
    timeouts: &RunnerTimeouts,
    max_connections: usize,
) -> Result<reqwest::Client, RunnerError> {
    reqwest::Client::builder()
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

/// Hides the credentials of a server URL (`http://user:pass@host`) in every message the runner
/// produces: request errors, health and model-check failures, reqwest's own error text.
#[derive(Debug, Clone, Default)]
pub(crate) struct Redactor {
    /// The user-info as typed and as `Url` serialises it (percent-encoded).
    secrets: Vec<String>,
}

impl Redactor {
    pub fn for_url(base_url: &str) -> Self {
        let mut secrets = Vec::new();
        if let Some((_, rest)) = base_url.split_once("://") {
            let authority = rest.split('/').next().unwrap_or("");
            if let Some((userinfo, _)) = authority.rsplit_once('@') {
                secrets.push(userinfo.to_string());
            }
        }
        if let Ok(url) = reqwest::Url::parse(base_url) {
            let userinfo = match url.password() {
                Some(p) => format!("{}:{p}", url.username()),
                None => url.username().to_string(),
            };
            secrets.push(userinfo);
        }
        secrets.retain(|s| !s.is_empty());
        // Longest first, so a password containing the user name is hidden whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self { secrets }
    }

    pub fn text(&self, text: &str) -> String {
        self.secrets
            .iter()
            .fold(text.to_string(), |t, s| t.replace(s.as_str(), "***"))
    }

    pub fn error(&self, e: RunnerError) -> RunnerError {
        if self.secrets.is_empty() {
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
            RunnerError::ModelNotServed { model, url, served } => RunnerError::ModelNotServed {
                model,
                url: r(url),
                served,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redactor_hides_typed_and_encoded_credentials() {
        let r = Redactor::for_url("http://bob:p@ss w@host:8000");
        assert_eq!(
            r.text("GET http://bob:p@ss w@host:8000/x"),
            "GET http://***@host:8000/x"
        );
        assert_eq!(
            r.text("url (http://bob:p%40ss%20w@host:8000/)"),
            "url (http://***@host:8000/)"
        );
        let none = Redactor::for_url("http://host:8000");
        assert_eq!(none.text("http://host:8000"), "http://host:8000");
    }
}
