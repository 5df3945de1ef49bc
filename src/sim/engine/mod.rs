//! The continuous-batching engine: one task runs steps on an absolute schedule.
//!
//! Each step admits waiting sequences (FIFO) while a slot (`max_num_seqs`) and KV space for the
//! prompt are free, reserves one KV slot per running sequence for its next token (preempting the
//! newest sequence back to the queue front when the cache is full), waits the step's modelled
//! duration, then hands every running sequence one token. A step costs
//! `prefill_ms_per_token × uncached prompt tokens admitted + decode_step_ms +
//! decode_step_ms_per_seq × (running − 1)`; a newly admitted sequence gets its first token at
//! the end of its prefill step.

mod kv;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::profile::SimProfile;
use super::stats::Stats;
use kv::KvPool;

/// If the engine falls this far behind its schedule (a paused process), it restarts the
/// schedule from now instead of running a burst of zero-length steps.
const MAX_LAG: Duration = Duration::from_millis(250);

/// What the engine did, for observers (tests, debugging). `request` is the request's sequence
/// number (arrival order, from 0); `step` counts engine steps from 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineEvent {
    /// Reached the engine's waiting queue.
    Queued {
        request: u64,
    },
    /// Scheduled into the running batch (`recompute` after a preemption).
    Admitted {
        request: u64,
        step: u64,
        cached_tokens: usize,
        recompute: bool,
    },
    FirstToken {
        request: u64,
        step: u64,
    },
    Finished {
        request: u64,
        step: u64,
        tokens: usize,
    },
    /// Evicted back to the queue because the KV cache was full.
    Preempted {
        request: u64,
        step: u64,
    },
    /// The client went away.
    Aborted {
        request: u64,
        step: u64,
    },
    /// After scheduling a step: batch size, queue length and KV blocks in use.
    Step {
        step: u64,
        running: usize,
        waiting: usize,
        kv_used_blocks: usize,
    },
}

/// One token generated for a sequence (its text is the request handler's business).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneratedToken;

/// A request handed to the engine.
#[derive(Debug)]
pub struct SeqRequest {
    pub seq: u64,
    pub prompt_len: usize,
    /// Chained hashes of the prompt's full blocks.
    pub block_hashes: Vec<u64>,
    /// Tokens to generate (≥ 1).
    pub output_tokens: usize,
    pub max_tokens: usize,
    /// When the HTTP request arrived (TTFT and queue time start here).
    pub arrival: Instant,
    pub tokens: mpsc::UnboundedSender<GeneratedToken>,
}

#[derive(Debug)]
struct Seq {
    req: SeqRequest,
    generated: usize,
    /// Tokens in private blocks: the prompt's partial tail plus generated tokens.
    private_tokens: usize,
    private_blocks: usize,
    admitted_at: Option<Instant>,
    first_token_at: Option<Instant>,
    last_token_at: Option<Instant>,
    preemptions: u32,
}

pub struct Engine {
    profile: SimProfile,
    kv: KvPool,
    waiting: VecDeque<Seq>,
    /// Admission order, oldest first; the newest is preempted first.
    running: Vec<Seq>,
    stats: Arc<Mutex<Stats>>,
    trace: broadcast::Sender<EngineEvent>,
    step: u64,
    /// Test hook `LLM_INF_BENCH_SIM_PANIC`: panic in the first step (to test that a crashed
    /// simulator fails the run with a clear error).
    panic_hook: bool,
}

/// Test hook: set to make the engine panic in its first step. Not for normal use.
pub const SIM_PANIC_ENV: &str = "LLM_INF_BENCH_SIM_PANIC";

pub fn lock(stats: &Mutex<Stats>) -> std::sync::MutexGuard<'_, Stats> {
    // A panic while holding the lock leaves plain counters behind: still worth reporting.
    stats.lock().unwrap_or_else(|e| e.into_inner())
}

impl Engine {
    pub fn new(
        profile: SimProfile,
        stats: Arc<Mutex<Stats>>,
        trace: broadcast::Sender<EngineEvent>,
    ) -> Self {
        let kv = KvPool::new(profile.kv_blocks(), profile.enable_prefix_caching);
        Self {
            profile,
            kv,
            waiting: VecDeque::new(),
            running: Vec::new(),
            stats,
            trace,
            step: 0,
            panic_hook: std::env::var_os(SIM_PANIC_ENV).is_some_and(|v| !v.is_empty()),
        }
    }

    /// Run until `cancel` fires or every submitter is gone.
    /// While `paused` holds true no step starts (arrivals still queue).
    pub async fn run(
        mut self,
        mut submissions: mpsc::UnboundedReceiver<SeqRequest>,
        mut paused: watch::Receiver<bool>,
        cancel: CancellationToken,
    ) {
        let mut schedule: Option<Instant> = None;
        loop {
            if *paused.borrow_and_update() {
                schedule = None;
                if !self
                    .wait_idle(&mut submissions, Some(&mut paused), &cancel)
                    .await
                {
                    return;
                }
                continue;
            }
            while let Ok(req) = submissions.try_recv() {
                self.enqueue(req);
            }
            self.drop_abandoned();
            if self.running.is_empty() && self.waiting.is_empty() {
                schedule = None;
                if !self.wait_idle(&mut submissions, None, &cancel).await {
                    return;
                }
                continue;
            }

            let now = Instant::now();
            let start = match schedule {
                Some(t) if t + MAX_LAG >= now => t,
                _ => now,
            };
            if self.panic_hook {
                panic!("injected by {SIM_PANIC_ENV}");
            }
            let (uncached, decoding) = self.admit(start);
            self.reserve_decode_slots();
            if self.running.is_empty() {
                self.reject_unschedulable();
                continue;
            }
            self.announce_step(uncached + decoding);

            let deadline = start + self.step_duration(uncached);
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep_until(deadline.into()) => {}
            }
            schedule = Some(deadline);
            // Stamp tokens with the scheduled time, not the (later) wake-up, so metrics keep
            // the modelled timing; the stream itself is paced by the real wake-up.
            self.emit_tokens(deadline);
            self.step += 1;
        }
    }

    /// Nothing to step: publish the stats and wait for an arrival (or, when `paused` is
    /// given, for the pause to change). False when the engine should stop.
    async fn wait_idle(
        &mut self,
        submissions: &mut mpsc::UnboundedReceiver<SeqRequest>,
        paused: Option<&mut watch::Receiver<bool>>,
        cancel: &CancellationToken,
    ) -> bool {
        self.publish();
        let arrival = match paused {
            Some(paused) => tokio::select! {
                _ = cancel.cancelled() => return false,
                changed = paused.changed() => return changed.is_ok(),
                req = submissions.recv() => req,
            },
            None => tokio::select! {
                _ = cancel.cancelled() => return false,
                req = submissions.recv() => req,
            },
        };
        match arrival {
            Some(req) => {
                self.enqueue(req);
                true
            }
            None => false,
        }
    }

    /// A step starts: trace it, count its tokens, publish the stats.
    fn announce_step(&self, tokens: usize) {
        let _ = self.trace.send(EngineEvent::Step {
            step: self.step,
            running: self.running.len(),
            waiting: self.waiting.len(),
            kv_used_blocks: self.kv.used_blocks(),
        });
        lock(&self.stats)
            .hist
            .iteration_tokens
            .observe(tokens as f64);
        self.publish();
    }

    fn step_duration(&self, uncached_prompt_tokens: usize) -> Duration {
        let p = &self.profile;
        let extra_seqs = self.running.len().saturating_sub(1) as f64;
        let ms = p.prefill_ms_per_token * uncached_prompt_tokens as f64
            + p.decode_step_ms
            + p.decode_step_ms_per_seq * extra_seqs;
        // The profile is range-checked; saturate rather than panic regardless.
        Duration::try_from_secs_f64(ms.max(0.0) / 1000.0).unwrap_or(Duration::MAX / 4)
    }

    fn enqueue(&mut self, req: SeqRequest) {
        let _ = self.trace.send(EngineEvent::Queued { request: req.seq });
        self.waiting.push_back(Seq {
            req,
            generated: 0,
            private_tokens: 0,
            private_blocks: 0,
            admitted_at: None,
            first_token_at: None,
            last_token_at: None,
            preemptions: 0,
        });
    }

    /// Admit waiting sequences in FIFO order while they fit. Returns the uncached prompt
    /// tokens to prefill and how many sequences were already decoding.
    fn admit(&mut self, now: Instant) -> (usize, usize) {
        let bs = self.profile.block_size;
        let decoding = self.running.len();
        let mut uncached = 0;
        let (mut queried, mut hit) = (0usize, 0usize);
        while self.running.len() < self.profile.max_num_seqs {
            let Some(head) = self.waiting.front() else {
                break;
            };
            let hashes = &head.req.block_hashes;
            let tail = head.req.prompt_len - hashes.len() * bs;
            let private_tokens = tail + head.generated;
            let private_blocks = (private_tokens + 1).div_ceil(bs);
            // The last prompt token is always recomputed (it yields the first logits).
            let max_hit_blocks = head.req.prompt_len.saturating_sub(1) / bs;
            let hit_blocks = self.kv.matched_prefix(hashes).min(max_hit_blocks);
            if !self.kv.allocate(hashes, private_blocks) {
                break;
            }
            let Some(mut seq) = self.waiting.pop_front() else {
                break;
            };
            let hit_tokens = hit_blocks * bs;
            uncached += seq.req.prompt_len - hit_tokens + seq.generated;
            queried += seq.req.prompt_len;
            hit += hit_tokens;
            seq.private_tokens = private_tokens;
            seq.private_blocks = private_blocks;
            let recompute = seq.admitted_at.is_some();
            {
                let mut stats = lock(&self.stats);
                stats.prefix_queries += seq.req.prompt_len as u64;
                stats.prefix_hits += hit_tokens as u64;
                if !recompute {
                    stats.prompt_tokens += seq.req.prompt_len as u64;
                    let queued = now.saturating_duration_since(seq.req.arrival);
                    stats.hist.queue.observe(queued.as_secs_f64());
                }
            }
            seq.admitted_at.get_or_insert(now);
            let _ = self.trace.send(EngineEvent::Admitted {
                request: seq.req.seq,
                step: self.step,
                cached_tokens: hit_tokens,
                recompute,
            });
            self.running.push(seq);
        }
        if queried > 0 {
            lock(&self.stats).last_prefill_hit_rate = hit as f64 / queried as f64;
        }
        (uncached, decoding)
    }

    /// Make sure every running sequence has a KV slot for this step's token, preempting the
    /// newest sequences (vLLM's recompute policy) when the cache is full.
    fn reserve_decode_slots(&mut self) {
        let bs = self.profile.block_size;
        let mut i = 0;
        while i < self.running.len() {
            let seq = &self.running[i];
            if seq.private_tokens < seq.private_blocks * bs {
                i += 1;
            } else if self.kv.grow() {
                self.running[i].private_blocks += 1;
                i += 1;
            } else if let Some(victim) = self.running.pop() {
                self.preempt(victim);
            }
        }
    }

    fn preempt(&mut self, mut seq: Seq) {
        self.kv.release(&seq.req.block_hashes, seq.private_blocks);
        seq.private_blocks = 0;
        seq.private_tokens = 0;
        seq.preemptions += 1;
        lock(&self.stats).preemptions += 1;
        let _ = self.trace.send(EngineEvent::Preempted {
            request: seq.req.seq,
            step: self.step,
        });
        self.waiting.push_front(seq);
    }

    /// Nothing runs yet the queue head does not fit: the request can never be served (the
    /// handlers validate sizes, so this is a safety net, not a normal path).
    fn reject_unschedulable(&mut self) {
        if let Some(seq) = self.waiting.pop_front() {
            tracing::warn!(
                request = seq.req.seq,
                prompt_tokens = seq.req.prompt_len,
                "simulated KV cache cannot hold the request; dropping it"
            );
        }
    }

    fn drop_abandoned(&mut self) {
        let step = self.step;
        let mut aborted = Vec::new();
        self.waiting.retain(|s| {
            let gone = s.req.tokens.is_closed();
            if gone {
                aborted.push(s.req.seq);
            }
            !gone
        });
        let mut i = 0;
        while i < self.running.len() {
            if self.running[i].req.tokens.is_closed() {
                let seq = self.running.remove(i);
                self.kv.release(&seq.req.block_hashes, seq.private_blocks);
                aborted.push(seq.req.seq);
            } else {
                i += 1;
            }
        }
        if !aborted.is_empty() {
            lock(&self.stats).aborted += aborted.len() as u64;
        }
        for request in aborted {
            let _ = self.trace.send(EngineEvent::Aborted { request, step });
        }
    }

    fn emit_tokens(&mut self, now: Instant) {
        let mut stats = lock(&self.stats);
        let mut emitted = 0u64;
        let mut i = 0;
        while i < self.running.len() {
            let seq = &mut self.running[i];
            match seq.last_token_at {
                None => {
                    let ttft = now.saturating_duration_since(seq.req.arrival);
                    stats.hist.ttft.observe(ttft.as_secs_f64());
                    seq.first_token_at = Some(now);
                    let _ = self.trace.send(EngineEvent::FirstToken {
                        request: seq.req.seq,
                        step: self.step,
                    });
                }
                Some(last) => {
                    let gap = now.saturating_duration_since(last);
                    stats.hist.inter_token.observe(gap.as_secs_f64());
                }
            }
            seq.last_token_at = Some(now);
            seq.generated += 1;
            seq.private_tokens += 1;
            emitted += 1;
            // A closed receiver is noticed (and counted as an abort) before the next step.
            let _ = seq.req.tokens.send(GeneratedToken);
            if seq.generated >= seq.req.output_tokens {
                let seq = self.running.remove(i);
                self.kv.release(&seq.req.block_hashes, seq.private_blocks);
                record_finish(&mut stats, &seq, now);
                let _ = self.trace.send(EngineEvent::Finished {
                    request: seq.req.seq,
                    step: self.step,
                    tokens: seq.generated,
                });
            } else {
                i += 1;
            }
        }
        stats.generation_tokens += emitted;
        stats.record_step_tokens(now, emitted);
        // Still under the lock that clients' tokens were sent under: a scrape after the last
        // token already sees the sequence gone.
        self.publish_into(&mut stats);
    }

    fn publish(&self) {
        self.publish_into(&mut lock(&self.stats));
    }

    fn publish_into(&self, stats: &mut Stats) {
        stats.running = self.running.len();
        stats.waiting = self.waiting.len();
        stats.kv_used_blocks = self.kv.used_blocks();
        stats.kv_num_blocks = self.kv.num_blocks();
    }
}

fn record_finish(stats: &mut Stats, seq: &Seq, now: Instant) {
    let req = &seq.req;
    if seq.generated >= req.max_tokens {
        stats.finished_length += 1;
    } else {
        stats.finished_stop += 1;
    }
    let secs = |from: Option<Instant>| {
        from.map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64())
    };
    let h = &mut stats.hist;
    h.e2e.observe(secs(Some(req.arrival)));
    let admitted = seq.admitted_at;
    let first = seq.first_token_at;
    if let (Some(a), Some(f)) = (admitted, first) {
        h.prefill
            .observe(f.saturating_duration_since(a).as_secs_f64());
    }
    let decode = secs(first);
    h.decode.observe(decode);
    h.inference.observe(secs(admitted));
    if seq.generated > 1 {
        h.time_per_output_token
            .observe(decode / (seq.generated - 1) as f64);
    }
    h.prompt_tokens.observe(req.prompt_len as f64);
    h.generation_tokens.observe(seq.generated as f64);
    h.max_tokens_param.observe(req.max_tokens as f64);
    h.num_preemptions.observe(f64::from(seq.preemptions));
}
