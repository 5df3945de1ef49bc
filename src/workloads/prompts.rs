//! Prompt files (JSONL): the messages format and the scripted multi-turn `turns` format.

use std::path::{Path, PathBuf};

use crate::runners::ChatMessage;

/// The parsed prompt file.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptSet {
    /// `{"messages": [...]}` per line.
    Messages(Vec<Vec<ChatMessage>>),
    /// `{"turns": ["first", "second", ...]}` per line (multi-turn scripts).
    Scripted(Vec<Vec<String>>),
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
    let _ = path;
    todo!("config helper implements this")
}
