//! Workload behaviour against an in-process fake runner (no network, no timing asserts).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::config::GenerationParams;
use crate::metrics::request::{ErrorKind, RequestError, StreamTimings, TokenCountSource};
use crate::runners::ChatOutcome;
use crate::workloads::fake_runner::FakeChat;

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
impl FakeChat for FakeRunner {
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
                chunk_tokens: Vec::new(),
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

/// What `CutRunner` does with one request.
#[derive(Clone, Copy, PartialEq)]
enum Act {
    Ok,
    Fail,
    /// Stay in flight until cancelled (after cancelling `interrupt` itself, as a Ctrl-C
    /// arriving mid-stream would, when `ctrl_c`), then end as a cancelled stream does: with
    /// the one token seen so far.
    Hang {
        ctrl_c: bool,
    },
}

type ActWhen = Box<dyn Fn(&[ChatMessage]) -> Act + Send + Sync>;

struct CutRunner {
    act: ActWhen,
    interrupt: CancellationToken,
}

#[async_trait]
impl FakeChat for CutRunner {
    async fn chat(
        &self,
        messages: &[ChatMessage],
        _params: &GenerationParams,
        keep_reply: bool,
        cancel: &CancellationToken,
    ) -> ChatOutcome {
        let act = (self.act)(messages);
        let error = |kind, message: &str| {
            Some(RequestError {
                kind,
                message: message.into(),
            })
        };
        let (error, offsets) = match act {
            Act::Ok => (None, vec![1000, 2000]),
            Act::Fail => (error(ErrorKind::Http, "HTTP 500: boom"), vec![]),
            Act::Hang { ctrl_c } => {
                if ctrl_c {
                    self.interrupt.cancel();
                }
                cancel.cancelled().await;
                (error(ErrorKind::Cancelled, "cancelled"), vec![1000])
            }
        };
        let ok = error.is_none();
        ChatOutcome {
            started_at: chrono::Utc::now(),
            finished_at: chrono::Utc::now(),
            timings: StreamTimings {
                chunk_tokens: Vec::new(),
                token_offsets_us: offsets,
                end_us: 2500,
            },
            prompt_tokens: Some(5),
            completion_tokens: ok.then_some(2),
            token_count_source: ok.then_some(TokenCountSource::Usage),
            error,
            reply: (keep_reply && ok).then(|| "reply".to_string()),
        }
    }
}

fn kinds(records: &[RequestRecord]) -> Vec<(Option<usize>, Option<usize>, Option<ErrorKind>)> {
    records
        .iter()
        .map(|r| {
            (
                r.conversation_index,
                r.turn_index,
                r.error.as_ref().map(|e| e.kind),
            )
        })
        .collect()
}

#[tokio::test]
async fn multi_turn_ctrl_c_keeps_the_cut_turn_and_records_no_unsent_turns() {
    let interrupt = CancellationToken::new();
    // The second turn of the first conversation is in flight when Ctrl-C arrives.
    let runner = Arc::new(CutRunner {
        act: Box::new(|m: &[ChatMessage]| match m.len() {
            2 => Act::Ok,
            _ => Act::Hang { ctrl_c: true },
        }),
        interrupt: interrupt.clone(),
    });
    let kind = WorkloadKind::MultiTurn {
        conversation: conversation(3),
        concurrency: 1,
    };
    let mut c = ctx(FakeRunner::ok(), interrupt.clone());
    c.runner = runner;
    let out = create_workload(&kind, &prompts(2), 2).unwrap().run(c).await;
    assert_eq!(
        kinds(&out.records),
        [
            (Some(0), Some(0), None),
            (Some(0), Some(1), Some(ErrorKind::Cancelled)),
        ],
        "no skipped turn 3, no second conversation"
    );
    assert_eq!(
        out.records[1].timings.token_offsets_us,
        [1000],
        "partial timing kept"
    );
    let s = crate::metrics::aggregate::summarize(&out.records, Duration::from_secs(1));
    assert_eq!(
        (s.total_requests, s.successful_requests, s.failed_requests),
        (2, 1, 0)
    );
    assert_eq!(
        crate::results::build::run_status(&out.records, out.stopped_early.is_some()),
        crate::results::result::RunStatus::Partial
    );
    let reason = out.stopped_early.unwrap_or_default();
    assert!(reason.contains("after 1 of 6"), "{reason}");
}

#[tokio::test]
async fn multi_turn_breaker_keeps_cut_turns_and_counts_only_real_failures() {
    // Conversation 1 waits in its second turn; conversations 0, 2 and 3 fail their first
    // turn, which trips the breaker and cuts conversation 1's turn.
    let runner = Arc::new(CutRunner {
        act: Box::new(|m: &[ChatMessage]| {
            let conv1 = m.iter().any(|x| x.content == "prompt 1");
            match (conv1, m.len()) {
                (true, 2) => Act::Ok,
                (true, _) => Act::Hang { ctrl_c: false },
                (false, _) => Act::Fail,
            }
        }),
        interrupt: CancellationToken::new(),
    });
    let kind = WorkloadKind::MultiTurn {
        conversation: conversation(2),
        concurrency: 2,
    };
    let mut c = ctx(FakeRunner::ok(), CancellationToken::new());
    c.runner = runner;
    let out = create_workload(&kind, &prompts(8), 8).unwrap().run(c).await;
    assert!(out
        .stopped_early
        .unwrap_or_default()
        .contains("conversations"));
    let conv1: Vec<_> = kinds(&out.records)
        .into_iter()
        .filter(|k| k.0 == Some(1))
        .collect();
    assert_eq!(
        conv1,
        [
            (Some(1), Some(0), None),
            (Some(1), Some(1), Some(ErrorKind::Cancelled)),
        ]
    );
    // At least the three failed conversations; one more may have started before the trip.
    let real_failures = out.records.iter().filter(|r| r.is_failure()).count();
    assert!(real_failures >= 6, "{:?}", kinds(&out.records));
    assert!(out
        .records
        .iter()
        .filter(|r| r.is_failure())
        .all(|r| r.conversation_index != Some(1)));
    let s = crate::metrics::aggregate::summarize(&out.records, Duration::from_secs(1));
    assert_eq!(
        (s.total_requests, s.failed_requests),
        (real_failures + 2, real_failures)
    );
}
