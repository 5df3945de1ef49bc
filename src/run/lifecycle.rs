//! The session's lifecycle: bring the server up and run the body in a task of their own, so a
//! panic, an error or a cancellation there still reaches teardown, which runs on every path.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::bench::Bench;
use super::server::{self, SharedProvider};
use super::{FailedRun, RunError, RunOutcome, SavedRun, ServerPlan};
use crate::events::{Event, EventSink, TeardownOutcome};
use crate::providers::Provider;

/// The first cancels `graceful` (stop sending, save, tear down); `hard` stops waiting for
/// anything but teardown.
#[derive(Clone, Default)]
pub(super) struct Stop {
    pub graceful: CancellationToken,
    pub hard: CancellationToken,
}

pub(super) async fn supervise<F, Fut>(
    plan: ServerPlan,
    provider: Option<Box<dyn Provider>>,
    events: EventSink,
    stop: Stop,
    body: F,
) -> Result<RunOutcome, FailedRun>
where
    F: FnOnce(Bench) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), RunError>> + Send + 'static,
{
    let plan = Arc::new(plan);
    let provider: SharedProvider = Arc::new(tokio::sync::Mutex::new(provider));
    let (saved_tx, mut saved_rx) = mpsc::unbounded_channel::<SavedRun>();

    let phases = tokio::spawn({
        let (plan, provider, events) = (Arc::clone(&plan), Arc::clone(&provider), events.clone());
        let cancel = stop.graceful.clone();
        async move {
            let live = server::bring_up(&plan, &provider, &events, &cancel).await?;
            body(Bench::new(live, events, cancel, saved_tx)).await
        }
    });
    let abort = phases.abort_handle();
    let phase_result = tokio::select! {
        joined = phases => match joined {
            Ok(result) => result,
            Err(e) => Err(RunError::Internal(format!("a run phase panicked: {e}"))),
        },
        _ = stop.hard.cancelled() => {
            abort.abort();
            Err(RunError::Interrupted)
        }
    };

    let mut outcome = RunOutcome::default();
    while let Ok(saved) = saved_rx.try_recv() {
        outcome.saved.push(saved);
    }
    outcome.interrupted = stop.graceful.is_cancelled();
    outcome.teardown_error = teardown(&plan, &provider, &events).await;

    match phase_result {
        Ok(()) if outcome.interrupted => Err(FailedRun {
            error: RunError::Interrupted,
            outcome,
        }),
        Ok(()) => Ok(outcome),
        Err(error) => Err(FailedRun { error, outcome }),
    }
}

/// Tear the server down (or keep it with `--keep-server`); returns the failure, if any.
async fn teardown(
    plan: &ServerPlan,
    provider: &SharedProvider,
    events: &EventSink,
) -> Option<String> {
    let mut guard = provider.lock().await;
    let provider = guard.as_mut()?;
    let name = provider.name();
    let how_to_stop = provider.how_to_stop();
    let (outcome, error) = if plan.keep_server {
        let outcome = TeardownOutcome::Kept {
            provider: name,
            how_to_stop,
        };
        (outcome, None)
    } else {
        match provider.teardown(events).await {
            Ok(()) => (TeardownOutcome::Done, None),
            Err(e) => {
                // The command that stops this very server, with the failure.
                let error = format!("{e}\nThe server may still be running: {how_to_stop}");
                let outcome = TeardownOutcome::Failed {
                    provider: name,
                    error: error.clone(),
                };
                (outcome, Some(error))
            }
        }
    };
    events.send(Event::Teardown(outcome));
    error
}
