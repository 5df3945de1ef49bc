//! Providers own the server's lifecycle: provision (a RunPod pod, a local process, the built-in
//! simulator) and tear down. `teardown` must terminate everything `provision` created, even
//! when `provision` itself failed half-way — providers remember what they created.

pub mod failure;
pub mod local;
pub mod runpod;
pub mod simulated;

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::config::Experiment;
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
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("{0}")]
    Provision(String),
    #[error("provisioning cancelled")]
    Cancelled,
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
}

#[async_trait]
pub trait Provider: Send {
    fn name(&self) -> &'static str;

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
