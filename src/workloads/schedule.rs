//! Open-loop arrival schedules: absolute send offsets from the run start, computed up front.
//!
//! Offsets are cumulative sums of inter-arrival gaps drawn from a seeded generator, so the same
//! seed gives the same schedule and the pacer never drifts (it sleeps until `start + offset`,
//! not for `gap` after the previous send). Gaps: constant `1/rate`; Poisson = exponential with
//! mean `1/rate` (CV 1); gamma with shape `k` and mean `1/rate` (CV `1/sqrt(k)`; k < 1 is
//! burstier than Poisson, k > 1 smoother).

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::Arrival;

/// Inter-arrival distribution and rate: everything a schedule depends on besides its length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArrivalProcess {
    /// Mean requests per second (> 0).
    pub rate: f64,
    pub arrival: Arrival,
    pub seed: u64,
}

/// Gaps are drawn in blocks of this many and scaled so each block's mean gap is exactly
/// `1/rate`: the schedule then runs at the target rate (a pure process drifts by about
/// CV/sqrt(n): ±0.7 % over 20 s at 1000 req/s, which would hide the pacer's own error).
pub const BLOCK: usize = 1000;

impl ArrivalProcess {
    /// Up to `count` send offsets, none at or past `duration` (when given). The first request
    /// goes at offset 0 so that a run starts at once.
    pub fn offsets(&self, count: usize, duration: Option<Duration>) -> Vec<Duration> {
        let mut rng = StdRng::seed_from_u64(self.seed);
        let mean = 1.0 / self.rate;
        let mut out = Vec::with_capacity(count.min(1 << 20));
        if count == 0 {
            return out;
        }
        out.push(Duration::ZERO);
        let mut t = 0.0_f64;
        let mut block = Vec::with_capacity(BLOCK);
        while out.len() < count {
            let n = (count - out.len()).min(BLOCK);
            block.clear();
            block.extend((0..n).map(|_| self.unit_gap(&mut rng)));
            let scale = n as f64 / block.iter().sum::<f64>();
            for gap in &block {
                t += mean * gap * scale;
                let offset = Duration::from_secs_f64(t);
                if duration.is_some_and(|d| offset >= d) {
                    return out;
                }
                out.push(offset);
            }
        }
        out
    }

    /// One gap in units of the mean gap (mean 1).
    fn unit_gap(&self, rng: &mut StdRng) -> f64 {
        match self.arrival {
            Arrival::Constant => 1.0,
            Arrival::Poisson => exponential(rng),
            Arrival::Gamma { burstiness } => gamma(rng, burstiness) / burstiness,
        }
    }
}

/// A uniform draw in (0, 1]: never 0, so its logarithm is finite.
fn open_unit(rng: &mut StdRng) -> f64 {
    1.0 - rng.random::<f64>()
}

/// Exponential with mean 1.
fn exponential(rng: &mut StdRng) -> f64 {
    -open_unit(rng).ln()
}

/// Standard normal (Box–Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let (u, v) = (open_unit(rng), rng.random::<f64>());
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// Gamma with shape `k` and scale 1 (mean `k`): Marsaglia–Tsang, with the `k < 1` boost.
fn gamma(rng: &mut StdRng, k: f64) -> f64 {
    if k < 1.0 {
        return gamma(rng, k + 1.0) * open_unit(rng).powf(1.0 / k);
    }
    let d = k - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(rng);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = open_unit(rng);
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: usize = 10_000;

    fn process(rate: f64, arrival: Arrival, seed: u64) -> ArrivalProcess {
        ArrivalProcess {
            rate,
            arrival,
            seed,
        }
    }

    /// (mean rate, coefficient of variation of the gaps)
    fn rate_and_cv(offsets: &[Duration]) -> (f64, f64) {
        let gaps: Vec<f64> = offsets
            .windows(2)
            .map(|w| (w[1] - w[0]).as_secs_f64())
            .collect();
        let n = gaps.len() as f64;
        let mean = gaps.iter().sum::<f64>() / n;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / n;
        (1.0 / mean, var.sqrt() / mean)
    }

    #[test]
    fn constant_arrivals_are_evenly_spaced() {
        let offsets = process(250.0, Arrival::Constant, 1).offsets(N, None);
        assert_eq!(offsets.len(), N);
        let (rate, cv) = rate_and_cv(&offsets);
        assert!((rate - 250.0).abs() / 250.0 < 0.02, "rate {rate}");
        assert!(cv < 1e-6, "cv {cv}");
        assert_eq!(offsets[0], Duration::ZERO);
    }

    #[test]
    fn poisson_arrivals_have_the_rate_and_cv_one() {
        for seed in [1, 2, 3] {
            let offsets = process(1000.0, Arrival::Poisson, seed).offsets(N, None);
            let (rate, cv) = rate_and_cv(&offsets);
            assert!((rate - 1000.0).abs() / 1000.0 < 0.02, "rate {rate}");
            assert!((cv - 1.0).abs() < 0.1, "cv {cv}");
        }
    }

    #[test]
    fn gamma_arrivals_have_cv_one_over_sqrt_k() {
        for k in [0.25, 0.5, 2.0, 4.0] {
            let offsets = process(50.0, Arrival::Gamma { burstiness: k }, 7).offsets(N, None);
            let (rate, cv) = rate_and_cv(&offsets);
            let want = 1.0 / f64::sqrt(k);
            assert!((rate - 50.0).abs() / 50.0 < 0.02, "k {k}: rate {rate}");
            assert!(
                (cv - want).abs() / want < 0.1,
                "k {k}: cv {cv}, want {want}"
            );
        }
    }

    #[test]
    fn same_seed_same_offsets_other_seed_other_offsets() {
        let p = process(100.0, Arrival::Gamma { burstiness: 0.5 }, 42);
        assert_eq!(p.offsets(N, None), p.offsets(N, None));
        let other = ArrivalProcess { seed: 43, ..p };
        assert_ne!(p.offsets(N, None), other.offsets(N, None));
    }

    #[test]
    fn offsets_are_sorted_and_stop_before_the_duration() {
        let d = Duration::from_secs(5);
        let offsets = process(1000.0, Arrival::Poisson, 9).offsets(N, Some(d));
        assert!(offsets.windows(2).all(|w| w[0] <= w[1]));
        assert!(offsets.iter().all(|o| *o < d));
        // ~5000 arrivals fit in 5 s at 1000/s; the count did not cap them.
        assert!((4800..5200).contains(&offsets.len()), "{}", offsets.len());
        // The count still caps when it comes first.
        assert_eq!(
            process(1000.0, Arrival::Poisson, 9)
                .offsets(100, Some(d))
                .len(),
            100
        );
    }
}
