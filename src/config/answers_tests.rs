use super::super::test_support::Fixture;
use super::*;

fn issues(edits: &[(&str, &str)]) -> Vec<(String, String)> {
    match Fixture::new().load_with(edits) {
        Ok(_) => Vec::new(),
        Err(e) => e
            .issues()
            .iter()
            .map(|i| (i.path.clone(), i.message.clone()))
            .collect(),
    }
}

fn paths(edits: &[(&str, &str)]) -> Vec<String> {
    issues(edits).into_iter().map(|(p, _)| p).collect()
}

const SLO: (&str, &str) = ("slo", "{ttft_ms: {p: 99, max: 500}, e2e_ms: 8000}");

#[test]
fn slo_block_validates_into_objectives_in_fixed_order() {
    let e = Fixture::new()
        .load_with(&[
            (
                "slo",
                "{itl_ms: {p: 95, max: 80}, e2e_ms: 8000, ttft_ms: {p: 99, max: 500}}",
            ),
            ("infrastructure.cost_per_hr", "1.5"),
        ])
        .unwrap();
    let slo = e.answers.slo.unwrap();
    let metrics: Vec<SloMetric> = slo.objectives.iter().map(|o| o.metric).collect();
    assert_eq!(metrics, [SloMetric::Ttft, SloMetric::E2e, SloMetric::Itl]);
    assert_eq!(slo.objectives[1].p, None);
    assert_eq!(e.answers.cost_per_hr, Some(1.5));
    assert_eq!(e.answers.repeat, 1);
}

#[test]
fn unknown_slo_metric_and_bad_percentiles() {
    let found = issues(&[(
        "slo",
        "{ttft: 500, tpot_ms: {p: 0, max: 50}, e2e_ms: {max: 10}}",
    )]);
    let msgs: Vec<String> = found.iter().map(|(p, m)| format!("{p}: {m}")).collect();
    assert!(
        msgs.contains(&"slo.ttft: unknown SLO metric, did you mean 'ttft_ms'?".to_string()),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.starts_with("slo.tpot_ms.p: must be a percentile")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter().any(|m| m.starts_with("slo.e2e_ms.p: required")),
        "{msgs:?}"
    );
    assert_eq!(
        paths(&[("slo", "{tpot_ms: {p: 101, max: 50}}")]),
        ["slo.tpot_ms.p"]
    );
    assert_eq!(paths(&[("slo", "{tpot_ms: -5}")]), ["slo.tpot_ms"]);
    assert_eq!(paths(&[("slo", "{tpot_ms: fast}")]), ["slo.tpot_ms"]);
    assert_eq!(
        paths(&[("slo", "{tpot_ms: {p: 50, max: 5, min: 1}}")]),
        ["slo.tpot_ms.min"]
    );
}

#[test]
fn search_needs_an_slo_and_ordered_bounds() {
    let search = ("search", "{over: concurrency, min: 1, max: 64}");
    assert_eq!(paths(&[search]), ["slo"]);
    assert!(paths(&[search, SLO]).is_empty());
    assert_eq!(
        paths(&[("search", "{over: concurrency, min: 64, max: 8}"), SLO]),
        ["search.max"]
    );
    assert_eq!(
        paths(&[("search", "{over: concurrency, min: 1.5, max: 8}"), SLO]),
        ["search.min"]
    );
    assert_eq!(
        paths(&[("search", "{over: concurrency, precision: 2}"), SLO]),
        ["search.precision"]
    );
    assert_eq!(paths(&[("search", "{over: qps}"), SLO]), ["search.over"]);
    assert_eq!(paths(&[("search", "{min: 1}"), SLO]), ["search.over"]);
}

#[test]
fn search_must_fit_the_workload() {
    let batch = [
        ("workload.type", "batch"),
        ("workload.batch_size", "4"),
        ("search", "{over: concurrency}"),
        SLO,
    ];
    let found = issues(&batch);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "search.over");
    assert!(
        found[0].1.contains("needs workload.type 'concurrent'"),
        "{found:?}"
    );
    let rate = issues(&[("search", "{over: request_rate, min: 1, max: 20}"), SLO]);
    assert_eq!(rate.len(), 1, "{rate:?}");
    assert!(rate[0].1.contains("needs workload.type 'rate'"), "{rate:?}");
    assert_eq!(
        paths(&[
            ("search", "{over: concurrency}"),
            SLO,
            ("workload.sweep.concurrency", "[1, 2]")
        ]),
        ["workload.sweep"]
    );
}

#[test]
fn repeat_must_be_positive() {
    assert_eq!(paths(&[("repeat", "0")]), ["repeat"]);
    assert_eq!(paths(&[("repeat", "1001")]), ["repeat"]);
    assert_eq!(
        Fixture::new()
            .load_with(&[("repeat", "5")])
            .unwrap()
            .answers
            .repeat,
        5
    );
    assert_eq!(
        paths(&[("repeat", "3"), ("search", "{over: concurrency}"), SLO]),
        ["repeat"]
    );
    assert_eq!(
        paths(&[("infrastructure.cost_per_hr", "-1")]),
        ["infrastructure.cost_per_hr"]
    );
}
