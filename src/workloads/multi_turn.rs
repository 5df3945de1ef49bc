//! Multi-turn: each conversation runs its turns in order; turn N+1 sends the history plus the
//! assistant's reply to turn N plus the next user message. `concurrency` conversations run at
//! once (1 = one after another, as the original). A failed turn marks the rest of its
//! conversation skipped; 3 consecutive failed conversations stop the workload. Once stopped
//! (Ctrl-C or that breaker) no more turns are recorded; a turn cut in flight is kept.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::engine::{self, Breaker, Position, RequestSender};
use super::pacer;
use super::{Workload, WorkloadContext, WorkloadOutcome};
use crate::config::{RateSpec, Timing};
use crate::metrics::request::{Pacing, RequestRecord};
use crate::runners::ChatMessage;

const MAX_FAILED_CONVERSATIONS: usize = 3;

/// One conversation's script: the opening messages and the user messages of turns 2..N.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub opening: Vec<ChatMessage>,
    pub follow_ups: Vec<String>,
}

pub struct MultiTurnWorkload {
    conversations: Vec<Arc<Script>>,
    turns: usize,
    concurrency: usize,
}

impl MultiTurnWorkload {
    pub fn new(conversations: Vec<Script>, turns: usize, concurrency: usize) -> Self {
        Self {
            conversations: conversations.into_iter().map(Arc::new).collect(),
            turns: turns.max(1),
            concurrency: concurrency.max(1),
        }
    }
}

/// Trips after `MAX_FAILED_CONVERSATIONS` consecutive conversations (in completion order)
/// containing a failure. A conversation is complete once all its turns are recorded.
struct ConversationBreaker {
    turns: usize,
    progress: std::collections::HashMap<usize, (usize, bool)>,
    failed_in_a_row: usize,
}

impl ConversationBreaker {
    fn new(turns: usize) -> Self {
        Self {
            turns,
            progress: Default::default(),
            failed_in_a_row: 0,
        }
    }
}

impl Breaker for ConversationBreaker {
    fn observe(&mut self, record: &RequestRecord) -> Option<String> {
        let conv = record.conversation_index?;
        let entry = self.progress.entry(conv).or_insert((0, false));
        entry.0 += 1;
        entry.1 |= !record.is_success();
        if entry.0 < self.turns {
            return None;
        }
        let failed = entry.1;
        self.progress.remove(&conv);
        self.failed_in_a_row = if failed { self.failed_in_a_row + 1 } else { 0 };
        (self.failed_in_a_row >= MAX_FAILED_CONVERSATIONS).then(|| {
            format!("circuit breaker: {MAX_FAILED_CONVERSATIONS} consecutive conversations failed")
        })
    }
}

impl MultiTurnWorkload {
    /// Conversations started on the arrival schedule of `spec` (the remaining ones).
    async fn paced(
        &self,
        spec: &RateSpec,
        (already_done, timing): (&HashSet<usize>, &Timing),
        sender: &RequestSender,
        stop: &CancellationToken,
        think: Duration,
    ) {
        let turns = self.turns;
        let offsets = super::rate::process(spec).offsets(self.conversations.len(), None);
        let units: Vec<((usize, Arc<Script>), Duration)> =
            super::rate::remaining(&offsets, already_done)
                .into_iter()
                .map(|(c, o)| ((c, Arc::clone(&self.conversations[c])), o))
                .collect();
        let task_sender = sender.clone();
        pacer::run_paced(
            units,
            spec.max_concurrency,
            stop,
            timing.pacer_clock,
            move |(conv, script), arrival| {
                let sender = task_sender.clone();
                async move {
                    let deadline = arrival.deadline;
                    let Some(slot) = arrival.slot().await else {
                        return;
                    };
                    converse(&sender, &script, conv, turns, deadline, think, slot.pacing).await;
                }
            },
        )
        .await;
    }
}

#[async_trait]
impl Workload for MultiTurnWorkload {
    fn total_requests(&self) -> usize {
        self.conversations.len() * self.turns
    }

    async fn run(&self, mut ctx: WorkloadContext) -> WorkloadOutcome {
        let turns = self.turns;
        let todo: Vec<(usize, Arc<Script>)> = (0..self.conversations.len())
            .filter(|c| !ctx.already_done.contains(c))
            .map(|c| (c, Arc::clone(&self.conversations[c])))
            .collect();
        let planned = todo.len() * turns;
        let (collector, sender, stop) =
            engine::start_measuring(&mut ctx, Box::new(ConversationBreaker::new(turns)));
        let think = ctx.timing.think_time;
        match ctx.timing.conversation_rate {
            // Open loop: conversations arrive on the schedule; turns follow their replies.
            Some(spec) => {
                let done = (&ctx.already_done, &ctx.timing);
                self.paced(&spec, done, &sender, &stop, think).await
            }
            None => {
                engine::run_pool(todo, self.concurrency, &stop, |(conv, script), intended| {
                    let sender = sender.clone();
                    async move {
                        converse(
                            &sender,
                            &script,
                            conv,
                            turns,
                            intended,
                            think,
                            Pacing::default(),
                        )
                        .await;
                    }
                })
                .await;
            }
        }
        drop(sender);
        let (records, tripped) = collector.finish().await;
        let done = records.iter().filter(|r| !r.is_cancelled()).count();
        let stopped_early = engine::stop_reason(tripped, &ctx.cancel, done, planned);
        WorkloadOutcome {
            records,
            stopped_early,
        }
    }
}

/// One conversation: each turn sends the history so far; the next follows the reply after
/// `think`. `pacing` (the open-loop schedule) is recorded on the first turn.
async fn converse(
    sender: &RequestSender,
    script: &Script,
    conv: usize,
    turns: usize,
    first_send: Instant,
    think: Duration,
    pacing: Pacing,
) {
    let mut history = script.opening.clone();
    let mut failed = false;
    let mut intended = first_send;
    let mut pacing = pacing;
    for turn in 0..turns {
        let position = Position {
            request_index: conv * turns + turn,
            conversation_index: Some(conv),
            turn_index: Some(turn),
        };
        // Stopped (Ctrl-C, breaker): turns never sent are not recorded at all.
        if sender.is_stopped() {
            break;
        }
        if failed {
            sender.skip(position);
            continue;
        }
        let (ok, reply) = sender
            .send_paced(
                &history,
                position,
                true,
                intended,
                std::mem::take(&mut pacing),
            )
            .await;
        failed = !ok;
        if ok && turn + 1 < turns {
            history.push(ChatMessage::new("assistant", reply.unwrap_or_default()));
            let next = script.follow_ups.get(turn).cloned().unwrap_or_default();
            history.push(ChatMessage::new("user", next));
        }
        intended = Instant::now() + think;
        if !think.is_zero() && turn + 1 < turns && !failed {
            tokio::time::sleep_until(intended.into()).await;
        }
    }
}
