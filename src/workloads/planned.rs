//! A request prepared before the run: its prompt (chat messages, completions text or token
//! ids), its own output length, and the token lengths it asked for (token-exact workloads).

use crate::runners::{ChatMessage, Prompt};

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRequest {
    pub prompt: Prompt,
    /// Overrides `workload.parameters.max_tokens` (sent with `ignore_eos` and `min_tokens`).
    pub max_tokens: Option<u32>,
    pub requested_input_tokens: Option<u64>,
    pub requested_output_tokens: Option<u64>,
}

impl PlannedRequest {
    /// A plain chat request (prompt files): nothing requested, the parameters as configured.
    pub fn chat(messages: Vec<ChatMessage>) -> Self {
        Self {
            prompt: Prompt::Chat(messages),
            max_tokens: None,
            requested_input_tokens: None,
            requested_output_tokens: None,
        }
    }
}
