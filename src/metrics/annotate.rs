//! Adds the answers to a finished result: `summary.slo` (and each row's `slo_met`),
//! `summary.cost`, and their formulas in `definitions`. Called once per result, after
//! aggregation, so a result file and its summary always agree.

use crate::config::{Experiment, ProviderKind};
use crate::metrics::slo::Slo;
use crate::metrics::{cost, slo};
use crate::results::result::RunResult;

/// The price of the server a run used, $/hr: a RunPod pod's own price; otherwise the
/// config's `infrastructure.cost_per_hr`, else what the provider reported (the simulator: 0).
pub fn price(exp: &Experiment, external: bool, provider_price: Option<f64>) -> Option<f64> {
    match (exp.infrastructure.provider, external) {
        (ProviderKind::Runpod, false) => provider_price.or(exp.answers.cost_per_hr),
        _ => exp.answers.cost_per_hr.or(provider_price),
    }
}

/// Fill in `summary.slo`, `slo_met` and `summary.cost` (from `metadata.cost_per_hr`).
pub fn annotate(result: &mut RunResult, slo_block: Option<&Slo>) {
    if let Some(s) = slo_block {
        result.summary.slo = Some(slo::evaluate(s, &result.summary, &mut result.requests));
    }
    // A free server (the simulator, a local box without `cost_per_hr`) has no cost to show.
    if let Some(price) = result.metadata.cost_per_hr.filter(|p| *p > 0.0) {
        result.summary.cost = Some(cost::summarize(&result.summary, price));
    }
    let defs = result.definitions.get_or_insert_with(Default::default);
    if result.summary.slo.is_some() {
        for (k, v) in slo::definitions() {
            defs.insert(k.into(), v.into());
        }
    }
    if result.summary.cost.is_some() {
        for (k, v) in cost::definitions() {
            defs.insert(k.into(), v.into());
        }
    }
}
