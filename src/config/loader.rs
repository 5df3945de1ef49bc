//! Reading experiment files: YAML parsing with locations, `extends` (chains of any depth, deep
//! merge, cycles refused), and resolving relative paths against the file that wrote them.

use std::path::{Component, Path, PathBuf};

use serde_yaml::Value;

use super::error::{ConfigError, Issue};
use super::keys::check_document;
use super::raw::RawExperiment;
use super::types::Experiment;
use super::validate::{validate_with, ValidateOptions};
use crate::providers::runpod::pricing::PriceTable;

/// Load, merge, check and validate an experiment file with the built-in GPU price table.
pub fn load(path: &Path) -> Result<Experiment, ConfigError> {
    load_with(path, &PriceTable::builtin())
}

/// Like [`load`], validating `gpu_type` against the given price table.
pub fn load_with(path: &Path, prices: &PriceTable) -> Result<Experiment, ConfigError> {
    load_with_options(path, prices, ValidateOptions::default())
}

/// Like [`load_with`], with validation options (e.g. `--server-url` skips provider rules).
pub fn load_with_options(
    path: &Path,
    prices: &PriceTable,
    opts: ValidateOptions,
) -> Result<Experiment, ConfigError> {
    let (raw, mut issues) = load_raw(path)?;
    match validate_with(raw, prices, opts) {
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
    let merged = merge_extends(path, child, &mut issues)?;
    match serde_yaml::from_value::<RawExperiment>(merged) {
        Ok(raw) => Ok((raw, issues)),
        Err(e) => {
            issues.push(Issue::new("(root)", e.to_string()));
            Err(invalid(path, issues))
        }
    }
}

/// Longest `extends` chain followed; deeper is surely a mistake (a cycle is caught before).
const MAX_EXTENDS_DEPTH: usize = 16;

/// Follow `extends` from `child` (read from `path`) to the root of the chain and deep-merge
/// every file over its parent. A file named twice is a cycle: an error naming the files.
fn merge_extends(path: &Path, child: Value, issues: &mut Vec<Issue>) -> Result<Value, ConfigError> {
    let mut chain = vec![absolute(path)];
    let mut parents: Vec<Value> = Vec::new();
    let mut next = child
        .get("extends")
        .and_then(Value::as_str)
        .map(PathBuf::from);
    while let Some(parent_path) = next {
        let parent_path = absolute(&parent_path);
        if chain.contains(&parent_path) {
            chain.push(parent_path);
            let names: Vec<String> = chain.iter().map(|p| p.display().to_string()).collect();
            let issue = Issue::new(
                "extends",
                format!(
                    "extends cycle: {}; remove one of these 'extends'",
                    names.join(" → ")
                ),
            );
            return Err(invalid(path, vec![issue]));
        }
        if chain.len() > MAX_EXTENDS_DEPTH {
            let issue = Issue::new(
                "extends",
                format!("more than {MAX_EXTENDS_DEPTH} levels of 'extends' (from {}); flatten the chain", path.display()),
            );
            return Err(invalid(path, vec![issue]));
        }
        let mut parent = match read_file(&parent_path, issues, Some(&parent_path)) {
            Ok(parent) => parent,
            Err(ConfigError::Read { path: p, source }) => {
                let by = chain
                    .last()
                    .map_or(String::new(), |c| c.display().to_string());
                let issue = Issue::new(
                    "extends",
                    format!("cannot read {} (extended by {by}): {source}", p.display()),
                );
                return Err(invalid(path, vec![issue]));
            }
            Err(e) => return Err(e),
        };
        // Each file keeps its own `extends` out of the merge: the result names the child's.
        next = match &mut parent {
            Value::Mapping(m) => m
                .remove("extends")
                .and_then(|v| v.as_str().map(PathBuf::from)),
            _ => None,
        };
        chain.push(parent_path);
        parents.push(parent);
    }
    // Root first: each file merges over the one it extends, the child last.
    let base = parents.into_iter().rev().reduce(deep_merge);
    Ok(match base {
        Some(base) => deep_merge(base, child),
        None => child,
    })
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
    let text = crate::input_file::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut doc: Value = serde_yaml::from_str(&text).map_err(|e| {
        let location = e.location().map(|l| (l.line(), l.column()));
        // The position goes in front (`file:line:col`), not repeated at the end.
        let mut message = e.to_string();
        if let Some(at) = message.rfind(" at line ") {
            message.truncate(at);
        }
        let location = location.map(|at| locate_duplicate(&text, at, &e.to_string()).unwrap_or(at));
        ConfigError::Yaml {
            path: path.to_path_buf(),
            line: location.map(|l| l.0),
            column: location.map(|l| l.1),
            message,
        }
    })?;
    let mut own = Vec::new();
    // YAML merge keys (`<<: *defaults`) are applied, as YAML users expect.
    if let Err(e) = doc.apply_merge() {
        own.push(Issue::new(
            "(root)",
            format!("cannot apply YAML merge key: {e}"),
        ));
    }
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

/// serde_yaml places a duplicate-key error at the start of the mapping; point at the second
/// occurrence of the key instead (block mappings: same column, before the mapping ends).
fn locate_duplicate(
    text: &str,
    (line, col): (usize, usize),
    message: &str,
) -> Option<(usize, usize)> {
    let (_, key) = message.split_once("duplicate entry with key ")?;
    let key = key.split(" at line").next()?.trim().trim_matches('"');
    let indent = col.checked_sub(1)?;
    let mut seen = 0;
    for (i, l) in text.lines().enumerate().skip(line.checked_sub(1)?) {
        let trimmed = l.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let here = l.len() - trimmed.len();
        if here < indent {
            break;
        }
        let rest = trimmed.trim_start_matches(['"', '\'']);
        if here == indent
            && rest.starts_with(key)
            && rest[key.len()..]
                .trim_start_matches(['"', '\''])
                .trim_start()
                .starts_with(':')
        {
            seen += 1;
            if seen == 2 {
                return Some((i + 1, col));
            }
        }
    }
    None
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
    if let Some(v) = field_mut(doc, &["workload", "trace", "file"]) {
        resolve(v, false);
    }
    // A tokenizer is a path only when it looks like one or exists: `org/name` is a hub id.
    if let Some(v) = field_mut(doc, &["model", "tokenizer"]) {
        let is_path = v
            .as_str()
            .is_some_and(|s| s.starts_with('.') || s.ends_with(".json") || dir.join(s).exists());
        if is_path {
            resolve(v, false);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::Fixture;

    fn yaml(s: &str) -> Value {
        serde_yaml::from_str(s).unwrap()
    }

    #[test]
    fn deep_merge_merges_maps_and_replaces_the_rest() {
        let parent = yaml("a: {x: 1, y: {p: 1, q: 2}}\nlist: [1, 2]\nkeep: k\nn: 1\n");
        let child = yaml("a: {y: {q: 3}, z: 4}\nlist: [9]\nn: null\n");
        let merged = deep_merge(parent, child);
        assert_eq!(
            merged,
            yaml("a: {x: 1, y: {p: 1, q: 3}, z: 4}\nlist: [9]\nkeep: k\nn: null\n")
        );
    }

    const BASE: &str = "\
framework: vllm
infrastructure: {gpu_type: H100-80GB, gpu_count: 2}
workload:
  requests: {source: ../prompts/base.jsonl, count: 50}
  parameters: {max_tokens: 64}
";

    #[test]
    fn extends_across_folders_resolves_paths_against_the_writing_file() {
        let fx = Fixture::new();
        let msg = "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}\n";
        fx.write("common/prompts/base.jsonl", msg);
        fx.write("common/base/defaults.yaml", BASE);
        let child = fx.write(
            "exps/team/child.yaml",
            "name: child\nextends: ../../common/base/defaults.yaml\nmodel: {name: m}\nworkload:\n  requests: {count: 7}\n",
        );
        let exp = load(&child).unwrap();
        let expected = normalize(&fx.dir.path().join("common/prompts/base.jsonl"));
        assert_eq!(exp.workload.source, expected);
        assert_eq!(exp.workload.count, 7);
        assert_eq!(exp.workload.params.max_tokens, 64);
        assert_eq!(exp.infrastructure.gpu_count, 2);
        let extends = exp.resolved.extends.clone().unwrap();
        assert!(Path::new(&extends).is_absolute() && extends.ends_with("defaults.yaml"));

        // A source the child writes itself resolves against the child's folder.
        fx.write("exps/team/own.jsonl", msg);
        let child = fx.write(
            "exps/team/child2.yaml",
            "name: c\nextends: ../../common/base/defaults.yaml\nmodel: {name: m}\nworkload:\n  requests: {source: own.jsonl}\n",
        );
        let exp = load(&child).unwrap();
        assert_eq!(
            exp.workload.source,
            normalize(&fx.dir.path().join("exps/team/own.jsonl"))
        );
    }

    #[test]
    fn extends_chains_of_several_levels_merge_root_first() {
        let fx = Fixture::new();
        fx.write("base/root.yaml", "framework: vllm\ninfrastructure: {gpu_type: H100-80GB, gpu_count: 4}\nworkload:\n  requests: {source: ../prompts.jsonl, count: 50}\n  parameters: {max_tokens: 64}\n");
        fx.write("base/mid.yaml", "extends: root.yaml\ninfrastructure: {gpu_count: 2}\nworkload:\n  parameters: {max_tokens: 32}\n");
        let child = fx.write("exp.yaml", "name: c\nextends: base/mid.yaml\nmodel: {name: m}\nworkload:\n  requests: {count: 7}\n");
        let exp = load(&child).unwrap();
        assert_eq!(exp.infrastructure.gpu_count, 2, "mid over root");
        assert_eq!(
            exp.infrastructure.gpu_type.as_deref(),
            Some("H100-80GB"),
            "root kept"
        );
        assert_eq!(exp.workload.params.max_tokens, 32);
        assert_eq!(exp.workload.count, 7, "child over both");
        assert_eq!(
            exp.workload.source,
            normalize(&fx.dir.path().join("prompts.jsonl"))
        );
        assert!(exp.resolved.extends.unwrap().ends_with("base/mid.yaml"));
    }

    #[test]
    fn an_extends_cycle_is_an_error_naming_the_files() {
        let fx = Fixture::new();
        fx.write("a.yaml", "extends: b.yaml\nname: a\n");
        fx.write("b.yaml", "extends: c.yaml\n");
        fx.write("c.yaml", "extends: a.yaml\n");
        let err = load(&fx.dir.path().join("a.yaml")).unwrap_err().to_string();
        assert!(err.contains("extends cycle: "), "{err}");
        let at = |name: &str| {
            err.find(&format!("/{name} "))
                .or_else(|| err.find(&format!("/{name};")))
        };
        let (a, b, c) = (at("a.yaml"), at("b.yaml"), at("c.yaml"));
        assert!(a < b && b < c, "files in chain order: {err}");
        assert!(
            err.contains("c.yaml → "),
            "the cycle closes at a.yaml: {err}"
        );
        // A file extending itself is the shortest cycle.
        fx.write("self.yaml", "extends: self.yaml\nname: s\n");
        let err = load(&fx.dir.path().join("self.yaml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("self.yaml → ") && err.contains("extends cycle"),
            "{err}"
        );
    }

    #[test]
    fn local_executable_resolves_only_when_it_is_a_path() {
        let fx = Fixture::new();
        let base = "name: t\nmodel: {name: m}\nframework: vllm\ninfrastructure:\n  provider: local\n  local: {executable: EXE}\nworkload:\n  requests: {source: prompts.jsonl, count: 1}\n";
        let exp = fx.load(&base.replace("EXE", "bin/serve")).unwrap();
        let exe = exp.infrastructure.local.executable.unwrap();
        assert_eq!(exe, normalize(&fx.dir.path().join("bin/serve")));
        let exp = fx.load(&base.replace("EXE", "vllm")).unwrap();
        assert_eq!(
            exp.infrastructure.local.executable,
            Some(PathBuf::from("vllm"))
        );
    }

    #[test]
    fn malformed_yaml_reports_file_line_and_column() {
        let fx = Fixture::new();
        let err = fx.load("name: x\nmodel:\n  name: [a\n").unwrap_err();
        let ConfigError::Yaml {
            path, line, column, ..
        } = &err
        else {
            panic!("{err}")
        };
        assert!(path.ends_with("exp.yaml"));
        assert_eq!((*line, *column), (Some(4), Some(1)), "{err}");
        assert!(
            err.to_string().contains("exp.yaml:4:1: invalid YAML"),
            "{err}"
        );
        let err = fx
            .load("name: x\nmodel:\n  name: m\n   bad: indent\n")
            .unwrap_err();
        assert!(
            matches!(err, ConfigError::Yaml { line: Some(4), .. }),
            "{err}"
        );
        // Duplicate keys point at the second occurrence.
        let err = fx
            .load("name: x\nmodel:\n  name: a\n  # c\n\n  name: b\n")
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("exp.yaml:6:3: invalid YAML: model: duplicate entry"),
            "{err}"
        );
        let err = fx.load("name: x\nmodel: {name: m}\nname: y\n").unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Yaml {
                    line: Some(3),
                    column: Some(1),
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn yaml_merge_keys_are_applied() {
        let fx = Fixture::new();
        let text = format!(
            "{}  parameters:\n    <<: {{max_tokens: 9, temperature: 0.1}}\n    temperature: 0.2\n",
            crate::config::test_support::VALID
        );
        let exp = fx.load(&text).unwrap();
        assert_eq!(exp.workload.params.max_tokens, 9);
        assert_eq!(exp.workload.params.temperature, 0.2);
    }

    #[test]
    fn missing_file_is_a_read_error() {
        let err = load(Path::new("/no/such/experiment.yaml")).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
        assert!(err.to_string().contains("/no/such/experiment.yaml"));
    }

    #[test]
    fn missing_parent_is_reported_on_extends() {
        let fx = Fixture::new();
        let err = fx.load("name: x\nextends: nothere.yaml\n").unwrap_err();
        assert_eq!(err.issues().len(), 1, "{err}");
        assert_eq!(err.issues()[0].path, "extends");
        assert!(err.issues()[0].message.contains("nothere.yaml"));
    }

    #[test]
    fn unknown_key_in_parent_names_the_parent_file() {
        let fx = Fixture::new();
        fx.write("parent.yaml", "framwork: vllm\n");
        let err = fx
            .load(&format!(
                "extends: parent.yaml\n{}",
                crate::config::test_support::VALID
            ))
            .unwrap_err();
        assert_eq!(err.issues().len(), 1, "{err}");
        let issue = &err.issues()[0];
        assert_eq!(issue.path, "framwork");
        assert!(issue.message.contains("did you mean 'framework'?"));
        assert!(issue.message.contains("parent.yaml"), "{issue}");
    }

    #[test]
    fn odd_documents_never_panic() {
        let fx = Fixture::new();
        for doc in [
            "",
            "~",
            "[1, 2]",
            "42",
            "name: {a: b}",
            "workload: 3",
            "? [a]\n: b\n",
            "!tag x",
            "infrastructure: {simulation: [1]}",
        ] {
            let _ = fx.load(doc);
        }
        assert!(fx
            .load("")
            .unwrap_err()
            .issues()
            .iter()
            .any(|i| i.path == "name"));
    }
}
