//! Workloads: execution strategies that drive a runner through a list of requests.
//!
//! Request tasks send each finished `RequestRecord` over a channel to one collector that owns
//! the results and emits progress events — no shared result list, no lock on the hot path.

pub mod batch;
pub mod concurrent;
mod engine;
pub mod multi_turn;
pub mod pacer;
mod pacer_clock;
pub mod planned;
pub mod prompts;
pub mod rate;
pub mod schedule;
pub mod single;
pub mod token_exact;
pub mod trace;

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::config::{Conversation, GenerationParams, Timing, WorkloadKind};
use crate::events::EventSink;
use crate::metrics::request::RequestRecord;
use crate::runners::{ChatMessage, Runner};

pub use planned::PlannedRequest;
pub use prompts::{PromptError, PromptSet};

/// Called with every record as it completes (e.g. the journal); runs in the collector task.
pub type OnRecord = Box<dyn FnMut(&RequestRecord) + Send>;

/// Everything a workload needs to run.
pub struct WorkloadContext {
    pub runner: Arc<dyn Runner>,
    pub params: GenerationParams,
    pub events: EventSink,
    /// Cancelled on Ctrl-C: stop sending, let in-flight requests end as `cancelled`.
    pub cancel: CancellationToken,
    /// Request indices (multi-turn: conversation indices) already measured — skipped on resume.
    pub already_done: HashSet<usize>,
    /// Called with every record as it completes (the journal); runs in the collector.
    pub on_record: OnRecord,
    /// Warmup, duration, think time, conversation arrivals (`workload` config; issue 13).
    pub timing: Timing,
}

/// What a workload measured.
#[derive(Debug, Default)]
pub struct WorkloadOutcome {
    /// Sorted by `request_index`.
    pub records: Vec<RequestRecord>,
    /// Why the workload stopped before the end (circuit breaker or cancellation).
    pub stopped_early: Option<String>,
}

#[async_trait]
pub trait Workload: Send + Sync {
    /// Requests this workload sends when run to the end (multi-turn: conversations × turns).
    fn total_requests(&self) -> usize;
    async fn run(&self, ctx: WorkloadContext) -> WorkloadOutcome;
}

#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error(transparent)]
    Prompts(#[from] PromptError),
    #[error("{0}")]
    Invalid(String),
}

/// Factory: the workload for `kind` over `count` requests (multi-turn: conversations), cycling
/// through the prompt file.
pub fn create_workload(
    kind: &WorkloadKind,
    prompts: &PromptSet,
    count: usize,
) -> Result<Box<dyn Workload>, WorkloadError> {
    if prompts.is_empty() {
        return Err(WorkloadError::Invalid(
            "the prompt file has no prompts".into(),
        ));
    }
    let messages = || match prompts {
        PromptSet::Messages(list) => Ok((0..count).map(|i| list[i % list.len()].clone()).collect()),
        PromptSet::Scripted(_) => Err(WorkloadError::Invalid(format!(
            "workload type '{}' needs prompts in the messages format, not scripted turns",
            kind.name()
        ))),
    };
    Ok(match kind {
        WorkloadKind::Single => Box::new(single::single(messages()?)),
        WorkloadKind::Batch { batch_size } => {
            Box::new(batch::BatchWorkload::new(messages()?, *batch_size))
        }
        WorkloadKind::Concurrent { concurrency } => Box::new(concurrent::ConcurrentWorkload::new(
            messages()?,
            *concurrency,
        )),
        WorkloadKind::MultiTurn {
            conversation,
            concurrency,
        } => Box::new(multi_turn::MultiTurnWorkload::new(
            scripts(prompts, conversation, count)?,
            conversation.turns,
            *concurrency,
        )),
        WorkloadKind::Rate { rate } => Box::new(rate::RateWorkload::new(messages()?, *rate)),
        WorkloadKind::Trace => {
            return Err(WorkloadError::Invalid(
                "workload type 'trace' replays a trace (workload.trace), not a prompt file".into(),
            ))
        }
    })
}

/// Factory for prepared requests (token-exact workloads). `offsets` (trace replay) are the
/// send times from the start of the run, one per request.
pub fn create_planned_workload(
    kind: &WorkloadKind,
    requests: Vec<PlannedRequest>,
    offsets: Option<Vec<std::time::Duration>>,
) -> Result<Box<dyn Workload>, WorkloadError> {
    Ok(match (kind, offsets) {
        (WorkloadKind::Trace, Some(offsets)) => {
            Box::new(trace::TraceWorkload::new(requests.into_iter().zip(offsets).collect()))
        }
        (WorkloadKind::Single, _) => {
            Box::new(concurrent::ConcurrentWorkload::sequential_planned(requests))
        }
        (WorkloadKind::Batch { batch_size }, _) => {
            Box::new(batch::BatchWorkload::planned(requests, *batch_size))
        }
        (WorkloadKind::Concurrent { concurrency }, _) => Box::new(
            concurrent::ConcurrentWorkload::planned(requests, *concurrency),
        ),
        (kind, _) => {
            return Err(WorkloadError::Invalid(format!(
                "workload type '{}' cannot send token-exact requests (use single, batch,                  concurrent or trace)",
                kind.name()
            )))
        }
    })
}

/// Conversation scripts: the opening messages (with the configured system prompt, prefixed by
/// the shared prefix) and the follow-up user messages.
fn scripts(
    prompts: &PromptSet,
    conversation: &Conversation,
    count: usize,
) -> Result<Vec<multi_turn::Script>, WorkloadError> {
    let system: Option<String> = match (&conversation.shared_prefix, &conversation.system_prompt) {
        (Some(prefix), Some(system)) => Some(format!("{prefix}\n\n{system}")),
        (Some(only), None) | (None, Some(only)) => Some(only.clone()),
        (None, None) => None,
    };
    let with_system = |mut opening: Vec<ChatMessage>| {
        if let Some(system) = &system {
            match opening.first_mut() {
                // A prompt with its own system message keeps it, behind the shared prefix.
                Some(first) if first.role == "system" => {
                    if let Some(prefix) = &conversation.shared_prefix {
                        first.content = format!("{prefix}\n\n{}", first.content);
                    }
                }
                _ => opening.insert(0, ChatMessage::new("system", system.clone())),
            }
        }
        opening
    };
    let needed = conversation.turns.saturating_sub(1);
    (0..count)
        .map(|i| match prompts {
            PromptSet::Messages(list) => {
                if conversation.user_messages.len() < needed {
                    return Err(WorkloadError::Invalid(format!(
                        "conversation.user_messages has {} follow-ups, {} turns need {needed}",
                        conversation.user_messages.len(),
                        conversation.turns
                    )));
                }
                Ok(multi_turn::Script {
                    opening: with_system(list[i % list.len()].clone()),
                    follow_ups: conversation.user_messages.clone(),
                })
            }
            PromptSet::Scripted(list) => {
                let (first, rest) = scripted_turns(&list[i % list.len()], conversation.turns)?;
                Ok(multi_turn::Script {
                    opening: with_system(vec![ChatMessage::new("user", first.clone())]),
                    follow_ups: rest.to_vec(),
                })
            }
        })
        .collect()
}

/// A scripted conversation's first message and follow-ups, enough of them for `turns`.
fn scripted_turns(
    turns: &[String],
    needed_turns: usize,
) -> Result<(&String, &[String]), WorkloadError> {
    let Some((first, rest)) = turns.split_first() else {
        return Err(WorkloadError::Invalid(
            "a scripted conversation has no turns".into(),
        ));
    };
    if rest.len() < needed_turns.saturating_sub(1) {
        return Err(WorkloadError::Invalid(format!(
            "a scripted conversation has {} turns, {needed_turns} needed",
            turns.len()
        )));
    }
    Ok((first, rest))
}

#[cfg(test)]
mod fake_runner;
#[cfg(test)]
mod tests;
