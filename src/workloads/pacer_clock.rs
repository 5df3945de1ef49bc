//! The pacing thread's wait for a deadline: `nanosleep` with 1 µs timer slack (Linux defaults
//! to 50 µs), in slices so that a stop is seen. It wakes ~30–60 µs late on a quiet machine.
//!
//! No spinning: measured with `bench --only open-loop` on 2 cores, a thread that spun the last
//! 30–200 µs before each deadline gained ~30 µs at the median but took up to a core at
//! 5000 req/s, and on a busy machine that core came from the runtime's workers, whose backlog
//! then made the sends later, not earlier. The send-lag tail comes from the handover to a
//! runtime worker, not from the timer.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// A stop is seen within this while sleeping.
const STOP_POLL: Duration = Duration::from_millis(20);

/// Ask the kernel for precise wake-ups on this thread (timer slack 1 µs; best effort).
pub(crate) fn precise_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes an integer and changes only the calling thread's slack.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong, 0, 0, 0);
    }
}

/// Sleep until `deadline` (return at once if it has passed); `false` when stopped first.
pub(crate) fn sleep_until(deadline: Instant, stop: &CancellationToken) -> bool {
    loop {
        if stop.is_cancelled() {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        std::thread::sleep((deadline - now).min(STOP_POLL));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_returns_before_the_deadline() {
        precise_timer_slack();
        let stop = CancellationToken::new();
        let start = Instant::now();
        for i in 1..=20u64 {
            let deadline = start + Duration::from_micros(300 * i);
            assert!(sleep_until(deadline, &stop));
            assert!(Instant::now() >= deadline);
        }
    }

    #[test]
    fn a_past_deadline_returns_at_once_and_a_stop_returns_false() {
        let stop = CancellationToken::new();
        assert!(sleep_until(
            Instant::now() - Duration::from_millis(5),
            &stop
        ));
        stop.cancel();
        assert!(!sleep_until(
            Instant::now() + Duration::from_secs(3600),
            &stop
        ));
    }
}
