//! The open-loop pacer: one loop that sleeps until each absolute deadline (`start + offset`)
//! and spawns that arrival's task. It never waits on a response: replies are handled by the
//! spawned tasks, and a concurrency cap is waited on inside the task, not in the pacer, so one
//! full cap delays only the requests that find it full (each records its own wait).
//!
//! Timer: `tokio::time::sleep_until` (the timer wheel has 1 ms resolution, so a wake-up lands
//! up to ~1 ms after its deadline). `bench`'s open-loop section measures what that costs in
//! send lag.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::metrics::request::Pacing;

/// One scheduled arrival, handed to its task.
pub(crate) struct Arrival {
    /// When the schedule means it to be sent.
    pub deadline: Instant,
    pub offset: Duration,
    cap: Option<Arc<Semaphore>>,
    stop: CancellationToken,
}

/// Held while the arrival is in flight (a slot under the cap, if any).
pub(crate) struct Slot {
    _permit: Option<OwnedSemaphorePermit>,
    pub pacing: Pacing,
}

impl Arrival {
    /// Wait for a slot under the cap (no wait without one). `None` when stopped meanwhile.
    pub async fn slot(self) -> Option<Slot> {
        let scheduled_offset_us = Some(self.offset.as_micros() as u64);
        let Some(cap) = self.cap else {
            return Some(Slot {
                _permit: None,
                pacing: Pacing {
                    scheduled_offset_us,
                    ..Pacing::default()
                },
            });
        };
        let (permit, waited) = match Arc::clone(&cap).try_acquire_owned() {
            Ok(p) => (p, Duration::ZERO),
            Err(_) => {
                let t = Instant::now();
                let permit = tokio::select! {
                    biased;
                    _ = self.stop.cancelled() => return None,
                    p = cap.acquire_owned() => p.ok()?,
                };
                (permit, t.elapsed())
            }
        };
        Some(Slot {
            _permit: Some(permit),
            pacing: Pacing {
                scheduled_offset_us,
                cap_wait_us: Some(waited.as_micros() as u64),
                ..Pacing::default()
            },
        })
    }
}

/// Spawn `task(unit, arrival)` at each unit's offset from now; at most `cap` tasks hold a slot
/// at once. Stops scheduling when `stop` is cancelled, then waits for every spawned task.
pub(crate) async fn run_paced<U, F, Fut>(
    units: Vec<(U, Duration)>,
    cap: Option<usize>,
    stop: &CancellationToken,
    task: F,
) where
    F: Fn(U, Arrival) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let cap = cap.map(|n| Arc::new(Semaphore::new(n.max(1))));
    let mut set = JoinSet::new();
    let start = Instant::now();
    for (unit, offset) in units {
        let deadline = start + offset;
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep_until(deadline.into()) => {}
        }
        set.spawn(task(
            unit,
            Arrival {
                deadline,
                offset,
                cap: cap.clone(),
                stop: stop.clone(),
            },
        ));
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
