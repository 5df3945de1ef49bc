//! Batch: groups of `batch_size` requests sent together; the next group starts when the whole
//! group has finished. Stops early after 3 consecutive batches in which every request failed,
//! or once half of all requests have failed.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use tokio::task::JoinSet;

use super::engine::{self, HalfFailedBreaker, RequestSender};
use super::planned::PlannedRequest;
use super::{Workload, WorkloadContext, WorkloadOutcome};
use crate::runners::ChatMessage;

/// Consecutive all-failed batches that stop the workload.
const MAX_FAILED_BATCHES: usize = 3;

pub struct BatchWorkload {
    requests: Vec<Arc<PlannedRequest>>,
    batch_size: usize,
}

impl BatchWorkload {
    pub fn new(requests: Vec<Vec<ChatMessage>>, batch_size: usize) -> Self {
        Self::planned(
            requests.into_iter().map(PlannedRequest::chat).collect(),
            batch_size,
        )
    }

    /// Prepared requests (any prompt kind, token-exact lengths).
    pub fn planned(requests: Vec<PlannedRequest>, batch_size: usize) -> Self {
        Self {
            requests: requests.into_iter().map(Arc::new).collect(),
            batch_size: batch_size.max(1),
        }
    }
}

#[async_trait]
impl Workload for BatchWorkload {
    fn total_requests(&self) -> usize {
        self.requests.len()
    }

    async fn run(&self, mut ctx: WorkloadContext) -> WorkloadOutcome {
        let todo: Vec<usize> = (0..self.requests.len())
            .filter(|i| !ctx.already_done.contains(i))
            .collect();
        let planned = todo.len();
        let (collector, sender, stop) =
            engine::start_measuring(&mut ctx, Box::new(HalfFailedBreaker::new(planned)));
        let mut failed_in_a_row = 0;
        let mut tripped = None;
        for batch in todo.chunks(self.batch_size) {
            if stop.is_cancelled() {
                break;
            }
            let any_ok = self.send_batch(&sender, batch).await;
            failed_in_a_row = if any_ok { 0 } else { failed_in_a_row + 1 };
            if failed_in_a_row >= MAX_FAILED_BATCHES && !ctx.cancel.is_cancelled() {
                tripped = Some(format!(
                    "circuit breaker: {MAX_FAILED_BATCHES} consecutive batches failed completely"
                ));
                stop.cancel();
            }
        }
        drop(sender);
        let (records, collector_tripped) = collector.finish().await;
        let stopped_early = engine::stop_reason(
            tripped.or(collector_tripped),
            &ctx.cancel,
            records.len(),
            planned,
        );
        WorkloadOutcome {
            records,
            stopped_early,
        }
    }
}

impl BatchWorkload {
    /// Send one batch at once and wait for all of it; whether any request succeeded.
    async fn send_batch(&self, sender: &RequestSender, batch: &[usize]) -> bool {
        let intended = Instant::now();
        let mut set = JoinSet::new();
        for &index in batch {
            let sender = sender.clone();
            let request = Arc::clone(&self.requests[index]);
            set.spawn(async move { sender.send_request(&request, index, intended).await });
        }
        let mut any_ok = false;
        while let Some(done) = set.join_next().await {
            match done {
                Ok(ok) => any_ok |= ok,
                Err(e) => tracing::error!("request task failed: {e}"),
            }
        }
        any_ok
    }
}
