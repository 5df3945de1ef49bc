//! A non-2xx response as one readable line. Servers answer errors in JSON of three shapes —
//! vLLM's nested `{"error": {"message", "type", "code"}}`, SGLang's (and old vLLM's) flat
//! `{"object": "error", "message", "type", "code"}`, FastAPI's `{"detail": …}` — and the raw
//! JSON (cut at 200 characters) hid the message; now the message is shown whole.

use serde::Deserialize;

use super::stream::truncate;

/// Longest server message kept (SGLang's context-length message is ~330 characters).
const MESSAGE_MAX: usize = 600;
/// Non-JSON bodies keep their first characters only (HTML error pages, tracebacks).
const RAW_MAX: usize = 200;

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    error: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    detail: Option<serde_json::Value>,
}

/// `HTTP <code> <type>: <message>` from a JSON error body, `HTTP <code>: <start of body>`
/// otherwise. Messages about the context length get a hint on what to change.
pub(crate) fn describe(status: u16, reason: Option<&str>, body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        return format!(
            "HTTP {status}: {} (empty body)",
            reason.unwrap_or("no reason phrase")
        );
    }
    let Some((kind, message)) = message_of(body) else {
        return format!("HTTP {status}: {}", truncate(body, RAW_MAX));
    };
    let message = message.trim();
    let mut text = match kind.as_deref().filter(|k| !k.is_empty()) {
        Some(kind) => format!("HTTP {status} {kind}: {}", truncate(message, MESSAGE_MAX)),
        None => format!("HTTP {status}: {}", truncate(message, MESSAGE_MAX)),
    };
    if is_context_length(message) {
        text.push_str(
            " [the prompt plus max_tokens must fit the server's context length: shorten the \
             prompts, lower max_tokens or raise framework_options.max_model_len]",
        );
    }
    text
}

/// `(type, message)` of a JSON error body in any of the known shapes.
fn message_of(body: &str) -> Option<(Option<String>, String)> {
    let b: Body = serde_json::from_str(body).ok()?;
    if let Some(err) = b.error.filter(|e| !e.is_null()) {
        return match err {
            serde_json::Value::String(s) => Some((b.kind, s)),
            serde_json::Value::Object(o) => {
                let message = o.get("message").and_then(|m| m.as_str())?.to_string();
                let kind = o.get("type").and_then(|t| t.as_str()).map(str::to_string);
                Some((kind, message))
            }
            _ => None,
        };
    }
    if let Some(message) = b.message {
        return Some((b.kind, message));
    }
    match b.detail? {
        serde_json::Value::String(s) => Some((None, s)),
        other => Some((None, other.to_string())),
    }
}

/// Whether a server message says the request does not fit the model's context.
pub(crate) fn is_context_length(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("context length")
        || m.contains("context_length")
        || m.contains("max_model_len")
        || m.contains("maximum context")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sglang_fixture(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/protocols")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn sglang_flat_context_length_400_is_one_clear_message() {
        let body = sglang_fixture("sglang-0.5.23-cpu-error-context-length.json");
        let text = describe(400, Some("Bad Request"), &body);
        assert!(
            text.starts_with(
                "HTTP 400 BadRequestError: Requested token count exceeds the model's maximum \
                 context length of 1024 tokens."
            ),
            "{text}"
        );
        // The whole message (its numbers are at the end), no JSON, and the hint.
        assert!(text.contains("to fit within the limit."), "{text}");
        assert!(!text.contains("\"object\""), "{text}");
        assert!(text.contains("framework_options.max_model_len"), "{text}");
    }

    #[test]
    fn nested_flat_and_detail_shapes() {
        let nested = r#"{"error":{"message":"The model `x` does not exist.","type":"NotFoundError","param":"model","code":404}}"#;
        assert_eq!(
            describe(404, None, nested),
            "HTTP 404 NotFoundError: The model `x` does not exist."
        );
        let flat = r#"{"object":"error","message":"boom","type":"InternalServerError","param":null,"code":500}"#;
        assert_eq!(
            describe(500, None, flat),
            "HTTP 500 InternalServerError: boom"
        );
        assert_eq!(
            describe(422, None, r#"{"detail":"Not here"}"#),
            "HTTP 422: Not here"
        );
        assert_eq!(
            describe(422, None, r#"{"detail":[{"loc":["body"]}]}"#),
            r#"HTTP 422: [{"loc":["body"]}]"#
        );
    }

    #[test]
    fn other_bodies_keep_their_start() {
        let html = format!("<html>{}</html>", "x".repeat(500));
        let text = describe(502, Some("Bad Gateway"), &html);
        assert_eq!(text, format!("HTTP 502: {}", &html[..RAW_MAX]));
        assert_eq!(
            describe(503, Some("Service Unavailable"), "  "),
            "HTTP 503: Service Unavailable (empty body)"
        );
        // JSON without a message is shown as it is.
        assert_eq!(describe(500, None, r#"{"a":1}"#), r#"HTTP 500: {"a":1}"#);
    }
}
