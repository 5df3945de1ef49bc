//! OpenAI-compatible streaming chat completions with per-chunk timing.

use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::{ChatMessage, ChatOutcome, HealthProgress, Runner, RunnerError, RunnerTimeouts};
use crate::config::{Framework, GenerationParams};

/// What differs between frameworks speaking the same API.
#[derive(Debug, Clone, Copy)]
pub struct Flavor {
    pub framework: Framework,
    pub health_path: &'static str,
}

pub struct OpenAiRunner {
    flavor: Flavor,
    base_url: String,
    model: String,
    timeouts: RunnerTimeouts,
}

impl OpenAiRunner {
    pub fn new(
        flavor: Flavor,
        base_url: &str,
        model: &str,
        timeouts: RunnerTimeouts,
        max_connections: usize,
    ) -> Result<Self, RunnerError> {
        let _ = max_connections;
        Ok(Self {
            flavor,
            base_url: base_url.trim_end_matches('/').to_string(),
            model: model.to_string(),
            timeouts,
        })
    }
}

#[async_trait]
impl Runner for OpenAiRunner {
    fn framework(&self) -> Framework {
        self.flavor.framework
    }

    fn base_url(&self) -> &str {
        &self.base_url
    }

    fn model(&self) -> &str {
        &self.model
    }

    async fn wait_healthy(
        &self,
        timeout: Duration,
        cancel: &CancellationToken,
        on_wait: &(dyn Fn(HealthProgress) + Send + Sync),
    ) -> Result<(), RunnerError> {
        let _ = (timeout, cancel, on_wait, self.timeouts);
        todo!("runner helper implements this")
    }

    async fn chat(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
        keep_reply: bool,
        cancel: &CancellationToken,
    ) -> ChatOutcome {
        let _ = (messages, params, keep_reply, cancel);
        todo!("runner helper implements this")
    }
}
