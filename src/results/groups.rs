//! Files that group results: a repeat set (`<name>-repeat-<timestamp>.json`) and a capacity
//! search (`<name>-search-<timestamp>.json`), and how `compare` resolves a reference into one
//! run, a repeat set, or a curve (a sweep, a search's probes, a repeated sweep).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::answers::Search;
use crate::metrics::slo::Slo;
use crate::metrics::stats::Estimate;
use crate::results::result::RunResult;
use crate::results::storage::{self, StorageError};

pub const REPEAT_SET_KIND: &str = "repeat_set";
pub const SEARCH_KIND: &str = "capacity_search";

/// One headline metric over the runs of a repeat set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricEstimate {
    /// The compare row label, e.g. `TTFT p50 (ms)`.
    pub metric: String,
    #[serde(flatten)]
    pub estimate: Estimate,
}

/// The repeats of one iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepeatSet {
    /// Swept values of the iteration (empty without a sweep).
    pub values: BTreeMap<String, f64>,
    /// Result file names, beside this file.
    pub runs: Vec<String>,
    pub metrics: Vec<MetricEstimate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepeatSetFile {
    pub kind: String,
    pub id: String,
    pub experiment_name: String,
    pub repeat: usize,
    pub sets: Vec<RepeatSet>,
}

/// One probe of a capacity search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub value: f64,
    pub met: bool,
    /// Result file name, beside this file.
    pub result: String,
    /// This probe re-ran a value whose first result contradicted monotonicity.
    #[serde(default)]
    pub rerun: bool,
    pub tokens_per_second: f64,
    pub requests_per_second: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_million_output_tokens: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchFile {
    pub kind: String,
    pub id: String,
    pub experiment_name: String,
    pub search: Search,
    pub slo: Slo,
    pub probes: Vec<Probe>,
    /// The largest value that met the SLO with every smaller probe meeting it.
    pub answer: Option<f64>,
    /// Stopped by Ctrl-C: `answer` is the best so far.
    pub interrupted: bool,
    /// The printed one-line answer.
    pub line: String,
}

/// What a `compare` argument names.
#[derive(Debug)]
pub enum Group {
    Run(Box<RunResult>),
    /// Runs of one repeat set (≥ 1).
    Repeats {
        id: String,
        runs: Vec<RunResult>,
    },
    /// Points keyed by the swept value (`concurrency=24`), each one run or a repeat set.
    Curve {
        id: String,
        points: Vec<(String, Vec<RunResult>)>,
    },
}

fn label(values: &BTreeMap<String, f64>) -> String {
    let parts: Vec<String> = values
        .iter()
        .map(|(k, v)| format!("{k}={}", crate::output::style::num3(*v)))
        .collect();
    parts.join(",")
}

fn load_beside(file: &Path, name: &str) -> Result<RunResult, StorageError> {
    let dir = file.parent().unwrap_or(Path::new("."));
    storage::load_result(&dir.join(name))
}

/// Resolve `reference` (a path, a result id, a repeat-set or search id, or a sweep id).
pub fn resolve(reference: &str, dir: &Path) -> Result<Group, StorageError> {
    let path = match storage::resolve_run(reference, dir) {
        Ok(path) => path,
        Err(StorageError::NotFound { .. }) if !sweep_members(reference, dir)?.is_empty() => {
            return sweep_curve(reference, dir);
        }
        Err(e) => return Err(e),
    };
    let text = std::fs::read_to_string(&path).map_err(|source| StorageError::Read {
        path: path.clone(),
        source,
    })?;
    let kind = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str().map(String::from)));
    match kind.as_deref() {
        Some(REPEAT_SET_KIND) => repeat_group(&path, &text),
        Some(SEARCH_KIND) => search_group(&path, &text),
        _ => Ok(Group::Run(Box::new(storage::load_result(&path)?))),
    }
}

/// A repeat-set file: its runs (one set), or a curve of sets.
fn repeat_group(path: &Path, text: &str) -> Result<Group, StorageError> {
    let file: RepeatSetFile = parse(path, text)?;
    let mut points = Vec::new();
    for set in &file.sets {
        let runs = set
            .runs
            .iter()
            .map(|r| load_beside(path, r))
            .collect::<Result<Vec<_>, _>>()?;
        points.push((label(&set.values), runs));
    }
    Ok(match points.len() {
        1 => Group::Repeats {
            id: file.id,
            runs: points.remove(0).1,
        },
        _ => Group::Curve {
            id: file.id,
            points,
        },
    })
}

/// A search file: one curve point per probed value, in value order.
fn search_group(path: &Path, text: &str) -> Result<Group, StorageError> {
    let file: SearchFile = parse(path, text)?;
    let mut by_value: BTreeMap<String, (f64, Vec<RunResult>)> = BTreeMap::new();
    for p in &file.probes {
        let key = format!("{}={}", file.search.over.as_str(), p.value);
        let entry = by_value.entry(key).or_insert((p.value, Vec::new()));
        // A re-run replaces the contradicted first measurement.
        let run = load_beside(path, &p.result)?;
        if p.rerun {
            entry.1.clear();
        }
        entry.1.push(run);
    }
    let mut points: Vec<(f64, String, Vec<RunResult>)> =
        by_value.into_iter().map(|(k, (v, r))| (v, k, r)).collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(Group::Curve {
        id: file.id,
        points: points.into_iter().map(|(_, k, r)| (k, r)).collect(),
    })
}

fn parse<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, StorageError> {
    serde_json::from_str(text).map_err(|e| StorageError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
        line: e.line(),
        column: e.column(),
    })
}

/// Result files of `dir` whose `metadata.sweep.id` is `id`.
fn sweep_members(id: &str, dir: &Path) -> Result<Vec<PathBuf>, StorageError> {
    Ok(storage::list_results(dir)?
        .into_iter()
        .filter(|e| {
            e.info
                .as_ref()
                .is_ok_and(|i| i.sweep_id.as_deref() == Some(id))
        })
        .map(|e| e.path)
        .collect())
}

fn sweep_curve(id: &str, dir: &Path) -> Result<Group, StorageError> {
    let mut points: Vec<(usize, String, Vec<RunResult>)> = Vec::new();
    for path in sweep_members(id, dir)? {
        let run = storage::load_result(&path)?;
        let Some(sweep) = run.metadata.sweep.clone() else {
            continue;
        };
        let values: BTreeMap<String, f64> = sweep
            .values
            .iter()
            .map(|(k, v)| (k.clone(), *v as f64))
            .collect();
        points.push((sweep.index, label(&values), vec![run]));
    }
    points.sort_by_key(|p| p.0);
    Ok(Group::Curve {
        id: id.to_string(),
        points: points.into_iter().map(|(_, k, r)| (k, r)).collect(),
    })
}

/// Write a group file `{dir}/{id}.json` atomically (never overwriting).
pub fn write_group<T: Serialize>(dir: &Path, id: &str, value: &T) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{id}.json"));
    let tmp = tempfile::Builder::new()
        .prefix(".group-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    serde_json::to_writer_pretty(tmp.as_file(), value).map_err(std::io::Error::from)?;
    tmp.persist(&path).map_err(|e| e.error)?;
    Ok(path)
}
