//! The open-loop pacer: one loop that sleeps until each absolute deadline (`start + offset`)
//! and spawns that arrival's task. It never waits on a response: replies are handled by the
//! spawned tasks, and a concurrency cap is waited on inside the task, not in the pacer, so one
//! full cap delays only the requests that find it full (each records its own wait).
//!
//! Clock (`PacerClock`): by default a dedicated OS thread sleeps until each deadline on the
//! kernel's high-resolution timer with 1 µs slack (`pacer_clock`) and spawns the task (built
//! before the deadline) onto the runtime; `tokio::time::sleep_until` on
//! the runtime is the alternative (its timer wheel has 1 ms resolution, so a wake-up lands up to
//! ~1 ms after the deadline). `bench --only open-loop` measures both.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::engine::{self, HalfFailedBreaker, RequestSender};
use super::pacer_clock;
use super::{WorkloadContext, WorkloadOutcome};
use crate::config::PacerClock;
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

/// An open-loop workload's whole run (rate, trace): one collector with the half-failed
/// breaker, one sender, and each `(index, unit)` handed to `send` at its deadline with its
/// pacing; the unit's slot under `cap` is held until `send` returns.
pub(crate) async fn run_open_loop<U, F, Fut>(
    mut ctx: WorkloadContext,
    units: Vec<((usize, U), Duration)>,
    cap: Option<usize>,
    send: F,
) -> WorkloadOutcome
where
    U: Send + 'static,
    F: Fn(RequestSender, usize, U, Instant, Pacing) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let planned = units.len();
    let breaker = Box::new(HalfFailedBreaker::new(planned));
    let (collector, sender, stop) = engine::start_measuring(&mut ctx, breaker);
    let task_sender = sender.clone();
    let send = Arc::new(send);
    run_paced(
        units,
        cap,
        &stop,
        ctx.timing.pacer_clock,
        move |(index, unit), arrival| {
            let sender = task_sender.clone();
            let send = Arc::clone(&send);
            async move {
                let deadline = arrival.deadline;
                let Some(slot) = arrival.slot().await else {
                    return;
                };
                send(sender, index, unit, deadline, slot.pacing).await;
                drop(slot);
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

/// Spawn `task(unit, arrival)` at each unit's offset from now; at most `cap` tasks hold a slot
/// at once. Stops scheduling when `stop` is cancelled, then waits for every spawned task.
pub(crate) async fn run_paced<U, F, Fut>(
    units: Vec<(U, Duration)>,
    cap: Option<usize>,
    stop: &CancellationToken,
    clock: PacerClock,
    task: F,
) where
    U: Send + 'static,
    F: Fn(U, Arrival) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let cap = cap.map(|n| Arc::new(Semaphore::new(n.max(1))));
    let start = Instant::now();
    let arrival =
        move |offset: Duration, cap: &Option<Arc<Semaphore>>, stop: &CancellationToken| Arrival {
            deadline: start + offset,
            offset,
            cap: cap.clone(),
            stop: stop.clone(),
        };
    if clock == PacerClock::Thread {
        let units = units
            .into_iter()
            .map(|(unit, offset)| (unit, offset, arrival(offset, &cap, stop)));
        return pace_on_thread(units.collect(), start, stop, task).await;
    }
    let mut set = JoinSet::new();
    for (unit, offset) in units {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep_until((start + offset).into()) => {}
        }
        set.spawn(task(unit, arrival(offset, &cap, stop)));
        while let Some(done) = set.try_join_next() {
            report_panic(done);
        }
    }
    while let Some(done) = set.join_next().await {
        report_panic(done);
    }
}

/// The thread clock: a dedicated OS thread sleeps until each deadline (`pacer_clock`) and
/// spawns that arrival's task, built before the deadline, onto this runtime.
async fn pace_on_thread<U, F, Fut>(
    units: Vec<(U, Duration, Arrival)>,
    start: Instant,
    stop: &CancellationToken,
    task: F,
) where
    U: Send + 'static,
    F: Fn(U, Arrival) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let handle = tokio::runtime::Handle::current();
    let thread_stop = stop.clone();
    let pacer = std::thread::Builder::new()
        .name("pacer".into())
        .spawn(move || {
            pacer_clock::precise_timer_slack();
            for (unit, offset, arrival) in units {
                // Built before the deadline: after it, only the spawn is left to do.
                let fut = task(unit, arrival);
                if !pacer_clock::sleep_until(start + offset, &thread_stop) {
                    return;
                }
                if tx.send(handle.spawn(fut)).is_err() {
                    return;
                }
            }
        });
    if let Err(e) = pacer {
        // Only when out of threads; the requests are not sent.
        tracing::error!("cannot start the pacer thread: {e}");
        return;
    }
    while let Some(request) = rx.recv().await {
        report_panic(request.await);
    }
}

fn report_panic(result: Result<(), tokio::task::JoinError>) {
    if let Err(e) = result {
        tracing::error!("request task failed: {e}");
    }
}
