//! Runs the cells: each in its own task through the ordinary run engine, at most
//! `max_parallel` at once (a semaphore permit is held from provisioning to the end of
//! teardown, so pods alive never exceed it). A failing cell ends with its error; the others go
//! on. Cancelling stops every running cell (each saves what it measured and tears down) and
//! keeps queued cells from starting.

use std::sync::Arc;

use tokio::sync::{mpsc::UnboundedSender, Semaphore};
use tokio_util::sync::CancellationToken;

use super::plan::CellPlan;
use super::{CellReport, MatrixEvent, ProviderFactory};
use crate::matrix::summary::CellStatus;
use crate::run::{self, RunError, RunHandle};

/// The matrix-wide stop tokens: graceful (first Ctrl-C) and hard (second).
#[derive(Clone)]
pub struct Stop {
    pub graceful: CancellationToken,
    pub hard: CancellationToken,
}

/// Run one cell once a permit is free; never returns before its server is torn down.
pub async fn run_cell(
    index: usize,
    cell: CellPlan,
    providers: ProviderFactory,
    permits: Arc<Semaphore>,
    stop: Stop,
    tx: UnboundedSender<MatrixEvent>,
) -> CellReport {
    let permit = tokio::select! {
        biased;
        _ = stop.graceful.cancelled() => return CellReport::status(CellStatus::NotStarted),
        p = permits.acquire_owned() => p,
    };
    let Ok(_permit) = permit else {
        return CellReport::failed("the matrix scheduler closed".into());
    };
    if stop.graceful.is_cancelled() {
        return CellReport::status(CellStatus::NotStarted);
    }
    let _ = tx.send(MatrixEvent::Started { cell: index });
    run_started(index, cell, providers, stop, &tx).await
}

/// The cell's answers files need these after its plan has moved into the engine.
struct Kept {
    name: String,
    dir: std::path::PathBuf,
    run_name: Option<String>,
    repeat: usize,
    search: Option<Arc<crate::capacity::probe::SearchSource>>,
}

async fn run_started(
    index: usize,
    cell: CellPlan,
    providers: ProviderFactory,
    stop: Stop,
    tx: &UnboundedSender<MatrixEvent>,
) -> CellReport {
    let provider = match providers(&cell.plan) {
        Ok(p) => Some(p),
        Err(e) => return CellReport::failed(super::chain(&e)),
    };
    let kept = Kept {
        name: cell.name.clone(),
        dir: cell.plan.output_dir.clone(),
        run_name: cell.plan.run_name.clone(),
        repeat: cell.plan.experiment.answers.repeat,
        search: cell.search.clone(),
    };
    let RunHandle {
        mut events,
        control,
    } = match &kept.search {
        Some(s) => s.start(cell.plan, provider),
        None => run::start(cell.plan, provider, CancellationToken::new()),
    };
    let (cancel, hard) = (control.cancel_token(), control.stop_waiting_token());
    let relay = tokio::spawn(async move {
        stop.graceful.cancelled().await;
        cancel.cancel();
        stop.hard.cancelled().await;
        hard.cancel();
    });
    let forward = async {
        while let Some(event) = events.recv().await {
            let _ = tx.send(MatrixEvent::Run { cell: index, event });
        }
    };
    let (result, ()) = tokio::join!(control.join(), forward);
    relay.abort();
    let (outcome, error) = match result {
        Ok(outcome) => (outcome, None),
        Err(failed) => (failed.outcome, Some(failed.error)),
    };
    finish(index, &kept, outcome, error, tx)
}

/// The cell's status and report; its search summary and repeat set written.
fn finish(
    index: usize,
    kept: &Kept,
    outcome: run::RunOutcome,
    error: Option<RunError>,
    tx: &UnboundedSender<MatrixEvent>,
) -> CellReport {
    let status = match &error {
        None if outcome.interrupted => CellStatus::Interrupted,
        None => CellStatus::Completed,
        Some(RunError::Interrupted) => CellStatus::Interrupted,
        Some(_) => CellStatus::Failed,
    };
    let (search_answer, warnings) = super::groups::write(super::groups::CellAnswers {
        dir: &kept.dir,
        run_name: kept.run_name.as_deref().unwrap_or(&kept.name),
        repeat: kept.repeat,
        search: kept.search.as_deref(),
        saved: &outcome.saved,
        interrupted: status == CellStatus::Interrupted,
    });
    for w in warnings {
        let _ = tx.send(MatrixEvent::Run {
            cell: index,
            event: crate::events::Event::Warn(w),
        });
    }
    CellReport {
        status,
        error: error
            .filter(|e| !matches!(e, RunError::Interrupted))
            .map(|e| super::chain(&e)),
        saved: outcome.saved,
        search_answer,
        teardown_error: outcome.teardown_error,
    }
}
