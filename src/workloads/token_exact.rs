//! Preparing a token-exact workload before a run: load the tokenizer (only when exact lengths
//! are asked), build the requests, measure the chat template's overhead with one extra request,
//! and pick the workload that sends them. A plain prompt file with `api: chat` never comes here.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{create_planned_workload, PlannedRequest, Workload, WorkloadError};
use crate::config::tokens::{token_workload, PromptSource};
use crate::config::Experiment;
use crate::events::EventSink;
use crate::metrics::tokens::TokenSummary;
use crate::runners::{ChatMessage, Prompt, Runner};
use crate::tokens::plan;

pub struct Prepared {
    pub workload: Box<dyn Workload>,
    /// Completed with the records after the run (`TokenSummary::check`).
    pub summary: Option<TokenSummary>,
}

/// `None` for a plain chat prompt file (the usual path).
pub async fn prepare(
    exp: &Experiment,
    runner: &Arc<dyn Runner>,
    events: &EventSink,
    cancel: &CancellationToken,
) -> Result<Option<Prepared>, WorkloadError> {
    let mut issues = Vec::new();
    let tw = token_workload(&exp.resolved, &mut issues);
    if let Some(issue) = issues.first() {
        return Err(WorkloadError::Invalid(issue.to_string()));
    }
    if tw.is_plain() {
        return Ok(None);
    }
    if tw.source == PromptSource::Prompts {
        return completions_from_prompt_file(exp).map(Some);
    }
    let tok = plan::load_tokenizer(&tw)
        .await
        .map_err(|e| WorkloadError::Invalid(error_chain(&e)))?;
    let count = exp.workload.count;
    // Building thousands of exact prompts is CPU work: off the async threads.
    let built = tokio::task::spawn_blocking(move || plan::build(&tw, tok.as_ref(), count))
        .await
        .map_err(|e| WorkloadError::Invalid(format!("preparing the prompts failed: {e}")))?
        .map_err(|e| WorkloadError::Invalid(e.to_string()))?;
    for w in &built.warnings {
        events.warn(w.clone());
    }
    let mut summary = built.summary;
    if built.measure_chat_overhead {
        summary.chat_template_overhead_tokens = chat_overhead(runner, exp, events, cancel).await;
    }
    let workload = create_planned_workload(&exp.workload.kind, built.requests, built.offsets)?;
    Ok(Some(Prepared {
        workload,
        summary: Some(summary),
    }))
}

/// A prompt file sent to /v1/completions: each request's messages' text is the prompt.
fn completions_from_prompt_file(exp: &Experiment) -> Result<Prepared, WorkloadError> {
    let prompts = super::prompts::load_prompts(&exp.workload.source)?;
    let requests = prompts
        .cycled_messages(exp.workload.count)
        .into_iter()
        .map(|messages| PlannedRequest {
            prompt: Prompt::Text(
                messages
                    .iter()
                    .map(|m| m.content.as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            max_tokens: None,
            requested_input_tokens: None,
            requested_output_tokens: None,
        })
        .collect();
    let workload = create_planned_workload(&exp.workload.kind, requests, None)?;
    Ok(Prepared {
        workload,
        summary: None,
    })
}

/// Prompt tokens the server counts for an empty user message: the chat template's share of
/// every chat prompt. Measured with one request (not part of the results).
async fn chat_overhead(
    runner: &Arc<dyn Runner>,
    exp: &Experiment,
    events: &EventSink,
    cancel: &CancellationToken,
) -> Option<u64> {
    let params = crate::config::GenerationParams {
        max_tokens: 1,
        ..exp.workload.params.clone()
    };
    let empty = Prompt::Chat(vec![ChatMessage::new("user", "")]);
    let outcome = runner.send(&empty, &params, false, cancel).await;
    match (outcome.error, outcome.prompt_tokens) {
        (None, Some(n)) => Some(n),
        (err, _) => {
            events.warn(format!(
                "could not measure the chat template overhead ({}); prompt lengths are compared \
                 without it",
                err.map_or("the server reported no usage".to_string(), |e| e.message)
            ));
            None
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}
