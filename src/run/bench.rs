//! What a session's body works with: the live server, the event sink, the cancellation
//! token, and the two operations it needs — measure an iteration, save a result.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::iteration::{self, Measured};
use super::server::LiveServer;
use super::{RunError, SavedRun};
use crate::config::Iteration;
use crate::events::{Event, EventSink};
use crate::metrics::request::RequestRecord;
use crate::results::result::RunResult;
use crate::results::storage;
use crate::workloads::OnRecord;

/// How to measure one iteration beyond the iteration itself.
#[derive(Default)]
pub struct IterationOptions {
    /// Records measured before an interruption (`--resume`); their units are not sent again.
    pub earlier: Vec<RequestRecord>,
    /// Request indices (multi-turn: conversation indices) not to send again.
    pub already_done: HashSet<usize>,
    /// Called with every record as it completes (the journal); runs in the collector task.
    pub on_record: Option<OnRecord>,
}

/// The live server and what a session body needs to work with it. Cheap to clone.
#[derive(Clone)]
pub struct Bench {
    server: Arc<LiveServer>,
    events: EventSink,
    cancel: CancellationToken,
    saved: UnboundedSender<SavedRun>,
}

impl Bench {
    pub(super) fn new(
        server: LiveServer,
        events: EventSink,
        cancel: CancellationToken,
        saved: UnboundedSender<SavedRun>,
    ) -> Self {
        Self {
            server: Arc::new(server),
            events,
            cancel,
            saved,
        }
    }

    pub fn server(&self) -> &LiveServer {
        &self.server
    }

    pub fn events(&self) -> &EventSink {
        &self.events
    }

    /// Cancelled when the run is stopped.
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Run `iteration`'s workload on the live server (with the server-metrics scraper when
    /// the experiment asks for it). `None` when cancelled before any request completed.
    /// `cancel` may be a child of [`Bench::cancel_token`] to stop just this probe.
    pub async fn measure(
        &self,
        iteration: &Iteration,
        options: IterationOptions,
        cancel: &CancellationToken,
    ) -> Result<Option<Measured>, RunError> {
        iteration::measure(&self.server, iteration, options, &self.events, cancel).await
    }

    /// Write `result` into `dir` and report it (event and the run's outcome).
    pub fn save(
        &self,
        dir: &Path,
        result: RunResult,
        iteration: (usize, usize),
    ) -> Result<SavedRun, RunError> {
        self.try_save(dir, result, iteration)
            .map_err(|(_, e)| RunError::Storage(e))
    }

    /// [`Bench::save`], handing the result back when it could not be written (so its summary
    /// can still be shown). The saved result's `run_id` is the file's name.
    pub fn try_save(
        &self,
        dir: &Path,
        mut result: RunResult,
        iteration: (usize, usize),
    ) -> Result<SavedRun, (Box<RunResult>, storage::StorageError)> {
        let path = match storage::write_result_as(dir, &mut result) {
            Ok(path) => path,
            Err(e) => return Err((Box::new(result), e)),
        };
        self.events.send(Event::ResultSaved {
            path: path.clone(),
            run_id: result.run_id.clone(),
            iteration,
            samples: result.gpu_metrics.as_ref().map(|g| g.time_series.len()),
        });
        let saved = SavedRun { path, result };
        // The receiver lives until the session ends, which is after the body.
        let _ = self.saved.send(saved.clone());
        Ok(saved)
    }
}
