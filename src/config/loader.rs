//! Reading experiment files: YAML parsing with locations, `extends` (single level, deep merge),
//! and resolving relative paths against the file that wrote them.

use std::path::{Component, Path, PathBuf};

use serde_yaml::Value;

use super::error::{ConfigError, Issue};
use super::keys::check_document;
use super::raw::RawExperiment;
use super::types::Experiment;
use super::validate::validate;
use crate::providers::runpod::pricing::PriceTable;

/// Load, merge, check and validate an experiment file with the built-in GPU price table.
pub fn load(path: &Path) -> Result<Experiment, ConfigError> {
    load_with(path, &PriceTable::builtin())
}

/// Like [`load`], validating `gpu_type` against the given price table.
pub fn load_with(path: &Path, prices: &PriceTable) -> Result<Experiment, ConfigError> {
    let (raw, mut issues) = load_raw(path)?;
    match validate(raw, prices) {
        Ok(exp) if issues.is_empty() => Ok(exp),
        Ok(_) => Err(invalid(path, issues)),
        Err(more) => {
            // A field whose value was rejected as the wrong type reads as unset afterwards;
            // do not report it a second time as missing.
            for issue in more {
                if !issues.iter().any(|i| covers(&i.path, &issue.path)) {
                    issues.push(issue);
                }
            }
            Err(invalid(path, issues))
        }
    }
}

/// The merged raw config of a file (after `extends`, with paths resolved), plus the problems
/// found in its keys and value types. Does not validate.
pub fn load_raw(path: &Path) -> Result<(RawExperiment, Vec<Issue>), ConfigError> {
    let mut issues = Vec::new();
    let child = read_file(path, &mut issues, None)?;
    let merged = match child.get("extends").and_then(Value::as_str) {
        None => child,
        Some(parent_path) => {
            let parent_path = PathBuf::from(parent_path);
            let mut parent = match read_file(&parent_path, &mut issues, Some(&parent_path)) {
                Ok(parent) => parent,
                Err(ConfigError::Read { path: p, source }) => {
                    let issue =
                        Issue::new("extends", format!("cannot read {}: {source}", p.display()));
                    return Err(invalid(path, vec![issue]));
                }
                Err(e) => return Err(e),
            };
            if let Value::Mapping(m) = &mut parent {
                if m.remove("extends").is_some() {
                    issues.push(Issue::new(
                        "extends",
                        format!(
                            "{} has its own 'extends'; only one level of inheritance is supported",
                            parent_path.display()
                        ),
                    ));
                }
            }
            deep_merge(parent, child)
        }
    };
    match serde_yaml::from_value::<RawExperiment>(merged) {
        Ok(raw) => Ok((raw, issues)),
        Err(e) => {
            issues.push(Issue::new("(root)", e.to_string()));
            Err(invalid(path, issues))
        }
    }
}

fn invalid(path: &Path, issues: Vec<Issue>) -> ConfigError {
    ConfigError::Invalid {
        path: path.to_path_buf(),
        issues,
    }
}

/// `earlier` already reported something about `later` (same field or a parent of it).
fn covers(earlier: &str, later: &str) -> bool {
    earlier == later
        || later.starts_with(&format!("{earlier}."))
        || earlier.starts_with(&format!("{later}["))
}

/// Read one file: parse, check keys and types (issues of a parent file say which file), and
/// resolve its relative paths against its own directory.
fn read_file(
    path: &Path,
    issues: &mut Vec<Issue>,
    parent: Option<&Path>,
) -> Result<Value, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut doc: Value = serde_yaml::from_str(&text).map_err(|e| {
        let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        ConfigError::Yaml {
            path: path.to_path_buf(),
            line,
            column,
            message: e.to_string(),
        }
    })?;
    let mut own = Vec::new();
    check_document(&mut doc, &mut own);
    if let Some(parent) = parent {
        for issue in &mut own {
            issue.message = format!("{} (in {})", issue.message, parent.display());
        }
    }
    issues.extend(own);
    let dir = absolute(path)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    resolve_paths(&mut doc, &dir);
    Ok(doc)
}

/// Make the relative paths a file wrote absolute, against that file's directory.
fn resolve_paths(doc: &mut Value, dir: &Path) {
    let resolve = |v: &mut Value, only_with_slash: bool| {
        if let Some(s) = v.as_str() {
            let p = Path::new(s);
            if !p.is_absolute() && (!only_with_slash || s.contains('/')) {
                *v = Value::String(normalize(&dir.join(p)).display().to_string());
            }
        }
    };
    if let Some(v) = doc.get_mut("extends") {
        resolve(v, false);
    }
    if let Some(v) = field_mut(doc, &["workload", "requests", "source"]) {
        resolve(v, false);
    }
    // A bare name (`vllm`) is looked up on PATH; only paths are made absolute.
    if let Some(v) = field_mut(doc, &["infrastructure", "local", "executable"]) {
        resolve(v, true);
    }
}

fn field_mut<'a>(doc: &'a mut Value, path: &[&str]) -> Option<&'a mut Value> {
    path.iter().try_fold(doc, |v, key| v.get_mut(*key))
}

/// Maps merge recursively; any other child value (including null) replaces the parent's.
pub(crate) fn deep_merge(parent: Value, child: Value) -> Value {
    match (parent, child) {
        (Value::Mapping(mut base), Value::Mapping(over)) => {
            for (k, v) in over {
                let merged = match base.remove(&k) {
                    Some(old) => deep_merge(old, v),
                    None => v,
                };
                base.insert(k, merged);
            }
            Value::Mapping(base)
        }
        (_, child) => child,
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).map_or_else(|_| path.to_path_buf(), |p| normalize(&p))
}

/// Remove `.` and `name/..` pairs without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else if !out.has_root() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}
