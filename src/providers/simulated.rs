//! The simulated provider: "provisioning" starts the built-in simulator in-process on a free
//! loopback port; teardown stops it. Costs nothing.

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::{Provider, ProviderError, ServerHandle};
use crate::config::Experiment;
use crate::events::EventSink;
use crate::sim::SimServer;

#[derive(Default)]
pub struct SimulatedProvider {
    server: Option<SimServer>,
}

impl SimulatedProvider {
    pub fn new() -> Self {
        Self::default()
    }
}

/// The model's tokenizer when the config names one or asks for exact lengths, so the
/// simulator counts tokens as the real server would.
async fn sim_tokenizer(
    experiment: &Experiment,
) -> Result<Option<crate::tokens::TextTokenizer>, ProviderError> {
    let mut issues = Vec::new();
    let tw = crate::config::tokens::token_workload(&experiment.resolved, &mut issues);
    if tw.tokenizer.is_none() && !tw.needs_tokenizer() {
        return Ok(None);
    }
    let source = crate::tokens::tokenizer::locate(tw.tokenizer.as_deref(), &tw.model_name);
    let loaded = match source {
        Ok(source) => crate::tokens::tokenizer::load(&source).await,
        Err(e) => Err(e),
    };
    loaded.map(Some).map_err(ProviderError::SimTokenizer)
}

#[async_trait]
impl Provider for SimulatedProvider {
    fn name(&self) -> &'static str {
        "simulated"
    }

    fn how_to_stop(&self) -> String {
        "the simulator runs inside llm-inf-bench and stops when it exits".to_string()
    }

    async fn provision(
        &mut self,
        experiment: &Experiment,
        events: &EventSink,
        _cancel: &CancellationToken,
    ) -> Result<ServerHandle, ProviderError> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let tokenizer = sim_tokenizer(experiment).await?;
        // `require_api_key`: a key of its own, as a server started with `--api-key`.
        let api_key = match experiment.infrastructure.simulation.require_api_key {
            true => Some(crate::redact::Secret::generate().map_err(ProviderError::ApiKey)?),
            false => None,
        };
        let server = SimServer::start_secured(
            experiment.framework,
            experiment.infrastructure.simulation.clone(),
            &experiment.model.name,
            addr,
            tokenizer,
            api_key.clone(),
        )
        .await
        .map_err(ProviderError::Simulator)?;
        let base_url = server.base_url();
        events.info(format!(
            "Simulated {} server at {base_url}",
            experiment.framework
        ));
        let failure = Some(server.failure());
        self.server = Some(server);
        Ok(ServerHandle {
            base_url,
            cost_per_hr: Some(0.0),
            failure,
            api_key,
            ..ServerHandle::default()
        })
    }

    async fn teardown(&mut self, events: &EventSink) -> Result<(), ProviderError> {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
            events.info("Simulated server stopped");
        }
        Ok(())
    }
}
