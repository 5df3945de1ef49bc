//! Request options of issue 19: sampling options and `extra_body` sent with every request,
//! extra headers, a whole-request timeout, and the server's API key (never from the file).
//!
//! Checked here, from the raw config, so every problem is reported with the rest; the runner
//! gets the result as [`RequestOptions`].

use std::time::Duration;

use serde_json::{Map, Value};

use super::error::Issue;
use super::raw::{RawExperiment, RawParameters, RawStop};
use crate::redact::Secret;

/// What every request carries beyond the prompt and `max_tokens`/`temperature`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestOptions {
    /// `parameters.min_tokens` (kept apart: token-exact output sets it too).
    pub min_tokens: Option<u32>,
    /// The other sampling options and `extra_body`, merged into the request JSON as they are.
    pub body: Map<String, Value>,
    /// `workload.headers`, checked (names and values legal in HTTP).
    pub headers: Vec<(String, String)>,
    /// `workload.timeout_s`: a request still going after this long ends as a timeout error.
    pub timeout: Option<Duration>,
    /// The inference server's API key (`--api-key`, environment, app config), set by the CLI.
    pub api_key: Option<Secret>,
}

/// Fields the tool writes itself: `extra_body` may not set them (a dedicated key exists, or
/// changing them would break the measurement).
const OWNED_FIELDS: [&str; 18] = [
    // `n`/`best_of` > 1 would interleave several answers in one stream.
    "n",
    "best_of",
    "model",
    "messages",
    "prompt",
    "stream",
    "stream_options",
    "max_tokens",
    "temperature",
    "ignore_eos",
    "top_p",
    "top_k",
    "seed",
    "stop",
    "min_tokens",
    "presence_penalty",
    "frequency_penalty",
    "max_completion_tokens",
];

/// Longest `workload.timeout_s`: a day (beyond any request, far from overflowing a timer).
const MAX_TIMEOUT_S: f64 = 86_400.0;

/// The request options of `raw`, every problem pushed to `issues`.
pub fn check(raw: &RawExperiment, issues: &mut Vec<Issue>) -> RequestOptions {
    let workload = raw.workload.clone().unwrap_or_default();
    let params = workload.parameters.clone().unwrap_or_default();
    let mut push = |path: &str, msg: String| issues.push(Issue::new(path, msg));
    let max_tokens = params
        .max_tokens
        .unwrap_or(super::validate::DEFAULT_MAX_TOKENS);
    let min_tokens = check_min_tokens(params.min_tokens, max_tokens, &mut push);
    let body = sampling_body(&params, &mut push);
    let headers = check_headers(workload.headers.as_ref(), &mut push);
    let timeout = match workload.timeout_s {
        None => None,
        Some(s) if s > 0.0 && s <= MAX_TIMEOUT_S => Duration::try_from_secs_f64(s).ok(),
        Some(s) => {
            push(
                "workload.timeout_s",
                format!(
                    "must be a number of seconds above 0 and at most {MAX_TIMEOUT_S} (a day), \
                     got {s}"
                ),
            );
            None
        }
    };
    RequestOptions {
        min_tokens,
        body,
        headers,
        timeout,
        api_key: None,
    }
}

fn check_min_tokens(
    value: Option<i64>,
    max_tokens: i64,
    push: &mut impl FnMut(&str, String),
) -> Option<u32> {
    let n = value?;
    if n < 0 || n > max_tokens {
        push(
            "workload.parameters.min_tokens",
            format!("must be between 0 and max_tokens ({max_tokens}), got {n}"),
        );
        return None;
    }
    u32::try_from(n).ok()
}

/// The sampling options in request-JSON form, ranges checked as vLLM checks them.
fn sampling_body(p: &RawParameters, push: &mut impl FnMut(&str, String)) -> Map<String, Value> {
    let path = |k: &str| format!("workload.parameters.{k}");
    let mut body = Map::new();
    if let Some(v) = p.top_p {
        if v > 0.0 && v <= 1.0 {
            body.insert("top_p".into(), v.into());
        } else {
            push(
                &path("top_p"),
                format!("must be above 0 and at most 1, got {v}"),
            );
        }
    }
    if let Some(v) = p.top_k {
        // vLLM and SGLang: -1 (or 0 in recent vLLM) turns top-k off.
        if v >= -1 {
            body.insert("top_k".into(), v.into());
        } else {
            push(
                &path("top_k"),
                format!("must be -1 (off) or a whole number >= 0, got {v}"),
            );
        }
    }
    if let Some(v) = p.seed {
        body.insert("seed".into(), v.into());
    }
    for (key, value) in [
        ("presence_penalty", p.presence_penalty),
        ("frequency_penalty", p.frequency_penalty),
    ] {
        match value {
            Some(v) if (-2.0..=2.0).contains(&v) => {
                body.insert(key.into(), v.into());
            }
            Some(v) => push(&path(key), format!("must be between -2 and 2, got {v}")),
            None => {}
        }
    }
    insert_stop(p.stop.as_ref(), &mut body, push);
    insert_extra_body(p, &mut body, push);
    body
}

/// `parameters.stop`, one string or a list, none of them empty.
fn insert_stop(
    stop: Option<&RawStop>,
    body: &mut Map<String, Value>,
    push: &mut impl FnMut(&str, String),
) {
    let path = "workload.parameters.stop";
    match stop {
        Some(RawStop::One(s)) if s.is_empty() => push(path, "must not be an empty string".into()),
        Some(RawStop::One(s)) => {
            body.insert("stop".into(), s.clone().into());
        }
        Some(RawStop::Many(list)) if list.iter().any(String::is_empty) => {
            push(path, "must not contain an empty string".into())
        }
        Some(RawStop::Many(list)) => {
            body.insert("stop".into(), list.clone().into());
        }
        None => {}
    }
}

/// `parameters.extra_body` as it is, but for the fields the tool owns.
fn insert_extra_body(
    p: &RawParameters,
    body: &mut Map<String, Value>,
    push: &mut impl FnMut(&str, String),
) {
    for (key, value) in p.extra_body.iter().flatten() {
        if OWNED_FIELDS.contains(&key.as_str()) {
            push(
                &format!("workload.parameters.extra_body.{key}"),
                format!(
                    "`{key}` is set by the tool or by its own key under workload.parameters; \
                     remove it from extra_body"
                ),
            );
        } else {
            body.insert(key.clone(), value.clone());
        }
    }
}

/// Header names are HTTP tokens; values have no control characters (no newline can split a
/// header), so reqwest accepts every header that passes.
fn check_headers(
    raw: Option<&std::collections::BTreeMap<String, String>>,
    push: &mut impl FnMut(&str, String),
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, value) in raw.into_iter().flatten() {
        let path = format!("workload.headers.{name}");
        let name_ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !name_ok {
            push(
                &path,
                "a header name may only hold letters, digits and !#$%&'*+-.^_`|~".into(),
            );
            continue;
        }
        if value.chars().any(|c| c.is_control() && c != '\t') {
            push(
                &path,
                "the value holds a newline or another control character; write it on one line"
                    .into(),
            );
            continue;
        }
        if name.eq_ignore_ascii_case("host") || name.eq_ignore_ascii_case("content-length") {
            push(
                &path,
                format!("`{name}` is set by the HTTP client; remove it"),
            );
            continue;
        }
        out.push((name.clone(), value.clone()));
    }
    out
}

/// Whether `name` is a header that carries credentials (its value is hidden in result files).
pub fn is_secret_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "authorization"
        || lower == "proxy-authorization"
        || lower == "cookie"
        || crate::redact::is_secret_env_name(name)
        || lower.contains("auth")
}

/// The resolved config keeps header names but hides secret values (`Authorization`,
/// `X-Api-Key`, …): it goes into result files and journals.
pub fn redact_resolved(raw: &mut RawExperiment) {
    let headers = raw.workload.as_mut().and_then(|w| w.headers.as_mut());
    for (name, value) in headers.into_iter().flatten() {
        if is_secret_header(name) {
            *value = crate::redact::REDACTED.to_string();
        }
    }
}

#[cfg(test)]
#[path = "request_options_tests.rs"]
mod tests;
