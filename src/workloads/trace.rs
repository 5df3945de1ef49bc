//! Trace replay: each request is sent at its trace timestamp (open loop, through the pacer),
//! whatever the server's state; late sends are recorded as `send_delay`. Stops early once half
//! of the requests have failed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::engine::Position;
use super::pacer;
use super::planned::PlannedRequest;
use super::{Workload, WorkloadContext, WorkloadOutcome};

/// HTTP connections kept for a replay: an open loop must not be capped by the client's pool.
pub const MAX_IN_FLIGHT: usize = 512;

pub struct TraceWorkload {
    requests: Vec<(Arc<PlannedRequest>, Duration)>,
}

impl TraceWorkload {
    /// `requests` with their send offsets from the start of the run (sorted ascending).
    pub fn new(requests: Vec<(PlannedRequest, Duration)>) -> Self {
        Self {
            requests: requests
                .into_iter()
                .map(|(r, at)| (Arc::new(r), at))
                .collect(),
        }
    }
}

#[async_trait]
impl Workload for TraceWorkload {
    fn total_requests(&self) -> usize {
        self.requests.len()
    }

    async fn run(&self, ctx: WorkloadContext) -> WorkloadOutcome {
        let units: Vec<((usize, Arc<PlannedRequest>), Duration)> = self
            .requests
            .iter()
            .enumerate()
            .filter(|(i, _)| !ctx.already_done.contains(i))
            .map(|(i, (r, at))| ((i, Arc::clone(r)), *at))
            .collect();
        pacer::run_open_loop(
            ctx,
            units,
            None,
            |sender, index, request, deadline, pacing| async move {
                sender
                    .send_planned(&request, Position::request(index), deadline, pacing)
                    .await;
            },
        )
        .await
    }
}
