//! Phases 1 and 2: provision the server (or attach to `--server-url`), then wait until it is
//! healthy and serves the model. The result is a [`LiveServer`] that any number of
//! iterations can run against.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::{RunError, ServerPlan};
use crate::events::{Event, EventSink, Phase};
use crate::providers::{Provider, ProviderError, ServerHandle};
use crate::runners::{self, Runner, RunnerError, RunnerTimeouts};

pub(super) type SharedProvider = Arc<tokio::sync::Mutex<Option<Box<dyn Provider>>>>;

/// A healthy server serving the model, and the runner that talks to it.
pub struct LiveServer {
    pub handle: ServerHandle,
    pub runner: Arc<dyn Runner>,
    /// `provider` in result files: the provider kind, or `external` for `--server-url`.
    pub provider_label: String,
}

/// Phases 1 and 2, each between its `PhaseStarted` and `PhaseFinished` events.
pub(super) async fn bring_up(
    plan: &ServerPlan,
    provider: &SharedProvider,
    events: &EventSink,
    cancel: &CancellationToken,
) -> Result<LiveServer, RunError> {
    let started = Instant::now();
    events.send(Event::PhaseStarted(Phase::Provision));
    let handle = provision(plan, provider, events, cancel).await?;
    events.send(Event::PhaseFinished {
        phase: Phase::Provision,
        elapsed: started.elapsed(),
    });

    let started = Instant::now();
    events.send(Event::PhaseStarted(Phase::Load));
    let runner = load(plan, &handle, events, cancel).await?;
    events.send(Event::PhaseFinished {
        phase: Phase::Load,
        elapsed: started.elapsed(),
    });
    let provider_label = match plan.server_url {
        Some(_) => "external".to_string(),
        None => plan.experiment.infrastructure.provider.as_str().to_string(),
    };
    Ok(LiveServer {
        handle,
        runner,
        provider_label,
    })
}

/// Phase 1: the provider creates the server; with `--server-url` there is nothing to create.
async fn provision(
    plan: &ServerPlan,
    provider: &SharedProvider,
    events: &EventSink,
    cancel: &CancellationToken,
) -> Result<ServerHandle, RunError> {
    if let Some(url) = &plan.server_url {
        events.send(Event::ExternalServer {
            url: crate::redact::url(url),
        });
        return Ok(ServerHandle {
            base_url: url.trim_end_matches('/').to_string(),
            ..ServerHandle::default()
        });
    }
    let mut guard = provider.lock().await;
    let Some(p) = guard.as_mut() else {
        return Err(RunError::Internal("no provider and no --server-url".into()));
    };
    // A provider noticing the cancellation first reports `Cancelled`: still an interrupt.
    let provisioned = tokio::select! {
        r = p.provision(&plan.experiment, events, cancel) => r,
        _ = cancel.cancelled() => return Err(RunError::Interrupted),
    };
    match provisioned {
        Ok(server) => Ok(server),
        Err(ProviderError::Cancelled) => Err(RunError::Interrupted),
        Err(e) => Err(e.into()),
    }
}

/// Phase 2: wait for the health check, then check that the server serves the model.
async fn load(
    plan: &ServerPlan,
    server: &ServerHandle,
    events: &EventSink,
    cancel: &CancellationToken,
) -> Result<Arc<dyn Runner>, RunError> {
    let exp = &plan.experiment;
    // A local server started with `--served-model-name` answers only to that name.
    let model = server.served_model.as_deref().unwrap_or(&exp.model.name);
    let options = runners::options::RunnerOptions::new(&exp.request, server.api_key.as_ref());
    if let Some(warning) = options.conflict_warning() {
        events.warn(warning);
    }
    let runner = runners::create_runner_with(
        exp.framework,
        &server.base_url,
        model,
        RunnerTimeouts::for_framework(exp.framework),
        plan.max_concurrency,
        options,
    )?;
    let started_wait = Instant::now();
    let on_wait = {
        let events = events.clone();
        move |p: runners::HealthProgress| {
            events.send(Event::Waiting {
                elapsed: p.elapsed,
                status: p.last_status,
            })
        }
    };
    // An already running server (`--server-url`) fails fast on a wrong address; a server
    // whose provider watched it become healthy is not waited for twice.
    if !server.healthy {
        let healthy = match plan.server_url {
            Some(_) => runner.wait_healthy_external(plan.health_timeout, cancel, &on_wait),
            None => runner.wait_healthy(plan.health_timeout, cancel, &on_wait),
        };
        healthy.await.map_err(|e| match e {
            RunnerError::Cancelled => RunError::Interrupted,
            other => RunError::Runner(other),
        })?;
    }
    runner.check_model().await?;
    events.send(Event::ServerHealthy {
        after: started_wait.elapsed(),
    });
    Ok(runner)
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
