//! Cost estimate shown before provisioning a pod (SPEC §10): a low–high range from setup time
//! plus an estimated benchmark time, times the pod's $/hr.

use crate::config::{Experiment, ProviderKind, WorkloadKind};

use super::pricing::PriceTable;

/// Ask for confirmation at or above this (USD).
pub const CONFIRM_THRESHOLD_USD: f64 = 0.50;

/// Pod start + image pull + model load, minutes (fast / slow case).
const SETUP_MIN: (f64, f64) = (3.0, 10.0);
/// Decode speed of one stream, tokens/s (fast / slow case).
const STREAM_TOK_S: (f64, f64) = (60.0, 20.0);
/// Aggregate decode ceiling of one GPU, tokens/s (fast / slow case); scales with gpu_count.
const GPU_TOK_S: (f64, f64) = (3000.0, 1000.0);

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

    let w = &exp.workload;
    let turns = match &w.kind {
        WorkloadKind::MultiTurn { conversation, .. } => conversation.turns.max(1),
        _ => 1,
    };
    let tokens_per_pass = w.count as f64 * turns as f64 * f64::from(w.params.max_tokens);
    let passes = parallelism_per_iteration(exp);
    let bench_s = |stream: f64, ceiling: f64| -> f64 {
        passes
            .iter()
            .map(|&p| tokens_per_pass / (p as f64 * stream).min(ceiling * gpus))
            .sum()
    };
    let low_h = SETUP_MIN.0 / 60.0 + bench_s(STREAM_TOK_S.0, GPU_TOK_S.0) / 3600.0;
    let high_h = SETUP_MIN.1 / 60.0 + bench_s(STREAM_TOK_S.1, GPU_TOK_S.1) / 3600.0;

    assumptions.push(format!(
        "{:.0}–{:.0} min for pod start and model load",
        SETUP_MIN.0, SETUP_MIN.1
    ));
    assumptions.push(format!(
        "{} run(s) of {:.0} output tokens at most (max_tokens × requests{})",
        passes.len(),
        tokens_per_pass,
        if turns > 1 { " × turns" } else { "" }
    ));
    assumptions.push(format!(
        "{:.0}–{:.0} tokens/s per stream, at most {:.0}–{:.0} tokens/s per GPU",
        STREAM_TOK_S.1, STREAM_TOK_S.0, GPU_TOK_S.1, GPU_TOK_S.0
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

/// Requests in flight for each sweep iteration (one entry without a sweep).
fn parallelism_per_iteration(exp: &Experiment) -> Vec<usize> {
    let base = match &exp.workload.kind {
        WorkloadKind::Single => 1,
        WorkloadKind::Batch { batch_size } => *batch_size,
        WorkloadKind::Concurrent { concurrency } => *concurrency,
        WorkloadKind::MultiTurn { concurrency, .. } => *concurrency,
        // Open loop: in flight depends on the server; the cap bounds it.
        WorkloadKind::Rate { rate } => rate.max_concurrency.unwrap_or(32),
        // Open loop: as many as the trace has in flight; one pass for the estimate.
        WorkloadKind::Trace => 1,
    };
    let Some(sweep) = &exp.workload.sweep else {
        return vec![base.max(1)];
    };
    let conc: Vec<Option<usize>> = if sweep.concurrency.is_empty() {
        vec![None]
    } else {
        sweep.concurrency.iter().copied().map(Some).collect()
    };
    let batch: Vec<Option<usize>> = if sweep.batch_size.is_empty() {
        vec![None]
    } else {
        sweep.batch_size.iter().copied().map(Some).collect()
    };
    let mut out = Vec::new();
    for c in &conc {
        for b in &batch {
            let p = match &exp.workload.kind {
                WorkloadKind::Batch { .. } => b.or(*c),
                _ => c.or(*b),
            };
            out.push(p.unwrap_or(base).max(1));
        }
    }
    out
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
