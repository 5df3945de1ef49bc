//! Cost estimate shown before provisioning a pod (SPEC §10): a low–high range from setup time
//! plus an estimated benchmark time, times the pod's $/hr.

use crate::config::{Experiment, ProviderKind, WorkloadKind};

use super::pricing::PriceTable;

/// Ask for confirmation at or above this (USD).
pub const CONFIRM_THRESHOLD_USD: f64 = 0.50;

/// Pod start + image pull + model load, minutes (fast / slow case).
const SETUP_MIN: (f64, f64) = (3.0, 10.0);

/// Decode speeds, tokens/s: of one stream, and the aggregate ceiling of one GPU (scales with
/// gpu_count).
#[derive(Debug, Clone, Copy)]
struct Speed {
    stream: f64,
    gpu: f64,
}
const FAST: Speed = Speed {
    stream: 60.0,
    gpu: 3000.0,
};
const SLOW: Speed = Speed {
    stream: 20.0,
    gpu: 1000.0,
};

#[derive(Debug, Clone, PartialEq)]
pub struct CostEstimate {
    /// Whole pod, USD/h.
    pub per_hr: f64,
    pub low_usd: f64,
    pub high_usd: f64,
    /// Human-readable assumptions behind the range (for the plan display).
    pub assumptions: Vec<String>,
}

/// `None` unless the provider is RunPod with a priced GPU type.
pub fn estimate(exp: &Experiment, prices: &PriceTable) -> Option<CostEstimate> {
    let infra = &exp.infrastructure;
    if infra.provider != ProviderKind::Runpod {
        return None;
    }
    let gpu = prices.lookup(infra.gpu_type.as_deref()?)?;
    let gpus = f64::from(infra.gpu_count.max(1));
    let mut assumptions = Vec::new();
    let per_gpu = match gpu.price(infra.cloud_type) {
        Some(p) => p,
        None => {
            let other = gpu.community.or(gpu.secure)?;
            assumptions.push(format!(
                "{} is not listed on {} cloud; priced at its other cloud rate",
                gpu.name,
                infra.cloud_type.as_str()
            ));
            other
        }
    };
    let per_hr = per_gpu * gpus;

    let runs = crate::config::sweep::iterations(exp);
    let bench_s = |speed: Speed| -> f64 {
        runs.iter()
            .map(|it| iteration_seconds(&it.experiment, speed, gpus))
            .sum()
    };
    let low_h = SETUP_MIN.0 / 60.0 + bench_s(FAST) / 3600.0;
    let high_h = SETUP_MIN.1 / 60.0 + bench_s(SLOW) / 3600.0;

    assumptions.push(format!(
        "{:.0}–{:.0} min for pod start and model load",
        SETUP_MIN.0, SETUP_MIN.1
    ));
    assumptions.push(runs_assumption(exp, &runs));
    assumptions.push(format!(
        "{:.0}–{:.0} tokens/s per stream, at most {:.0}–{:.0} tokens/s per GPU",
        SLOW.stream, FAST.stream, SLOW.gpu, FAST.gpu
    ));
    assumptions.push(format!(
        "{} × {} at ${per_gpu:.2}/h ({} cloud, prices of {})",
        infra.gpu_count.max(1),
        gpu.name,
        infra.cloud_type.as_str(),
        prices.last_updated
    ));
    Some(CostEstimate {
        per_hr,
        low_usd: per_hr * low_h,
        high_usd: per_hr * high_h,
        assumptions,
    })
}

/// Output tokens of one run: max_tokens × requests (× turns).
fn run_tokens(exp: &Experiment) -> f64 {
    let w = &exp.workload;
    let turns = match &w.kind {
        WorkloadKind::MultiTurn { conversation, .. } => conversation.turns.max(1),
        _ => 1,
    };
    w.count as f64 * turns as f64 * f64::from(w.params.max_tokens)
}

/// How long one run (one sweep iteration) takes at `speed` on `gpus` GPUs, seconds.
///
/// Closed loops: their tokens at the decode speed of their parallelism, at most the GPUs'
/// ceiling; with `duration_s` no longer than the duration plus one reply. Open loops (`rate`,
/// multi-turn at a rate): the arrivals take requests/rate (at most `duration_s`), the last one
/// then needs its reply; a rate beyond the GPUs' ceiling queues, and then the tokens decide.
fn iteration_seconds(exp: &Experiment, speed: Speed, gpus: f64) -> f64 {
    let w = &exp.workload;
    let ceiling = speed.gpu * gpus;
    let reply_s = f64::from(w.params.max_tokens) / speed.stream;
    let duration = w.timing.duration.map(|d| d.as_secs_f64());
    let arrivals = match &w.kind {
        WorkloadKind::Rate { rate } => Some(rate),
        WorkloadKind::MultiTurn { .. } => w.timing.conversation_rate.as_ref(),
        _ => None,
    };
    if let Some(rate) = arrivals {
        let turns = match &w.kind {
            WorkloadKind::MultiTurn { conversation, .. } => conversation.turns.max(1),
            _ => 1,
        } as f64;
        let mut arrivals_s = w.count as f64 / rate.request_rate;
        if let Some(d) = duration {
            arrivals_s = arrivals_s.min(d);
        }
        let sent = (arrivals_s * rate.request_rate).min(w.count as f64);
        let tokens = sent * turns * f64::from(w.params.max_tokens);
        let think_s = w.timing.think_time.as_secs_f64() * (turns - 1.0);
        // The last arrival's whole conversation (one reply for `rate`).
        let last_s = turns * reply_s + think_s;
        let throughput = match rate.max_concurrency {
            Some(cap) => (cap as f64 * speed.stream).min(ceiling),
            None => ceiling,
        };
        return (arrivals_s + last_s).max(tokens / throughput);
    }
    let parallel = match &w.kind {
        WorkloadKind::Single => 1,
        WorkloadKind::Batch { batch_size } => *batch_size,
        WorkloadKind::Concurrent { concurrency } => *concurrency,
        WorkloadKind::MultiTurn { concurrency, .. } => *concurrency,
        // As many as the trace has in flight; estimated as one stream.
        WorkloadKind::Trace | WorkloadKind::Rate { .. } => 1,
    }
    .max(1) as f64;
    let seconds = run_tokens(exp) / (parallel * speed.stream).min(ceiling);
    match duration {
        Some(d) => seconds.min(d + reply_s),
        None => seconds,
    }
}

/// `2 run(s) of 2560 output tokens at most …`, and for open loops the arrival span per rate.
fn runs_assumption(exp: &Experiment, runs: &[crate::config::Iteration]) -> String {
    let turns = matches!(exp.workload.kind, WorkloadKind::MultiTurn { .. });
    let mut text = format!(
        "{} run(s) of {:.0} output tokens at most (max_tokens × requests{})",
        runs.len(),
        run_tokens(exp),
        if turns { " × turns" } else { "" }
    );
    let spans: Vec<String> = runs
        .iter()
        .filter_map(|it| {
            let w = &it.experiment.workload;
            let rate = match &w.kind {
                WorkloadKind::Rate { rate } => rate,
                _ => w.timing.conversation_rate.as_ref()?,
            };
            let mut span = w.count as f64 / rate.request_rate;
            if let Some(d) = w.timing.duration {
                span = span.min(d.as_secs_f64());
            }
            Some(format!("{:.0} s at {} req/s", span, rate.request_rate))
        })
        .collect();
    if !spans.is_empty() {
        text.push_str(&format!("; arrivals: {}", spans.join(", ")));
    }
    text
}

/// Ask before spending: the high end of the range reaches the threshold.
pub fn needs_confirmation(est: &CostEstimate) -> bool {
    est.high_usd >= CONFIRM_THRESHOLD_USD
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CloudType, Framework, Sweep};
    use crate::providers::runpod::templates::tests::experiment;

    #[test]
    fn single_run_range_on_community_a100() {
        let e = experiment(Framework::Vllm); // 10 requests × 256 tokens, single
        let est = estimate(&e, &PriceTable::builtin()).unwrap();
        assert!((est.per_hr - 1.19).abs() < 1e-9);
        // low: 3 min + 2560/60 s; high: 10 min + 2560/20 s.
        let low = 1.19 * (3.0 / 60.0 + 2560.0 / 60.0 / 3600.0);
        let high = 1.19 * (10.0 / 60.0 + 2560.0 / 20.0 / 3600.0);
        assert!((est.low_usd - low).abs() < 1e-9 && (est.high_usd - high).abs() < 1e-9);
        assert!(est.assumptions.iter().any(|a| a.contains("tokens/s")));
        assert!(!needs_confirmation(&est));
    }

    #[test]
    fn gpu_count_sweeps_and_confirmation() {
        let mut e = experiment(Framework::Vllm);
        e.infrastructure.gpu_count = 8;
        e.infrastructure.gpu_type = Some("H100-80GB".into());
        e.infrastructure.cloud_type = CloudType::Secure;
        e.workload.count = 1000;
        e.workload.kind = WorkloadKind::Concurrent { concurrency: 1 };
        let one = estimate(&e, &PriceTable::builtin()).unwrap();
        assert!((one.per_hr - 8.0 * 2.99).abs() < 1e-9);
        assert!(needs_confirmation(&one));
        e.workload.sweep = Some(Sweep {
            concurrency: vec![1, 64],
            batch_size: vec![],
            request_rate: vec![],
        });
        let swept = estimate(&e, &PriceTable::builtin()).unwrap();
        assert!(swept.high_usd > one.high_usd);
        assert!(swept.assumptions.iter().any(|a| a.starts_with("2 run(s)")));
    }

    fn rate_experiment(rate: f64, count: usize, max_tokens: u32) -> Experiment {
        let mut e = experiment(Framework::Vllm);
        e.workload.count = count;
        e.workload.params.max_tokens = max_tokens;
        e.workload.kind = WorkloadKind::Rate {
            rate: crate::config::RateSpec {
                request_rate: rate,
                arrival: crate::config::Arrival::Poisson,
                max_concurrency: None,
                seed: 42,
            },
        };
        e
    }

    /// (low, high) benchmark seconds, the setup time taken out.
    fn bench_seconds(e: &Experiment) -> (f64, f64) {
        let est = estimate(e, &PriceTable::builtin()).unwrap();
        (
            (est.low_usd / est.per_hr - SETUP_MIN.0 / 60.0) * 3600.0,
            (est.high_usd / est.per_hr - SETUP_MIN.1 / 60.0) * 3600.0,
        )
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn rate_duration_is_requests_over_rate_plus_the_last_reply() {
        // 3000 requests at 10/s: 300 s of arrivals, then one 64-token reply (64/60, 64/20 s);
        // the GPU (3000 / 1000 tok/s) keeps up with 640 tok/s.
        let e = rate_experiment(10.0, 3000, 64);
        let (low, high) = bench_seconds(&e);
        assert!(close(low, 300.0 + 64.0 / 60.0), "{low}");
        assert!(close(high, 300.0 + 64.0 / 20.0), "{high}");
        let est = estimate(&e, &PriceTable::builtin()).unwrap();
        assert!(
            est.assumptions
                .iter()
                .any(|a| a.contains("300 s at 10 req/s")),
            "{:?}",
            est.assumptions
        );
    }

    #[test]
    fn rate_sweep_sums_each_levels_duration() {
        let mut e = rate_experiment(10.0, 3000, 64);
        e.workload.sweep = Some(Sweep {
            concurrency: vec![],
            batch_size: vec![],
            request_rate: vec![10.0, 20.0, 40.0],
        });
        let (low, high) = bench_seconds(&e);
        let reply = 64.0 / 60.0;
        assert!(close(low, 300.0 + 150.0 + 75.0 + 3.0 * reply), "{low}");
        // Slow case: 20 and 40 req/s × 64 tokens exceed 1000 tok/s, so 192 000 tokens take
        // 192 s at those levels (the queue), not their 150 / 75 s of arrivals.
        assert!(close(high, 300.0 + 64.0 / 20.0 + 192.0 + 192.0), "{high}");
        let est = estimate(&e, &PriceTable::builtin()).unwrap();
        assert!(est.assumptions.iter().any(|a| a.starts_with("3 run(s)")
            && a.contains("300 s at 10 req/s, 150 s at 20 req/s, 75 s at 40 req/s")));
    }

    #[test]
    fn rate_duration_s_caps_the_arrivals() {
        let mut e = rate_experiment(10.0, 3000, 64);
        e.workload.timing.duration = Some(std::time::Duration::from_secs(60));
        let (low, _) = bench_seconds(&e);
        assert!(close(low, 60.0 + 64.0 / 60.0), "{low}");
    }

    #[test]
    fn concurrent_duration_s_caps_a_closed_loop() {
        let mut e = experiment(Framework::Vllm);
        e.workload.count = 100_000;
        e.workload.kind = WorkloadKind::Concurrent { concurrency: 4 };
        let (uncapped, _) = bench_seconds(&e);
        e.workload.timing.duration = Some(std::time::Duration::from_secs(120));
        let (low, _) = bench_seconds(&e);
        assert!(uncapped > 1000.0);
        assert!(close(low, 120.0 + 256.0 / 60.0), "{low}");
    }

    #[test]
    fn multi_turn_at_a_rate_takes_conversations_over_rate_plus_one_conversation() {
        let mut e = experiment(Framework::Vllm);
        e.workload.count = 100;
        e.workload.params.max_tokens = 60;
        e.workload.kind = WorkloadKind::MultiTurn {
            conversation: crate::config::Conversation {
                turns: 3,
                system_prompt: None,
                user_messages: vec![],
                shared_prefix: None,
            },
            concurrency: 1,
        };
        e.workload.timing.think_time = std::time::Duration::from_secs(2);
        e.workload.timing.conversation_rate = Some(crate::config::RateSpec {
            request_rate: 2.0,
            arrival: crate::config::Arrival::Constant,
            max_concurrency: None,
            seed: 1,
        });
        let (low, _) = bench_seconds(&e);
        // 50 s of arrivals + 3 replies of 1 s + 2 pauses of 2 s.
        assert!(close(low, 50.0 + 3.0 + 4.0), "{low}");
    }

    #[test]
    fn none_for_other_providers_or_unknown_gpus() {
        let mut e = experiment(Framework::Sglang);
        e.infrastructure.gpu_type = Some("TPU".into());
        assert!(estimate(&e, &PriceTable::builtin()).is_none());
        e.infrastructure.gpu_type = Some("L4".into());
        assert!(estimate(&e, &PriceTable::builtin()).is_some()); // secure-only, priced anyway
        e.infrastructure.provider = ProviderKind::Simulated;
        assert!(estimate(&e, &PriceTable::builtin()).is_none());
    }
}
