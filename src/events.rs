//! Events emitted by measurement and lifecycle code; `output/` renders them.
//!
//! Measurement never prints: it sends an `Event` over an unbounded channel (sending never
//! blocks a request task) and a renderer on the other end draws progress bars or log lines.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `[i/4] title`.
    Phase { index: u8, title: String },
    /// A plain status line inside the current phase.
    Info(String),
    /// Something the user should notice (yellow).
    Warn(String),
    /// Waiting for the server: elapsed time and the latest status (or log line).
    Waiting { elapsed: Duration, status: String },
    /// `Sweep iteration i/N  concurrency=4`.
    SweepIteration {
        index: usize,
        total: usize,
        values: Vec<(String, usize)>,
    },
    /// The benchmark phase starts `total` requests.
    BenchmarkStarted { total: usize },
    /// One request finished (successfully or not).
    RequestDone {
        ok: bool,
        ttft_ms: Option<f64>,
        e2e_ms: f64,
        completion_tokens: u64,
    },
    /// The benchmark phase ended (all requests done, or stopped early).
    BenchmarkFinished,
    /// A result file was written (`samples`: server-metrics samples it holds, if scraped).
    ResultSaved {
        path: PathBuf,
        samples: Option<usize>,
    },
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
