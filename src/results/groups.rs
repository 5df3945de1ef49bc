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
        Err(e @ (StorageError::NotFound { .. } | StorageError::Ambiguous { .. })) => {
            // Not one run: a sweep id, or a sweep's name (matching every iteration's id).
            match find_sweep(reference, dir)? {
                Some(id) => return sweep_curve(&id, dir),
                None => return Err(e),
            }
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

/// A sweep's name: its id without the `-YYYYMMDD-HHMMSS` (and `-N`) the run id added.
fn sweep_name(id: &str) -> &str {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let mut parts: Vec<&str> = id.rsplitn(4, '-').collect();
    // A collision suffix `-N` after the time.
    if parts.len() == 4
        && digits(parts[1], 6)
        && digits(parts[2], 8)
        && !parts[0].is_empty()
        && parts[0].bytes().all(|b| b.is_ascii_digit())
    {
        return parts[3];
    }
    parts = id.rsplitn(3, '-').collect();
    match parts.as_slice() {
        [time, date, name] if digits(time, 6) && digits(date, 8) => name,
        _ => id,
    }
}

/// The sweep `reference` names: a sweep id (`metadata.sweep.id`), or a sweep's name (the
/// `--name` or config name it ran under; the newest sweep of that name). `None` otherwise.
pub fn find_sweep(reference: &str, dir: &Path) -> Result<Option<String>, StorageError> {
    // Oldest first, so the last hit of a name is the newest sweep.
    let ids: Vec<String> = storage::list_results(dir)?
        .into_iter()
        .filter_map(|e| e.info.ok().and_then(|i| i.sweep_id))
        .collect();
    if ids.iter().any(|id| id == reference) {
        return Ok(Some(reference.to_string()));
    }
    Ok(ids.into_iter().rev().find(|id| sweep_name(id) == reference))
}

/// The iterations of sweep `id`, in sweep order.
pub fn sweep_runs(id: &str, dir: &Path) -> Result<Vec<RunResult>, StorageError> {
    let mut runs = sweep_members(id, dir)?
        .iter()
        .map(|p| storage::load_result(p))
        .collect::<Result<Vec<_>, _>>()?;
    runs.sort_by_key(|r| r.metadata.sweep.as_ref().map_or(0, |s| s.index));
    Ok(runs)
}

/// After a sweep run: the id and every iteration of the sweep the saved runs belong to, read
/// back from `dir` so iterations finished before a `--resume` are included. `None` when no
/// saved run is a sweep iteration; the saved runs themselves when the folder cannot be read.
pub fn sweep_after_run<'a>(
    saved: impl IntoIterator<Item = &'a RunResult>,
    dir: &Path,
) -> Option<(String, Vec<RunResult>)> {
    let saved: Vec<&RunResult> = saved
        .into_iter()
        .filter(|r| r.metadata.sweep.is_some())
        .collect();
    let first = saved.first()?;
    let id = first.metadata.sweep.as_ref()?.id.clone();
    let id = id.unwrap_or_else(|| first.run_id.clone());
    let on_disk = sweep_runs(&id, dir).ok().filter(|runs| !runs.is_empty());
    let runs = on_disk.unwrap_or_else(|| {
        let mut runs: Vec<RunResult> = saved.iter().map(|r| (*r).clone()).collect();
        runs.sort_by_key(|r| r.metadata.sweep.as_ref().map_or(0, |s| s.index));
        runs
    });
    Some((id, runs))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::result::SweepInfo;

    #[test]
    fn sweep_name_drops_the_timestamp_and_collision_suffix() {
        assert_eq!(sweep_name("my-sweep-20261202-060000"), "my-sweep");
        assert_eq!(sweep_name("my-sweep-20261202-060000-2"), "my-sweep");
        assert_eq!(sweep_name("my-sweep"), "my-sweep");
        assert_eq!(sweep_name("x-2026-0600"), "x-2026-0600");
    }

    fn write_member(dir: &Path, sweep: &str, index: usize, c: usize, minute: u32) {
        let id = format!("{}-c{c}-{}", sweep_name(sweep), minute);
        let mut result = crate::results::ids::tests::result_at(&id, minute);
        result.metadata.sweep = Some(SweepInfo {
            index,
            total: 2,
            values: BTreeMap::from([("concurrency".to_string(), c)]),
            id: Some(sweep.to_string()),
            request_rate: None,
        });
        storage::write_result(dir, &result).unwrap();
    }

    #[test]
    fn a_sweep_is_found_by_id_or_by_name_newest_first() {
        let tmp = tempfile::tempdir().unwrap();
        let (old, new) = ("base-20260101-000100", "base-20260101-000500");
        write_member(tmp.path(), old, 0, 1, 1);
        write_member(tmp.path(), old, 1, 4, 2);
        write_member(tmp.path(), new, 1, 4, 6);
        write_member(tmp.path(), new, 0, 1, 5);
        let find = |r: &str| find_sweep(r, tmp.path()).unwrap();
        assert_eq!(find(old).as_deref(), Some(old));
        assert_eq!(find("base").as_deref(), Some(new));
        assert_eq!(find("other"), None);
        let runs = sweep_runs(new, tmp.path()).unwrap();
        let order: Vec<usize> = runs
            .iter()
            .map(|r| r.metadata.sweep.as_ref().unwrap().index)
            .collect();
        assert_eq!(order, [0, 1]);
        // `compare base base~…`: a name resolves to the newest sweep's curve.
        match resolve("base", tmp.path()).unwrap() {
            Group::Curve { id, points } => {
                assert_eq!(id, new);
                assert_eq!(points.len(), 2);
            }
            other => panic!("not a curve: {other:?}"),
        }
    }
}
