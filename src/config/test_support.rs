//! Test helpers: a temp folder with prompt files and a valid base config to break field by field.

use std::path::PathBuf;

use serde_yaml::{Mapping, Value};
use tempfile::TempDir;

use super::{load, ConfigError, Experiment};

/// A valid runpod config; `prompts.jsonl` sits beside it.
pub(crate) const VALID: &str = "\
name: t
model:
  name: m
framework: vllm
infrastructure:
  gpu_type: A100-80GB
workload:
  requests:
    source: prompts.jsonl
    count: 5
";

pub(crate) const DELETE: &str = "<delete>";

pub(crate) struct Fixture {
    pub dir: TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        let f = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        let msg =
            |s: &str| format!("{{\"messages\": [{{\"role\": \"user\", \"content\": \"{s}\"}}]}}\n");
        f.write(
            "prompts.jsonl",
            &format!("{}{}{}", msg("a"), msg("b"), msg("c")),
        );
        f.write(
            "scripted.jsonl",
            "{\"turns\": [\"1\", \"2\", \"3\"]}\n\n{\"turns\": [\"1\", \"2\"]}\n",
        );
        f
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn load(&self, yaml: &str) -> Result<Experiment, ConfigError> {
        load(&self.write("exp.yaml", yaml))
    }

    /// `VALID` with fields set (YAML values) or removed (`DELETE`), by dotted path.
    pub fn load_with(&self, edits: &[(&str, &str)]) -> Result<Experiment, ConfigError> {
        let mut doc: Value = serde_yaml::from_str(VALID).unwrap();
        for (path, value) in edits {
            set(&mut doc, path, value);
        }
        self.load(&serde_yaml::to_string(&doc).unwrap())
    }

    /// The paths of the issues of `VALID` with `edits` applied.
    pub fn issue_paths(&self, edits: &[(&str, &str)]) -> Vec<String> {
        match self.load_with(edits) {
            Ok(_) => Vec::new(),
            Err(e) => {
                assert!(!e.issues().is_empty(), "{e}");
                e.issues().iter().map(|i| i.path.clone()).collect()
            }
        }
    }
}

fn set(doc: &mut Value, path: &str, value: &str) {
    let keys: Vec<&str> = path.split('.').collect();
    let mut cur = doc;
    for key in &keys[..keys.len() - 1] {
        let m = cur.as_mapping_mut().unwrap();
        cur = m
            .entry(Value::from(*key))
            .or_insert_with(|| Value::Mapping(Mapping::new()));
    }
    let m = cur.as_mapping_mut().unwrap();
    let last = Value::from(keys[keys.len() - 1]);
    if value == DELETE {
        m.remove(&last);
    } else {
        m.insert(last, serde_yaml::from_str(value).unwrap());
    }
}
