//! What a runner sends beyond the prompt (issue 19): the API key as `Authorization: Bearer`,
//! extra headers, sampling options merged into the body, a whole-request timeout.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};
use serde_json::{Map, Value};

use super::RunnerError;
use crate::config::request_options::RequestOptions;
use crate::redact::Secret;

/// The runner's part of the request options, with the key that applies to this server.
#[derive(Debug, Clone, Default)]
pub struct RunnerOptions {
    pub api_key: Option<Secret>,
    pub headers: Vec<(String, String)>,
    pub min_tokens: Option<u32>,
    pub body: Map<String, Value>,
    pub timeout: Option<Duration>,
}

impl RunnerOptions {
    /// `options` from the config; `server_key` (the key of a server this tool started) wins
    /// over the user's key.
    pub fn new(options: &RequestOptions, server_key: Option<&Secret>) -> Self {
        Self {
            api_key: server_key.or(options.api_key.as_ref()).cloned(),
            headers: options.headers.clone(),
            min_tokens: options.min_tokens,
            body: options.body.clone(),
            timeout: options.timeout,
        }
    }

    /// A warning when `workload.headers` sets `Authorization` and an API key is set too.
    pub fn conflict_warning(&self) -> Option<String> {
        let sets_auth = self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("authorization"));
        (sets_auth && self.api_key.is_some()).then(|| {
            "workload.headers sets Authorization and an API key is set too (--api-key, \
             environment, app config or a server started with --api-key): the API key is sent, \
             the header is not"
                .to_string()
        })
    }

    /// Headers sent on every request (health, model list, completions, `/metrics`). The key's
    /// header is marked sensitive, so it never shows in debug output.
    pub fn header_map(&self) -> Result<HeaderMap, RunnerError> {
        let mut map = HeaderMap::new();
        for (name, value) in &self.headers {
            let bad = |what: &str| RunnerError::Client(format!("header `{name}`: invalid {what}"));
            let name_v = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad("name"))?;
            let mut value_v = HeaderValue::from_str(value).map_err(|_| bad("value"))?;
            if crate::config::request_options::is_secret_header(name) {
                value_v.set_sensitive(true);
            }
            map.insert(name_v, value_v);
        }
        if let Some(key) = &self.api_key {
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", key.expose())).map_err(|_| {
                    RunnerError::Client(
                        "the API key holds characters not allowed in a header".into(),
                    )
                })?;
            value.set_sensitive(true);
            map.insert(AUTHORIZATION, value);
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(headers: &[(&str, &str)], key: Option<&str>) -> RequestOptions {
        RequestOptions {
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            api_key: key.map(Secret::new),
            ..RequestOptions::default()
        }
    }

    #[test]
    fn the_key_is_a_sensitive_bearer_header_and_a_started_servers_key_wins() {
        let o = RunnerOptions::new(&options(&[("X-Team", "a")], Some("user")), None);
        let map = o.header_map().unwrap();
        assert_eq!(map["authorization"], "Bearer user");
        assert!(map["authorization"].is_sensitive());
        assert_eq!(map["x-team"], "a");
        assert!(!format!("{map:?}").contains("user"));
        let server = Secret::new("generated");
        let o = RunnerOptions::new(&options(&[], Some("user")), Some(&server));
        assert_eq!(o.header_map().unwrap()["authorization"], "Bearer generated");
        assert!(RunnerOptions::default().header_map().unwrap().is_empty());
    }

    #[test]
    fn an_authorization_header_with_a_key_is_warned_about_and_the_key_is_sent() {
        let o = RunnerOptions::new(&options(&[("authorization", "Basic x")], Some("k")), None);
        assert!(o
            .conflict_warning()
            .unwrap()
            .contains("the API key is sent"));
        assert_eq!(o.header_map().unwrap()["authorization"], "Bearer k");
        let alone = RunnerOptions::new(&options(&[("Authorization", "Basic x")], None), None);
        assert!(alone.conflict_warning().is_none());
        assert_eq!(alone.header_map().unwrap()["authorization"], "Basic x");
    }
}
