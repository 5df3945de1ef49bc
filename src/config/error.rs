//! Config errors: one `Issue` per problem, all reported together.

use std::fmt;
use std::path::PathBuf;

/// One problem in an experiment config, located by its field path (`workload.concurrency`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Dotted field path; `(root)` for the document itself.
    pub path: String,
    pub message: String,
}

impl Issue {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read experiment config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `line`/`column` are 1-based; `None` when the parser gives no position (duplicate keys).
    #[error("{}: invalid YAML: {message}", Located(path, *line, *column))]
    Yaml {
        path: PathBuf,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    #[error("invalid experiment config {path}:{}", IssueLines(issues))]
    Invalid { path: PathBuf, issues: Vec<Issue> },
}

impl ConfigError {
    /// The individual problems (empty for read and YAML syntax errors).
    pub fn issues(&self) -> &[Issue] {
        match self {
            ConfigError::Invalid { issues, .. } => issues,
            _ => &[],
        }
    }

    /// The file the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            ConfigError::Read { path, .. }
            | ConfigError::Yaml { path, .. }
            | ConfigError::Invalid { path, .. } => path,
        }
    }
}

/// `file:line:column`, or just the file when the position is unknown.
struct Located<'a>(&'a PathBuf, Option<usize>, Option<usize>);

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.1, self.2) {
            (Some(line), Some(col)) => write!(f, "{}:{line}:{col}", self.0.display()),
            _ => write!(f, "{}", self.0.display()),
        }
    }
}

/// Each issue on its own indented line.
struct IssueLines<'a>(&'a [Issue]);

impl fmt::Display for IssueLines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for issue in self.0 {
            write!(f, "\n  {issue}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_lists_file_and_every_issue_on_its_own_line() {
        let err = ConfigError::Invalid {
            path: PathBuf::from("exp.yaml"),
            issues: vec![
                Issue::new("infrastructure.gpu_count", "must be > 0"),
                Issue::new("workload.concurrency", "required"),
            ],
        };
        assert_eq!(
            err.to_string(),
            "invalid experiment config exp.yaml:\n  infrastructure.gpu_count: must be > 0\n  workload.concurrency: required"
        );
        assert_eq!(err.issues().len(), 2);
    }
}
