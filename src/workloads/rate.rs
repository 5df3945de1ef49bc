//! Rate (open loop): requests arrive on a schedule computed up front (`schedule`), whatever the
//! replies do; the pacer (`pacer`) sends each at its absolute deadline. Each record keeps its
//! scheduled offset, its send lag (`send_delay_us`: actual − scheduled send) and, under
//! `max_concurrency`, how long it waited for a slot. Stops early once half have failed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::engine::Position;
use super::pacer;
use super::schedule::ArrivalProcess;
use super::{Workload, WorkloadContext, WorkloadOutcome};
use crate::config::RateSpec;
use crate::runners::ChatMessage;

pub struct RateWorkload {
    requests: Vec<Arc<Vec<ChatMessage>>>,
    spec: RateSpec,
}

impl RateWorkload {
    pub fn new(requests: Vec<Vec<ChatMessage>>, spec: RateSpec) -> Self {
        Self {
            requests: requests.into_iter().map(Arc::new).collect(),
            spec,
        }
    }
}

/// The arrival process of a rate spec.
pub fn process(spec: &RateSpec) -> ArrivalProcess {
    ArrivalProcess {
        rate: spec.request_rate,
        arrival: spec.arrival,
        seed: spec.seed,
    }
}

/// `(index, offset)` of every arrival not yet measured. A resumed run starts at once: the
/// remaining offsets are shifted so the first of them is 0.
pub(crate) fn remaining(
    offsets: &[Duration],
    done: &std::collections::HashSet<usize>,
) -> Vec<(usize, Duration)> {
    let todo: Vec<(usize, Duration)> = offsets
        .iter()
        .enumerate()
        .filter(|(i, _)| !done.contains(i))
        .map(|(i, o)| (i, *o))
        .collect();
    let shift = todo.first().map(|(_, o)| *o).unwrap_or_default();
    todo.into_iter().map(|(i, o)| (i, o - shift)).collect()
}

#[async_trait]
impl Workload for RateWorkload {
    fn total_requests(&self) -> usize {
        self.requests.len()
    }

    async fn run(&self, ctx: WorkloadContext) -> WorkloadOutcome {
        let offsets = process(&self.spec).offsets(self.requests.len(), ctx.timing.duration);
        let units: Vec<((usize, Arc<Vec<ChatMessage>>), Duration)> =
            remaining(&offsets, &ctx.already_done)
                .into_iter()
                .map(|(i, offset)| ((i, Arc::clone(&self.requests[i])), offset))
                .collect();
        pacer::run_open_loop(
            ctx,
            units,
            self.spec.max_concurrency,
            |sender, index, messages, deadline, pacing| async move {
                sender
                    .send_paced(&messages, Position::request(index), false, deadline, pacing)
                    .await;
            },
        )
        .await
    }
}

#[cfg(test)]
#[path = "rate_tests.rs"]
mod tests;
