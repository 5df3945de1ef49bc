//! The machinery every workload shares: measuring one request into a record, the collector
//! that owns results (and trips circuit breakers), and a bounded pool of request tasks.
//!
//! Request tasks never touch shared state: they send each record over an unbounded channel
//! (sending never blocks) to the single collector task.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::config::{GenerationParams, Warmup};
use crate::events::{Event, EventSink};
use crate::metrics::request::{ErrorKind, Pacing, RequestError, RequestRecord, StreamTimings};
use crate::runners::{ChatMessage, ChatOutcome, Runner};
use crate::workloads::planned::PlannedRequest;
use crate::workloads::WorkloadContext;

/// Where a request sits in the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub request_index: usize,
    pub conversation_index: Option<usize>,
    pub turn_index: Option<usize>,
}

impl Position {
    pub fn request(request_index: usize) -> Self {
        Self {
            request_index,
            conversation_index: None,
            turn_index: None,
        }
    }
}

/// What every request task needs; cheap to clone into each task.
#[derive(Clone)]
pub(crate) struct RequestSender {
    runner: Arc<dyn Runner>,
    params: Arc<GenerationParams>,
    tx: RecordTx,
    /// Cancelled by the user or a circuit breaker: in-flight requests end as `cancelled`.
    stop: CancellationToken,
}

impl RequestSender {
    pub fn new(
        runner: Arc<dyn Runner>,
        params: GenerationParams,
        tx: RecordTx,
        stop: CancellationToken,
    ) -> Self {
        Self {
            runner,
            params: Arc::new(params),
            tx,
            stop,
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Send one request, hand its record to the collector, and return whether it succeeded
    /// plus the reply text (when `keep_reply`). `intended` is when the workload meant to send
    /// it (a pool slot became free, or the open-loop schedule's send time); `pacing` goes in
    /// the record.
    pub async fn send_paced(
        &self,
        messages: &[ChatMessage],
        position: Position,
        keep_reply: bool,
        intended: Instant,
        pacing: Pacing,
    ) -> (bool, Option<String>) {
        let send_delay_us = intended.elapsed().as_micros() as u64;
        let mut outcome = self
            .runner
            .chat(messages, &self.params, keep_reply, &self.stop)
            .await;
        let reply = outcome.reply.take();
        let ok = self.record(outcome, position, send_delay_us, pacing, None);
        (ok, reply)
    }

    /// Request number `index` of a closed-loop workload (no pacing of its own), intended at
    /// `intended`. Returns whether it succeeded.
    pub async fn send_request(
        &self,
        request: &PlannedRequest,
        index: usize,
        intended: Instant,
    ) -> bool {
        self.send_planned(
            request,
            Position::request(index),
            intended,
            Pacing::default(),
        )
        .await
    }

    /// Send a prepared request (any prompt kind, its own output length) and record it with the
    /// token lengths it asked for. Returns whether it succeeded.
    pub async fn send_planned(
        &self,
        request: &PlannedRequest,
        position: Position,
        intended: Instant,
        pacing: Pacing,
    ) -> bool {
        let send_delay_us = intended.elapsed().as_micros() as u64;
        let params;
        let params = match request.max_tokens {
            Some(max_tokens) => {
                params = GenerationParams {
                    max_tokens,
                    ..(*self.params).clone()
                };
                &params
            }
            None => &*self.params,
        };
        let outcome = self
            .runner
            .send(
                &request.prompt,
                params,
                request.max_tokens.is_some(),
                &self.stop,
            )
            .await;
        self.record(outcome, position, send_delay_us, pacing, Some(request))
    }

    fn record(
        &self,
        outcome: ChatOutcome,
        position: Position,
        send_delay_us: u64,
        pacing: Pacing,
        request: Option<&PlannedRequest>,
    ) -> bool {
        let record = RequestRecord {
            request_index: position.request_index,
            conversation_index: position.conversation_index,
            turn_index: position.turn_index,
            started_at: outcome.started_at,
            finished_at: outcome.finished_at,
            send_delay_us,
            pacing,
            timings: outcome.timings,
            prompt_tokens: outcome.prompt_tokens,
            completion_tokens: outcome.completion_tokens,
            token_count_source: outcome.token_count_source,
            error: outcome.error,
            requested_input_tokens: request.and_then(|r| r.requested_input_tokens),
            requested_output_tokens: request.and_then(|r| r.requested_output_tokens),
        };
        let ok = record.is_success();
        self.tx.send(record);
        ok
    }

    /// Record a multi-turn request that was never sent because an earlier turn failed.
    pub fn skip(&self, position: Position) {
        self.tx.send(skipped(position));
    }
}

/// A record for a multi-turn request that was never sent because an earlier turn failed.
fn skipped(position: Position) -> RequestRecord {
    let now = chrono::Utc::now();
    RequestRecord {
        request_index: position.request_index,
        conversation_index: position.conversation_index,
        turn_index: position.turn_index,
        started_at: now,
        finished_at: now,
        send_delay_us: 0,
        pacing: Default::default(),
        timings: StreamTimings::default(),
        prompt_tokens: None,
        completion_tokens: None,
        token_count_source: None,
        error: Some(RequestError {
            kind: ErrorKind::Skipped,
            message: "skipped: previous turn failed".to_string(),
        }),
        requested_input_tokens: None,
        requested_output_tokens: None,
    }
}

/// Decides, record by record, whether the workload must stop early.
pub(crate) trait Breaker: Send {
    /// Returns the reason when the breaker trips.
    fn observe(&mut self, record: &RequestRecord) -> Option<String>;
}

/// Never trips (the single workload).
pub(crate) struct NoBreaker;

impl Breaker for NoBreaker {
    fn observe(&mut self, _record: &RequestRecord) -> Option<String> {
        None
    }
}

/// Trips once total failures reach half of the planned requests.
pub(crate) struct HalfFailedBreaker {
    planned: usize,
    failed: usize,
}

impl HalfFailedBreaker {
    pub fn new(planned: usize) -> Self {
        Self { planned, failed: 0 }
    }
}

impl Breaker for HalfFailedBreaker {
    fn observe(&mut self, record: &RequestRecord) -> Option<String> {
        if !record.is_success() {
            self.failed += 1;
            if self.planned > 0 && self.failed * 2 >= self.planned {
                return Some(format!(
                    "circuit breaker: {} of {} requests failed",
                    self.failed, self.planned
                ));
            }
        }
        None
    }
}

/// A workload's collector (with `breaker`) and a sender feeding it, both stopping with the
/// returned token, a child of the run's cancellation. Takes the context's `on_record`.
pub(crate) fn start_measuring(
    ctx: &mut WorkloadContext,
    breaker: Box<dyn Breaker>,
) -> (Collector, RequestSender, CancellationToken) {
    let stop = ctx.cancel.child_token();
    let on_record = std::mem::replace(&mut ctx.on_record, Box::new(|_| {}));
    let warmup = ctx.timing.warmup;
    let collector = Collector::spawn(ctx.events.clone(), on_record, breaker, stop.clone(), warmup);
    let sender = RequestSender::new(
        Arc::clone(&ctx.runner),
        ctx.params.clone(),
        collector.sender(),
        stop.clone(),
    );
    (collector, sender, stop)
}

/// The collector's handle: send records in, get them all back at the end.
pub(crate) struct Collector {
    tx: mpsc::UnboundedSender<RequestRecord>,
    task: JoinHandle<(Vec<RequestRecord>, Option<String>)>,
}

/// Sending half given to request tasks.
#[derive(Clone)]
pub(crate) struct RecordTx(mpsc::UnboundedSender<RequestRecord>);

impl RecordTx {
    pub fn send(&self, record: RequestRecord) {
        // The collector outlives every request task; a send can only fail after a panic there.
        let _ = self.0.send(record);
    }
}

impl Collector {
    /// Spawn the collector. It owns the records, feeds `on_record` (the journal), emits progress
    /// events and cancels `stop` when the breaker trips. Cancelled requests are not
    /// measurements (a resumed run sends them again): they are dropped, except a multi-turn
    /// turn, which is kept with its partial timing (where its conversation stopped) but never
    /// journalled, counted as done or shown to the breaker.
    /// Records that fall in `warmup` are flagged (before the journal sees them).
    pub fn spawn(
        events: EventSink,
        mut on_record: Box<dyn FnMut(&RequestRecord) + Send>,
        mut breaker: Box<dyn Breaker>,
        stop: CancellationToken,
        warmup: Option<Warmup>,
    ) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<RequestRecord>();
        let run_start = chrono::Utc::now();
        let task = tokio::spawn(async move {
            let mut records = Vec::new();
            let mut tripped = None;
            while let Some(mut record) = rx.recv().await {
                if record.is_cancelled() {
                    if record.conversation_index.is_some() {
                        records.push(record);
                    }
                    continue;
                }
                if let Some(w) = warmup {
                    record.pacing.warmup = is_warmup(&record, w, run_start);
                }
                on_record(&record);
                events.send(Event::RequestCompleted(Arc::new(record.clone())));
                if tripped.is_none() {
                    if let Some(reason) = breaker.observe(&record) {
                        tripped = Some(reason);
                        stop.cancel();
                    }
                }
                records.push(record);
            }
            records.sort_by_key(|r| r.request_index);
            (records, tripped)
        });
        Self { tx, task }
    }

    pub fn sender(&self) -> RecordTx {
        RecordTx(self.tx.clone())
    }

    /// Wait until every sender is gone and return the records (sorted) and the breaker's reason.
    pub async fn finish(self) -> (Vec<RequestRecord>, Option<String>) {
        drop(self.tx);
        match self.task.await {
            Ok(out) => out,
            Err(e) => {
                tracing::error!("result collector failed: {e}");
                (
                    Vec::new(),
                    Some("internal error in the result collector".into()),
                )
            }
        }
    }
}

/// Whether a record belongs to the warmup: the first N requests (multi-turn: conversations),
/// or those scheduled (closed loops: started) before the warmup duration.
fn is_warmup(
    record: &RequestRecord,
    warmup: Warmup,
    run_start: chrono::DateTime<chrono::Utc>,
) -> bool {
    match warmup {
        Warmup::Requests(n) => record.conversation_index.unwrap_or(record.request_index) < n,
        Warmup::Duration(d) => {
            let offset_us = record.pacing.scheduled_offset_us.unwrap_or_else(|| {
                (record.started_at - run_start)
                    .num_microseconds()
                    .unwrap_or(0)
                    .max(0) as u64
            });
            offset_us < d.as_micros() as u64
        }
    }
}

/// Run `units` with at most `concurrency` in flight, starting the next as soon as one finishes,
/// in order; stops launching when `stop` is cancelled and waits for the in-flight ones.
/// `task` gets the unit and the instant its slot became free (its intended send time).
pub(crate) async fn run_pool<U, F, Fut>(
    units: impl IntoIterator<Item = U>,
    concurrency: usize,
    stop: &CancellationToken,
    task: F,
) where
    F: Fn(U, Instant) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    run_pool_until(units, concurrency, stop, None, task).await
}

/// `run_pool` that also stops launching at `until` (`duration_s`).
pub(crate) async fn run_pool_until<U, F, Fut>(
    units: impl IntoIterator<Item = U>,
    concurrency: usize,
    stop: &CancellationToken,
    until: Option<Instant>,
    task: F,
) where
    F: Fn(U, Instant) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut set = JoinSet::new();
    let end = async {
        match until {
            Some(t) => tokio::time::sleep_until(t.into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(end);
    for unit in units {
        let permit = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = &mut end => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        if stop.is_cancelled() || until.is_some_and(|t| Instant::now() >= t) {
            break;
        }
        let fut = task(unit, Instant::now());
        set.spawn(async move {
            fut.await;
            drop(permit);
        });
        while let Some(done) = set.try_join_next() {
            report_panic(done);
        }
    }
    while let Some(done) = set.join_next().await {
        report_panic(done);
    }
}

fn report_panic(result: Result<(), tokio::task::JoinError>) {
    if let Err(e) = result {
        tracing::error!("request task failed: {e}");
    }
}

/// Why a workload stopped early, combining the breaker and the user's cancellation.
pub(crate) fn stop_reason(
    tripped: Option<String>,
    user_cancel: &CancellationToken,
    done: usize,
    planned: usize,
) -> Option<String> {
    tripped.or_else(|| {
        (user_cancel.is_cancelled() && done < planned)
            .then(|| format!("interrupted after {done} of {planned} requests"))
    })
}
