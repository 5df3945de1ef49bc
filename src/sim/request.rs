//! Parsing and validating `/v1/chat/completions` bodies (unknown fields are accepted, as the
//! real servers do for sampling knobs the simulator ignores).

use serde::Deserialize;

use super::profile::SimProfile;
use super::tokenizer;

/// `max_tokens` when the request gives none (real servers use the whole remaining context,
/// which would make a simulated reply needlessly long).
pub const DEFAULT_MAX_TOKENS: usize = 512;

#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    #[serde(default)]
    pub max_tokens: Option<i64>,
    #[serde(default)]
    pub max_completion_tokens: Option<i64>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub ignore_eos: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: Option<bool>,
    #[serde(default)]
    pub continuous_usage_stats: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<MessageContent>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Deserialize)]
pub struct ContentPart {
    #[serde(default)]
    pub text: Option<String>,
}

impl ChatMessage {
    /// The message's text (text parts joined; other parts carry no text).
    pub fn text(&self) -> String {
        match &self.content {
            None => String::new(),
            Some(MessageContent::Text(t)) => t.clone(),
            Some(MessageContent::Parts(parts)) => parts
                .iter()
                .filter_map(|p| p.text.as_deref())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// A validated request, ready for the engine.
#[derive(Debug)]
pub struct Prepared {
    pub prompt_tokens: Vec<u64>,
    pub max_tokens: usize,
    pub ignore_eos: bool,
    pub stream: bool,
    pub include_usage: bool,
    pub continuous_usage: bool,
}

/// Parse the body; the error is the message for an HTTP 400.
pub fn parse(body: &[u8]) -> Result<ChatRequest, String> {
    serde_json::from_slice(body).map_err(|e| format!("Invalid request body: {e}"))
}

/// Count the prompt and check the lengths; the error is the message for an HTTP 400.
#[cfg(test)]
pub fn prepare(req: &ChatRequest, profile: &SimProfile) -> Result<Prepared, String> {
    prepare_with(req, profile, None)
}

/// Like [`prepare`], counting with a real tokenizer when one is configured.
pub fn prepare_with(
    req: &ChatRequest,
    profile: &SimProfile,
    hf: Option<&crate::tokens::TextTokenizer>,
) -> Result<Prepared, String> {
    if req.messages.is_empty() {
        return Err("messages must contain at least one message.".into());
    }
    let texts: Vec<(String, String)> = req
        .messages
        .iter()
        .map(|m| (m.role.clone(), m.text()))
        .collect();
    let pairs = texts.iter().map(|(r, c)| (r.as_str(), c.as_str()));
    let prompt_tokens = match hf {
        Some(tok) => super::hf::chat_prompt_ids(tok, pairs)?,
        None => tokenizer::chat_prompt_tokens(pairs),
    };
    let limits = Limits {
        max_tokens: req.max_completion_tokens.or(req.max_tokens),
        ignore_eos: req.ignore_eos,
        stream: req.stream,
        stream_options: req.stream_options.as_ref(),
    };
    check_lengths(prompt_tokens, limits, profile)
}

/// The request fields the length check and the stream need (chat and completions alike).
pub struct Limits<'a> {
    pub max_tokens: Option<i64>,
    pub ignore_eos: Option<bool>,
    pub stream: Option<bool>,
    pub stream_options: Option<&'a StreamOptions>,
}

/// Check that prompt and output fit the context and the KV cache.
pub fn check_lengths(
    prompt_tokens: Vec<u64>,
    req: Limits<'_>,
    profile: &SimProfile,
) -> Result<Prepared, String> {
    let prompt_len = prompt_tokens.len();
    let max_model_len = usize::try_from(profile.max_model_len).unwrap_or(usize::MAX);
    let max_tokens = match req.max_tokens {
        Some(n) if n < 1 => return Err(format!("max_tokens must be at least 1, got {n}.")),
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        None => DEFAULT_MAX_TOKENS.min(max_model_len.saturating_sub(prompt_len).max(1)),
    };
    let total = prompt_len.saturating_add(max_tokens);
    if total > max_model_len {
        return Err(format!(
            "This model's maximum context length is {max_model_len} tokens. However, you \
             requested {total} tokens ({prompt_len} in the messages, {max_tokens} in the \
             completion). Please reduce the length of the messages or completion."
        ));
    }
    // A sequence must fit the KV cache on its own, or it could never finish.
    let bs = profile.block_size;
    let blocks = prompt_len / bs + (prompt_len % bs + max_tokens).div_ceil(bs);
    if blocks > profile.kv_blocks() {
        return Err(format!(
            "The request needs {} KV-cache tokens ({prompt_len} prompt + {max_tokens} output) \
             but the simulated KV cache holds {}; raise `kv_cache_tokens` in the simulation \
             profile or lower max_tokens.",
            blocks * bs,
            profile.kv_blocks() * bs
        ));
    }
    let options = req.stream_options;
    let include_usage = options.and_then(|o| o.include_usage).unwrap_or(false);
    Ok(Prepared {
        prompt_tokens,
        max_tokens,
        ignore_eos: req.ignore_eos.unwrap_or(false),
        stream: req.stream.unwrap_or(false),
        include_usage,
        continuous_usage: include_usage
            && options
                .and_then(|o| o.continuous_usage_stats)
                .unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(json: &str) -> ChatRequest {
        parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn parses_string_and_part_contents_and_ignores_unknown_fields() {
        let r = req(r#"{"model":"m","temperature":0.7,"messages":[
                {"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url"}]},
                {"role":"assistant","content":null}]}"#);
        assert_eq!(r.messages[0].text(), "hi");
        assert_eq!(r.messages[1].text(), "");
        let p = prepare(&r, &SimProfile::default()).unwrap();
        assert_eq!(p.max_tokens, DEFAULT_MAX_TOKENS);
        assert!(!p.stream && !p.include_usage);
    }

    #[test]
    fn rejects_bad_bodies_and_lengths() {
        assert!(parse(b"{").is_err());
        assert!(parse(br#"{"messages":[]}"#).unwrap_err().contains("model"));
        let p = SimProfile::default();
        let empty = req(r#"{"model":"m","messages":[]}"#);
        assert!(prepare(&empty, &p).is_err());
        let zero =
            req(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0}"#);
        assert!(prepare(&zero, &p).unwrap_err().contains("at least 1"));
        let long =
            req(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":40000}"#);
        assert!(prepare(&long, &p)
            .unwrap_err()
            .contains("maximum context length is 32768"));
        let small_kv = SimProfile {
            kv_cache_tokens: 64,
            ..SimProfile::default()
        };
        let big =
            req(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":100}"#);
        assert!(prepare(&big, &small_kv)
            .unwrap_err()
            .contains("kv_cache_tokens"));
    }

    #[test]
    fn stream_options_flags() {
        let r = req(
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,
                "max_completion_tokens":5,"ignore_eos":true,
                "stream_options":{"include_usage":true,"continuous_usage_stats":true}}"#,
        );
        let p = prepare(&r, &SimProfile::default()).unwrap();
        assert!(p.stream && p.include_usage && p.continuous_usage && p.ignore_eos);
        assert_eq!(p.max_tokens, 5);
    }
}
