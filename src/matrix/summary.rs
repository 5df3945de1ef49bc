//! The matrix summary file (`<name>-matrix-<timestamp>.json`): one row per cell with the
//! figures the ranking compares, the best cell per column, and what is needed to resume.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::results::result::RunResult;
use crate::results::storage::StorageError;

/// `kind` of a matrix summary file.
pub const MATRIX_KIND: &str = "matrix";

/// How a cell ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellStatus {
    /// Every iteration ran to the end (failed requests are data, not a failed cell).
    Completed,
    /// Stopped by Ctrl-C; what was measured is saved.
    Interrupted,
    /// Provisioning, health check or the run failed (no capacity, health timeout, …).
    Failed,
    /// Never started (the matrix was stopped first).
    NotStarted,
}

impl CellStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CellStatus::Completed => "completed",
            CellStatus::Interrupted => "interrupted",
            CellStatus::Failed => "failed",
            CellStatus::NotStarted => "not started",
        }
    }

    /// `--resume` runs the cell again.
    pub fn unfinished(self) -> bool {
        self != CellStatus::Completed
    }
}

/// One cell's row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellRow {
    pub cell: String,
    /// Axis name → value label.
    pub values: BTreeMap<String, String>,
    pub status: CellStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Result files (names in the results folder), in order.
    pub results: Vec<String>,
    /// The ranked figures are those of the cell's best result (the largest goodput with an
    /// SLO, else the largest throughput), so a sweep inside a cell is ranked by its best point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_second: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput_tps: Option<f64>,
    /// The capacity search's answer (the largest value meeting the SLO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_answer: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_per_hr: Option<f64>,
    /// $ per million output tokens — of good ones (met the SLO) when an SLO is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd_per_million_tokens: Option<f64>,
    /// Pods the cell used (RunPod).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pods: Vec<String>,
}

impl CellRow {
    pub fn new(cell: &str, values: &[(String, String)]) -> Self {
        Self {
            cell: cell.to_string(),
            values: values.iter().cloned().collect(),
            status: CellStatus::NotStarted,
            error: None,
            results: Vec::new(),
            best_result: None,
            tokens_per_second: None,
            goodput_tps: None,
            search_answer: None,
            cost_per_hr: None,
            usd_per_million_tokens: None,
            pods: Vec::new(),
        }
    }

    /// Fill the figures from the cell's results (`(file name, result)`); the best one counts.
    pub fn fill(&mut self, results: &[(String, &RunResult)]) {
        self.results = results.iter().map(|(f, _)| f.clone()).collect();
        self.pods = results
            .iter()
            .filter_map(|(_, r)| r.metadata.pod_id.clone())
            .fold(Vec::new(), |mut acc, p| {
                if !acc.contains(&p) {
                    acc.push(p);
                }
                acc
            });
        let score = |r: &RunResult| match &r.summary.slo {
            Some(slo) => slo.goodput_tps,
            None => r.summary.tokens_per_second,
        };
        let Some((file, best)) = results
            .iter()
            .max_by(|a, b| score(a.1).total_cmp(&score(b.1)))
        else {
            return;
        };
        self.best_result = Some(file.clone());
        self.tokens_per_second = Some(best.summary.tokens_per_second);
        self.goodput_tps = best.summary.slo.as_ref().map(|s| s.goodput_tps);
        self.cost_per_hr = best.metadata.cost_per_hr;
        self.usd_per_million_tokens = best.summary.cost.as_ref().and_then(|c| {
            if best.summary.slo.is_some() {
                c.per_million_good_output_tokens
            } else {
                c.per_million_output_tokens
            }
        });
    }
}

/// A ranked column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Throughput,
    Goodput,
    SearchAnswer,
    UsdPerMillion,
}

impl Column {
    pub fn key(self) -> &'static str {
        match self {
            Column::Throughput => "tokens_per_second",
            Column::Goodput => "goodput_tps",
            Column::SearchAnswer => "search_answer",
            Column::UsdPerMillion => "usd_per_million_tokens",
        }
    }

    pub fn value(self, row: &CellRow) -> Option<f64> {
        match self {
            Column::Throughput => row.tokens_per_second,
            Column::Goodput => row.goodput_tps,
            Column::SearchAnswer => row.search_answer,
            Column::UsdPerMillion => row.usd_per_million_tokens,
        }
    }

    /// Cheaper is better; for the others more is.
    pub fn lower_is_better(self) -> bool {
        self == Column::UsdPerMillion
    }
}

/// The whole summary file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatrixFile {
    pub kind: String,
    pub id: String,
    pub experiment_name: String,
    /// The config the matrix ran (for `--resume`).
    pub config: String,
    pub max_parallel_pods: usize,
    pub axes: Vec<String>,
    pub slo: bool,
    pub search: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub interrupted: bool,
    /// Ranked: by the first column (search answer, else goodput, else throughput).
    pub cells: Vec<CellRow>,
    /// Column key → the best cell's name.
    pub best: BTreeMap<String, String>,
}

impl MatrixFile {
    /// The columns this matrix ranks by, most important first.
    pub fn columns(&self) -> Vec<Column> {
        let mut c = Vec::new();
        if self.search {
            c.push(Column::SearchAnswer);
        }
        if self.slo {
            c.push(Column::Goodput);
        }
        c.push(Column::Throughput);
        c.push(Column::UsdPerMillion);
        c
    }

    /// Sort the cells (cells without a figure last, in config order) and mark the best.
    pub fn rank(&mut self) {
        let columns = self.columns();
        let first = columns[0];
        let key = |r: &CellRow| {
            first
                .value(r)
                .map(|v| if first.lower_is_better() { v } else { -v })
        };
        self.cells.sort_by(|a, b| match (key(a), key(b)) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
        self.best = columns
            .iter()
            .filter_map(|c| best_cell(&self.cells, *c).map(|cell| (c.key().to_string(), cell)))
            .collect();
    }

    /// Write (or replace, on resume) `{dir}/{id}.json`.
    pub fn write(&self, dir: &Path) -> std::io::Result<PathBuf> {
        crate::results::groups::write_group(dir, &self.id, self)
    }

    pub fn load(path: &Path) -> Result<Self, StorageError> {
        let text = std::fs::read_to_string(path).map_err(|source| StorageError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| StorageError::Parse {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })
    }
}

fn best_cell(cells: &[CellRow], column: Column) -> Option<String> {
    cells
        .iter()
        .filter_map(|r| column.value(r).filter(|v| v.is_finite()).map(|v| (v, r)))
        .reduce(|a, b| {
            let better = if column.lower_is_better() {
                b.0 < a.0
            } else {
                b.0 > a.0
            };
            if better {
                b
            } else {
                a
            }
        })
        .map(|(_, r)| r.cell.clone())
}

/// The matrix summary `reference` names (a path, an id or a unique part of one), when it is one.
pub fn find(reference: &str, dir: &Path) -> Option<(PathBuf, MatrixFile)> {
    let resolved = crate::results::storage::resolve_run(reference, dir).ok();
    let candidates = [
        Some(PathBuf::from(reference)),
        Some(dir.join(format!("{reference}.json"))),
        resolved,
    ];
    candidates
        .into_iter()
        .flatten()
        .filter(|p| p.is_file())
        .find_map(|p| {
            MatrixFile::load(&p)
                .ok()
                .filter(|m| m.kind == MATRIX_KIND)
                .map(|m| (p, m))
        })
}

/// `references` with each matrix id replaced by the paths of its cells' result files (for
/// `report`); other references are kept as they are.
pub fn expand_references(references: &[String], dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for r in references {
        match find(r, dir) {
            Some((path, file)) => {
                let folder = path.parent().unwrap_or(dir);
                for cell in &file.cells {
                    out.extend(
                        cell.results
                            .iter()
                            .map(|f| folder.join(f).display().to_string()),
                    );
                }
            }
            None => out.push(r.clone()),
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn row(cell: &str, tps: Option<f64>, usd: Option<f64>) -> CellRow {
        let mut r = CellRow::new(cell, &[]);
        r.tokens_per_second = tps;
        r.usd_per_million_tokens = usd;
        r.status = if tps.is_some() {
            CellStatus::Completed
        } else {
            CellStatus::Failed
        };
        r
    }

    /// A matrix file of `cells` (not ranked), for tests here and in `output::matrix`.
    pub(crate) fn file(cells: Vec<CellRow>) -> MatrixFile {
        MatrixFile {
            kind: MATRIX_KIND.into(),
            id: "m-matrix-1".into(),
            experiment_name: "m".into(),
            config: "m.yaml".into(),
            max_parallel_pods: 2,
            axes: vec!["gpu_type".into()],
            slo: false,
            search: false,
            started_at: Utc::now(),
            finished_at: Utc::now(),
            interrupted: false,
            cells,
            best: BTreeMap::new(),
        }
    }

    #[test]
    fn ranks_by_throughput_failed_cells_last_and_marks_the_best_per_column() {
        let mut f = file(vec![
            row("slow-cheap", Some(100.0), Some(1.0)),
            row("broken", None, None),
            row("fast-dear", Some(300.0), Some(5.0)),
        ]);
        f.rank();
        let order: Vec<&str> = f.cells.iter().map(|c| c.cell.as_str()).collect();
        assert_eq!(order, ["fast-dear", "slow-cheap", "broken"]);
        assert_eq!(f.best["tokens_per_second"], "fast-dear");
        assert_eq!(f.best["usd_per_million_tokens"], "slow-cheap");
        assert!(!f.best.contains_key("goodput_tps"));
    }

    #[test]
    fn search_answer_comes_first_when_a_search_is_set() {
        let mut f = file(vec![
            row("a", Some(300.0), None),
            row("b", Some(100.0), None),
        ]);
        f.search = true;
        f.cells[1].search_answer = Some(16.0);
        f.cells[0].search_answer = Some(8.0);
        f.rank();
        assert_eq!(f.cells[0].cell, "b");
        assert_eq!(f.columns()[0], Column::SearchAnswer);
        assert_eq!(f.best["search_answer"], "b");
        assert_eq!(f.best["tokens_per_second"], "a");
    }

    #[test]
    fn only_completed_cells_are_finished() {
        assert!(!CellStatus::Completed.unfinished());
        for s in [
            CellStatus::Failed,
            CellStatus::Interrupted,
            CellStatus::NotStarted,
        ] {
            assert!(s.unfinished());
        }
    }
}
