//! Workloads: execution strategies that drive a runner through a list of requests.
//!
//! Request tasks send each finished `RequestRecord` over a channel to one collector that owns
//! the results and emits progress events — no shared result list, no lock on the hot path.

pub mod prompts;

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::config::GenerationParams;
use crate::events::EventSink;
use crate::metrics::request::RequestRecord;
use crate::runners::Runner;

pub use prompts::{PromptError, PromptSet};

/// Everything a workload needs to run.
pub struct WorkloadContext {
    pub runner: Arc<dyn Runner>,
    pub params: GenerationParams,
    pub events: EventSink,
    /// Cancelled on Ctrl-C: stop sending, let in-flight requests end as `cancelled`.
    pub cancel: CancellationToken,
    /// Request indices (multi-turn: conversation indices) already measured — skipped on resume.
    pub already_done: HashSet<usize>,
    /// Called with every record as it completes (the journal); runs in the collector.
    pub on_record: Box<dyn FnMut(&RequestRecord) + Send>,
}

/// What a workload measured.
#[derive(Debug, Default)]
pub struct WorkloadOutcome {
    /// Sorted by `request_index`.
    pub records: Vec<RequestRecord>,
    /// Why the workload stopped before the end (circuit breaker or cancellation).
    pub stopped_early: Option<String>,
}

#[async_trait]
pub trait Workload: Send + Sync {
    /// Requests this workload sends when run to the end (multi-turn: conversations × turns).
    fn total_requests(&self) -> usize;
    async fn run(&self, ctx: WorkloadContext) -> WorkloadOutcome;
}

#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error(transparent)]
    Prompts(#[from] PromptError),
    #[error("{0}")]
    Invalid(String),
}
