//! A run can spend money, so every request is checked, in this order:
//! 1. `Host` must be an IP literal or `localhost` (a DNS-rebinding attack needs a hostname) → 403;
//! 2. a state-changing request or a WebSocket upgrade with a foreign `Origin` → 403 (CSRF);
//! 3. the token (query `token`, cookie, or `Authorization: Bearer`) → 401 without it.
//!
//! Loading `/?token=…` sets an HttpOnly SameSite=Strict cookie so the page's own calls carry it.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub const COOKIE: &str = "llm_inf_bench_token";

/// A 128-bit random token, hex.
pub fn new_token() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The host part of a `Host` header value (`[::1]:8420` → `::1`).
fn host_name(value: &str) -> &str {
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    value.rsplit_once(':').map_or(value, |(h, _)| h)
}

pub fn host_allowed(value: &str) -> bool {
    let name = host_name(value);
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok()
}

/// Same origin: `Origin` is `http://` + this request's `Host`.
fn origin_allowed(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        // Browsers send Origin on every cross-origin POST and WebSocket upgrade.
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    origin.to_str().ok() == Some(format!("http://{host}").as_str())
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The token the request carries, if any, and whether it came from the query string.
fn presented(req: &Request) -> Option<(String, bool)> {
    if let Some(q) = req.uri().query() {
        for pair in q.split('&') {
            if let Some(v) = pair.strip_prefix("token=") {
                return Some((v.to_string(), true));
            }
        }
    }
    let headers = req.headers();
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some((v.to_string(), false));
    }
    for cookies in headers.get_all(header::COOKIE) {
        let Ok(text) = cookies.to_str() else { continue };
        for c in text.split(';') {
            if let Some(v) = c
                .trim()
                .strip_prefix(COOKIE)
                .and_then(|v| v.strip_prefix('='))
            {
                return Some((v.to_string(), false));
            }
        }
    }
    None
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

pub async fn guard(State(token): State<Arc<String>>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !host_allowed(host) {
        return refuse(StatusCode::FORBIDDEN, "foreign Host header");
    }
    let upgrade = headers.contains_key(header::UPGRADE);
    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if (upgrade || changes_state) && !origin_allowed(headers) {
        return refuse(StatusCode::FORBIDDEN, "cross-origin request refused");
    }
    let from_query = match presented(&req) {
        Some((t, q)) if constant_time_eq(&t, &token) => q,
        _ => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "missing or wrong token: open the URL printed by `llm-inf-bench dashboard`",
            )
        }
    };
    let mut response = next.run(req).await;
    if from_query {
        let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/");
        if let Ok(v) = cookie.parse() {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ip_literals_and_localhost_are_allowed_hosts() {
        for ok in [
            "127.0.0.1:8420",
            "localhost:8420",
            "[::1]:8420",
            "10.0.0.5",
            "LOCALHOST",
        ] {
            assert!(host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8420",
            "127.0.0.1.nip.io:8420",
            "",
        ] {
            assert!(!host_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn tokens_are_random_and_long() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
