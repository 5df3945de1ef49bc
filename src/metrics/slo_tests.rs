use super::*;

fn row(i: usize, ttft: f64, e2e: f64, gaps: &[f64], tokens: u64) -> RequestResult {
    RequestResult {
        request_index: i,
        ttft_ms: Some(ttft),
        e2e_latency_ms: Some(e2e),
        inter_token_latencies_ms: gaps.to_vec(),
        prompt_tokens: Some(10),
        completion_tokens: Some(tokens),
        tpot_ms: (tokens > 1).then(|| (e2e - ttft) / (tokens - 1) as f64),
        ..Default::default()
    }
}

fn slo(objectives: &[(SloMetric, Option<f64>, f64)]) -> Slo {
    Slo {
        objectives: objectives
            .iter()
            .map(|&(metric, p, max)| Objective { metric, p, max })
            .collect(),
    }
}

fn summary(seconds: f64) -> Summary {
    Summary {
        total_duration_s: seconds,
        ..Summary::default()
    }
}

#[test]
fn goodput_counts_requests_meeting_every_limit() {
    let mut rows = vec![
        row(0, 100.0, 500.0, &[10.0, 20.0, 30.0], 4), // good
        row(1, 600.0, 900.0, &[10.0, 10.0], 3),       // TTFT over its objective's max
        row(2, 100.0, 9000.0, &[10.0], 2),            // E2E over the bare limit
        row(3, 200.0, 400.0, &[90.0, 10.0], 3),       // good (its p50 gap is 50)
        {
            let mut failed = row(4, 50.0, 60.0, &[], 1);
            failed.error = Some("HTTP 500".into());
            failed
        },
    ];
    let s = slo(&[
        (SloMetric::Ttft, Some(99.0), 500.0),
        (SloMetric::E2e, None, 8000.0),
        (SloMetric::Itl, Some(50.0), 60.0),
    ]);
    let out = evaluate(&s, &summary(2.0), &mut rows);
    let met: Vec<Option<bool>> = rows.iter().map(|r| r.slo_met).collect();
    assert_eq!(
        met,
        [
            Some(true),
            Some(false),
            Some(false),
            Some(true),
            Some(false)
        ]
    );
    assert_eq!(out.good_requests, 2);
    assert_eq!(out.goodput_rps, 1.0);
    assert_eq!(out.goodput_tps, (4 + 3) as f64 / 2.0);

    // TTFT p99 over 100, 100, 200, 600 (NumPy linear): 200 + 0.97·400 = 588.
    let ttft = &out.objectives[0];
    assert!((ttft.value.unwrap() - 588.0).abs() < 1e-9, "{ttft:?}");
    assert!(!ttft.met);
    let e2e = &out.objectives[1];
    assert_eq!((e2e.value, e2e.met), (Some(9000.0), false));
    // Pooled gaps 10,10,10,10,10,20,30,90 → p50 = 10.
    let itl = &out.objectives[2];
    assert_eq!((itl.value, itl.met), (Some(10.0), true));
    assert!(!out.all_met);
}

#[test]
fn all_met_when_every_objective_holds() {
    let mut rows = vec![
        row(0, 100.0, 500.0, &[10.0], 2),
        row(1, 120.0, 520.0, &[12.0], 2),
    ];
    let s = slo(&[
        (SloMetric::Ttft, Some(99.0), 500.0),
        (SloMetric::Tpot, Some(50.0), 500.0),
    ]);
    let out = evaluate(&s, &summary(1.0), &mut rows);
    assert!(out.all_met);
    assert_eq!(out.good_requests, 2);
    assert_eq!(out.goodput_tps, 4.0);
    assert_eq!(
        s.describe(),
        "p99 TTFT ≤ 500 ms, p50 TPOT ≤ 500 ms",
        "the one-line form"
    );
}

#[test]
fn no_successful_request_never_meets_the_slo() {
    let mut failed = row(0, 1.0, 2.0, &[], 1);
    failed.error = Some("boom".into());
    let s = slo(&[(SloMetric::Ttft, Some(99.0), 500.0)]);
    let out = evaluate(&s, &summary(1.0), &mut [failed]);
    assert!(!out.all_met);
    assert_eq!(out.objectives[0].value, None);
    assert_eq!(out.goodput_rps, 0.0);
}
