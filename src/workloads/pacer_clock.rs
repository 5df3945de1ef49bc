//! The pacing thread's wait for a deadline: sleep on the kernel's timer until shortly before it,
//! then spin. `nanosleep` wakes late (≈50–90 µs on an idle machine with the default 50 µs
//! timer slack, more under load), so the thread sleeps until `deadline − margin` and spins the
//! rest. The margin follows the wake-ups it sees: it jumps to the last oversleep (plus a guard)
//! and decays slowly, between `MIN_MARGIN` and `MAX_MARGIN`, so that spinning costs little CPU
//! on a quiet machine and still absorbs the usual wake-up delay on a busy one.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

const MIN_MARGIN: Duration = Duration::from_micros(30);
const MAX_MARGIN: Duration = Duration::from_micros(200);
/// Added to the oversleep just seen.
const GUARD: Duration = Duration::from_micros(20);
/// Per sleep, the margin shrinks by this much (a spike is forgotten after ~170 sleeps).
const DECAY: Duration = Duration::from_micros(1);
/// A stop is seen within this while sleeping.
const STOP_POLL: Duration = Duration::from_millis(20);

/// State of one pacing thread's waits.
#[derive(Debug)]
pub(crate) struct PreciseWait {
    margin: Duration,
}

impl PreciseWait {
    /// Called on the pacing thread: asks the kernel for precise wake-ups (Linux timer slack
    /// 1 µs instead of 50 µs; per thread, best effort).
    pub fn on_this_thread() -> Self {
        #[cfg(target_os = "linux")]
        // SAFETY: PR_SET_TIMERSLACK takes an integer and changes only this thread's slack.
        unsafe {
            libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong, 0, 0, 0);
        }
        Self { margin: MAX_MARGIN }
    }

    /// Return at `deadline` (or at once if it has passed); `false` when stopped first. Without
    /// `spin`, sleep all the way (a wake-up lands ~30–90 µs late).
    pub fn until(&mut self, deadline: Instant, stop: &CancellationToken, spin: bool) -> bool {
        let margin = if spin { self.margin } else { Duration::ZERO };
        loop {
            if stop.is_cancelled() {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            let left = deadline - now;
            if left <= margin {
                return spin_until(deadline);
            }
            let target = now + (left - margin).min(STOP_POLL);
            std::thread::sleep(target - now);
            let over = Instant::now().saturating_duration_since(target);
            self.learn(over);
        }
    }

    /// Margin = max(last oversleep + guard, margin − decay), clamped.
    fn learn(&mut self, over: Duration) {
        let decayed = self.margin.saturating_sub(DECAY);
        self.margin = (over + GUARD).max(decayed).clamp(MIN_MARGIN, MAX_MARGIN);
    }

    #[cfg(test)]
    pub fn margin(&self) -> Duration {
        self.margin
    }
}

fn spin_until(deadline: Instant) -> bool {
    while Instant::now() < deadline {
        std::hint::spin_loop();
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_returns_before_the_deadline() {
        let mut wait = PreciseWait::on_this_thread();
        let stop = CancellationToken::new();
        let start = Instant::now();
        for i in 1..=20u64 {
            let deadline = start + Duration::from_micros(300 * i);
            assert!(wait.until(deadline, &stop, i % 2 == 0));
            assert!(Instant::now() >= deadline);
        }
    }

    #[test]
    fn a_past_deadline_returns_at_once_and_a_stop_returns_false() {
        let mut wait = PreciseWait::on_this_thread();
        let stop = CancellationToken::new();
        assert!(wait.until(Instant::now() - Duration::from_millis(5), &stop, true));
        stop.cancel();
        assert!(!wait.until(Instant::now() + Duration::from_secs(3600), &stop, true));
    }

    #[test]
    fn the_margin_jumps_to_an_oversleep_and_decays_within_bounds() {
        let mut wait = PreciseWait { margin: MIN_MARGIN };
        wait.learn(Duration::from_micros(100));
        assert_eq!(wait.margin(), Duration::from_micros(120));
        wait.learn(Duration::ZERO);
        assert_eq!(wait.margin(), Duration::from_micros(119));
        wait.learn(Duration::from_millis(5));
        assert_eq!(wait.margin(), MAX_MARGIN);
        for _ in 0..1000 {
            wait.learn(Duration::ZERO);
        }
        assert_eq!(wait.margin(), MIN_MARGIN);
    }
}
