//! `SimServer`: bind, spawn the engine and the HTTP server, stop them.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::engine::{Engine, EngineEvent};
use super::http::{self, AppState};
use super::profile::SimProfile;
use super::stats::Stats;
use crate::config::Framework;

/// Engine events kept for a slow observer before the oldest are dropped.
const TRACE_CAPACITY: usize = 8192;

/// How long `shutdown` waits for connections to close before cutting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running simulated server. Dropping it stops it too (without waiting).
#[derive(Debug)]
pub struct SimServer {
    addr: SocketAddr,
    cancel: CancellationToken,
    http_task: Option<JoinHandle<()>>,
    engine_task: Option<JoinHandle<()>>,
    trace: broadcast::Sender<EngineEvent>,
    paused: watch::Sender<bool>,
    failure: crate::providers::ServerFailure,
}

impl SimServer {
    /// Bind `addr` (port 0 picks a free port), spawn the engine and the HTTP server, return.
    ///
    /// `served_model` is the only model name accepted (others get 404), or `"*"` to accept any
    /// name (responses echo it; `/v1/models` and `/metrics` then say `sim-model`).
    pub async fn start(
        framework: Framework,
        profile: SimProfile,
        served_model: &str,
        addr: SocketAddr,
    ) -> std::io::Result<SimServer> {
        Self::start_with_tokenizer(framework, profile, served_model, addr, None).await
    }

    /// Like [`SimServer::start`], counting prompt tokens with `tokenizer` (the model's).
    pub async fn start_with_tokenizer(
        framework: Framework,
        profile: SimProfile,
        served_model: &str,
        addr: SocketAddr,
        tokenizer: Option<crate::tokens::TextTokenizer>,
    ) -> std::io::Result<SimServer> {
        Self::start_secured(framework, profile, served_model, addr, tokenizer, None).await
    }

    /// Like [`SimServer::start_with_tokenizer`], answering only requests that carry
    /// `Authorization: Bearer <api_key>` (as `vllm serve --api-key` / SGLang's do).
    pub async fn start_secured(
        framework: Framework,
        profile: SimProfile,
        served_model: &str,
        addr: SocketAddr,
        tokenizer: Option<crate::tokens::TextTokenizer>,
        api_key: Option<crate::redact::Secret>,
    ) -> std::io::Result<SimServer> {
        profile
            .validate()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let cancel = CancellationToken::new();
        let (trace, _) = broadcast::channel(TRACE_CAPACITY);
        let stats = Arc::new(Mutex::new(Stats::new(framework, &profile)));
        let (submit_tx, submit_rx) = mpsc::unbounded_channel();

        let engine = Engine::new(profile.clone(), stats.clone(), trace.clone());
        let (paused, paused_rx) = watch::channel(false);
        let failure = crate::providers::ServerFailure::new();
        let engine_task = tokio::spawn({
            let failure = failure.clone();
            let run = engine.run(submit_rx, paused_rx, cancel.clone());
            async move { failure.guard("the simulator's engine", run).await }
        });

        let state = Arc::new(AppState {
            framework,
            profile,
            served_model: served_model.to_string(),
            next_seq: AtomicU64::new(0),
            engine: submit_tx,
            stats,
            cancel: cancel.clone(),
            started_unix: http::unix_now(),
            failure: failure.clone(),
            tokenizer,
        });
        let app = super::auth::require_key(http::router(state), framework, api_key);
        let http_task = serve(listener, app, cancel.clone());
        tracing::debug!(%addr, framework = framework.as_str(), "simulated server started");
        Ok(SimServer {
            addr,
            cancel,
            http_task: Some(http_task),
            engine_task: Some(engine_task),
            trace,
            paused,
            failure,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (the bound address).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Engine events from now on (admissions, first tokens, finishes, preemptions, steps).
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.trace.subscribe()
    }

    /// Freeze the engine between steps: running sequences get no tokens, arrivals queue.
    /// For tests and demos that need to look at a precise engine state.
    pub fn pause_engine(&self) {
        self.paused.send_replace(true);
    }

    pub fn resume_engine(&self) {
        self.paused.send_replace(false);
    }

    /// Reported when the engine or a stream task panics.
    pub fn failure(&self) -> crate::providers::ServerFailure {
        self.failure.clone()
    }

    /// False once the HTTP server task has ended (after a fatal error).
    pub fn is_running(&self) -> bool {
        self.http_task.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stop: open streams end at once (without `[DONE]`), the listener closes, tasks finish.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.http_task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, task).await.is_err() {
                abort.abort();
            }
        }
        if let Some(task) = self.engine_task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.cancel.cancel();
        if let Some(task) = self.http_task.take() {
            task.abort();
        }
        if let Some(task) = self.engine_task.take() {
            task.abort();
        }
    }
}

/// Serve `app` on `listener` until `stop`, each token flushed at once.
fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    // Each token is its own small write: without TCP_NODELAY, Nagle's algorithm meets the
    // client's delayed ACK and tokens arrive in 40 ms bunches.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "cannot set TCP_NODELAY");
        }
    });
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(err) = served {
            tracing::warn!(%err, "simulated server stopped with an error");
        }
    })
}
