use super::*;

#[derive(serde::Deserialize)]
struct Fixture {
    t_quantiles: Vec<TCase>,
    confidence_intervals: Vec<CiCase>,
    mann_whitney: Vec<MwuCase>,
}
#[derive(serde::Deserialize)]
struct TCase {
    q: f64,
    df: f64,
    ppf: f64,
}
#[derive(serde::Deserialize)]
struct CiCase {
    values: Vec<f64>,
    mean: f64,
    half_width: f64,
    cv: f64,
}
#[derive(serde::Deserialize)]
struct MwuCase {
    name: String,
    x: Vec<f64>,
    y: Vec<f64>,
    u: f64,
    p: f64,
}

fn fixture() -> Fixture {
    serde_json::from_str(include_str!("../../tests/fixtures/stats.json")).unwrap()
}

fn close(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs().max(1e-300) || (got - want).abs() < 1e-14
}

#[test]
fn t_quantiles_match_scipy() {
    let f = fixture();
    assert!(f.t_quantiles.len() >= 100);
    for c in f.t_quantiles {
        let got = t_quantile(c.q, c.df);
        assert!(
            close(got, c.ppf, 1e-9),
            "t.ppf({}, {}) = {got}, scipy says {}",
            c.q,
            c.df,
            c.ppf
        );
    }
}

#[test]
fn confidence_intervals_match_scipy() {
    for c in fixture().confidence_intervals {
        let e = Estimate::of(&c.values).unwrap();
        assert!(close(e.mean, c.mean, 1e-12));
        assert!(close(e.ci95_half_width.unwrap(), c.half_width, 1e-9));
        assert!(close(e.cv.unwrap(), c.cv, 1e-9));
    }
}

#[test]
fn mann_whitney_matches_scipy() {
    let f = fixture();
    assert!(f.mann_whitney.len() >= 6);
    for c in f.mann_whitney {
        let got = mann_whitney(&c.x, &c.y).unwrap();
        assert_eq!(got.u, c.u, "{}: U", c.name);
        assert!(
            close(got.p_value, c.p, 1e-8),
            "{}: p = {}, scipy says {}",
            c.name,
            got.p_value,
            c.p
        );
    }
}

#[test]
fn mann_whitney_separates_shifted_samples_only() {
    let a: Vec<f64> = (0..100).map(|i| 100.0 + (i % 10) as f64).collect();
    let same: Vec<f64> = (0..100).map(|i| 100.0 + ((i + 3) % 10) as f64).collect();
    let slower: Vec<f64> = a.iter().map(|v| v * 1.1).collect();
    assert!(mann_whitney(&a, &same).unwrap().p_value > 0.05);
    assert!(mann_whitney(&a, &slower).unwrap().p_value < 0.001);
    assert_eq!(mann_whitney(&[], &a), None);
}

#[test]
fn estimates_of_one_value_have_no_interval() {
    let e = Estimate::of(&[3.0]).unwrap();
    assert_eq!((e.n, e.mean, e.ci95_half_width, e.cv), (1, 3.0, None, None));
    assert_eq!(Estimate::of(&[]), None);
    let a = Estimate::of(&[10.0, 10.1, 9.9]).unwrap();
    let b = Estimate::of(&[11.0, 11.1, 10.9]).unwrap();
    let c = Estimate::of(&[10.05, 10.0, 9.95]).unwrap();
    assert!(a.differs_from(&b) && b.differs_from(&a));
    assert!(!a.differs_from(&c));
}

#[test]
fn normal_tail_and_gamma_sanity() {
    assert!(close(normal_sf(0.0), 0.5, 1e-15));
    assert!(close(normal_sf(1.959963984540054), 0.025, 1e-12));
    assert!(close(normal_sf(-1.0), 0.841344746068543, 1e-12));
    assert!(close(ln_gamma(10.0), (362880.0f64).ln(), 1e-13));
}

#[test]
fn subsample_picks_evenly_and_keeps_short_inputs() {
    let v: Vec<f64> = (0..10).map(f64::from).collect();
    assert_eq!(subsample(&v, 20), v);
    assert_eq!(subsample(&v, 5), vec![1.0, 3.0, 5.0, 7.0, 9.0]);
}
