//! Prompt files (JSONL): the messages format and the scripted multi-turn `turns` format.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::runners::ChatMessage;

/// The parsed prompt file.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptSet {
    /// `{"messages": [...]}` per line.
    Messages(Vec<Vec<ChatMessage>>),
    /// `{"turns": ["first", "second", ...]}` per line (multi-turn scripts).
    Scripted(Vec<Vec<String>>),
}

impl Default for PromptSet {
    /// No prompts (a config whose prompt file could not be read).
    fn default() -> Self {
        PromptSet::Messages(Vec::new())
    }
}

impl PromptSet {
    pub fn len(&self) -> usize {
        match self {
            PromptSet::Messages(v) => v.len(),
            PromptSet::Scripted(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Which prompt the `i`-th request (0-based) uses: prompts cycle when there are fewer
    /// prompts than requests. `None` only for an empty set.
    pub fn cycle_index(&self, i: usize) -> Option<usize> {
        let n = self.len();
        (n > 0).then(|| i % n)
    }

    /// The messages of the first `count` requests, cycling through the file. For a scripted
    /// file each request is the script's first turn as a single user message.
    pub fn cycled_messages(&self, count: usize) -> Vec<Vec<ChatMessage>> {
        (0..count)
            .filter_map(|i| self.cycle_index(i))
            .map(|k| match self {
                PromptSet::Messages(v) => v[k].clone(),
                PromptSet::Scripted(v) => vec![ChatMessage::new("user", v[k][0].clone())],
            })
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("cannot read prompt file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: no prompts (the file has no non-blank lines)")]
    Empty { path: PathBuf },
}

/// Load a prompt file. Blank lines are ignored; a bad line is an error naming file and line.
pub fn load_prompts(path: &Path) -> Result<PromptSet, PromptError> {
    load_prompts_with_lines(path).map(|(set, _)| set)
}

/// Like [`load_prompts`], also returning the 1-based file line of each prompt (for messages
/// about a particular entry, e.g. a script shorter than `conversation.turns`).
pub fn load_prompts_with_lines(path: &Path) -> Result<(PromptSet, Vec<usize>), PromptError> {
    let text = std::fs::read_to_string(path).map_err(|source| PromptError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_prompts(path, &text)
}

enum Entry {
    Messages(Vec<ChatMessage>),
    Turns(Vec<String>),
}

fn parse_prompts(path: &Path, text: &str) -> Result<(PromptSet, Vec<usize>), PromptError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let line_err = |line: usize, message: String| PromptError::Line {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut set: Option<PromptSet> = None;
    let mut first_line = 0;
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let entry = parse_line(raw).map_err(|m| line_err(line_no, m))?;
        match (&mut set, entry) {
            (None, Entry::Messages(m)) => set = Some(PromptSet::Messages(vec![m])),
            (None, Entry::Turns(t)) => set = Some(PromptSet::Scripted(vec![t])),
            (Some(PromptSet::Messages(v)), Entry::Messages(m)) => v.push(m),
            (Some(PromptSet::Scripted(v)), Entry::Turns(t)) => v.push(t),
            (Some(s), _) => {
                let (this, first) = match s {
                    PromptSet::Messages(_) => ("turns", "messages"),
                    PromptSet::Scripted(_) => ("messages", "turns"),
                };
                return Err(line_err(
                    line_no,
                    format!(
                        "this line uses the '{this}' format but line {first_line} uses the \
                         '{first}' format; all lines of a prompt file must use one format"
                    ),
                ));
            }
        }
        if first_line == 0 {
            first_line = line_no;
        }
        lines.push(line_no);
    }
    match set {
        Some(set) => Ok((set, lines)),
        None => Err(PromptError::Empty {
            path: path.to_path_buf(),
        }),
    }
}

const EXPECTED: &str =
    r#"expected {"messages": [{"role": "user", "content": "..."}]} or {"turns": ["...", ...]}"#;

fn parse_line(line: &str) -> Result<Entry, String> {
    let value: Value =
        serde_json::from_str(line).map_err(|e| format!("invalid JSON ({e}); {EXPECTED}"))?;
    let Value::Object(obj) = value else {
        return Err(format!("not a JSON object; {EXPECTED}"));
    };
    match (obj.get("messages"), obj.get("turns")) {
        (Some(_), Some(_)) => Err("has both 'messages' and 'turns'; use one of them".to_string()),
        (Some(m), None) => parse_messages(m).map(Entry::Messages),
        (None, Some(t)) => parse_turns(t).map(Entry::Turns),
        (None, None) => Err(format!("no 'messages' or 'turns' field; {EXPECTED}")),
    }
}

fn parse_messages(value: &Value) -> Result<Vec<ChatMessage>, String> {
    let Value::Array(items) = value else {
        return Err("'messages' must be a list of {\"role\", \"content\"} objects".to_string());
    };
    if items.is_empty() {
        return Err("'messages' is empty".to_string());
    }
    items
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let role = m.get("role").and_then(Value::as_str);
            let content = m.get("content").and_then(Value::as_str);
            match (role, content) {
                (Some(r), Some(c)) if !r.is_empty() => Ok(ChatMessage::new(r, c)),
                _ => Err(format!(
                    "messages[{i}] must be an object with string 'role' and 'content'"
                )),
            }
        })
        .collect()
}

fn parse_turns(value: &Value) -> Result<Vec<String>, String> {
    let Value::Array(items) = value else {
        return Err("'turns' must be a list of user messages".to_string());
    };
    if items.is_empty() {
        return Err("'turns' is empty".to_string());
    }
    items
        .iter()
        .enumerate()
        .map(|(i, t)| {
            t.as_str()
                .map(String::from)
                .ok_or_else(|| format!("turns[{i}] must be a string"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PromptSet, PromptError> {
        parse_prompts(Path::new("p.jsonl"), text).map(|(s, _)| s)
    }

    const MSG: &str = r#"{"messages": [{"role": "user", "content": "hi"}]}"#;

    #[test]
    fn messages_format_with_blank_lines() {
        let text = format!("{MSG}\n\n   \n{}\n", MSG.replace("hi", "yo"));
        let (set, lines) = parse_prompts(Path::new("p.jsonl"), &text).unwrap();
        assert_eq!(lines, vec![1, 4]);
        let PromptSet::Messages(m) = set else {
            panic!()
        };
        assert_eq!(m[1], vec![ChatMessage::new("user", "yo")]);
    }

    #[test]
    fn scripted_format() {
        let set = parse("{\"turns\": [\"a\", \"b\"]}\r\n{\"turns\": [\"c\"]}").unwrap();
        assert_eq!(
            set,
            PromptSet::Scripted(vec![vec!["a".into(), "b".into()], vec!["c".into()]])
        );
    }

    #[test]
    fn bad_line_names_file_and_line_number() {
        let err = parse(&format!("{MSG}\n\n{{not json\n")).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("p.jsonl:3: invalid JSON"), "{text}");
        assert!(matches!(err, PromptError::Line { line: 3, .. }));
    }

    #[test]
    fn mixed_formats_name_the_breaking_line() {
        let err = parse(&format!("\n{MSG}\n{{\"turns\": [\"a\"]}}\n")).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("p.jsonl:3: "), "{text}");
        assert!(text.contains("line 2 uses the 'messages' format"), "{text}");
    }

    #[test]
    fn malformed_entries_are_rejected() {
        for bad in [
            "[1, 2]",
            "{}",
            r#"{"messages": []}"#,
            r#"{"messages": [{"role": "user"}]}"#,
            r#"{"turns": "hello"}"#,
            r#"{"turns": [1]}"#,
            r#"{"messages": [{"role":"user","content":"x"}], "turns": ["a"]}"#,
        ] {
            assert!(
                matches!(parse(bad), Err(PromptError::Line { line: 1, .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn empty_and_missing_files() {
        assert!(matches!(parse("\n \n"), Err(PromptError::Empty { .. })));
        let missing = load_prompts(Path::new("/definitely/not/here.jsonl"));
        assert!(matches!(missing, Err(PromptError::Read { .. })));
    }

    #[test]
    fn prompts_cycle_to_reach_count() {
        let set = parse(&format!("{MSG}\n{}\n", MSG.replace("hi", "yo"))).unwrap();
        let got: Vec<String> = set
            .cycled_messages(5)
            .into_iter()
            .map(|m| m[0].content.clone())
            .collect();
        assert_eq!(got, vec!["hi", "yo", "hi", "yo", "hi"]);
        assert_eq!(set.cycle_index(7), Some(1));
        let scripted = parse("{\"turns\": [\"first\", \"second\"]}").unwrap();
        assert_eq!(
            scripted.cycled_messages(2),
            vec![vec![ChatMessage::new("user", "first")]; 2]
        );
        assert_eq!(PromptSet::Messages(vec![]).cycle_index(3), None);
    }
}
