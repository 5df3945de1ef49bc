//! Sweep expansion: one full experiment per combination of the swept values.
//!
//! Concurrency is the outer loop, batch size the inner one. Type `single` is promoted to
//! `concurrent` (concurrency sweep) or `batch` (batch_size sweep). With both lists on a `single`
//! workload each combination runs as `concurrent` with the swept concurrency; the batch size is
//! recorded (name suffix, `resolved.workload.batch_size`, iteration values) but a concurrent
//! workload does not group requests, so that dimension repeats the measurement.

use super::types::{Experiment, Iteration, WorkloadKind};

/// The iterations of an experiment; without a sweep, one iteration with no values.
pub fn iterations(exp: &Experiment) -> Vec<Iteration> {
    let sweep = exp.workload.sweep.clone().unwrap_or_default();
    let outer: Vec<Option<usize>> = options(&sweep.concurrency);
    let inner: Vec<Option<usize>> = options(&sweep.batch_size);
    let total = outer.len() * inner.len();
    let mut out = Vec::with_capacity(total);
    for &c in &outer {
        for &b in &inner {
            out.push(Iteration {
                index: out.len() + 1,
                total,
                values: [("concurrency", c), ("batch_size", b)]
                    .into_iter()
                    .filter_map(|(k, v)| v.map(|v| (k, v)))
                    .collect(),
                experiment: apply(exp, c, b),
            });
        }
    }
    out
}

fn options(values: &[usize]) -> Vec<Option<usize>> {
    if values.is_empty() {
        vec![None]
    } else {
        values.iter().copied().map(Some).collect()
    }
}

fn apply(exp: &Experiment, concurrency: Option<usize>, batch_size: Option<usize>) -> Experiment {
    let mut e = exp.clone();
    e.workload.sweep = None;
    let mut name = e.name.clone();
    if let Some(c) = concurrency {
        name.push_str(&format!("-c{c}"));
    }
    if let Some(b) = batch_size {
        name.push_str(&format!("-b{b}"));
    }
    e.workload.kind = match (&e.workload.kind, concurrency, batch_size) {
        (WorkloadKind::MultiTurn { conversation, .. }, Some(c), _) => WorkloadKind::MultiTurn {
            conversation: conversation.clone(),
            concurrency: c,
        },
        (kind @ WorkloadKind::MultiTurn { .. }, None, _) => kind.clone(),
        (_, Some(c), _) => WorkloadKind::Concurrent { concurrency: c },
        (_, None, Some(b)) => WorkloadKind::Batch { batch_size: b },
        (kind, None, None) => kind.clone(),
    };
    e.name = name.clone();
    e.resolved.name = Some(name);
    let w = e.resolved.workload.get_or_insert_with(Default::default);
    w.sweep = None;
    w.kind = Some(e.workload.kind.name().to_string());
    if let Some(c) = concurrency {
        w.concurrency = Some(c as i64);
    }
    if let Some(b) = batch_size {
        w.batch_size = Some(b as i64);
    }
    e
}
