//! Concurrent: a pool of exactly `concurrency` in-flight requests; a new one starts as soon as
//! one finishes. Stops early (cancelling the rest) once half of the requests have failed.

use std::sync::Arc;

use async_trait::async_trait;

use super::engine::{self, Breaker, HalfFailedBreaker, NoBreaker};
use super::planned::PlannedRequest;
use super::{Workload, WorkloadContext, WorkloadOutcome};
use crate::runners::ChatMessage;

pub struct ConcurrentWorkload {
    requests: Vec<Arc<PlannedRequest>>,
    concurrency: usize,
    circuit_breaker: bool,
}

impl ConcurrentWorkload {
    pub fn new(requests: Vec<Vec<ChatMessage>>, concurrency: usize) -> Self {
        Self::planned(
            requests.into_iter().map(PlannedRequest::chat).collect(),
            concurrency,
        )
    }

    /// Prepared requests (any prompt kind, token-exact lengths).
    pub fn planned(requests: Vec<PlannedRequest>, concurrency: usize) -> Self {
        Self {
            requests: requests.into_iter().map(Arc::new).collect(),
            concurrency: concurrency.max(1),
            circuit_breaker: true,
        }
    }

    /// The single workload: one request at a time, in order, no circuit breaker (as the
    /// original).
    pub fn sequential(requests: Vec<Vec<ChatMessage>>) -> Self {
        Self::sequential_planned(requests.into_iter().map(PlannedRequest::chat).collect())
    }

    pub fn sequential_planned(requests: Vec<PlannedRequest>) -> Self {
        Self {
            circuit_breaker: false,
            ..Self::planned(requests, 1)
        }
    }
}

#[async_trait]
impl Workload for ConcurrentWorkload {
    fn total_requests(&self) -> usize {
        self.requests.len()
    }

    async fn run(&self, mut ctx: WorkloadContext) -> WorkloadOutcome {
        let planned = self.requests.len() - ctx.already_done.len().min(self.requests.len());
        let breaker: Box<dyn Breaker> = if self.circuit_breaker {
            Box::new(HalfFailedBreaker::new(planned))
        } else {
            Box::new(NoBreaker)
        };
        let (collector, sender, stop) = engine::start_measuring(&mut ctx, breaker);
        // `duration_s`: keep the pool full until then (requests.count still caps).
        let until = ctx.timing.duration.map(|d| std::time::Instant::now() + d);
        // Collected first: a borrowing iterator held across an await is not `Send`.
        let todo: Vec<(usize, Arc<PlannedRequest>)> = (0..self.requests.len())
            .filter(|i| !ctx.already_done.contains(i))
            .map(|i| (i, Arc::clone(&self.requests[i])))
            .collect();
        engine::run_pool_until(
            todo,
            self.concurrency,
            &stop,
            until,
            |(index, request), intended| {
                let sender = sender.clone();
                async move {
                    sender.send_request(&request, index, intended).await;
                }
            },
        )
        .await;
        drop(sender);
        let (records, tripped) = collector.finish().await;
        let stopped_early = engine::stop_reason(tripped, &ctx.cancel, records.len(), planned);
        WorkloadOutcome {
            records,
            stopped_early,
        }
    }
}
