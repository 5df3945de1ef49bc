//! The run engine: start a run from a validated plan, watch it through typed [`Event`]s, stop
//! it with a cancellation token, await its [`RunOutcome`]. Used by the CLI (one renderer of
//! the events), tests in-process, and anything that drives runs from inside the process.
//!
//! No process-wide state: signals, the terminal, the working directory and exit codes stay in
//! the caller, so several runs can go on at once in one process.
//!
//! Two entry points:
//! - [`start`]: the four phases of a whole plan (every sweep iteration, journal, result files).
//! - [`start_session`]: provision and load one server, then run the caller's own body against
//!   it ([`Bench::measure`] any number of times, [`Bench::save`] what it wants kept); the server
//!   is torn down on every path afterwards. Capacity searches and repeats use this.
//!
//! ```text
//! provision (server.rs) → load (server.rs) → body: plan.rs / caller → teardown (lifecycle.rs)
//! ```

mod bench;
mod iteration;
mod lifecycle;
mod plan;
mod resume;
mod server;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use crate::events::{Event, Phase, TeardownOutcome};
pub use bench::{Bench, IterationOptions};
pub use iteration::Measured;
pub use server::LiveServer;

use crate::config::{Experiment, Iteration, ProviderKind};
use crate::events::EventSink;
use crate::providers::{Provider, ProviderError};
use crate::results::journal::{self, JournalState};
use crate::results::result::RunResult;
use crate::results::storage;
use crate::runners::RunnerError;
use crate::workloads::{PromptError, WorkloadError};

/// How long the inference server may take to become healthy (SPEC §5).
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(600);

/// The health-check timeout for `exp`: a local server's `startup_timeout_s` (it is waited
/// for by the provider as well, which watches the process), else `HEALTH_TIMEOUT`.
pub fn health_timeout_for(exp: &Experiment, server_url: Option<&str>) -> Duration {
    match (server_url, exp.infrastructure.provider) {
        (None, ProviderKind::Local) => exp.infrastructure.local.startup_timeout,
        _ => HEALTH_TIMEOUT,
    }
}

/// What to run and where: a validated experiment and its sweep iterations.
pub struct RunPlan {
    /// The unexpanded experiment (first iteration's framework/model/provider apply to all).
    pub experiment: Experiment,
    pub iterations: Vec<Iteration>,
    /// Use an already running server: no provisioning, no teardown.
    pub server_url: Option<String>,
    /// Replaces the config's name in run ids.
    pub run_name: Option<String>,
    pub keep_server: bool,
    pub output_dir: PathBuf,
    /// How long to wait for the health check.
    pub health_timeout: Duration,
    /// Continue an interrupted run from its journal.
    pub resume: Option<JournalState>,
    /// `run` arguments that continue this run (config path, flags), kept in the journal for
    /// the resume command `list` shows. No secrets: URLs must be redacted.
    pub resume_args: Vec<String>,
}

impl RunPlan {
    /// The server part of the plan; the runner is sized for the largest iteration.
    pub fn server_plan(&self) -> ServerPlan {
        ServerPlan {
            experiment: self.experiment.clone(),
            server_url: self.server_url.clone(),
            keep_server: self.keep_server,
            health_timeout: self.health_timeout,
            max_concurrency: self
                .iterations
                .iter()
                .map(|it| it.experiment.workload.kind.max_in_flight())
                .max()
                .unwrap_or(1),
        }
    }

    /// The base run id (before sweep suffixes), shared by the journal and `--resume`.
    pub fn base_run_id(&self) -> String {
        match &self.resume {
            Some(state) => state.run_id.clone(),
            None => storage::new_run_id(
                self.run_name.as_deref().unwrap_or(&self.experiment.name),
                storage::id_time(),
            ),
        }
    }
}

/// What one server session needs: where the server comes from and how to reach it.
#[derive(Debug, Clone)]
pub struct ServerPlan {
    /// Framework, model and provider settings of the server.
    pub experiment: Experiment,
    /// Use an already running server: no provisioning, no teardown.
    pub server_url: Option<String>,
    /// Leave the provisioned server running after the session.
    pub keep_server: bool,
    pub health_timeout: Duration,
    /// The most requests in flight at once (sizes the runner's connection pool).
    pub max_concurrency: usize,
}

/// One written result file.
#[derive(Debug, Clone)]
pub struct SavedRun {
    pub path: PathBuf,
    pub result: RunResult,
}

impl SavedRun {
    /// The result file's name (what summaries refer to it by); empty for a path without one.
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// What a finished run left behind.
#[derive(Debug, Default)]
pub struct RunOutcome {
    /// Result files written, in order.
    pub saved: Vec<SavedRun>,
    /// The run was cancelled (it still saved what it measured).
    pub interrupted: bool,
    /// Teardown failed: the server may still be running (and costing money).
    pub teardown_error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("provisioning failed: {0}")]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Runner(#[from] RunnerError),
    #[error(transparent)]
    Prompts(#[from] PromptError),
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    #[error(transparent)]
    Storage(#[from] storage::StorageError),
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
    #[error(transparent)]
    Result(#[from] crate::results::build::BuildError),
    /// A result file could not be written (full disk, permissions); the journal keeps the run.
    #[error("the result of {} could not be saved", .0.result.run_id)]
    ResultNotSaved(#[source] Box<UnsavedResult>),
    #[error("interrupted")]
    Interrupted,
    /// The server died during the run (the simulator reports its panics).
    #[error("the server failed during the run: {0}")]
    ServerFailed(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// A measured iteration whose result file could not be written, and how to get it back.
#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct UnsavedResult {
    /// The result as it would have been written (its summary is still worth showing).
    pub result: RunResult,
    #[source]
    pub source: storage::StorageError,
    /// The journal that still holds the run's requests.
    pub journal: PathBuf,
    /// The command that continues the run from the journal.
    pub resume_command: String,
    /// Journal lines that could not be written either (their requests are measured again).
    pub journal_failures: usize,
}

/// A run's outcome when a phase failed: the error, plus what was saved and how teardown went.
#[derive(Debug)]
pub struct FailedRun {
    pub error: RunError,
    pub outcome: RunOutcome,
}

/// A run in progress: its events, and the control to stop it and await its outcome.
pub struct RunHandle {
    /// Every event of the run, in order; the channel closes when the run has ended.
    pub events: UnboundedReceiver<Event>,
    pub control: RunControl,
}

/// Stop a run and await its outcome.
pub struct RunControl {
    cancel: CancellationToken,
    hard: CancellationToken,
    task: JoinHandle<Result<RunOutcome, FailedRun>>,
}

impl RunControl {
    /// Graceful stop: stop sending, let in-flight requests end, save, tear down.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Stop waiting for anything but teardown (a second Ctrl-C).
    pub fn stop_waiting(&self) {
        self.hard.cancel();
    }

    /// The token behind [`RunControl::cancel`].
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// The token behind [`RunControl::stop_waiting`].
    pub fn stop_waiting_token(&self) -> CancellationToken {
        self.hard.clone()
    }

    /// Wait for the run to end (teardown included).
    pub async fn join(self) -> Result<RunOutcome, FailedRun> {
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(FailedRun {
                error: RunError::Internal(format!("the run task failed: {e}")),
                outcome: RunOutcome::default(),
            }),
        }
    }
}

impl RunHandle {
    pub fn cancel(&self) {
        self.control.cancel();
    }

    /// Wait for the run to end; events not read yet are dropped.
    pub async fn join(self) -> Result<RunOutcome, FailedRun> {
        self.control.join().await
    }
}

/// Start every phase of `plan`. `provider` is `None` with `--server-url`. Cancelling
/// `cancel` stops the run gracefully (what was measured is saved, the server torn down).
pub fn start(
    plan: RunPlan,
    provider: Option<Box<dyn Provider>>,
    cancel: CancellationToken,
) -> RunHandle {
    let server = plan.server_plan();
    start_session(server, provider, cancel, move |bench| {
        plan::run_plan(plan, bench)
    })
}

/// Provision and load one server, run `body` against it, then tear it down (on success,
/// error, panic in `body` and cancellation alike). `body` gets a [`Bench`]: measure
/// iterations on the live server, save results, send events.
pub fn start_session<F, Fut>(
    plan: ServerPlan,
    provider: Option<Box<dyn Provider>>,
    cancel: CancellationToken,
    body: F,
) -> RunHandle
where
    F: FnOnce(Bench) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), RunError>> + Send + 'static,
{
    let (events, rx) = EventSink::channel();
    let hard = CancellationToken::new();
    let task = tokio::spawn(lifecycle::supervise(
        plan,
        provider,
        events,
        lifecycle::Stop {
            graceful: cancel.clone(),
            hard: hard.clone(),
        },
        body,
    ));
    RunHandle {
        events: rx,
        control: RunControl { cancel, hard, task },
    }
}
