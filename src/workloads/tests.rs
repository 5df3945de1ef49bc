//! Workload behaviour against an in-process fake runner (no network, no timing asserts).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::config::{Framework, GenerationParams};
use crate::metrics::request::{ErrorKind, RequestError, StreamTimings, TokenCountSource};
use crate::runners::{ChatOutcome, HealthProgress, RunnerError};

type FailWhen = Box<dyn Fn(&[ChatMessage]) -> bool + Send + Sync>;

/// Replies `reply-N` (N = call number); fails when `fail_when` says so; records every call.
struct FakeRunner {
    calls: Mutex<Vec<Vec<ChatMessage>>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    fail_when: FailWhen,
}

impl FakeRunner {
    fn new(fail_when: FailWhen) -> Arc<Self> {
        Arc::new(Self {
            calls: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            fail_when,
        })
    }

    fn ok() -> Arc<Self> {
        Self::new(Box::new(|_| false))
    }
}

#[async_trait]
impl Runner for FakeRunner {
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
        _params: &GenerationParams,
        keep_reply: bool,
        cancel: &CancellationToken,
    ) -> ChatOutcome {
        let n = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(messages.to_vec());
            calls.len()
        };
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let fail = (self.fail_when)(messages);
        let error = if cancel.is_cancelled() {
            Some(RequestError {
                kind: ErrorKind::Cancelled,
                message: "cancelled".into(),
            })
        } else if fail {
            Some(RequestError {
                kind: ErrorKind::Http,
                message: "HTTP 500: boom".into(),
            })
        } else {
            None
        };
        let ok = error.is_none();
        ChatOutcome {
            started_at: chrono::Utc::now(),
            finished_at: chrono::Utc::now(),
            timings: StreamTimings {
                token_offsets_us: if ok { vec![1000, 2000] } else { vec![] },
                end_us: 2500,
            },
            prompt_tokens: ok.then_some(5),
            completion_tokens: ok.then_some(2),
            token_count_source: ok.then_some(TokenCountSource::Usage),
            error,
            reply: (keep_reply && ok).then(|| format!("reply-{n}")),
        }
    }
}

fn params() -> GenerationParams {
    GenerationParams {
        max_tokens: 8,
        temperature: 0.0,
        ignore_eos: false,
    }
}

fn prompts(n: usize) -> PromptSet {
    PromptSet::Messages(
        (0..n)
            .map(|i| vec![ChatMessage::new("user", format!("prompt {i}"))])
            .collect(),
    )
}

fn ctx(runner: Arc<FakeRunner>, cancel: CancellationToken) -> WorkloadContext {
    WorkloadContext {
        runner,
        params: params(),
        events: crate::events::EventSink::discard(),
        cancel,
        already_done: HashSet::new(),
        on_record: Box::new(|_| {}),
        timing: Default::default(),
    }
}

fn content_of(call: &[ChatMessage]) -> String {
    call.last().map(|m| m.content.clone()).unwrap_or_default()
}

#[tokio::test]
async fn single_runs_in_order_cycling_prompts() {
    let runner = FakeRunner::ok();
    let w = create_workload(&WorkloadKind::Single, &prompts(3), 5).unwrap();
    assert_eq!(w.total_requests(), 5);
    let out = w.run(ctx(runner.clone(), CancellationToken::new())).await;
    assert_eq!(out.records.len(), 5);
    assert!(out.stopped_early.is_none());
    let seen: Vec<String> = runner
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|c| content_of(c))
        .collect();
    assert_eq!(
        seen,
        ["prompt 0", "prompt 1", "prompt 2", "prompt 0", "prompt 1"]
    );
    assert_eq!(runner.max_in_flight.load(Ordering::SeqCst), 1);
    let idx: Vec<usize> = out.records.iter().map(|r| r.request_index).collect();
    assert_eq!(idx, [0, 1, 2, 3, 4]);
}

#[tokio::test(flavor = "current_thread")]
async fn concurrent_keeps_exactly_concurrency_in_flight() {
    let runner = FakeRunner::ok();
    let kind = WorkloadKind::Concurrent { concurrency: 4 };
    let out = create_workload(&kind, &prompts(5), 20)
        .unwrap()
        .run(ctx(runner.clone(), CancellationToken::new()))
        .await;
    assert_eq!(out.records.len(), 20);
    assert_eq!(runner.max_in_flight.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn concurrent_breaker_stops_at_half_failed() {
    let runner = FakeRunner::new(Box::new(|_| true));
    let kind = WorkloadKind::Concurrent { concurrency: 2 };
    let out = create_workload(&kind, &prompts(5), 40)
        .unwrap()
        .run(ctx(runner.clone(), CancellationToken::new()))
        .await;
    let reason = out.stopped_early.unwrap_or_default();
    assert!(reason.contains("circuit breaker"), "{reason}");
    assert!(out.records.len() < 40);
    assert!(out.records.len() >= 20);
}

#[tokio::test]
async fn batch_breaker_trips_after_three_failed_batches() {
    let runner = FakeRunner::new(Box::new(|_| true));
    let kind = WorkloadKind::Batch { batch_size: 2 };
    let out = create_workload(&kind, &prompts(5), 100)
        .unwrap()
        .run(ctx(runner.clone(), CancellationToken::new()))
        .await;
    assert_eq!(out.records.len(), 6, "three batches of two");
    assert!(out
        .stopped_early
        .unwrap_or_default()
        .contains("3 consecutive batches"));
}

#[tokio::test]
async fn batch_runs_groups_one_after_another() {
    let runner = FakeRunner::ok();
    let kind = WorkloadKind::Batch { batch_size: 3 };
    let out = create_workload(&kind, &prompts(4), 7)
        .unwrap()
        .run(ctx(runner.clone(), CancellationToken::new()))
        .await;
    assert_eq!(out.records.len(), 7);
    assert!(runner.max_in_flight.load(Ordering::SeqCst) <= 3);
    assert!(out.stopped_early.is_none());
}

fn conversation(turns: usize) -> crate::config::Conversation {
    crate::config::Conversation {
        turns,
        system_prompt: Some("Be brief.".into()),
        user_messages: vec!["more".into(), "example".into()],
        shared_prefix: Some("PREFIX".into()),
    }
}

#[tokio::test]
async fn multi_turn_history_grows_with_replies() {
    let runner = FakeRunner::ok();
    let kind = WorkloadKind::MultiTurn {
        conversation: conversation(3),
        concurrency: 1,
    };
    let out = create_workload(&kind, &prompts(2), 2)
        .unwrap()
        .run(ctx(runner.clone(), CancellationToken::new()))
        .await;
    assert_eq!(out.records.len(), 6);
    let calls = runner.calls.lock().unwrap().clone();
    assert_eq!(calls[0][0].role, "system");
    assert_eq!(calls[0][0].content, "PREFIX\n\nBe brief.");
    let third: Vec<(String, String)> = calls[2]
        .iter()
        .map(|m| (m.role.clone(), m.content.clone()))
        .collect();
    assert_eq!(
        third[1..],
        [
            ("user".to_string(), "prompt 0".to_string()),
            ("assistant".to_string(), "reply-1".to_string()),
            ("user".to_string(), "more".to_string()),
            ("assistant".to_string(), "reply-2".to_string()),
            ("user".to_string(), "example".to_string()),
        ]
    );
    let r = &out.records[4];
    assert_eq!(
        (r.request_index, r.conversation_index, r.turn_index),
        (4, Some(1), Some(1))
    );
}

#[tokio::test]
async fn multi_turn_failed_turn_skips_rest_and_breaker_trips() {
    // Every second turn fails: each conversation fails, 3 in a row stop the workload.
    let runner = FakeRunner::new(Box::new(|m: &[ChatMessage]| m.len() > 2));
    let kind = WorkloadKind::MultiTurn {
        conversation: conversation(3),
        concurrency: 1,
    };
    let out = create_workload(&kind, &prompts(2), 10)
        .unwrap()
        .run(ctx(runner.clone(), CancellationToken::new()))
        .await;
    assert_eq!(out.records.len(), 9, "three conversations of three turns");
    let kinds: Vec<Option<ErrorKind>> = out.records[..3]
        .iter()
        .map(|r| r.error.as_ref().map(|e| e.kind))
        .collect();
    assert_eq!(
        kinds,
        [None, Some(ErrorKind::Http), Some(ErrorKind::Skipped)]
    );
    assert!(out
        .stopped_early
        .unwrap_or_default()
        .contains("conversations"));
}

#[tokio::test]
async fn cancelled_run_keeps_completed_and_skips_already_done() {
    let runner = FakeRunner::ok();
    let cancel = CancellationToken::new();
    let mut c = ctx(runner.clone(), cancel.clone());
    c.already_done = [0, 1, 2].into_iter().collect();
    let seen = Arc::new(AtomicUsize::new(0));
    let seen2 = seen.clone();
    let cancel2 = cancel.clone();
    c.on_record = Box::new(move |_| {
        if seen2.fetch_add(1, Ordering::SeqCst) + 1 == 2 {
            cancel2.cancel();
        }
    });
    let out = create_workload(&WorkloadKind::Single, &prompts(3), 10)
        .unwrap()
        .run(c)
        .await;
    assert!(out.records.iter().all(|r| r.request_index >= 3));
    assert!(out.records.len() >= 2 && out.records.len() < 7);
    assert!(out
        .stopped_early
        .unwrap_or_default()
        .contains("interrupted"));
}

#[test]
fn scripted_prompts_rejected_for_single() {
    let scripted = PromptSet::Scripted(vec![vec!["a".into(), "b".into()]]);
    assert!(create_workload(&WorkloadKind::Single, &scripted, 1).is_err());
}
