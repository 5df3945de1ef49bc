//! Validation of the open-loop and timing fields (issue 13): `request_rate`, `arrival`,
//! `burstiness`, `max_concurrency`, `seed`, `duration_s`, `warmup`, `think_time_ms` and
//! `sweep.request_rate`. Every problem is pushed to the same checker as the rest of the config.

use std::time::Duration;

use super::{Checker, Type};
use crate::config::raw::{RawWarmup, RawWorkload};
use crate::config::types::{Arrival, RateSpec, Timing, Warmup};

pub const DEFAULT_SEED: u64 = 0;

/// A finite number > 0, or an issue.
fn positive_f64(c: &mut Checker, path: &str, value: Option<f64>) -> Option<f64> {
    let v = value?;
    if v.is_finite() && v > 0.0 {
        Some(v)
    } else {
        c.push(path, format!("must be > 0, got {v}"));
        None
    }
}

/// The rate workload's arrival process (also multi-turn's conversation arrivals). `None` when
/// the type takes no rate (fields given anyway are reported) or the rate is missing/invalid.
pub(super) fn rate_spec(
    c: &mut Checker,
    raw: &RawWorkload,
    ty: Type,
    swept: Option<f64>,
) -> Option<RateSpec> {
    let rate = positive_f64(c, "workload.request_rate", raw.request_rate).or(swept);
    let takes_rate = matches!(ty, Type::Rate | Type::MultiTurn);
    if !takes_rate {
        not_for_type(
            c,
            &[
                ("request_rate", raw.request_rate.is_some()),
                ("arrival", raw.arrival.is_some()),
                ("burstiness", raw.burstiness.is_some()),
                ("max_concurrency", raw.max_concurrency.is_some()),
                ("seed", raw.seed.is_some()),
            ],
            &format!(
                "only applies to workload.type 'rate' (or 'multi_turn' at a rate), not '{}'",
                ty.as_str()
            ),
        );
        return None;
    }
    if ty == Type::Rate && rate.is_none() && raw.request_rate.is_none() {
        c.push(
            "workload.request_rate",
            "required when workload.type is 'rate' (mean requests per second, > 0)",
        );
    }
    let arrival = arrival(c, raw);
    let max_concurrency = c.positive("workload.max_concurrency", raw.max_concurrency, None);
    if ty == Type::MultiTurn && rate.is_none() {
        not_for_type(
            c,
            &[
                ("arrival", raw.arrival.is_some()),
                ("max_concurrency", raw.max_concurrency.is_some()),
                ("seed", raw.seed.is_some()),
            ],
            "multi_turn uses it only with workload.request_rate",
        );
    }
    Some(RateSpec {
        request_rate: rate?,
        arrival,
        max_concurrency,
        seed: raw.seed.unwrap_or(DEFAULT_SEED),
    })
}

/// Reports each of `fields` (name, whether it is set) that is set, with `why` it does not apply.
fn not_for_type(c: &mut Checker, fields: &[(&str, bool)], why: &str) {
    for (field, given) in fields {
        if *given {
            c.push(&format!("workload.{field}"), why);
        }
    }
}

/// `arrival` (poisson by default) and, for gamma, its `burstiness`.
fn arrival(c: &mut Checker, raw: &RawWorkload) -> Arrival {
    let arrival = c.choice(
        "workload.arrival",
        raw.arrival.as_deref(),
        Some("poisson"),
        &[
            ("constant", "constant"),
            ("poisson", "poisson"),
            ("gamma", "gamma"),
        ],
    );
    let burstiness = positive_f64(c, "workload.burstiness", raw.burstiness);
    if raw.burstiness.is_some() && arrival.is_some_and(|a| a != "gamma") {
        c.push(
            "workload.burstiness",
            "only applies with arrival: gamma (the gamma shape; CV = 1/sqrt(burstiness)); add arrival: gamma or remove it",
        );
    }
    match arrival.unwrap_or("poisson") {
        "constant" => Arrival::Constant,
        "gamma" => Arrival::Gamma {
            burstiness: burstiness.unwrap_or(1.0),
        },
        _ => Arrival::Poisson,
    }
}

/// Warmup, duration and think time. `count` is the number of requests (multi-turn:
/// conversations); `rate` the arrival rate, when open loop (to check warmup against the run).
pub(super) fn timing(
    c: &mut Checker,
    raw: &RawWorkload,
    ty: Type,
    count: Option<usize>,
    rate: Option<RateSpec>,
) -> Timing {
    let duration = positive_f64(c, "workload.duration_s", raw.duration_s);
    if raw.duration_s.is_some() && !matches!(ty, Type::Rate | Type::Concurrent) {
        c.push(
            "workload.duration_s",
            format!(
                "only applies to workload.type 'rate' or 'concurrent', not '{}'",
                ty.as_str()
            ),
        );
    }
    let think = raw.think_time_ms;
    if let Some(t) = think {
        if !(t.is_finite() && t >= 0.0) {
            c.push("workload.think_time_ms", format!("must be >= 0, got {t}"));
        } else if ty != Type::MultiTurn {
            c.push(
                "workload.think_time_ms",
                "only applies to workload.type 'multi_turn'",
            );
        }
    }
    let warmup = raw
        .warmup
        .as_ref()
        .and_then(|w| warmup(c, w, count, duration, rate));
    Timing {
        warmup,
        duration: duration.map(Duration::from_secs_f64),
        think_time: think
            .filter(|t| t.is_finite() && *t >= 0.0)
            .map(|t| Duration::from_secs_f64(t / 1000.0))
            .unwrap_or_default(),
        conversation_rate: rate.filter(|_| ty == Type::MultiTurn),
        pacer_clock: Default::default(),
    }
}

/// `warmup`: the first N requests or the first S seconds, shorter than the run.
fn warmup(
    c: &mut Checker,
    w: &RawWarmup,
    count: Option<usize>,
    duration: Option<f64>,
    rate: Option<RateSpec>,
) -> Option<Warmup> {
    match (w.requests, w.duration_s) {
        (Some(_), Some(_)) => {
            c.push(
                "workload.warmup",
                "give either requests or duration_s, not both",
            );
            None
        }
        (None, None) => {
            c.push(
                "workload.warmup",
                "needs requests (the first N) or duration_s (the first S seconds)",
            );
            None
        }
        (Some(n), None) => {
            let n = c.positive("workload.warmup.requests", Some(n), None)?;
            if let Some(count) = count.filter(|&count| n >= count) {
                c.push(
                    "workload.warmup.requests",
                    format!("{n} warmup requests leave nothing to measure of the {count} in workload.requests.count; use fewer"),
                );
            }
            Some(Warmup::Requests(n))
        }
        (None, Some(s)) => {
            let s = positive_f64(c, "workload.warmup.duration_s", Some(s))?;
            // The run's expected length: its duration, else the schedule's span.
            let run = duration.or_else(|| {
                let (rate, count) = (rate?, count?);
                Some(count as f64 / rate.request_rate)
            });
            if let Some(run) = run.filter(|&run| s >= run) {
                c.push(
                    "workload.warmup.duration_s",
                    format!("{s} s of warmup is not shorter than the run ({run:.1} s); shorten it"),
                );
            }
            Some(Warmup::Duration(Duration::from_secs_f64(s)))
        }
    }
}

/// `sweep.request_rate`: values > 0, only for a type that takes a rate.
pub(super) fn rate_sweep(c: &mut Checker, values: Option<&Vec<f64>>, ty: Type) -> Vec<f64> {
    let path = "workload.sweep.request_rate";
    let Some(values) = values else {
        return Vec::new();
    };
    if values.is_empty() {
        c.push(path, "must not be empty (leave it out to not sweep)");
        return Vec::new();
    }
    if let Some(bad) = values.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
        c.push(path, format!("values must be > 0, got {bad}"));
        return Vec::new();
    }
    if !matches!(ty, Type::Rate | Type::MultiTurn) {
        c.push(
            path,
            format!(
                "a request_rate sweep needs workload.type 'rate' (or 'multi_turn'), not '{}'",
                ty.as_str()
            ),
        );
        return Vec::new();
    }
    values.clone()
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::Fixture;
    use crate::config::{sweep, Arrival, Experiment, Warmup, WorkloadKind};
    use std::time::Duration;

    const RATE: (&str, &str) = ("workload.type", "rate");

    fn paths(edits: &[(&str, &str)]) -> Vec<String> {
        Fixture::new().issue_paths(edits)
    }

    fn ok(edits: &[(&str, &str)]) -> Experiment {
        Fixture::new()
            .load_with(edits)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn rate_workload_with_defaults() {
        let e = ok(&[RATE, ("workload.request_rate", "2.5")]);
        let WorkloadKind::Rate { rate } = e.workload.kind else {
            panic!("{:?}", e.workload.kind)
        };
        assert_eq!(rate.request_rate, 2.5);
        assert_eq!(rate.arrival, Arrival::Poisson);
        assert_eq!(rate.max_concurrency, None);
        // Defaults are written into the resolved config (the result file's `experiment`).
        let w = e.resolved.workload.unwrap();
        assert_eq!(w.arrival.as_deref(), Some("poisson"));
        assert_eq!(w.seed, Some(super::DEFAULT_SEED));
    }

    #[test]
    fn gamma_with_burstiness_cap_seed_duration_and_warmup() {
        let e = ok(&[
            RATE,
            ("workload.request_rate", "10"),
            ("workload.arrival", "gamma"),
            ("workload.burstiness", "0.5"),
            ("workload.max_concurrency", "4"),
            ("workload.seed", "7"),
            ("workload.duration_s", "30"),
            ("workload.warmup", "{duration_s: 5}"),
        ]);
        let WorkloadKind::Rate { rate } = e.workload.kind else {
            panic!()
        };
        assert_eq!(rate.arrival, Arrival::Gamma { burstiness: 0.5 });
        assert_eq!((rate.max_concurrency, rate.seed), (Some(4), 7));
        assert_eq!(e.workload.timing.duration, Some(Duration::from_secs(30)));
        assert_eq!(
            e.workload.timing.warmup,
            Some(Warmup::Duration(Duration::from_secs(5)))
        );
    }

    #[test]
    fn every_bad_open_loop_field_is_reported_at_once() {
        let got = paths(&[
            RATE,
            ("workload.request_rate", "0"),
            ("workload.burstiness", "2"),
            ("workload.duration_s", "-1"),
            ("workload.warmup", "{requests: 5}"),
        ]);
        assert_eq!(
            got,
            [
                "workload.request_rate",
                "workload.burstiness",
                "workload.duration_s",
                "workload.warmup.requests",
            ]
        );
    }

    #[test]
    fn messages_say_what_to_do() {
        let err = Fixture::new()
            .load_with(&[
                RATE,
                ("workload.request_rate", "-3"),
                ("workload.arrival", "constant"),
                ("workload.burstiness", "2"),
            ])
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be > 0, got -3"), "{err}");
        assert!(err.contains("only applies with arrival: gamma"), "{err}");
    }

    #[test]
    fn rate_is_required_for_type_rate() {
        assert_eq!(paths(&[RATE]), ["workload.request_rate"]);
    }

    #[test]
    fn open_loop_fields_need_an_open_loop_type() {
        assert_eq!(
            paths(&[("workload.request_rate", "5"), ("workload.seed", "1")]),
            ["workload.request_rate", "workload.seed"]
        );
        assert_eq!(
            paths(&[("workload.duration_s", "5")]),
            ["workload.duration_s"]
        );
        assert_eq!(
            paths(&[("workload.think_time_ms", "5")]),
            ["workload.think_time_ms"]
        );
    }

    #[test]
    fn warmup_must_be_shorter_than_the_run() {
        // 5 requests at 1/s last 5 s.
        let rate = ("workload.request_rate", "1");
        assert_eq!(
            paths(&[RATE, rate, ("workload.warmup", "{duration_s: 5}")]),
            ["workload.warmup.duration_s"]
        );
        assert_eq!(
            paths(&[
                RATE,
                rate,
                ("workload.duration_s", "3"),
                ("workload.warmup", "{duration_s: 3}")
            ]),
            ["workload.warmup.duration_s"]
        );
        assert_eq!(
            paths(&[("workload.warmup", "{requests: 5}")]),
            ["workload.warmup.requests"]
        );
        assert_eq!(
            paths(&[("workload.warmup", "{requests: 1, duration_s: 1}")]),
            ["workload.warmup"]
        );
        // Warmup works for every type.
        let e = ok(&[("workload.warmup", "{requests: 4}")]);
        assert_eq!(e.workload.timing.warmup, Some(Warmup::Requests(4)));
    }

    #[test]
    fn duration_for_concurrent_and_think_time_for_multi_turn() {
        let e = ok(&[
            ("workload.type", "concurrent"),
            ("workload.concurrency", "2"),
            ("workload.duration_s", "1.5"),
        ]);
        assert_eq!(
            e.workload.timing.duration,
            Some(Duration::from_millis(1500))
        );
        let e = ok(&[
            ("workload.type", "multi_turn"),
            ("workload.conversation", "{turns: 1}"),
            ("workload.request_rate", "3"),
            ("workload.think_time_ms", "250"),
        ]);
        assert_eq!(e.workload.timing.think_time, Duration::from_millis(250));
        assert_eq!(
            e.workload.timing.conversation_rate.map(|r| r.request_rate),
            Some(3.0)
        );
    }

    #[test]
    fn request_rate_sweep_makes_one_iteration_per_rate() {
        let e = ok(&[RATE, ("workload.sweep", "{request_rate: [10, 2.5]}")]);
        let its = sweep::iterations(&e);
        assert_eq!(its.len(), 2);
        assert_eq!(its[1].request_rate, Some(2.5));
        assert_eq!(its[1].experiment.name, "t-r2.5");
        let WorkloadKind::Rate { rate } = its[1].experiment.workload.kind else {
            panic!()
        };
        assert_eq!(rate.request_rate, 2.5);
        let w = its[1].experiment.resolved.workload.clone().unwrap();
        assert_eq!(w.request_rate, Some(2.5));
        assert_eq!(
            paths(&[("workload.sweep", "{request_rate: [1]}")]),
            ["workload.sweep.request_rate"]
        );
        assert_eq!(
            paths(&[RATE, ("workload.sweep", "{request_rate: [0]}")]),
            ["workload.sweep.request_rate", "workload.request_rate"]
        );
    }
}
