//! Providers own the server's lifecycle: provision (a RunPod pod, a local process, the built-in
//! simulator) and tear down. `teardown` must terminate everything `provision` created, even
//! when `provision` itself failed half-way — providers remember what they created.

pub mod failure;
pub mod local;
mod local_scratch;
pub mod runpod;
pub mod server_key;
pub mod simulated;

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::config::{Experiment, ProviderKind};
use crate::events::EventSink;
pub use failure::ServerFailure;

/// A server ready for the health check.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServerHandle {
    pub base_url: String,
    pub pod_id: Option<String>,
    pub gpu_type: Option<String>,
    pub gpu_count: Option<u32>,
    pub cost_per_hr: Option<f64>,
    /// Log file of a local server process.
    pub server_log: Option<PathBuf>,
    /// The model name the server answers to when it differs from `model.name` (a local
    /// server started with `--served-model-name`); requests use it.
    pub served_model: Option<String>,
    /// Reported when the server dies during the run (the simulator's panics).
    pub failure: Option<ServerFailure>,
    /// The key a server this tool started requires (`--api-key`; generated when asked).
    pub api_key: Option<crate::redact::Secret>,
    /// The provider already saw the health endpoint answer 200 (a local server it watched
    /// start, so it could fail early when the process exits): the load phase then only
    /// checks the model. Every server has one owner of its health wait.
    pub healthy: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// A local file or process operation failed (`what`: e.g. "cannot open the server log x").
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start `{program}`: {source} (install {framework} or set infrastructure.local.executable)")]
    Launch {
        program: String,
        framework: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build an HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    #[error("the local {framework} server exited ({status}) before it became healthy; last lines of {}:\n{tail}", log.display())]
    ServerExited {
        framework: &'static str,
        status: std::process::ExitStatus,
        log: PathBuf,
        tail: String,
    },
    #[error("cannot start the simulator: {0}")]
    Simulator(#[source] std::io::Error),
    #[error("simulator tokenizer: {0}")]
    SimTokenizer(#[source] crate::tokens::tokenizer::TokenizerError),
    #[error("pod {pod_id} went to {status} while starting; see its logs in the RunPod console (https://www.runpod.io/console/pods)")]
    PodFailed { pod_id: String, status: String },
    #[error("pod {pod_id} disappeared from RunPod while starting (terminated elsewhere?)")]
    PodVanished { pod_id: String },
    #[error(transparent)]
    Template(#[from] runpod::templates::TemplateError),
    #[error("pod creation task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
    #[error("provisioning cancelled")]
    Cancelled,
    #[error("the {0} provider needs its account settings")]
    NotConfigured(&'static str),
    /// The server never reached a running state in time (it may still exist: tear down).
    #[error("{what} did not start within {} s (last status: {last_status})", waited.as_secs())]
    Timeout {
        what: String,
        waited: Duration,
        last_status: String,
    },
    /// A RunPod API failure, typed (bad key, no balance, no capacity, ...).
    #[error(transparent)]
    Runpod(#[from] runpod::RunpodError),
    #[error("could not terminate {what}: {message}")]
    Teardown { what: String, message: String },
    /// No randomness for the key of a server started with `--api-key` (issue 19).
    #[error("cannot generate the server's API key: {0}")]
    ApiKey(String),
}

/// What providers need beyond the experiment.
#[derive(Debug, Clone, Default)]
pub struct ProviderOptions {
    /// Leave the server running after the run.
    pub keep_server: bool,
    /// Where a local server's output goes.
    pub server_log: PathBuf,
}

/// Factory (beside `create_runner` and `create_workload`): the provider for `kind`. RunPod
/// needs an account and prices: build it with [`runpod::RunpodProvider::new`] and pass it as
/// `runpod`; `None` there for `ProviderKind::Runpod` is an error.
pub fn create_provider(
    kind: ProviderKind,
    options: ProviderOptions,
    runpod: Option<runpod::RunpodProvider>,
) -> Result<Box<dyn Provider>, ProviderError> {
    Ok(match kind {
        ProviderKind::Simulated => Box::new(simulated::SimulatedProvider::new()),
        ProviderKind::Local => Box::new(local::LocalProvider::new(
            options.server_log,
            options.keep_server,
        )),
        ProviderKind::Runpod => match runpod {
            Some(p) => Box::new(p),
            None => return Err(ProviderError::NotConfigured("runpod")),
        },
    })
}

#[async_trait]
pub trait Provider: Send {
    fn name(&self) -> &'static str;

    /// How the user stops the server this provider started, for `--keep-server` and a
    /// failed teardown: the command for that very server, or why none is needed.
    fn how_to_stop(&self) -> String;

    /// Create and start the server; returns once it can be health-checked.
    async fn provision(
        &mut self,
        experiment: &Experiment,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<ServerHandle, ProviderError>;

    /// Terminate whatever was created. Idempotent; a no-op if nothing was created.
    async fn teardown(&mut self, events: &EventSink) -> Result<(), ProviderError>;
}
