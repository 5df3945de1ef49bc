//! JSON bodies exactly as vLLM (0.32 capture) or SGLang (native pydantic layout) write them.
//!
//! vLLM: role chunk with top-level `prompt_token_ids`/`prompt_text` nulls, one chunk per token
//! with `token_ids: null`, the last one carrying `finish_reason` and `stop_reason`, then a usage
//! chunk with `choices: []`. SGLang: every field printed (`usage: null` on content chunks,
//! `matched_stop`), a separate finish chunk with an empty delta, then the usage chunk.

use serde_json::{json, Value};

use crate::config::Framework;

/// SGLang's `matched_stop` for an EOS stop: the stop token id (Llama-3's `<|eot_id|>`).
const EOS_TOKEN_ID: u64 = 128_009;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
}

/// Builds the chunks of one completion.
#[derive(Debug, Clone)]
pub struct Wire {
    pub framework: Framework,
    pub id: String,
    pub created: u64,
    pub model: String,
    /// `/v1/completions`: `text_completion` chunks whose choices carry `text`, not `delta`.
    pub completions: bool,
}

impl Wire {
    /// `id_hex`: at least 32 random hex digits.
    pub fn new(framework: Framework, id_hex: &str, created: u64, model: &str) -> Self {
        let id = match framework {
            Framework::Vllm => format!("chatcmpl-{}", &id_hex[..id_hex.len().min(16)]),
            Framework::Sglang => id_hex.to_string(),
        };
        Self {
            framework,
            id,
            created,
            model: model.to_string(),
            completions: false,
        }
    }

    fn usage_json(&self, u: Usage) -> Value {
        let total = u.prompt_tokens + u.completion_tokens;
        match self.framework {
            Framework::Vllm => json!({
                "prompt_tokens": u.prompt_tokens,
                "total_tokens": total,
                "completion_tokens": u.completion_tokens,
            }),
            Framework::Sglang => json!({
                "prompt_tokens": u.prompt_tokens,
                "total_tokens": total,
                "completion_tokens": u.completion_tokens,
                "prompt_tokens_details": null,
                "reasoning_tokens": 0,
            }),
        }
    }

    fn sglang_delta(role: Option<&str>, content: Option<&str>) -> Value {
        json!({"role": role, "content": content, "reasoning_content": null, "tool_calls": null})
    }

    fn chunk(&self, mut choices: Value, usage: Option<Value>) -> Value {
        if self.completions {
            // `{"delta": {"content": t}}` → `{"text": t}` (an absent content is "").
            if let Some(list) = choices.as_array_mut() {
                for c in list.iter_mut() {
                    if let Some(obj) = c.as_object_mut() {
                        let text = obj
                            .remove("delta")
                            .and_then(|d| d.get("content").cloned())
                            .filter(|t| !t.is_null())
                            .unwrap_or_else(|| json!(""));
                        obj.insert("text".into(), text);
                    }
                }
            }
        }
        let object = if self.completions {
            "text_completion"
        } else {
            "chat.completion.chunk"
        };
        let mut v = json!({
            "id": self.id,
            "object": object,
            "created": self.created,
            "model": self.model,
            "choices": choices,
        });
        match (self.framework, usage) {
            (_, Some(u)) => v["usage"] = u,
            (Framework::Sglang, None) => v["usage"] = Value::Null,
            (Framework::Vllm, None) => {}
        }
        v
    }

    /// First chunk: `delta {"role":"assistant","content":""}`. `usage` only with vLLM's
    /// `continuous_usage_stats`.
    pub fn role_chunk(&self, usage: Option<Usage>) -> Value {
        let usage = usage.map(|u| self.usage_json(u));
        match self.framework {
            Framework::Vllm => {
                let mut v = self.chunk(
                    json!([{"index": 0, "delta": {"role": "assistant", "content": ""},
                            "logprobs": null, "finish_reason": null}]),
                    usage,
                );
                v["prompt_token_ids"] = Value::Null;
                v["prompt_text"] = Value::Null;
                v
            }
            Framework::Sglang => self.chunk(
                json!([{"index": 0, "delta": Self::sglang_delta(Some("assistant"), Some("")),
                        "logprobs": null, "finish_reason": null, "matched_stop": null}]),
                usage,
            ),
        }
    }

    /// One generated token. For vLLM the last token's chunk carries `finish`.
    pub fn content_chunk(&self, text: &str, finish: Option<&str>, usage: Option<Usage>) -> Value {
        let usage = usage.map(|u| self.usage_json(u));
        match self.framework {
            Framework::Vllm => {
                let choice = match finish {
                    None => json!({"index": 0, "delta": {"content": text}, "logprobs": null,
                                   "finish_reason": null, "token_ids": null}),
                    Some(reason) => json!({"index": 0, "delta": {"content": text},
                                           "logprobs": null, "finish_reason": reason,
                                           "stop_reason": null, "token_ids": null}),
                };
                self.chunk(json!([choice]), usage)
            }
            Framework::Sglang => self.chunk(
                json!([{"index": 0, "delta": Self::sglang_delta(None, Some(text)),
                        "logprobs": null, "finish_reason": null, "matched_stop": null}]),
                usage,
            ),
        }
    }

    /// SGLang's separate finish chunk (vLLM has none: see `content_chunk`).
    pub fn finish_chunk(&self, finish: &str) -> Option<Value> {
        match self.framework {
            Framework::Vllm => None,
            Framework::Sglang => {
                let matched = if finish == "stop" {
                    json!(EOS_TOKEN_ID)
                } else {
                    Value::Null
                };
                Some(self.chunk(
                    json!([{"index": 0, "delta": Self::sglang_delta(None, None),
                            "logprobs": null, "finish_reason": finish, "matched_stop": matched}]),
                    None,
                ))
            }
        }
    }

    /// The usage-only chunk (`choices: []`) sent when `stream_options.include_usage` is set.
    pub fn usage_chunk(&self, usage: Usage) -> Value {
        let mut v = self.chunk(json!([]), Some(self.usage_json(usage)));
        if self.framework == Framework::Vllm {
            v["system_fingerprint"] = json!("vllm-sim");
        }
        v
    }

    /// A whole non-streaming `chat.completion`.
    pub fn completion(&self, text: &str, finish: &str, usage: Usage) -> Value {
        let usage = self.usage_json(usage);
        match self.framework {
            Framework::Vllm => json!({
                "id": self.id,
                "object": "chat.completion",
                "created": self.created,
                "model": self.model,
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": null,
                                "annotations": null, "audio": null, "function_call": null,
                                "tool_calls": [], "reasoning_content": null},
                    "logprobs": null,
                    "finish_reason": finish,
                    "stop_reason": null,
                }],
                "service_tier": null,
                "system_fingerprint": null,
                "usage": usage,
                "prompt_logprobs": null,
                "kv_transfer_params": null,
            }),
            Framework::Sglang => json!({
                "id": self.id,
                "object": "chat.completion",
                "created": self.created,
                "model": self.model,
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": text,
                                "reasoning_content": null, "tool_calls": null},
                    "logprobs": null,
                    "finish_reason": finish,
                    "matched_stop": if finish == "stop" { json!(EOS_TOKEN_ID) } else { Value::Null },
                }],
                "usage": usage,
            }),
        }
    }
}

/// An error body: vLLM's nested `{"error":{message,type,param,code}}`, SGLang's flat
/// `{"object":"error",message,type,param,code}`.
pub fn error_body(
    framework: Framework,
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: u16,
) -> Value {
    match framework {
        Framework::Vllm => json!({
            "error": {"message": message, "type": kind, "param": param, "code": code}
        }),
        Framework::Sglang => json!({
            "object": "error", "message": message, "type": kind, "param": param, "code": code
        }),
    }
}

/// An error frame inside an HTTP 200 stream (followed by `[DONE]`).
pub fn stream_error(framework: Framework, message: &str, kind: &str, code: u16) -> Value {
    match framework {
        Framework::Vllm => json!({
            "error": {"message": message, "type": kind, "param": null, "code": code}
        }),
        Framework::Sglang => json!({
            "error": {"object": "error", "message": message, "type": kind, "param": null,
                      "code": code}
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "b76f58ceff5e8462aaaaaaaaaaaaaaaa";

    /// The 0.32 capture's chunks, minus values that differ per request.
    #[test]
    fn vllm_chunks_match_the_capture_layout() {
        let w = Wire::new(Framework::Vllm, ID, 1795801106, "tiny");
        assert_eq!(
            w.role_chunk(None).to_string(),
            r#"{"id":"chatcmpl-b76f58ceff5e8462","object":"chat.completion.chunk","created":1795801106,"model":"tiny","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"prompt_token_ids":null,"prompt_text":null}"#
        );
        assert_eq!(
            w.content_chunk("Fox", None, None).to_string(),
            r#"{"id":"chatcmpl-b76f58ceff5e8462","object":"chat.completion.chunk","created":1795801106,"model":"tiny","choices":[{"index":0,"delta":{"content":"Fox"},"logprobs":null,"finish_reason":null,"token_ids":null}]}"#
        );
        assert_eq!(
            w.content_chunk(" 653", Some("length"), None).to_string(),
            r#"{"id":"chatcmpl-b76f58ceff5e8462","object":"chat.completion.chunk","created":1795801106,"model":"tiny","choices":[{"index":0,"delta":{"content":" 653"},"logprobs":null,"finish_reason":"length","stop_reason":null,"token_ids":null}]}"#
        );
        let usage = Usage {
            prompt_tokens: 10,
            completion_tokens: 12,
        };
        assert_eq!(
            w.usage_chunk(usage).to_string(),
            r#"{"id":"chatcmpl-b76f58ceff5e8462","object":"chat.completion.chunk","created":1795801106,"model":"tiny","choices":[],"usage":{"prompt_tokens":10,"total_tokens":22,"completion_tokens":12},"system_fingerprint":"vllm-sim"}"#
        );
        assert!(w.finish_chunk("length").is_none());
    }

    #[test]
    fn sglang_chunks_print_every_field() {
        let w = Wire::new(Framework::Sglang, ID, 1780404899, "m");
        let c = w.content_chunk("Under", None, None);
        assert_eq!(c["id"], ID);
        assert_eq!(
            c.to_string(),
            format!(
                r#"{{"id":"{ID}","object":"chat.completion.chunk","created":1780404899,"model":"m","choices":[{{"index":0,"delta":{{"role":null,"content":"Under","reasoning_content":null,"tool_calls":null}},"logprobs":null,"finish_reason":null,"matched_stop":null}}],"usage":null}}"#
            )
        );
        let f = w.finish_chunk("stop").unwrap();
        assert_eq!(f["choices"][0]["matched_stop"], EOS_TOKEN_ID);
        assert_eq!(f["choices"][0]["delta"]["content"], Value::Null);
        let u = w.usage_chunk(Usage {
            prompt_tokens: 18,
            completion_tokens: 4,
        });
        assert_eq!(u["choices"], json!([]));
        assert_eq!(u["usage"]["total_tokens"], 22);
        assert_eq!(u["usage"]["prompt_tokens_details"], Value::Null);
    }

    #[test]
    fn error_bodies_per_framework() {
        let v = error_body(
            Framework::Vllm,
            "The model `x` does not exist.",
            "NotFoundError",
            Some("model"),
            404,
        );
        assert_eq!(v["error"]["message"], "The model `x` does not exist.");
        assert_eq!(v["error"]["code"], 404);
        let s = error_body(Framework::Sglang, "bad", "BadRequestError", None, 400);
        assert_eq!(s["object"], "error");
        assert_eq!(
            stream_error(Framework::Sglang, "x", "BadRequestError", 400)["error"]["object"],
            "error"
        );
    }
}
