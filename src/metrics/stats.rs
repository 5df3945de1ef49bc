//! Small-sample statistics for repeats and `compare`: Student-t quantiles, 95 % confidence
//! intervals, the coefficient of variation and the Mann–Whitney U test.
//!
//! Everything is computed here (no statistics crate): ln Γ by Lanczos (g = 7), the regularized
//! incomplete beta by Lentz's continued fraction, erfc through the incomplete gamma function.
//! Unit tests check t-quantiles and Mann–Whitney p-values against SciPy
//! (`tests/fixtures/stats.json`, made by `tests/fixtures/make_stats_fixture.py`).

use std::f64::consts::PI;

const EPS: f64 = 1e-15;
const MAX_ITER: usize = 500;

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9: ~15 significant digits).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1−x) = π / sin(πx).
        return (PI / (PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Continued fraction of the incomplete beta function (modified Lentz).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    let tiny = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < tiny {
        d = tiny;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=MAX_ITER {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < tiny {
            d = tiny;
        }
        c = 1.0 + aa / c;
        if c.abs() < tiny {
            c = tiny;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < tiny {
            d = tiny;
        }
        c = 1.0 + aa / c;
        if c.abs() < tiny {
            c = tiny;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < EPS {
            break;
        }
    }
    h
}

/// Regularized incomplete beta I_x(a, b).
pub fn inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    let front = ln_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_cf(a, b, x) / a
    } else {
        1.0 - front * beta_cf(b, a, 1.0 - x) / b
    }
}

/// P(T ≤ t) for Student's t with `df` degrees of freedom.
pub fn t_cdf(t: f64, df: f64) -> f64 {
    let x = df / (df + t * t);
    let tail = 0.5 * inc_beta(df / 2.0, 0.5, x);
    if t >= 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// The `q` quantile of Student's t (`scipy.stats.t.ppf(q, df)`), by bisection on the CDF.
pub fn t_quantile(q: f64, df: f64) -> f64 {
    if !(q > 0.0 && q < 1.0) || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if q == 0.5 {
        return 0.0;
    }
    // Solve in the upper half and mirror: the tail probability keeps its precision there.
    let upper = q > 0.5;
    let p = if upper { q } else { 1.0 - q };
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    while t_cdf(hi, df) < p {
        hi *= 2.0;
        if hi > 1e12 {
            break;
        }
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-15 * hi.max(1.0) {
            break;
        }
    }
    let t = 0.5 * (lo + hi);
    if upper {
        t
    } else {
        -t
    }
}

/// Regularized upper incomplete gamma Q(a, x).
fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let gln = ln_gamma(a);
    if x < a + 1.0 {
        // Series for P, then Q = 1 − P.
        let (mut ap, mut sum) = (a, 1.0 / a);
        let mut del = sum;
        for _ in 0..MAX_ITER {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * EPS {
                break;
            }
        }
        1.0 - sum * (-x + a * x.ln() - gln).exp()
    } else {
        // Continued fraction for Q (Lentz).
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..=MAX_ITER {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < EPS {
                break;
            }
        }
        (-x + a * x.ln() - gln).exp() * h
    }
}

/// Upper tail of the standard normal, P(Z > z).
pub fn normal_sf(z: f64) -> f64 {
    // erfc(x) = Q(1/2, x²) for x ≥ 0; sf(z) = erfc(z/√2)/2.
    let x = z / std::f64::consts::SQRT_2;
    if x >= 0.0 {
        0.5 * gamma_q(0.5, x * x)
    } else {
        1.0 - 0.5 * gamma_q(0.5, x * x)
    }
}

/// Mean, 95 % confidence half-width and coefficient of variation of repeated measurements.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Estimate {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (n − 1 in the denominator).
    pub std_dev: f64,
    /// t(0.975, n − 1) · s / √n; `None` below two values.
    pub ci95_half_width: Option<f64>,
    /// s / mean; `None` when the mean is 0 or below two values.
    pub cv: Option<f64>,
}

impl Estimate {
    /// `None` for no values.
    pub fn of(values: &[f64]) -> Option<Estimate> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        if n < 2 {
            return Some(Estimate {
                n,
                mean,
                std_dev: 0.0,
                ci95_half_width: None,
                cv: None,
            });
        }
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let sd = var.sqrt();
        let t = t_quantile(0.975, (n - 1) as f64);
        Some(Estimate {
            n,
            mean,
            std_dev: sd,
            ci95_half_width: Some(t * sd / (n as f64).sqrt()),
            cv: (mean != 0.0).then(|| sd / mean.abs()),
        })
    }

    /// `(low, high)` of the 95 % interval (the mean itself below two values).
    pub fn interval(&self) -> (f64, f64) {
        let h = self.ci95_half_width.unwrap_or(0.0);
        (self.mean - h, self.mean + h)
    }

    /// Two intervals that do not overlap: the difference is beyond noise.
    pub fn differs_from(&self, other: &Estimate) -> bool {
        let (a_lo, a_hi) = self.interval();
        let (b_lo, b_hi) = other.interval();
        self.ci95_half_width.is_some()
            && other.ci95_half_width.is_some()
            && (a_hi < b_lo || b_hi < a_lo)
    }
}

/// Result of a two-sided Mann–Whitney U test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannWhitney {
    /// U of the first sample (SciPy's `statistic`).
    pub u: f64,
    pub p_value: f64,
}

/// Two-sided Mann–Whitney U test with the normal approximation, tie correction and continuity
/// correction: SciPy's `mannwhitneyu(x, y, method="asymptotic")`. `None` when a sample is empty.
pub fn mann_whitney(x: &[f64], y: &[f64]) -> Option<MannWhitney> {
    let (n1, n2) = (x.len(), y.len());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let mut all: Vec<(f64, bool)> = x
        .iter()
        .map(|&v| (v, true))
        .chain(y.iter().map(|&v| (v, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = all.len();
    let (mut r1, mut tie_term) = (0.0, 0.0);
    let mut i = 0;
    while i < n {
        let mut j = i + 1;
        while j < n && all[j].0 == all[i].0 {
            j += 1;
        }
        // Ranks i+1 ..= j share their average.
        let rank = (i + 1 + j) as f64 / 2.0;
        let t = (j - i) as f64;
        tie_term += t * t * t - t;
        r1 += rank * all[i..j].iter().filter(|(_, first)| *first).count() as f64;
        i = j;
    }
    let (n1f, n2f, nf) = (n1 as f64, n2 as f64, n as f64);
    let u1 = r1 - n1f * (n1f + 1.0) / 2.0;
    let u2 = n1f * n2f - u1;
    let u = u1.max(u2);
    let mu = n1f * n2f / 2.0;
    let var = n1f * n2f / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)));
    let p_value = if var <= 0.0 {
        1.0 // every value equal: no evidence of a difference
    } else {
        let z = (u - mu - 0.5) / var.sqrt();
        (2.0 * normal_sf(z)).clamp(0.0, 1.0)
    };
    Some(MannWhitney { u: u1, p_value })
}

/// At most `max` values picked evenly across `values` (all of them when there are fewer):
/// pooled inter-token gaps are many and correlated within a request.
pub fn subsample(values: &[f64], max: usize) -> Vec<f64> {
    if values.len() <= max || max == 0 {
        return values.to_vec();
    }
    let step = values.len() as f64 / max as f64;
    (0..max)
        .map(|i| values[((i as f64 + 0.5) * step) as usize])
        .collect()
}

#[cfg(test)]
#[path = "stats_tests.rs"]
mod tests;
