//! A validated matrix → one run plan per cell (its experiment tagged with the matrix id and
//! cell name, its own run name, sweep and repeats expanded, its search if it has one).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::capacity::{probe::SearchSource, repeat};
use crate::config::matrix::MatrixConfig;
use crate::config::sweep;
use crate::results::result::MatrixTag;
use crate::results::storage;
use crate::run::{self, RunPlan};

/// One cell, ready to run.
pub struct CellPlan {
    pub name: String,
    /// (axis, value label).
    pub values: Vec<(String, String)>,
    pub plan: RunPlan,
    pub search: Option<Arc<SearchSource>>,
}

/// Every cell to run and how many at once.
pub struct MatrixPlan {
    /// `<name>-matrix-<timestamp>`: the summary file's id, in every result's `metadata.matrix`.
    pub id: String,
    pub max_parallel: usize,
    pub cells: Vec<CellPlan>,
}

/// What the caller decides beyond the config.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    pub output_dir: PathBuf,
    /// Overrides each cell's own health timeout (`--health-timeout`).
    pub health_timeout: Option<Duration>,
    pub keep_server: bool,
    /// The arguments that resume the matrix (kept in each cell's journal).
    pub resume_args: Vec<String>,
    /// Run only these cells (`--resume`); `None`: all.
    pub only: Option<Vec<String>>,
}

/// A new matrix id for `name`.
pub fn new_id(name: &str, now: chrono::DateTime<chrono::Local>) -> String {
    storage::new_run_id(&format!("{name}-matrix"), now)
}

/// The run name of a cell: its run ids and pod name start with it.
pub fn cell_run_name(matrix_name: &str, cell: &str) -> String {
    format!("{matrix_name}-{cell}")
}

pub fn build(config: &MatrixConfig, id: &str, opts: &PlanOptions) -> MatrixPlan {
    let cells = config
        .cells
        .iter()
        .filter(|c| opts.only.as_ref().is_none_or(|only| only.contains(&c.name)))
        .map(|cell| {
            let mut experiment = cell.experiment.clone();
            experiment.matrix = Some(MatrixTag {
                id: id.to_string(),
                cell: cell.name.clone(),
            });
            let search = SearchSource::new(&experiment).map(Arc::new);
            let iterations = repeat::expand(
                &sweep::iterations(&experiment),
                experiment.answers.repeat.max(1),
            );
            let health_timeout = opts
                .health_timeout
                .unwrap_or_else(|| run::health_timeout_for(&experiment, None));
            CellPlan {
                name: cell.name.clone(),
                values: cell.values.clone(),
                plan: RunPlan {
                    experiment,
                    iterations,
                    server_url: None,
                    run_name: Some(cell_run_name(&config.name, &cell.name)),
                    keep_server: opts.keep_server,
                    output_dir: opts.output_dir.clone(),
                    health_timeout,
                    resume: None,
                    resume_args: opts.resume_args.clone(),
                },
                search,
            }
        })
        .collect();
    MatrixPlan {
        id: id.to_string(),
        max_parallel: config.max_parallel,
        cells,
    }
}
