//! Events emitted by the run engine, providers and measurement; `output/` renders them.
//!
//! Events carry intent (what happened, with its data), never words or colours: a renderer
//! (the CLI's progress lines, a dashboard) decides how to show them. Sending never blocks
//! (unbounded channel), so a request task or the collector is never delayed by a renderer.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::metrics::request::RequestRecord;
use crate::results::result::{RunStatus, ServerSample, Summary};

/// The four phases of a run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Create the server (RunPod pod, local process, simulator), or attach to `--server-url`.
    Provision,
    /// Wait until the server is healthy and serves the model.
    Load,
    /// Run every sweep iteration's workload.
    Benchmark,
    /// Report the saved results (teardown follows on every path).
    Collect,
}

impl Phase {
    pub const ALL: [Phase; 4] = [
        Phase::Provision,
        Phase::Load,
        Phase::Benchmark,
        Phase::Collect,
    ];

    /// 1-based position, for `[i/4]`.
    pub fn number(self) -> u8 {
        match self {
            Phase::Provision => 1,
            Phase::Load => 2,
            Phase::Benchmark => 3,
            Phase::Collect => 4,
        }
    }
}

/// How the server's teardown went (the last event of a run that had a provider).
#[derive(Debug, Clone, PartialEq)]
pub enum TeardownOutcome {
    /// Everything the provider created is gone.
    Done,
    /// `--keep-server`: the server is still running on purpose.
    Kept {
        provider: &'static str,
        /// The command that stops that server (or why none is needed).
        how_to_stop: String,
    },
    /// Teardown failed: the server may still be running (and costing money).
    Failed {
        provider: &'static str,
        error: String,
    },
}

/// What happened during a run, with its data.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A phase begins.
    PhaseStarted(Phase),
    /// A phase ended successfully after `elapsed`.
    PhaseFinished { phase: Phase, elapsed: Duration },
    /// A status line from a provider (e.g. "Pod abc created").
    Info(String),
    /// Something the user should notice, as a sentence from the part that noticed it.
    Warn(String),
    /// `--server-url`: no provisioning; `url` is already redacted.
    ExternalServer { url: String },
    /// Provisioning or loading progress: waiting for the server, with the latest status.
    Waiting { elapsed: Duration, status: String },
    /// The server answered its health check and serves the model.
    ServerHealthy { after: Duration },
    /// A sweep iteration starts (sent for single-iteration runs too, with `total == 1`).
    IterationStarted {
        index: usize,
        total: usize,
        values: Vec<(String, usize)>,
    },
    /// `--resume`: this iteration was finished before the interruption (`result`: its file).
    IterationAlreadyDone {
        index: usize,
        total: usize,
        result: String,
    },
    /// `--resume`: `kept` requests measured before the interruption are kept.
    Resuming { kept: usize },
    /// The benchmark of one iteration starts `total` requests.
    BenchmarkStarted { total: usize },
    /// One request finished (successfully or not), with its full record.
    RequestCompleted(Arc<RequestRecord>),
    /// A server-metrics sample was scraped (`t` in the sample: seconds since scraping began).
    ServerMetrics(Box<ServerSample>),
    /// The benchmark of one iteration ended (all requests done, or stopped early).
    BenchmarkFinished,
    /// The benchmark client itself was busy (`cpu_utilization` of one core, 0–1+): its own
    /// delay may be in the numbers.
    ClientBusy { cpu_utilization: f64 },
    /// An iteration's aggregated result (before it is written).
    IterationSummary {
        index: usize,
        total: usize,
        run_id: String,
        status: RunStatus,
        summary: Box<Summary>,
    },
    /// A result file was written (`samples`: server-metrics samples it holds, if scraped).
    ResultSaved {
        path: PathBuf,
        run_id: String,
        /// Part of a sweep (index, total).
        iteration: (usize, usize),
        samples: Option<usize>,
    },
    /// The provider's teardown finished (or was skipped on purpose).
    Teardown(TeardownOutcome),
}

/// Sending half of the event channel; cheap to clone, never blocks.
#[derive(Debug, Clone)]
pub struct EventSink(Option<mpsc::UnboundedSender<Event>>);

impl EventSink {
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self(Some(tx)), rx)
    }

    /// A sink that drops everything (tests, library use without output).
    pub fn discard() -> Self {
        Self(None)
    }

    pub fn send(&self, event: Event) {
        if let Some(tx) = &self.0 {
            // A closed receiver only means nobody is rendering any more.
            let _ = tx.send(event);
        }
    }

    pub fn info(&self, msg: impl Into<String>) {
        self.send(Event::Info(msg.into()));
    }

    pub fn warn(&self, msg: impl Into<String>) {
        self.send(Event::Warn(msg.into()));
    }
}
