//! The capacity search's decisions, free of I/O: which value to probe next and what the
//! answer is. Probes double from `min` until the SLO fails or `max` is reached, then bisect
//! between the largest passing and smallest failing value until the bracket is within
//! `precision` (relative to its lower end; at least one whole step for concurrency).
//!
//! Monotone assumption: a larger value never meets the SLO when a smaller one fails. A probe
//! contradicting it (met above a failure, or failed below a success) is re-run once and the
//! re-run's verdict replaces it. The answer is the largest value whose probe met the SLO with
//! every smaller probe meeting it.

use crate::config::answers::{Search, SearchOver};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeVerdict {
    pub value: f64,
    pub met: bool,
    pub rerun: bool,
}

#[derive(Debug, Clone)]
pub struct SearchState {
    search: Search,
    /// Every probe in order (a re-run appears twice: the first and the re-run).
    probes: Vec<ProbeVerdict>,
    pending_rerun: Option<f64>,
}

impl SearchState {
    pub fn new(search: Search) -> Self {
        Self {
            search,
            probes: Vec::new(),
            pending_rerun: None,
        }
    }

    pub fn probes(&self) -> &[ProbeVerdict] {
        &self.probes
    }

    /// Probes as they count: the last verdict per value, sorted by value.
    fn effective(&self) -> Vec<ProbeVerdict> {
        let mut out: Vec<ProbeVerdict> = Vec::new();
        for p in &self.probes {
            match out.iter_mut().find(|q| q.value == p.value) {
                Some(q) => *q = *p,
                None => out.push(*p),
            }
        }
        out.sort_by(|a, b| a.value.total_cmp(&b.value));
        out
    }

    /// Largest value that met the SLO with every smaller probe meeting it.
    pub fn answer(&self) -> Option<f64> {
        self.effective()
            .iter()
            .take_while(|p| p.met)
            .last()
            .map(|p| p.value)
    }

    /// Smallest failing value above the answer.
    fn first_failure(&self) -> Option<f64> {
        self.effective().iter().find(|p| !p.met).map(|p| p.value)
    }

    /// A value in the search's grid: whole numbers for concurrency, 0.01 for a rate.
    fn snap(&self, v: f64) -> f64 {
        match self.search.over {
            SearchOver::Concurrency => v.floor(),
            SearchOver::RequestRate => (v * 100.0).floor() / 100.0,
        }
    }

    fn step(&self) -> f64 {
        match self.search.over {
            SearchOver::Concurrency => 1.0,
            SearchOver::RequestRate => 0.01,
        }
    }

    /// The next value to probe; `None` when the search is done.
    pub fn next(&self) -> Option<f64> {
        if let Some(v) = self.pending_rerun {
            return Some(v);
        }
        let (min, max) = (self.search.min, self.search.max);
        if self.probes.is_empty() {
            return Some(min);
        }
        let lo = self.answer()?; // the smallest value failed: nothing meets the SLO
        let next = match self.first_failure() {
            None if lo >= max => return None,
            None => (lo * 2.0).min(max),
            Some(hi) => {
                let tolerance = (self.search.precision * lo).max(self.step());
                if hi - lo <= tolerance {
                    return None;
                }
                self.snap((lo + hi) / 2.0)
            }
        };
        let next = self.snap(next).max(lo + self.step());
        // Never probe a value twice except as a re-run.
        (!self.probes.iter().any(|p| p.value == next)).then_some(next)
    }

    /// Record a probe's verdict; a first probe contradicting monotonicity is queued to re-run.
    pub fn record(&mut self, value: f64, met: bool) {
        let rerun = self.pending_rerun == Some(value);
        self.pending_rerun = None;
        let others: Vec<ProbeVerdict> = self
            .effective()
            .into_iter()
            .filter(|p| p.value != value)
            .collect();
        let contradicts = if met {
            others.iter().any(|p| p.value < value && !p.met)
        } else {
            others.iter().any(|p| p.value > value && p.met)
        };
        self.probes.push(ProbeVerdict { value, met, rerun });
        if contradicts && !rerun && !self.probes.iter().any(|p| p.value == value && p.rerun) {
            self.pending_rerun = Some(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(min: f64, max: f64, precision: f64) -> Search {
        Search {
            over: SearchOver::Concurrency,
            min,
            max,
            precision,
        }
    }

    /// Run the search against a pass/fail function; returns probed values and the answer.
    fn run(s: Search, meets: impl Fn(f64, usize) -> bool) -> (Vec<f64>, Option<f64>) {
        let mut state = SearchState::new(s);
        let mut values = Vec::new();
        while let Some(v) = state.next() {
            assert!(values.len() < 100, "the search must end: {values:?}");
            let n = values.iter().filter(|&&x| x == v).count();
            values.push(v);
            state.record(v, meets(v, n));
        }
        (values, state.answer())
    }

    #[test]
    fn doubles_then_bisects_to_the_capacity() {
        let (values, answer) = run(search(1.0, 512.0, 0.05), |v, _| v <= 24.0);
        assert_eq!(answer, Some(24.0));
        assert_eq!(&values[..7], &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 24.0]);
        assert!(values.contains(&25.0), "{values:?}");
    }

    #[test]
    fn precision_stops_early_at_large_values() {
        // Capacity 300: the bracket stops within 5 % of its lower end.
        let (values, answer) = run(search(1.0, 512.0, 0.05), |v, _| v <= 300.0);
        let a = answer.unwrap();
        assert!((300.0 / 1.05..=300.0).contains(&a), "{a} {values:?}");
    }

    #[test]
    fn max_and_min_edges() {
        assert_eq!(run(search(1.0, 64.0, 0.05), |_, _| true).1, Some(64.0));
        let (values, answer) = run(search(4.0, 64.0, 0.05), |_, _| false);
        assert_eq!((values, answer), (vec![4.0], None));
        // max not a power of two from min: the last doubling is clamped to max.
        let (values, _) = run(search(1.0, 20.0, 0.05), |_, _| true);
        assert_eq!(values, [1.0, 2.0, 4.0, 8.0, 16.0, 20.0]);
    }

    #[test]
    fn a_contradicting_probe_is_run_again_once() {
        let mut state = SearchState::new(search(1.0, 64.0, 0.05));
        state.record(4.0, true);
        state.record(16.0, true);
        // 8 fails below a passing 16: contradicts, so 8 is probed again next.
        state.record(8.0, false);
        assert_eq!(state.next(), Some(8.0));
        state.record(8.0, true);
        assert_eq!(
            state.answer(),
            Some(16.0),
            "the re-run replaces the first verdict"
        );
        assert_eq!(state.probes().iter().filter(|p| p.rerun).count(), 1);

        // Still contradicting after its re-run: kept, and the answer stops below it.
        let mut state = SearchState::new(search(1.0, 64.0, 0.05));
        state.record(4.0, true);
        state.record(16.0, true);
        state.record(8.0, false);
        state.record(8.0, false);
        assert_ne!(state.next(), Some(8.0), "only one re-run");
        assert_eq!(state.answer(), Some(4.0));
    }
}
