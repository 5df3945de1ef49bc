//! Connection settings for RunPod: the API key (wrapped so it can never be printed), the API
//! root, the proxy-URL template and the retry policy. The CLI resolves them from the
//! environment and the app config; this module only takes values.

use std::time::Duration;

/// Default API root; the client appends `/v2/...`.
pub const DEFAULT_API_URL: &str = "https://api.runpod.io";
/// Default template of a pod's HTTP port URL.
pub const DEFAULT_PROXY_URL_TEMPLATE: &str = "https://{pod_id}-{port}.proxy.runpod.net";

/// The API key: `Debug` and `Display` print `***`; only the code building the
/// `Authorization` header calls `expose`.
pub use crate::redact::Secret;

/// Bounded exponential backoff for 429, 5xx and connection errors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Total tries including the first (>= 1).
    pub max_attempts: u32,
    /// Delay before the first retry; doubles each retry.
    pub base_delay: Duration,
    /// Upper bound for any single wait, including a server's `Retry-After`.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Tiny delays for tests (no real waits of seconds).
    pub fn fast() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        }
    }

    /// Wait before retry number `retry` (1-based): `Retry-After` when the server sent one,
    /// else `base * 2^(retry-1)`; both capped at `max_delay`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = || {
            let factor = 2u32.saturating_pow(retry.saturating_sub(1));
            self.base_delay.saturating_mul(factor)
        };
        retry_after.unwrap_or_else(backoff).min(self.max_delay)
    }
}

/// Everything needed to talk to RunPod.
#[derive(Debug, Clone)]
pub struct RunpodSettings {
    pub api_key: Secret,
    pub api_url: String,
    pub proxy_url_template: String,
    pub retry: RetryPolicy,
}

impl RunpodSettings {
    /// Default endpoints and retry policy.
    pub fn new(api_key: impl Into<Secret>) -> Self {
        Self {
            api_key: api_key.into(),
            api_url: DEFAULT_API_URL.to_string(),
            proxy_url_template: DEFAULT_PROXY_URL_TEMPLATE.to_string(),
            retry: RetryPolicy::default(),
        }
    }

    /// The URL of `port` on pod `pod_id`: `{pod_id}` and `{port}` substituted; a template
    /// without placeholders (a local fake) is used as is.
    pub fn proxy_url(&self, pod_id: &str, port: u16) -> String {
        self.proxy_url_template
            .replace("{pod_id}", pod_id)
            .replace("{port}", &port.to_string())
            .trim_end_matches('/')
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_formats_its_value() {
        let s = RunpodSettings::new("rpa_VISIBLE_KEY");
        assert!(!format!("{s:?}").contains("VISIBLE"));
        assert_eq!(format!("{}", s.api_key), "***");
        assert_eq!(s.api_key.expose(), "rpa_VISIBLE_KEY");
    }

    #[test]
    fn proxy_url_substitutes_or_uses_template_as_is() {
        let mut s = RunpodSettings::new("k");
        assert_eq!(
            s.proxy_url("abc", 8000),
            "https://abc-8000.proxy.runpod.net"
        );
        s.proxy_url_template = "http://127.0.0.1:9999/".into();
        assert_eq!(s.proxy_url("abc", 8000), "http://127.0.0.1:9999");
    }

    #[test]
    fn backoff_doubles_and_caps_and_honours_retry_after() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
        };
        assert_eq!(p.delay(1, None), Duration::from_millis(100));
        assert_eq!(p.delay(2, None), Duration::from_millis(200));
        assert_eq!(p.delay(3, None), Duration::from_millis(350));
        assert_eq!(
            p.delay(1, Some(Duration::from_millis(300))),
            Duration::from_millis(300)
        );
        assert_eq!(p.delay(1, Some(Duration::from_secs(9))), p.max_delay);
    }
}
