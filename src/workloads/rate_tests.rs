//! The rate workload and multi-turn at a rate, against a fake runner that holds each request
//! open for a while (real time, short; asserts are relations, not speeds).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::config::{Arrival, GenerationParams, RateSpec, Timing, Warmup};
use crate::metrics::request::{RequestRecord, StreamTimings, TokenCountSource};
use crate::runners::ChatOutcome;
use crate::workloads::fake_runner::FakeChat;
use crate::workloads::{Workload, WorkloadContext};

/// Answers every request after `hold`; counts the most requests in flight at once.
struct HoldRunner {
    hold: Duration,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl HoldRunner {
    fn new(hold: Duration) -> Arc<Self> {
        Arc::new(Self {
            hold,
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        })
    }
}

#[async_trait]
impl FakeChat for HoldRunner {
    async fn chat(
        &self,
        _messages: &[ChatMessage],
        _params: &GenerationParams,
        keep_reply: bool,
        _cancel: &CancellationToken,
    ) -> ChatOutcome {
        let started_at = chrono::Utc::now();
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.hold).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        ChatOutcome {
            started_at,
            finished_at: chrono::Utc::now(),
            timings: StreamTimings {
                chunk_tokens: Vec::new(),
                token_offsets_us: vec![100],
                end_us: self.hold.as_micros() as u64,
            },
            prompt_tokens: Some(3),
            completion_tokens: Some(1),
            token_count_source: Some(TokenCountSource::Usage),
            error: None,
            reply: keep_reply.then(|| "ok".to_string()),
        }
    }
}

fn spec(rate: f64, cap: Option<usize>) -> RateSpec {
    RateSpec {
        request_rate: rate,
        arrival: Arrival::Constant,
        max_concurrency: cap,
        seed: 1,
    }
}

fn ctx(runner: Arc<HoldRunner>, timing: Timing) -> WorkloadContext {
    WorkloadContext {
        runner,
        params: GenerationParams {
            max_tokens: 1,
            temperature: 0.0,
            ignore_eos: false,
        },
        events: crate::events::EventSink::discard(),
        cancel: CancellationToken::new(),
        already_done: HashSet::new(),
        on_record: Box::new(|_| {}),
        timing,
    }
}

fn requests(n: usize) -> Vec<Vec<ChatMessage>> {
    vec![vec![ChatMessage::new("user", "hi")]; n]
}

#[tokio::test]
async fn every_request_records_its_scheduled_offset_and_a_send_lag() {
    let spec = RateSpec {
        arrival: Arrival::Poisson,
        ..spec(2000.0, None)
    };
    let w = RateWorkload::new(requests(40), spec);
    let out = w
        .run(ctx(
            HoldRunner::new(Duration::from_millis(1)),
            Timing::default(),
        ))
        .await;
    let offsets = process(&spec).offsets(40, None);
    assert_eq!(out.records.len(), 40);
    for (r, o) in out.records.iter().zip(&offsets) {
        assert_eq!(r.pacing.scheduled_offset_us, Some(o.as_micros() as u64));
        assert_eq!(r.pacing.cap_wait_us, None, "no cap, no cap wait");
        assert!(!r.pacing.warmup);
    }
}

#[tokio::test]
async fn a_full_cap_makes_arrivals_wait_and_the_wait_is_recorded() {
    let runner = HoldRunner::new(Duration::from_millis(20));
    // An arrival every 2 ms, each held 20 ms, at most 2 at once: most must wait.
    let w = RateWorkload::new(requests(12), spec(500.0, Some(2)));
    let out = w.run(ctx(runner.clone(), Timing::default())).await;
    assert_eq!(out.records.len(), 12);
    assert!(runner.max_in_flight.load(Ordering::SeqCst) <= 2);
    let waited: Vec<&RequestRecord> = out
        .records
        .iter()
        .filter(|r| r.pacing.cap_wait_us.is_some_and(|w| w > 0))
        .collect();
    assert!(waited.len() >= 6, "{} waited", waited.len());
    // The wait is part of the send lag (actual − scheduled send).
    for r in waited {
        assert!(r.send_delay_us >= r.pacing.cap_wait_us.unwrap_or(0));
    }
    assert!(out.records.iter().all(|r| r.pacing.cap_wait_us.is_some()));
}

#[tokio::test]
async fn duration_stops_the_schedule_and_count_still_caps() {
    let duration = Duration::from_millis(40);
    let timing = Timing {
        duration: Some(duration),
        ..Timing::default()
    };
    let w = RateWorkload::new(requests(1000), spec(500.0, None));
    let out = w
        .run(ctx(
            HoldRunner::new(Duration::from_millis(1)),
            timing.clone(),
        ))
        .await;
    // 500/s for 40 ms: offsets 0, 2, …, 38 ms.
    assert_eq!(out.records.len(), 20);
    assert!(out
        .records
        .iter()
        .all(|r| r.pacing.scheduled_offset_us.unwrap_or(u64::MAX) < 40_000));
    let w = RateWorkload::new(requests(5), spec(500.0, None));
    let out = w
        .run(ctx(HoldRunner::new(Duration::from_millis(1)), timing))
        .await;
    assert_eq!(out.records.len(), 5);
}

#[tokio::test]
async fn warmup_requests_are_flagged_and_left_out_of_the_summary() {
    let timing = Timing {
        warmup: Some(Warmup::Requests(3)),
        ..Timing::default()
    };
    let w = RateWorkload::new(requests(10), spec(1000.0, None));
    let out = w
        .run(ctx(HoldRunner::new(Duration::from_millis(1)), timing))
        .await;
    let flags: Vec<bool> = out.records.iter().map(|r| r.pacing.warmup).collect();
    assert_eq!(
        flags,
        [true, true, true, false, false, false, false, false, false, false]
    );
    let s = crate::metrics::aggregate::summarize(&out.records, Duration::from_secs(1));
    assert_eq!(s.total_requests, 7);
    assert_eq!(s.successful_requests, 7);
    assert_eq!(s.total_completion_tokens, 7);
    assert_eq!(s.load.warmup_requests, Some(3));
}

#[tokio::test]
async fn warmup_by_duration_uses_the_schedule() {
    let timing = Timing {
        warmup: Some(Warmup::Duration(Duration::from_millis(10))),
        ..Timing::default()
    };
    // 500/s: offsets 0, 2, 4, 6, 8 ms are warmup, 10 ms on are measured.
    let w = RateWorkload::new(requests(10), spec(500.0, None));
    let out = w
        .run(ctx(HoldRunner::new(Duration::from_millis(1)), timing))
        .await;
    let warm = out.records.iter().filter(|r| r.pacing.warmup).count();
    assert_eq!(warm, 5);
}

#[tokio::test]
async fn multi_turn_conversations_arrive_at_the_rate_and_think_between_turns() {
    use crate::config::{Conversation, WorkloadKind};
    let kind = WorkloadKind::MultiTurn {
        conversation: Conversation {
            turns: 2,
            system_prompt: None,
            user_messages: vec!["more".into()],
            shared_prefix: None,
        },
        concurrency: 1,
    };
    let prompts = crate::workloads::PromptSet::Messages(requests(4));
    let w = crate::workloads::create_workload(&kind, &prompts, 4).unwrap();
    let timing = Timing {
        think_time: Duration::from_millis(15),
        conversation_rate: Some(spec(1000.0, None)),
        ..Timing::default()
    };
    let runner = HoldRunner::new(Duration::from_millis(5));
    let out = w.run(ctx(runner.clone(), timing)).await;
    assert_eq!(out.records.len(), 8);
    // Conversations overlap (an open loop), unlike `concurrency: 1` without a rate.
    assert!(runner.max_in_flight.load(Ordering::SeqCst) >= 2);
    for conv in 0..4 {
        let turns: Vec<&RequestRecord> = out
            .records
            .iter()
            .filter(|r| r.conversation_index == Some(conv))
            .collect();
        assert_eq!(turns.len(), 2);
        // First turn on the schedule; the second after the reply plus the think time.
        assert_eq!(
            turns[0].pacing.scheduled_offset_us,
            Some(conv as u64 * 1000)
        );
        assert_eq!(turns[1].pacing.scheduled_offset_us, None);
        assert!(turns[1].started_at - turns[0].finished_at >= chrono::Duration::milliseconds(15));
    }
}
