//! The open-loop pacer: one loop that sleeps until each absolute deadline (`start + offset`)
//! and spawns that arrival's task; it never waits on a response. (A minimal version written
//! for trace replay; the request-rate workload's pacer has the same shape.)

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// One scheduled arrival, handed to its task.
pub(crate) struct Arrival {
    /// When the schedule means it to be sent.
    pub deadline: Instant,
}

/// Spawn `task(unit, arrival)` at each unit's offset from now. Stops scheduling when `stop`
/// is cancelled, then waits for every spawned task.
pub(crate) async fn run_paced<U, F, Fut>(
    units: Vec<(U, Duration)>,
    stop: &CancellationToken,
    task: F,
) where
    F: Fn(U, Arrival) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut set = JoinSet::new();
    let start = Instant::now();
    for (unit, offset) in units {
        let deadline = start + offset;
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep_until(deadline.into()) => {}
        }
        set.spawn(task(unit, Arrival { deadline }));
        while let Some(done) = set.try_join_next() {
            report_panic(done);
        }
    }
    while let Some(done) = set.join_next().await {
        report_panic(done);
    }
}

fn report_panic(result: Result<(), tokio::task::JoinError>) {
    if let Err(e) = result {
        tracing::error!("request task failed: {e}");
    }
}
