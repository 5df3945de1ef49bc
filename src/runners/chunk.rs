//! The few fields of an OpenAI-style `chat.completion.chunk` the runner needs, parsed without
//! building a `serde_json::Value`: strings borrow from the event when they have no escapes, and
//! only the first choice is materialised. Text fields never allocate: an escaped string (which
//! serde cannot borrow) is only recorded as empty or not, and re-read on the rare path that
//! needs its text (multi-turn history).

use std::borrow::Cow;
use std::fmt;

use serde::de::{IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

#[derive(Debug, Deserialize)]
pub(crate) struct Chunk<'a> {
    #[serde(default, borrow)]
    pub choices: FirstOf<Choice<'a>>,
    #[serde(default)]
    pub usage: Option<Usage>,
    /// `{"error": {...}}` (rare, so a `Value` is fine here; absent or null costs nothing).
    #[serde(default)]
    pub error: Option<serde_json::Value>,
    /// Old vLLM flat error: `{"object": "error", "message": ...}`.
    #[serde(default, borrow)]
    pub object: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub message: Option<Cow<'a, str>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) struct Usage {
    #[serde(default)]
    pub prompt_tokens: Option<u64>,
    #[serde(default)]
    pub completion_tokens: Option<u64>,
}

/// The first element of an array (`choices[0]`), if there is one; the rest is skipped.
#[derive(Debug)]
pub(crate) struct FirstOf<T>(pub Option<T>);

#[derive(Debug, Deserialize)]
pub(crate) struct Choice<'a> {
    #[serde(default, borrow)]
    pub delta: Option<Delta<'a>>,
    /// `/v1/completions` streams carry the text here instead of in `delta`.
    #[serde(default, borrow)]
    pub text: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Delta<'a> {
    #[serde(default, borrow)]
    pub content: Option<Text<'a>>,
    #[serde(default, borrow)]
    pub reasoning_content: Option<Text<'a>>,
    #[serde(default, borrow)]
    pub reasoning: Option<Text<'a>>,
}

/// A JSON string seen without copying it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Text<'a> {
    /// No escapes: the text itself, borrowed from the event.
    Borrowed(&'a str),
    /// Had escapes: only whether it was empty (see `content_text` for the text).
    Escaped { empty: bool },
}

impl Text<'_> {
    fn is_empty(&self) -> bool {
        match self {
            Text::Borrowed(s) => s.is_empty(),
            Text::Escaped { empty } => *empty,
        }
    }
}

/// `choices[0].delta.content` only, allocating when escaped: the slow path for reply text.
#[derive(Deserialize)]
struct ContentOnly<'a> {
    #[serde(default, borrow)]
    choices: FirstOf<ContentChoice<'a>>,
}

#[derive(Deserialize)]
struct ContentChoice<'a> {
    #[serde(default, borrow)]
    delta: Option<ContentDelta<'a>>,
}

#[derive(Deserialize)]
struct ContentDelta<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
}

/// The answer text of the chunk in `data`, unescaped.
pub(crate) fn content_text(data: &str) -> Option<Cow<'_, str>> {
    serde_json::from_str::<ContentOnly>(data)
        .ok()?
        .choices
        .0?
        .delta?
        .content
}

impl<'a> Chunk<'a> {
    pub fn parse(data: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(data)
    }

    /// The server's error message if this chunk reports a failure.
    pub fn error_message(&self) -> Option<String> {
        if let Some(err) = &self.error {
            if err.is_null() {
                return None;
            }
            let msg = err
                .get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
                .or_else(|| err.as_str().map(str::to_string))
                .unwrap_or_else(|| err.to_string());
            return Some(msg);
        }
        if self.object.as_deref() == Some("error") {
            return Some(
                self.message
                    .as_deref()
                    .unwrap_or("error object without a message")
                    .to_string(),
            );
        }
        None
    }

    pub fn delta(&self) -> Option<&Delta<'a>> {
        self.choices.0.as_ref().and_then(|c| c.delta.as_ref())
    }

    /// Whether this chunk carries generated text (answer or reasoning). The role chunk's
    /// `content: ""` does not count.
    pub fn carries_text(&self) -> bool {
        let completion_text = self.choices.0.as_ref().is_some_and(|c| non_empty(&c.text));
        completion_text
            || self.delta().is_some_and(|d| {
                non_empty(&d.content) || non_empty(&d.reasoning_content) || non_empty(&d.reasoning)
            })
    }

    /// The answer text of this chunk (not the reasoning), for multi-turn history.
    pub fn content(&self) -> Option<Text<'a>> {
        self.delta().and_then(|d| d.content)
    }
}

fn non_empty(s: &Option<Text<'_>>) -> bool {
    s.as_ref().is_some_and(|s| !s.is_empty())
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(std::marker::PhantomData<&'a ()>);

        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(Text::Borrowed(v))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text::Escaped {
                    empty: v.is_empty(),
                })
            }
        }

        deserializer.deserialize_str(TextVisitor(std::marker::PhantomData))
    }
}

impl<T> Default for FirstOf<T> {
    fn default() -> Self {
        FirstOf(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for FirstOf<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FirstVisitor<T>(std::marker::PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for FirstVisitor<T> {
            type Value = FirstOf<T>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of choices or null")
            }

            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(FirstOf(None))
            }

            fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(FirstOf(None))
            }

            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_seq(self)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let first: Option<T> = seq.next_element()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FirstOf(first))
            }
        }

        deserializer.deserialize_option(FirstVisitor(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_chunks_carry_their_text_in_choices() {
        let c =
            Chunk::parse(r#"{"object":"text_completion","choices":[{"index":0,"text":" fox"}]}"#)
                .unwrap();
        assert!(c.carries_text());
        let empty = Chunk::parse(r#"{"choices":[{"index":0,"text":""}]}"#).unwrap();
        assert!(!empty.carries_text());
    }

    #[test]
    fn role_chunk_does_not_carry_text() {
        let c = Chunk::parse(
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning_content":null}}]}"#,
        )
        .unwrap();
        assert!(!c.carries_text());
        assert_eq!(c.content(), Some(Text::Borrowed("")));
    }

    #[test]
    fn reasoning_counts_as_text_but_not_as_content() {
        let c = Chunk::parse(r#"{"choices":[{"delta":{"reasoning_content":"hm"}}]}"#).unwrap();
        assert!(c.carries_text());
        assert_eq!(c.content(), None);
        let c =
            Chunk::parse(r#"{"choices":[{"delta":{"reasoning":"hm","content":null}}]}"#).unwrap();
        assert!(c.carries_text());
    }

    #[test]
    fn escaped_content_is_owned_and_correct() {
        let data = r#"{"choices":[{"delta":{"content":"a\u0012\"b"}}]}"#;
        let c = Chunk::parse(data).unwrap();
        assert!(c.carries_text());
        assert_eq!(c.content(), Some(Text::Escaped { empty: false }));
        assert_eq!(content_text(data).as_deref(), Some("a\u{12}\"b"));
        let empty = Chunk::parse(r#"{"choices":[{"delta":{"content":"","x":"\n"}}]}"#).unwrap();
        assert!(!empty.carries_text());
    }

    #[test]
    fn empty_or_null_or_missing_choices_are_tolerated() {
        for s in [
            r#"{"choices":[],"usage":{"prompt_tokens":13,"completion_tokens":3}}"#,
            r#"{"choices":null}"#,
            r#"{}"#,
            r#"{"choices":[{"finish_reason":"length","index":0,"delta":{}}]}"#,
        ] {
            let c = Chunk::parse(s).unwrap();
            assert!(!c.carries_text(), "{s}");
        }
        let c =
            Chunk::parse(r#"{"choices":[],"usage":{"prompt_tokens":13,"completion_tokens":3}}"#)
                .unwrap();
        assert_eq!(
            c.usage,
            Some(Usage {
                prompt_tokens: Some(13),
                completion_tokens: Some(3)
            })
        );
    }

    #[test]
    fn only_first_choice_is_read() {
        let c =
            Chunk::parse(r#"{"choices":[{"delta":{"content":"x"}},{"delta":{"content":"y"}},3]}"#)
                .unwrap();
        assert_eq!(c.content(), Some(Text::Borrowed("x")));
    }

    #[test]
    fn error_objects_in_both_formats() {
        let nested = Chunk::parse(
            r#"{"error":{"object":"error","message":"boom","type":"BadRequestError","param":null,"code":400}}"#,
        )
        .unwrap();
        assert_eq!(nested.error_message().as_deref(), Some("boom"));
        let flat = Chunk::parse(r#"{"object":"error","message":"flat boom","code":500}"#).unwrap();
        assert_eq!(flat.error_message().as_deref(), Some("flat boom"));
        let plain = Chunk::parse(r#"{"error":"just a string"}"#).unwrap();
        assert_eq!(plain.error_message().as_deref(), Some("just a string"));
        let none = Chunk::parse(r#"{"object":"chat.completion.chunk","error":null}"#).unwrap();
        assert_eq!(none.error_message(), None);
    }
}
