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
    let rates: Vec<Option<f64>> = if sweep.request_rate.is_empty() {
        vec![None]
    } else {
        sweep.request_rate.iter().copied().map(Some).collect()
    };
    let total = outer.len() * inner.len() * rates.len();
    let mut out = Vec::with_capacity(total);
    for &c in &outer {
        for &b in &inner {
            for &r in &rates {
                let mut experiment = apply(exp, c, b);
                if let Some(r) = r {
                    apply_rate(&mut experiment, r);
                }
                out.push(Iteration {
                    index: out.len() + 1,
                    total,
                    values: [("concurrency", c), ("batch_size", b)]
                        .into_iter()
                        .filter_map(|(k, v)| v.map(|v| (k, v)))
                        .collect(),
                    request_rate: r,
                    experiment,
                });
            }
        }
    }
    out
}

/// One request rate of a `sweep.request_rate`: name suffix `-r<rate>`, the rate in the
/// workload (or multi-turn's conversation arrivals) and in the resolved config.
fn apply_rate(e: &mut Experiment, rate: f64) {
    use super::types::WorkloadKind::Rate;
    match &mut e.workload.kind {
        Rate { rate: spec } => spec.request_rate = rate,
        _ => {
            if let Some(spec) = e.workload.timing.conversation_rate.as_mut() {
                spec.request_rate = rate;
            }
        }
    }
    e.name.push_str(&format!("-r{rate}"));
    e.resolved.name = Some(e.name.clone());
    if let Some(w) = e.resolved.workload.as_mut() {
        w.request_rate = Some(rate);
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::Fixture;

    fn load(edits: &[(&str, &str)]) -> Experiment {
        Fixture::new()
            .load_with(edits)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn no_sweep_is_one_iteration_without_values() {
        let exp = load(&[]);
        let its = iterations(&exp);
        assert_eq!(its.len(), 1);
        assert_eq!((its[0].index, its[0].total), (1, 1));
        assert!(its[0].values.is_empty());
        assert_eq!(its[0].experiment.name, "t");
        assert_eq!(its[0].experiment.workload.kind, WorkloadKind::Single);
    }

    #[test]
    fn concurrency_sweep_promotes_single_and_suffixes_names() {
        let exp = load(&[("workload.sweep.concurrency", "[1, 4]")]);
        let its = iterations(&exp);
        let names: Vec<&str> = its.iter().map(|i| i.experiment.name.as_str()).collect();
        assert_eq!(names, ["t-c1", "t-c4"]);
        assert_eq!(its[1].values, vec![("concurrency", 4)]);
        assert_eq!(
            its[1].experiment.workload.kind,
            WorkloadKind::Concurrent { concurrency: 4 }
        );
        let w = its[1].experiment.resolved.workload.clone().unwrap();
        assert_eq!(w.kind.as_deref(), Some("concurrent"));
        assert_eq!(w.concurrency, Some(4));
        assert_eq!(w.sweep, None);
        assert_eq!(its[1].experiment.resolved.name.as_deref(), Some("t-c4"));
        assert!(its[1].experiment.workload.sweep.is_none());
    }

    #[test]
    fn batch_sweep_promotes_single_to_batch() {
        let exp = load(&[("workload.sweep.batch_size", "[2, 8]")]);
        let its = iterations(&exp);
        assert_eq!(its[1].experiment.name, "t-b8");
        assert_eq!(
            its[1].experiment.workload.kind,
            WorkloadKind::Batch { batch_size: 8 }
        );
        let w = its[1].experiment.resolved.workload.clone().unwrap();
        assert_eq!((w.kind.as_deref(), w.batch_size), (Some("batch"), Some(8)));
    }

    #[test]
    fn both_lists_form_a_product_concurrency_outer() {
        let exp = load(&[
            ("name", "sweep"),
            ("workload.sweep.concurrency", "[1, 4]"),
            ("workload.sweep.batch_size", "[1, 8]"),
        ]);
        let its = iterations(&exp);
        let names: Vec<&str> = its.iter().map(|i| i.experiment.name.as_str()).collect();
        assert_eq!(
            names,
            ["sweep-c1-b1", "sweep-c1-b8", "sweep-c4-b1", "sweep-c4-b8"]
        );
        let idx: Vec<(usize, usize)> = its.iter().map(|i| (i.index, i.total)).collect();
        assert_eq!(idx, [(1, 4), (2, 4), (3, 4), (4, 4)]);
        assert_eq!(its[3].values, vec![("concurrency", 4), ("batch_size", 8)]);
        assert_eq!(
            its[3].experiment.workload.kind,
            WorkloadKind::Concurrent { concurrency: 4 }
        );
        let w = its[3].experiment.resolved.workload.clone().unwrap();
        assert_eq!((w.concurrency, w.batch_size), (Some(4), Some(8)));
    }

    #[test]
    fn concurrent_type_keeps_its_type_with_swept_value() {
        let exp = load(&[
            ("workload.type", "concurrent"),
            ("workload.concurrency", "2"),
            ("workload.sweep.concurrency", "[8, 16]"),
        ]);
        let its = iterations(&exp);
        assert_eq!(
            its[0].experiment.workload.kind,
            WorkloadKind::Concurrent { concurrency: 8 }
        );
        assert_eq!(
            its[0]
                .experiment
                .resolved
                .workload
                .clone()
                .unwrap()
                .concurrency,
            Some(8)
        );
    }
}
