//! What the workload tests' fake runners share: each implements only `FakeChat::chat`; the
//! other `Runner` methods are a vLLM server at `fake://` serving `fake`, always healthy.

use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::config::{Framework, GenerationParams};
use crate::runners::{ChatMessage, ChatOutcome, HealthProgress, Runner, RunnerError};

#[async_trait]
pub(crate) trait FakeChat: Send + Sync {
    async fn chat(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
        keep_reply: bool,
        cancel: &CancellationToken,
    ) -> ChatOutcome;
}

#[async_trait]
impl<T: FakeChat> Runner for T {
    fn framework(&self) -> Framework {
        Framework::Vllm
    }
    fn base_url(&self) -> &str {
        "fake://"
    }
    fn model(&self) -> &str {
        "fake"
    }
    async fn wait_healthy(
        &self,
        _timeout: Duration,
        _cancel: &CancellationToken,
        _on_wait: &(dyn Fn(HealthProgress) + Send + Sync),
    ) -> Result<(), RunnerError> {
        Ok(())
    }
    async fn check_model(&self) -> Result<(), RunnerError> {
        Ok(())
    }
    async fn chat(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
        keep_reply: bool,
        cancel: &CancellationToken,
    ) -> ChatOutcome {
        FakeChat::chat(self, messages, params, keep_reply, cancel).await
    }
}
