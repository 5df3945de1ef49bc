//! How hard the benchmark client itself worked during a run (CPU time, peak memory, send lag),
//! so a user can tell when the client, not the server, was the limit.

use std::time::Duration;

use super::request::RequestRecord;
use crate::results::result::ClientHealth;

/// CPU time and peak RSS of this process at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResourceUsage {
    pub cpu: Duration,
    pub peak_rss_bytes: Option<u64>,
}

impl ResourceUsage {
    #[cfg(unix)]
    pub fn now() -> Self {
        // SAFETY: getrusage only writes into the zeroed struct we pass.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
            return Self::default();
        }
        let tv = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec.max(0) as u64)
                + Duration::from_micros(t.tv_usec.max(0) as u64)
        };
        // Linux reports ru_maxrss in KiB.
        Self {
            cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
            peak_rss_bytes: Some(usage.ru_maxrss.max(0) as u64 * 1024),
        }
    }

    #[cfg(not(unix))]
    pub fn now() -> Self {
        Self::default()
    }
}

/// Client health over a benchmark phase that started at `before` and lasted `wall`.
pub fn measure(before: &ResourceUsage, wall: Duration, records: &[RequestRecord]) -> ClientHealth {
    let after = ResourceUsage::now();
    let cpu = after.cpu.saturating_sub(before.cpu);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    let wall_s = wall.as_secs_f64();
    ClientHealth {
        cpu_time_s: Some(cpu.as_secs_f64()),
        cpu_utilization: (wall_s > 0.0).then(|| cpu.as_secs_f64() / (wall_s * cores)),
        peak_rss_bytes: after.peak_rss_bytes,
        max_send_delay_ms: records
            .iter()
            .map(|r| r.send_delay_us as f64 / 1000.0)
            .reduce(f64::max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_cpu_and_memory_of_this_process() {
        let before = ResourceUsage::now();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert_ne!(x, 1);
        let h = measure(&before, Duration::from_secs(1), &[]);
        assert!(h.cpu_time_s.unwrap_or(-1.0) >= 0.0);
        assert!(h.peak_rss_bytes.unwrap_or(0) > 0);
        assert_eq!(h.max_send_delay_ms, None);
    }
}
