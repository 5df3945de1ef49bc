//! ShareGPT conversations: `[{"conversations": [{"from": "human"|"gpt", "value": "..."}]}]`.

use std::path::{Path, PathBuf};

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ShareGptError {
    #[error("cannot read ShareGPT file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path}:{line}: conversation {index}: {message}")]
    Entry {
        path: PathBuf,
        line: usize,
        index: usize,
        message: String,
    },
}

/// One conversation: the human turns and, after each, the reply that followed (if any).
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub turns: Vec<(String, Option<String>)>,
}

/// Whether a JSON text looks like ShareGPT (a list whose first entry has `conversations`).
pub fn looks_like_sharegpt(text: &str) -> bool {
    let head = text.trim_start_matches('\u{feff}').trim_start();
    head.starts_with('[')
        && head
            .get(..head.len().min(4096))
            .is_some_and(|h| h.contains("\"conversations\""))
}

pub fn load(path: &Path) -> Result<Vec<Conversation>, ShareGptError> {
    let text = crate::input_file::read_to_string(path).map_err(|source| ShareGptError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

pub fn parse(path: &Path, text: &str) -> Result<Vec<Conversation>, ShareGptError> {
    let invalid = |message: String| ShareGptError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let text = text.trim_start_matches('\u{feff}');
    let value: Value = serde_json::from_str(text)
        .map_err(|e| invalid(format!("invalid JSON at line {} ({e})", e.line())))?;
    let Value::Array(items) = value else {
        return Err(invalid(
            "expected a JSON list of {\"conversations\": [{\"from\": \"human\", \"value\": …}]}"
                .into(),
        ));
    };
    if items.is_empty() {
        return Err(invalid("the list has no conversations".into()));
    }
    let lines = entry_lines(text);
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            parse_entry(item).map_err(|message| ShareGptError::Entry {
                path: path.to_path_buf(),
                line: lines.get(index).copied().unwrap_or(1),
                index,
                message,
            })
        })
        .collect()
}

fn parse_entry(item: &Value) -> Result<Conversation, String> {
    let Some(Value::Array(msgs)) = item.get("conversations") else {
        return Err("no 'conversations' list".into());
    };
    let mut turns: Vec<(String, Option<String>)> = Vec::new();
    for (k, m) in msgs.iter().enumerate() {
        let from = m.get("from").and_then(Value::as_str);
        let value = m.get("value").and_then(Value::as_str);
        let (Some(from), Some(value)) = (from, value) else {
            return Err(format!(
                "conversations[{k}] needs string 'from' and 'value'"
            ));
        };
        match from {
            "human" | "user" => turns.push((value.to_string(), None)),
            "gpt" | "assistant" | "chatgpt" | "bing" | "bard" => {
                if let Some(last) = turns.last_mut() {
                    last.1.get_or_insert_with(|| value.to_string());
                }
            }
            _ => {} // system and other roles are not replayed
        }
    }
    if turns.is_empty() {
        return Err("has no human turn".into());
    }
    Ok(Conversation { turns })
}

/// 1-based line where each top-level list entry starts (for messages naming file:line).
fn entry_lines(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let (mut depth, mut line, mut in_str, mut escaped) = (0i32, 1usize, false, false);
    for c in text.chars() {
        if c == '\n' {
            line += 1;
        }
        if in_str {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '[' | '{' => {
                if depth == 1 {
                    out.push(line);
                }
                depth += 1;
            }
            ']' | '}' => depth -= 1,
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../tests/fixtures/sharegpt-small.json");

    #[test]
    fn the_fixture_parses_with_human_turns_and_replies() {
        assert!(looks_like_sharegpt(FIXTURE));
        let convs = parse(Path::new("s.json"), FIXTURE).unwrap();
        assert!(convs.len() >= 3);
        assert!(convs[0].turns[0].1.is_some());
        assert!(convs.iter().any(|c| c.turns.len() >= 2));
    }

    #[test]
    fn a_conversation_with_no_human_turn_names_file_line_and_index() {
        let text = "[\n {\"conversations\": [{\"from\": \"human\", \"value\": \"hi\"}]},\n \
                    {\"conversations\": [{\"from\": \"gpt\", \"value\": \"hello\"}]}\n]";
        let err = parse(Path::new("s.json"), text).unwrap_err().to_string();
        assert_eq!(err, "s.json:3: conversation 1: has no human turn");
        let err = parse(Path::new("s.json"), "{\"messages\": []}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected a JSON list"), "{err}");
        let err = parse(
            Path::new("s.json"),
            "[{\"conversations\": [{\"from\": \"human\"}]}]",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("conversations[0] needs string 'from' and 'value'"),
            "{err}"
        );
        assert!(!looks_like_sharegpt("{\"messages\": []}\n"));
    }
}
