//! The experiment matrix (issue 17): many cells, each an ordinary run on its own server, at
//! most `max_parallel` at once, ending with one ranked summary.
//!
//! ```text
//! config::matrix (cells) → plan::build → start → scheduler::run_cell × N (run::start each)
//!                                           └─ MatrixEvent (per-cell run events) → renderer
//! MatrixOutcome → summary::MatrixFile (ranked, best per column) → <name>-matrix-<ts>.json
//! ```
//!
//! Like the run engine, no process-wide state: the caller owns signals, the terminal and the
//! provider settings (it hands a [`ProviderFactory`]).

mod groups;
pub mod plan;
pub mod scheduler;
pub mod summary;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc::{self, UnboundedReceiver};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use plan::{build, new_id, CellPlan, MatrixPlan, PlanOptions};
pub use summary::{CellRow, CellStatus, Column, MatrixFile, MATRIX_KIND};

use crate::events::Event;
use crate::providers::{Provider, ProviderError};
use crate::run::{RunPlan, SavedRun};

/// Builds each cell's provider (called when the cell starts, inside its permit).
pub type ProviderFactory =
    Arc<dyn Fn(&RunPlan) -> Result<Box<dyn Provider>, ProviderError> + Send + Sync>;

/// What the matrix reports while it runs.
#[derive(Debug)]
pub enum MatrixEvent {
    /// The cell got its permit and is provisioning.
    Started { cell: usize },
    /// An event of the cell's run.
    Run { cell: usize, event: Event },
    /// The cell has ended (its server torn down).
    Finished {
        cell: usize,
        report: Box<CellReport>,
    },
}

/// How one cell ended.
#[derive(Debug)]
pub struct CellReport {
    pub status: CellStatus,
    /// Why it failed (the whole error chain).
    pub error: Option<String>,
    pub saved: Vec<SavedRun>,
    pub search_answer: Option<f64>,
    /// Teardown failed: the server may still be running.
    pub teardown_error: Option<String>,
}

impl CellReport {
    fn status(status: CellStatus) -> Self {
        Self {
            status,
            error: None,
            saved: Vec::new(),
            search_answer: None,
            teardown_error: None,
        }
    }

    fn failed(error: String) -> Self {
        Self {
            error: Some(error),
            ..Self::status(CellStatus::Failed)
        }
    }
}

/// One cell of a finished matrix.
#[derive(Debug)]
pub struct CellOutcome {
    pub name: String,
    /// (axis, value label).
    pub values: Vec<(String, String)>,
    pub report: CellReport,
}

/// What the whole matrix left behind, cells in plan order.
#[derive(Debug)]
pub struct MatrixOutcome {
    pub id: String,
    pub cells: Vec<CellOutcome>,
    pub interrupted: bool,
    pub started_at: DateTime<Utc>,
}

/// A running matrix: its events and the control to stop it.
pub struct MatrixHandle {
    /// Closes once every cell has ended.
    pub events: UnboundedReceiver<MatrixEvent>,
    pub control: MatrixControl,
}

pub struct MatrixControl {
    stop: scheduler::Stop,
    task: JoinHandle<MatrixOutcome>,
}

impl MatrixControl {
    /// Stop every cell gracefully (partial results saved, every server torn down); cells not
    /// started yet never start.
    pub fn cancel(&self) {
        self.stop.graceful.cancel();
    }

    /// Stop waiting for anything but teardown.
    pub fn stop_waiting(&self) {
        self.stop.hard.cancel();
    }

    pub fn cancel_token(&self) -> CancellationToken {
        self.stop.graceful.clone()
    }

    pub fn stop_waiting_token(&self) -> CancellationToken {
        self.stop.hard.clone()
    }

    pub async fn join(self) -> MatrixOutcome {
        match self.task.await {
            Ok(outcome) => outcome,
            // The supervising task itself never panics on input; a panic here is a bug, but
            // the cells it spawned still tear down on their own.
            Err(e) => MatrixOutcome {
                id: String::new(),
                cells: vec![CellOutcome {
                    name: "matrix".into(),
                    values: Vec::new(),
                    report: CellReport::failed(format!("internal error: {e}")),
                }],
                interrupted: false,
                started_at: Utc::now(),
            },
        }
    }
}

/// Start every cell of `plan` (at most `plan.max_parallel` at once).
pub fn start(plan: MatrixPlan, providers: ProviderFactory) -> MatrixHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let stop = scheduler::Stop {
        graceful: CancellationToken::new(),
        hard: CancellationToken::new(),
    };
    let permits = Arc::new(Semaphore::new(plan.max_parallel.max(1)));
    let started_at = Utc::now();
    let id = plan.id.clone();
    let mut tasks = Vec::new();
    for (index, cell) in plan.cells.into_iter().enumerate() {
        let labels = (cell.name.clone(), cell.values.clone());
        let shared = (
            Arc::clone(&providers),
            Arc::clone(&permits),
            stop.clone(),
            tx.clone(),
        );
        tasks.push((labels, spawn_cell(index, cell, shared)));
    }
    drop(tx);
    let graceful = stop.graceful.clone();
    let task = tokio::spawn(async move {
        let mut cells = Vec::new();
        for ((name, values), task) in tasks {
            let report = task
                .await
                .unwrap_or_else(|e| CellReport::failed(format!("internal error: {e}")));
            cells.push(CellOutcome {
                name,
                values,
                report,
            });
        }
        MatrixOutcome {
            id,
            cells,
            interrupted: graceful.is_cancelled(),
            started_at,
        }
    });
    MatrixHandle {
        events: rx,
        control: MatrixControl { stop, task },
    }
}

/// Run one cell in a task of its own; its `Finished` event carries the report without the
/// saved results (the outcome has them).
fn spawn_cell(
    index: usize,
    cell: CellPlan,
    (providers, permits, stop, tx): (
        ProviderFactory,
        Arc<Semaphore>,
        scheduler::Stop,
        mpsc::UnboundedSender<MatrixEvent>,
    ),
) -> JoinHandle<CellReport> {
    tokio::spawn(async move {
        let report = scheduler::run_cell(index, cell, providers, permits, stop, tx.clone()).await;
        let _ = tx.send(MatrixEvent::Finished {
            cell: index,
            report: Box::new(CellReport {
                status: report.status,
                error: report.error.clone(),
                saved: Vec::new(),
                search_answer: report.search_answer,
                teardown_error: report.teardown_error.clone(),
            }),
        });
        report
    })
}

/// An error with its causes, one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// The summary file of a finished matrix (ranked). `previous`: the file being resumed — its
/// finished cells are kept as they were.
pub fn summarize(
    outcome: &MatrixOutcome,
    header: SummaryHeader<'_>,
    previous: Option<&MatrixFile>,
) -> MatrixFile {
    let mut rows: Vec<CellRow> = previous
        .map(|p| {
            p.cells
                .iter()
                .filter(|c| !c.status.unfinished())
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    for cell in &outcome.cells {
        let row = cell_row(cell);
        rows.retain(|r| r.cell != row.cell);
        rows.push(row);
    }
    let mut file = MatrixFile {
        kind: MATRIX_KIND.into(),
        id: outcome.id.clone(),
        experiment_name: header.name.to_string(),
        config: header.config.to_string(),
        max_parallel_pods: header.max_parallel,
        axes: header.axes,
        slo: header.slo,
        search: header.search,
        started_at: previous.map(|p| p.started_at).unwrap_or(outcome.started_at),
        finished_at: Utc::now(),
        interrupted: outcome.interrupted,
        cells: rows,
        best: Default::default(),
    };
    file.rank();
    file
}

/// The summary row of one cell that ran: its status, error and figures.
fn cell_row(cell: &CellOutcome) -> CellRow {
    let CellOutcome {
        name,
        values,
        report,
    } = cell;
    let mut row = CellRow::new(name, values);
    row.status = report.status;
    row.error = report
        .error
        .clone()
        .or_else(|| report.teardown_error.clone());
    let results: Vec<(String, &crate::results::result::RunResult)> = report
        .saved
        .iter()
        .map(|s| (s.file_name(), &s.result))
        .collect();
    row.fill(&results);
    row.search_answer = report.search_answer;
    row
}

/// What the summary needs beyond the outcome.
pub struct SummaryHeader<'a> {
    pub name: &'a str,
    pub config: &'a str,
    pub max_parallel: usize,
    pub axes: Vec<String>,
    pub slo: bool,
    pub search: bool,
}
